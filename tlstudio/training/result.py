"""The outcome of a training run, and reading a run folder back.

This module is light (no TensorFlow): the GUI, evaluation and project code use
it to list and reopen runs. The run folder's file names, its checked loaders
and the resume plan are in :mod:`tlstudio.run_folders`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from tlstudio.config import RunConfig, to_json
from tlstudio.errors import ProjectError
from tlstudio.io.atomic import atomic_write_json
from tlstudio.run_folders.run_files import CLASS_NAMES, MODEL, RESULT, RUN_CONFIG, load_history


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


def config_snapshot(config: RunConfig) -> str:
    """The JSON text written as ``run_config.json``."""
    return to_json(config)
