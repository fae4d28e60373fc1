"""The Evaluate page's jobs: evaluate a model on dataset splits, and predict image files.

Both name their model with a :class:`~tlstudio.jobs.models.ModelRef` and take
it from the engine's model cache (:func:`tlstudio.jobs.models.loaded_model`),
so testing image after image on one model loads it once. They return plain
picklable data: :class:`~tlstudio.evaluation.EvaluationResult` per split, and
a :class:`PredictResult` whose Grad-CAM overlay is a uint8 array. Neither
changes process-wide state, so they may run next to other jobs.

This module imports TensorFlow only inside the job functions: the GUI imports
:class:`EvaluateConfig` and :class:`PredictConfig` from it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from tlstudio.cancel import CancelToken
from tlstudio.config import DataConfig
from tlstudio.errors import ConfigError
from tlstudio.evaluation.runner import SPLIT_CHOICES, EvaluationResult, ImagePrediction
from tlstudio.events import LogMessage, Progress, Sink
from tlstudio.jobs.models import ModelRef, loaded_model, model_lock


def _as_ref(model: ModelRef | str | os.PathLike) -> ModelRef:
    """``model`` as a :class:`ModelRef` (a path becomes ``ModelRef(path=...)``)."""
    if isinstance(model, ModelRef):
        return model
    if isinstance(model, (str, os.PathLike)) and str(model):
        return ModelRef(path=str(model))
    raise ConfigError(f"the model to evaluate must be a model reference or a path to a model. Received: {model!r}")


@dataclass(frozen=True)
class EvaluateConfig:
    """What the ``evaluate`` job evaluates.

    Attributes:
        model: The model: a run folder or exported model file, as a
            :class:`ModelRef` or a path (turned into one).
        data: Where the labelled images are: None (a run folder's own dataset
            and split), a dataset folder, or a :class:`~tlstudio.config.DataConfig`.
        splits: Splits to evaluate, in order (``"val"``, ``"test"``,
            ``"train"``, ``"all"``); splits after the first that have no
            images are left out of the result.
    """

    model: ModelRef
    data: DataConfig | str | None = None
    splits: tuple[str, ...] = ("val", "test")

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", _as_ref(self.model))
        if isinstance(self.data, os.PathLike):
            object.__setattr__(self, "data", str(self.data))
        splits = (self.splits,) if isinstance(self.splits, str) else tuple(self.splits)
        object.__setattr__(self, "splits", splits)
        bad = [s for s in splits if s not in SPLIT_CHOICES]
        if not splits or bad:
            raise ConfigError(f"splits must be one or more of {SPLIT_CHOICES}. Received: splits={splits!r}")


def evaluate(config: EvaluateConfig, *, sink: Sink, cancel: CancelToken) -> dict[str, EvaluationResult]:
    """Evaluate ``config.model`` on each of ``config.splits``.

    Sends a :class:`~tlstudio.events.Progress` per batch of images and a
    :class:`~tlstudio.events.LogMessage` per unreadable image; cancel is
    checked between batches, and a cancelled split holds the images done so far.

    Returns:
        Split name -> :class:`~tlstudio.evaluation.EvaluationResult`, in the
        order of ``config.splits``.

    Raises:
        ModelFileError: the model or its class names cannot be read.
        DataError: the dataset cannot be read, the first split is empty, or
            the dataset has classes the model does not know.
    """
    from tlstudio.evaluation import evaluate_splits

    sink(Progress("load", 0, 0, f"Loading {config.model.path}"))
    model = loaded_model(config.model)
    with model_lock(model):
        return evaluate_splits(model, config.data, splits=config.splits, sink=sink, cancel=cancel)


@dataclass(frozen=True)
class PredictConfig:
    """What the ``predict`` job predicts.

    Attributes:
        model: A run folder or exported model file, as a :class:`ModelRef`
            or a path (turned into one).
        paths: Image files to predict.
        gradcam: Also compute a Grad-CAM overlay when exactly one image is
            predicted (Keras models only).
    """

    model: ModelRef
    paths: tuple[str, ...]
    gradcam: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", _as_ref(self.model))
        paths = (self.paths,) if isinstance(self.paths, (str, os.PathLike)) else self.paths
        object.__setattr__(self, "paths", tuple(str(p) for p in paths))
        if not self.paths:
            raise ConfigError("prediction needs at least one image file. Received: paths=()")


@dataclass(frozen=True)
class PredictResult:
    """Predictions of image files by one model.

    Attributes:
        model_path: The model file that predicted.
        class_names: The model's class names; index = label.
        rows: One prediction per readable image, in the order of the request
            (``true`` is -1: the images are unlabelled).
        skipped: ``(path, reason)`` of the files that could not be read.
        overlay: Grad-CAM of the single image over it, RGB uint8 ``(H, W, 3)``,
            or None when not asked for or not available.
        gradcam_error: Why the asked-for Grad-CAM is missing, else None.
    """

    model_path: str
    class_names: tuple[str, ...]
    rows: tuple[ImagePrediction, ...]
    skipped: tuple[tuple[str, str], ...] = ()
    overlay: np.ndarray | None = None
    gradcam_error: str | None = None


def predict(config: PredictConfig, *, sink: Sink, cancel: CancelToken) -> PredictResult:
    """Predict ``config.paths``; with ``config.gradcam`` and one image, add its Grad-CAM overlay.

    Grad-CAM is a bonus: when it fails, the prediction still comes back,
    ``gradcam_error`` says why and a warning :class:`~tlstudio.events.LogMessage`
    is sent.

    Raises:
        ModelFileError: the model or its class names cannot be read.
    """
    from tlstudio.evaluation import predict_images

    sink(Progress("load", 0, 0, f"Loading {config.model.path}"))
    model = loaded_model(config.model)
    overlay, gradcam_error = None, None
    with model_lock(model):
        rows, skipped = predict_images(model, list(config.paths), sink=sink, cancel=cancel)
        if config.gradcam and len(rows) == 1:
            overlay, gradcam_error = _gradcam_overlay(model, rows[0])
    if overlay is None and gradcam_error:
        sink(LogMessage(f"Grad-CAM of {rows[0].path} unavailable: {gradcam_error}", "warning"))
    return PredictResult(
        model_path=model.source.model_path,
        class_names=tuple(model.class_names),
        rows=tuple(rows),
        skipped=tuple(skipped),
        overlay=overlay,
        gradcam_error=gradcam_error,
    )


def _gradcam_overlay(model: Any, row: ImagePrediction) -> tuple[np.ndarray | None, str | None]:
    """``(overlay, None)``, or ``(None, why)`` when Grad-CAM of ``row`` cannot be made."""
    if model.model is None:
        return None, f"Grad-CAM needs a Keras model (.keras or a run folder). Received: a {model.source.kind} model"
    try:
        from tlstudio.imaging import load_image
        from tlstudio.inspection.gradcam import grad_cam

        image = load_image(row.path)
        return np.ascontiguousarray(grad_cam(model.model, image, class_index=row.pred).overlay, dtype=np.uint8), None
    except Exception as exc:  # noqa: BLE001 - Grad-CAM is a bonus; the caller shows and logs why it is missing
        return None, f"{type(exc).__name__}: {exc}"
