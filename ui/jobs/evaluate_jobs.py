"""The Evaluate page's engine work: the ``"evaluate"`` and ``"predict"`` jobs, and where their results go.

The page runs one job at a time on one engine task. :class:`EvaluateJobs`
builds each job's typed config from the model's path and hands the job's
result to the handler given with it (the results panel for an evaluation,
the image-test panel for a prediction).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject

from tlstudio.config import DataConfig
from tlstudio.data.scan import IMAGE_EXTENSIONS
from tlstudio.api.evaluate import EvaluateConfig, PredictConfig, PredictResult
from tlstudio.api.model_ref import ModelRef
from tlstudio.run_folders import MODEL, RUN_CONFIG
from ui.engine import engine


def model_source(path: str) -> str:
    """The run folder when ``path`` is a run's ``model.keras``, else ``path`` (an exported model)."""
    p = Path(path)
    run_dir = p.parent if p.name == MODEL and (p.parent / RUN_CONFIG).is_file() else None
    return str(run_dir or p)


def is_run(path: str) -> bool:
    """Whether ``path`` is a training run's folder (not an exported model)."""
    return (Path(path) / RUN_CONFIG).is_file()


def folder_images(folder: str) -> list[str]:
    """Every image file under ``folder``, recursively, sorted."""
    return sorted(str(p) for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


class EvaluateJobs(QObject):
    """One engine task for the page's evaluations and predictions, each result sent to its own handler.

    Args:
        parent: The page; the task lives and dies with it.

    Attributes:
        runner: The engine task (progress, error, running and finished signals).
    """

    def __init__(self, parent: QObject):
        super().__init__(parent)
        self.runner = engine().task(parent)
        self._on_result: Callable[[Any], None] = lambda value: None

    def connect_result(self) -> None:
        """Route the task's results to the handler of the job that produced them (connect after the page's own signals)."""
        self.runner.result.connect(lambda value: self._on_result(value))

    @staticmethod
    def model_ref(model_path: str) -> ModelRef:
        """The model a job works on (the engine keeps it loaded between jobs)."""
        return ModelRef(path=model_path)

    def evaluate(self, model_path: str, data: str | DataConfig | None, splits: Sequence[str],
                 on_result: Callable[[dict[str, Any]], None], precision: str = "float32") -> None:
        """Evaluate ``model_path`` on ``splits`` of ``data`` (None: the run's own dataset) in ``precision``."""
        self._on_result = on_result
        self.runner.start("evaluate", EvaluateConfig(self.model_ref(model_path), data, tuple(splits), precision=precision))

    def predict(self, model_path: str, paths: Sequence[str], gradcam: bool, on_result: Callable[[PredictResult], None]) -> None:
        """Predict ``paths`` with ``model_path``, with a Grad-CAM overlay when ``gradcam``."""
        self._on_result = on_result
        self.runner.start("predict", PredictConfig(self.model_ref(model_path), tuple(paths), gradcam))
