"""The run folder: its file names and the one checked loader of each file.

Every name a run folder holds is spelled here once; the training run writes
them, and the CLI, the GUI, evaluation, export and the project read them
through :class:`RunFolder` or the constants. The loaders check every field
(:mod:`tlstudio.schemas`) and raise one :class:`~tlstudio.errors.ProjectError`
naming the file, the field and ``Received: ...``.

This module is light: it never imports TensorFlow, so the GUI may use it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tlstudio.config import RunConfig
from tlstudio.errors import ProjectError
from tlstudio.run_file_names import (
    AUTO_HEAD,
    BEST_WEIGHTS,
    CLASS_NAMES,
    DATASET_REPORT,
    EXPORT_DIR,
    HISTORY,
    LAST_WEIGHTS,
    LOGS,
    MARKER_FORMAT,
    MODEL,
    REPORT,
    RESULT,
    RUN_CONFIG,
    RUN_ENTRIES,
    RUN_LOCK,
    RUN_MARKER,
    SPLIT_MANIFEST,
    WEIGHTS_EPOCHS_ATTR,
)
from tlstudio.schemas import check_class_names, check_history, check_result, check_run_config, read_json

class RunFolder:
    """One run folder: the path of each file it holds, and its checked loaders.

    Args:
        path: The run folder (it need not exist yet).

    Example::

        folder = RunFolder(run_dir)
        if folder.is_run():
            config = folder.load_config()
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    @property
    def run_config(self) -> Path:
        """``run_config.json``: the :class:`~tlstudio.config.RunConfig` of the run's first session."""
        return self.path / RUN_CONFIG

    @property
    def class_names(self) -> Path:
        """``class_names.json``: the class names in label order."""
        return self.path / CLASS_NAMES

    @property
    def dataset_report(self) -> Path:
        """``dataset_report.json``: the scan, the split and the decisions applied."""
        return self.path / DATASET_REPORT

    @property
    def history(self) -> Path:
        """``history.json``: one object per completed epoch."""
        return self.path / HISTORY

    @property
    def best_weights(self) -> Path:
        """``best.weights.h5``: the weights of the best epoch."""
        return self.path / BEST_WEIGHTS

    @property
    def last_weights(self) -> Path:
        """``last.weights.h5``: the checkpoint a resume starts from."""
        return self.path / LAST_WEIGHTS

    @property
    def model(self) -> Path:
        """``model.keras``: the usable model of the last finished session."""
        return self.path / MODEL

    @property
    def result(self) -> Path:
        """``result.json``: the :class:`~tlstudio.training.result.RunResult` of the last finished session."""
        return self.path / RESULT

    @property
    def logs(self) -> Path:
        """``logs/``: TensorBoard logs."""
        return self.path / LOGS

    @property
    def split_manifest(self) -> Path:
        """``split_manifest.json``: the split the run trained on."""
        return self.path / SPLIT_MANIFEST

    @property
    def auto_head(self) -> Path:
        """``auto_head.json``: the cut and head ``train --head auto`` chose."""
        return self.path / AUTO_HEAD

    @property
    def report(self) -> Path:
        """``report.html``: the run report, when written to its default place."""
        return self.path / REPORT

    @property
    def export_dir(self) -> Path:
        """``export/``: the run's default export folder."""
        return self.path / EXPORT_DIR

    @property
    def marker(self) -> Path:
        """``.tlstudio-run``: the file that says tlstudio made this folder."""
        return self.path / RUN_MARKER

    @property
    def lock(self) -> Path:
        """``.tlstudio-lock``: the PID of the training that holds this folder (:mod:`tlstudio.run_folders.lock`)."""
        return self.path / RUN_LOCK

    def is_run(self) -> bool:
        """True when the folder holds a ``run_config.json``."""
        return self.run_config.is_file()

    def can_resume(self) -> bool:
        """True when the folder holds a checkpoint (``last.weights.h5``) a resume can start from."""
        return self.last_weights.is_file()

    def has_marker(self) -> bool:
        """True when the folder holds a readable marker of the right format."""
        return has_marker(self.path)

    def load_config(self) -> RunConfig:
        """The checked ``run_config.json`` (see :func:`load_run_config`)."""
        return load_run_config(self.path)

    def load_class_names(self) -> list[str]:
        """The checked ``class_names.json`` (see :func:`load_class_names`)."""
        return load_class_names(self.path)

    def load_history(self) -> list[dict[str, Any]]:
        """The checked ``history.json`` (see :func:`load_history`)."""
        return load_history(self.path)

    def check(self, *, open_weights: bool = True) -> None:
        """Check every file tlstudio reads back (see :func:`check_run_folder`)."""
        check_run_folder(self.path, open_weights=open_weights)


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


def load_history(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The checked ``history.json`` of a run folder (empty when absent).

    Raises:
        ProjectError: the file is damaged; the message names the entry and field.
    """
    path = Path(run_dir) / HISTORY
    if not path.is_file():
        return []
    return check_history(read_json(path, "history file"), path, "history")


read_history = load_history
"""Another name of :func:`load_history`."""


def load_run_config(run_dir: str | os.PathLike) -> RunConfig:
    """The checked ``run_config.json`` of a run folder.

    Raises:
        ProjectError: the folder is not a run folder (no ``run_config.json``),
            or a field is damaged; the message names the field, what was
            expected and ``Received: ...``.
    """
    path = Path(run_dir) / RUN_CONFIG
    if not path.is_file():
        raise ProjectError(
            f"{run_dir} is not a tlstudio run folder: {RUN_CONFIG} is missing. Received: run_dir={str(run_dir)!r}",
            path=str(run_dir),
        )
    return check_run_config(read_json(path, "run config"), path)


def load_class_names(run_dir: str | os.PathLike) -> list[str]:
    """The checked ``class_names.json`` of a run folder (empty when absent).

    Raises:
        ProjectError: not a list, or names that are not distinct one-line texts
            (see :func:`tlstudio.schemas.check_class_names`), naming the entry.
    """
    path = Path(run_dir) / CLASS_NAMES
    if not path.is_file():
        return []
    return check_class_names(read_json(path, "class names file"), path, "class_names")


def load_result(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The checked ``result.json`` of a run folder, or None when absent.

    Raises:
        ProjectError: a damaged field, naming it.
    """
    path = Path(run_dir) / RESULT
    if not path.is_file():
        return None
    return check_result(read_json(path, "result file"), path)


def check_run_folder(run_dir: str | os.PathLike, *, open_weights: bool = True) -> None:
    """Check the files of a run folder that tlstudio reads back, before anything is loaded.

    ``run_config.json`` field by field (type, then range), ``history.json``
    entry by entry, ``result.json`` and ``class_names.json`` for their shape,
    and (with ``open_weights``) ``last.weights.h5`` is opened.

    Args:
        run_dir: The run folder.
        open_weights: Also open the last checkpoint (imports h5py; slower).

    Raises:
        ProjectError: naming the damaged file and field, what was expected and
            ``Received: ...``. A missing folder or file is not an error here.
    """
    folder = Path(run_dir)
    if (folder / RUN_CONFIG).is_file():
        load_run_config(folder)
    load_history(folder)
    load_result(folder)
    load_class_names(folder)
    weights = folder / LAST_WEIGHTS
    if open_weights and weights.is_file():
        import h5py

        try:
            with h5py.File(weights, "r"):
                pass
        except (OSError, ValueError) as exc:
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ProjectError(
                f"{weights}: the checkpoint is damaged and cannot be read ({text}); expected an HDF5 weights file. "
                f"Received: a file of {weights.stat().st_size:,} bytes",
                path=str(weights),
            ) from exc
