"""The Evaluate page's jobs: evaluate a model on dataset splits, and predict image files.

Both name their model with a :class:`~tlstudio.api.model_ref.ModelRef` and take
it from the engine's model cache (:func:`tlstudio.model_cache.loaded_model`),
so testing image after image on one model loads it once. They return plain
picklable data: :class:`~tlstudio.api.evaluate.EvaluationResult` per split, and
a :class:`PredictResult` whose Grad-CAM overlay is a uint8 array. Neither
changes process-wide state, so they may run next to other jobs.

This module imports TensorFlow only inside the job functions. The configs and
results are in :mod:`tlstudio.api.evaluate`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tlstudio.api.evaluate import EvaluateConfig, EvaluationResult, ImagePrediction, PredictConfig, PredictResult
from tlstudio.cancel import CancelToken
from tlstudio.events import LogMessage, Progress, Sink
from tlstudio.model_cache import loaded_model, model_lock


def evaluate(config: EvaluateConfig, *, sink: Sink, cancel: CancelToken) -> dict[str, EvaluationResult]:
    """Evaluate ``config.model`` on each of ``config.splits``.

    Sends a :class:`~tlstudio.events.Progress` per batch of images and a
    :class:`~tlstudio.events.LogMessage` per unreadable image; cancel is
    checked between batches, and a cancelled split holds the images done so far.

    Returns:
        Split name -> :class:`~tlstudio.api.evaluate.EvaluationResult`, in the
        order of ``config.splits``.

    Raises:
        ModelFileError: the model or its class names cannot be read.
        DataError: the dataset cannot be read, the first split is empty, or
            the dataset has classes the model does not know.
    """
    from dataclasses import replace

    from tlstudio.evaluation import evaluate_splits
    from tlstudio.evaluation.runner import fast_precision_copy

    sink(Progress("load", 0, 0, f"Loading {config.model.path}"))
    model = loaded_model(config.model)
    used = "float32"
    if config.precision != "float32":  # the user's opt-in: faster, not the exported files' exact numbers
        from tlstudio.precision.runtime import resolve

        choice = resolve(config.precision)
        sink(LogMessage(f"evaluation precision: {choice.sentence()}", "info"))
        with model_lock(model):
            model, used = fast_precision_copy(model, choice.precision, sink)
    if used == "float32":
        with model_lock(model):
            results = evaluate_splits(model, config.data, splits=config.splits, sink=sink, cancel=cancel)
    else:  # a private copy: no lock (the cache's lock table would keep it alive)
        results = evaluate_splits(model, config.data, splits=config.splits, sink=sink, cancel=cancel)
    return {split: replace(result, precision=used) for split, result in results.items()}


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
