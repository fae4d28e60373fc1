"""How a run that ended looks to the Train page, and which run folders hold a checkpoint.

Pure Python, no Qt and no TensorFlow: :class:`RunView` is built from the
engine's typed :class:`~tlstudio.api.train.RunResult` or from a project's
:class:`~tlstudio.project.RunRecord`; the page's words (:mod:`ui.jobs.train_text`)
and its jobs (:mod:`ui.jobs.train_jobs`) both read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from tlstudio.api.train import RunResult
from tlstudio.project import RunRecord
from tlstudio.run_folders import LAST_WEIGHTS


@dataclass(frozen=True)
class RunView:
    """What the Train page shows of a run that ended: a finished session or a project's recorded run.

    Attributes:
        run_dir: The run folder.
        status: ``"finished"``, ``"cancelled"`` or ``"failed"`` (a project's record may say ``"unknown"``).
        epochs_completed: Epochs completed over every session of the run.
        best_metrics: Metrics of the best epoch.
        model_path: The saved usable model, or None.
        seconds: Wall time of the session (0 for a recorded run).
        error: One readable line when the run failed, else None.
        error_details: The traceback of the error, or ``""``.
    """

    run_dir: str = ""
    status: str = "finished"
    epochs_completed: int = 0
    best_metrics: Mapping[str, float] = field(default_factory=dict)
    model_path: str | None = None
    seconds: float = 0.0
    error: str | None = None
    error_details: str = ""

    @property
    def cancelled(self) -> bool:
        return self.status in ("cancelled", "no epoch completed")

    @classmethod
    def of_result(cls, result: RunResult) -> RunView:
        """The view of the engine's :class:`~tlstudio.training.RunResult`."""
        status = "failed" if result.error else "cancelled" if result.cancelled else "finished"
        return cls(run_dir=result.run_dir, status=status, epochs_completed=int(result.epochs_completed),
                   best_metrics=dict(result.best_metrics), model_path=result.model_path, seconds=float(result.seconds),
                   error=result.error, error_details=result.error_details or "")

    @classmethod
    def of_record(cls, record: RunRecord) -> RunView:
        """The view of a run the project recorded (:class:`~tlstudio.project.RunRecord`)."""
        return cls(run_dir=str(record.run_dir), status=record.status, epochs_completed=int(record.epochs_completed),
                   best_metrics=dict(record.best_metrics), model_path=record.model_path)


def checkpointed(*run_dirs: str) -> str:
    """The first of ``run_dirs`` that holds a ``last.weights.h5`` checkpoint, or ``""``."""
    for run_dir in run_dirs:
        if run_dir and (Path(run_dir) / LAST_WEIGHTS).is_file():
            return run_dir
    return ""
