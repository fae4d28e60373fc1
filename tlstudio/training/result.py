"""The outcome of a training run, and reading a run folder back.

This module is light (no TensorFlow): the GUI, evaluation and project code use
it to list and reopen runs. The run folder layout is described in
``docs/architecture.md``; the file names are the constants below.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from tlstudio.config import RunConfig, from_json, to_json
from tlstudio.errors import ConfigError, ProjectError
from tlstudio.io.atomic import atomic_write_json

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
RUN_MARKER = ".tlstudio-run"
"""Marker file of a run folder: JSON ``{"format": "tlstudio-run", "version": 1, "created": ..., "tlstudio": ...}``."""

MARKER_FORMAT = "tlstudio-run"

RUN_ENTRIES = frozenset(
    {RUN_MARKER, RUN_CONFIG, CLASS_NAMES, DATASET_REPORT, SPLIT_MANIFEST, HISTORY, BEST_WEIGHTS, LAST_WEIGHTS, MODEL, RESULT, LOGS,
     AUTO_HEAD}
)
"""Everything tlstudio writes in a run folder (``logs`` is a folder). Temporaries
of these, ``.NAME.tmp-XXXXXXXX...`` (see :mod:`tlstudio.io.atomic`), may also be present."""

WEIGHTS_EPOCHS_ATTR = "tlstudio_epochs_completed"
"""Root attribute of ``last.weights.h5``: the epochs completed that the weights hold."""


@dataclass(frozen=True)
class RunResult:
    """What a training run produced.

    Attributes:
        run_dir: The run folder.
        model_path: The saved usable model (``model.keras``), or None when no
            model could be saved (for example the dataset could not be read).
        best_metrics: Metrics of the best epoch by the monitored value, e.g.
            ``{"epoch": 3, "loss": .., "accuracy": .., "val_loss": .., "val_accuracy": ..}``.
        history: One dict per completed epoch, over every session of the run
            (a resumed run appends): ``epoch`` (0-based, global), ``phase``,
            ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy`` (when there is
            a validation split), ``lr`` and ``seconds``.
        class_names: Class names in label order.
        cancelled: True when the run was cancelled.
        error: One-line, human-readable error, or None.
        error_details: Traceback text of the error, or None.
        epochs_completed: Epochs fully completed, over both phases (and earlier
            sessions of a resumed run).
        feature_cache: True when phase 1 trained the head on cached backbone features.
        seconds: Wall time of this session of the run.
        monitor: The metric that chose the best epoch (``val_accuracy`` falls
            back to ``accuracy`` when there is no validation split).
        devices: Devices and distribution strategy that ran the training.
        error_type: Class name of the error (``"DataError"``, ``"WeightsUnavailableError"``...), or None.
        auto_head: With ``train --head auto``: the chosen cut and trial, its CV score and the
            reason (the whole record is in ``auto_head.json``); None otherwise.
    """

    run_dir: str
    model_path: str | None = None
    best_metrics: Mapping[str, float] = field(default_factory=dict)
    history: tuple[Mapping[str, Any], ...] = ()
    class_names: tuple[str, ...] = ()
    cancelled: bool = False
    error: str | None = None
    error_details: str | None = None
    epochs_completed: int = 0
    feature_cache: bool = False
    seconds: float = 0.0
    monitor: str = "val_accuracy"
    devices: str = ""
    error_type: str | None = None
    auto_head: Mapping[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """True when the run ended without error and was not cancelled."""
        return self.error is None and not self.cancelled

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (the content of ``result.json`` plus the history)."""
        data = dataclasses.asdict(self)
        data["best_metrics"] = dict(self.best_metrics)
        data["history"] = [dict(h) for h in self.history]
        data["class_names"] = list(self.class_names)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RunResult":
        """Build a result from :meth:`to_dict` output; unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs["best_metrics"] = dict(kwargs.get("best_metrics") or {})
        kwargs["history"] = tuple(dict(h) for h in kwargs.get("history") or ())
        kwargs["class_names"] = tuple(kwargs.get("class_names") or ())
        if "run_dir" not in kwargs:
            raise ProjectError(f"a run result needs 'run_dir'. Received keys: {sorted(data)}")
        return cls(**kwargs)


def marker_text() -> str:
    """The content of a new :data:`RUN_MARKER` file."""
    import datetime as _dt

    from tlstudio import __version__

    created = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return json.dumps({"format": MARKER_FORMAT, "version": 1, "created": created, "tlstudio": __version__}, indent=2) + "\n"


def has_marker(run_dir: str | os.PathLike) -> bool:
    """True when ``run_dir`` holds a readable :data:`RUN_MARKER` of the right format."""
    try:
        data = json.loads((Path(run_dir) / RUN_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("format") == MARKER_FORMAT


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise ProjectError(f"cannot read {path}: {exc}", path=str(path)) from exc


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically (see :func:`tlstudio.io.atomic.atomic_write_json`)."""
    atomic_write_json(path, data)


def read_history(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The epochs recorded in ``run_dir/history.json`` (empty when absent)."""
    path = Path(run_dir) / HISTORY
    if not path.is_file():
        return []
    data = _read_json(path)
    if not isinstance(data, list):
        raise ProjectError(f"{path} must hold a JSON list. Received: {type(data).__name__}", path=str(path))
    return [dict(h) for h in data]


def load_run_config(run_dir: str | os.PathLike) -> RunConfig:
    """The :class:`RunConfig` snapshot stored in ``run_dir/run_config.json``."""
    path = Path(run_dir) / RUN_CONFIG
    if not path.is_file():
        raise ProjectError(f"{run_dir} is not a tlstudio run folder: {RUN_CONFIG} is missing.", path=str(run_dir))
    return from_json(RunConfig, path.read_text(encoding="utf-8"))


def load_run(run_dir: str | os.PathLike) -> RunResult:
    """Read a run folder back into a :class:`RunResult`.

    Uses ``result.json`` and ``history.json``. A run that is still going (or
    that died without writing ``result.json``) is reconstructed from its
    history and class names, marked with an error saying so.

    Raises:
        ProjectError: when ``run_dir`` is not a run folder or a file is corrupt.
    """
    folder = Path(run_dir)
    if not folder.is_dir():
        raise ProjectError(f"run folder {folder} does not exist.", path=str(folder))
    history = tuple(read_history(folder))
    result_path = folder / RESULT
    if result_path.is_file():
        data = dict(_read_json(result_path))
        data["history"] = history
        data["run_dir"] = str(folder)
        model = folder / MODEL
        data["model_path"] = str(model) if model.is_file() else None
        recorded = data.get("epochs_completed")
        if isinstance(recorded, int) and not isinstance(recorded, bool) and len(history) > recorded:
            # history.json is written every epoch, result.json once at the end:
            # a later session was killed before it could write its result.
            data["epochs_completed"] = len(history)
            data["cancelled"] = True
            data["error"] = data.get("error") or (
                f"the last session of the run in {folder} was interrupted after epoch {len(history)}: "
                f"{RESULT} describes an earlier session; {MODEL} is the earlier session's model."
            )
        return RunResult.from_dict(data)
    if not (folder / RUN_CONFIG).is_file():
        raise ProjectError(f"{folder} is not a tlstudio run folder: {RUN_CONFIG} is missing.", path=str(folder))
    names_path = folder / CLASS_NAMES
    class_names = tuple(_read_json(names_path)) if names_path.is_file() else ()
    model = folder / MODEL
    return RunResult(
        run_dir=str(folder),
        model_path=str(model) if model.is_file() else None,
        history=history,
        class_names=class_names,
        epochs_completed=len(history),
        error=f"the run in {folder} has no {RESULT}: it is still running or was interrupted.",
    )


def resume_config(
    run_dir: str | os.PathLike,
    *,
    epochs: int | None = None,
    fine_tune_epochs: int | None = None,
) -> RunConfig:
    """A :class:`RunConfig` that continues the run in ``run_dir``.

    The run's own config is reused, with ``resume_from`` and ``run_dir`` set to
    the folder, so the new session loads ``last.weights.h5``, continues the
    epoch numbering and appends to ``history.json``.

    Args:
        run_dir: A run folder written by :func:`~tlstudio.training.run_training`.
        epochs: More head-training (phase 1) epochs. None means what is left
            of the original plan.
        fine_tune_epochs: More fine-tuning (phase 2) epochs. None means what is
            left of the original plan.

    Raises:
        ProjectError: when ``run_dir`` is not a run folder.
        ConfigError: when the original plan is complete and no more epochs were asked for.
    """
    config = load_run_config(run_dir)
    history = read_history(run_dir)
    done = {1: 0, 2: 0}
    for entry in history:
        done[int(entry.get("phase", 1))] = done.get(int(entry.get("phase", 1)), 0) + 1
    train = config.train
    if epochs is None:
        epochs = max(0, train.epochs - done[1]) if done[2] == 0 else 0
    if fine_tune_epochs is None:
        fine_tune_epochs = max(0, train.fine_tune_epochs - done[2])
    if epochs + fine_tune_epochs < 1:
        raise ConfigError(
            f"the run in {run_dir} already completed its {len(history)} planned epochs; "
            f"ask for more epochs to resume it. Received: epochs={epochs}, fine_tune_epochs={fine_tune_epochs}"
        )
    train = dataclasses.replace(train, epochs=epochs, fine_tune_epochs=fine_tune_epochs)
    return dataclasses.replace(config, train=train, run_dir=str(run_dir), resume_from=str(run_dir))


def config_snapshot(config: RunConfig) -> str:
    """The JSON text written as ``run_config.json``."""
    return to_json(config)
