"""The outcome of a training run, and reading a run folder back.

This module is light (no TensorFlow): the GUI, evaluation and project code use
it to list and reopen runs. The run folder's file names, its checked loaders
and the resume plan are in :mod:`tlstudio.run_folders`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tlstudio.api.train import RunResult
from tlstudio.config import RunConfig, to_json
from tlstudio.errors import ProjectError
from tlstudio.io.atomic import atomic_write_json
from tlstudio.run_folders.run_files import CLASS_NAMES, MODEL, RESULT, RUN_CONFIG, load_class_names, load_history, load_result


SOFTWARE = ("tensorflow", "keras", "numpy", "pillow", "tlstudio")
"""The packages whose versions a run records (with Python's)."""


def software_versions() -> dict[str, str]:
    """``{"python": "3.11.2", "tensorflow": ..., "keras": ..., "numpy": ..., "pillow": ..., "tlstudio": ...}``.

    Read from the installed distributions' metadata, so nothing is imported;
    a package that is not installed is ``"not installed"``.
    """
    import platform
    from importlib import metadata

    from tlstudio import __version__

    found = {"python": platform.python_version()}
    for name in SOFTWARE:
        try:
            found[name] = __version__ if name == "tlstudio" else metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically (see :func:`tlstudio.io.atomic.atomic_write_json`)."""
    atomic_write_json(path, data)


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
    history = tuple(load_history(folder))
    result_path = folder / RESULT
    if result_path.is_file():
        data = dict(load_result(folder) or {})  # checked field by field (tlstudio.schemas)
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
    class_names = tuple(load_class_names(folder)) if names_path.is_file() else ()
    model = folder / MODEL
    return RunResult(
        run_dir=str(folder),
        model_path=str(model) if model.is_file() else None,
        history=history,
        class_names=class_names,
        epochs_completed=len(history),
        error=f"the run in {folder} has no {RESULT}: it is still running or was interrupted.",
    )


def config_snapshot(config: RunConfig) -> str:
    """The JSON text written as ``run_config.json``."""
    return to_json(config)
