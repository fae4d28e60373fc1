"""The names of the files a run folder holds, spelled once.

A leaf module (no tlstudio imports), so the lowest layers, such as the model
file loader in :mod:`tlstudio.io`, can name a run's files. The checked loaders
live above, in :mod:`tlstudio.run_folders`, which re-exports these names.
"""

from __future__ import annotations

RUN_CONFIG = "run_config.json"
CLASS_NAMES = "class_names.json"
DATASET_REPORT = "dataset_report.json"
HISTORY = "history.json"
BEST_WEIGHTS = "best.weights.h5"
LAST_WEIGHTS = "last.weights.h5"
MODEL = "model.keras"
RESULT = "result.json"
LOGS = "logs"
SPLIT_MANIFEST = "split_manifest.json"
AUTO_HEAD = "auto_head.json"
REPORT = "report.html"
"""The run report (``tlstudio-cli report``, File ▸ Export report…) when written into the run folder, its default place."""
EXPORT_DIR = "export"
"""The run's default export folder, ``<run>/export``; the report lists it when no other export folder is given."""
RUN_MARKER = ".tlstudio-run"
"""Marker file of a run folder: JSON ``{"format": "tlstudio-run", "version": 1, "created": ..., "tlstudio": ...}``."""

RUN_LOCK = ".tlstudio-lock"
"""Lock file of a run folder while a training writes it: JSON ``{"pid": ..., "host": ..., "since": ...}``
(see :mod:`tlstudio.run_folders.lock`). A killed training leaves it behind; the next one recovers it."""

MARKER_FORMAT = "tlstudio-run"

RUN_ENTRIES = frozenset(
    {RUN_MARKER, RUN_CONFIG, CLASS_NAMES, DATASET_REPORT, SPLIT_MANIFEST, HISTORY, BEST_WEIGHTS, LAST_WEIGHTS, MODEL, RESULT, LOGS,
     AUTO_HEAD, RUN_LOCK, REPORT}
)
"""Everything tlstudio writes in a run folder (``logs`` is a folder). Temporaries
of these, ``.NAME.tmp-XXXXXXXX...`` (see :mod:`tlstudio.io.atomic`), may also be present."""

WEIGHTS_EPOCHS_ATTR = "tlstudio_epochs_completed"
"""Root attribute of ``last.weights.h5``: the epochs completed that the weights hold."""
