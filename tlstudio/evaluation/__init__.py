"""Evaluation: metrics, confusion matrix, calibration, and evaluating saved models.

Public API::

    from tlstudio.evaluation import compute_metrics, evaluate_model

    metrics = compute_metrics(y_true, probs, class_names)          # pure NumPy
    result = evaluate_model("runs/2026-01-01_vgg16", split="val")  # loads Keras lazily
    result.metrics.accuracy, result.cell(0, 1), result.mistakes(10)

Importing this package never imports TensorFlow or Keras: the metrics are
NumPy, and :func:`evaluate_model` loads Keras only when it loads a model.
:func:`load_model`, :func:`resolve_model`, :class:`LoadedModel` and
:class:`ModelSource` are those of :mod:`tlstudio.io.models`.
"""

from tlstudio.evaluation.metrics import (
    Calibration,
    CalibrationBin,
    ClassReport,
    Metrics,
    calibration,
    cell_members,
    compute_metrics,
    confusion_matrix,
    most_confident_mistakes,
    normalize_rows,
    per_class_report,
    predicted_labels,
    top_k_accuracy,
)
from tlstudio.evaluation.runner import (
    SPLIT_CHOICES,
    EvaluationResult,
    ImagePrediction,
    evaluate_loaded,
    evaluate_model,
    evaluate_splits,
    predict_images,
    read_class_names,
    write_predictions_csv,
)
from tlstudio.io.models import LoadedModel, ModelSource, load_model, resolve_model

__all__ = [
    "SPLIT_CHOICES",
    "Calibration",
    "CalibrationBin",
    "ClassReport",
    "EvaluationResult",
    "ImagePrediction",
    "LoadedModel",
    "Metrics",
    "ModelSource",
    "calibration",
    "cell_members",
    "compute_metrics",
    "confusion_matrix",
    "evaluate_loaded",
    "evaluate_model",
    "evaluate_splits",
    "load_model",
    "most_confident_mistakes",
    "normalize_rows",
    "per_class_report",
    "predict_images",
    "predicted_labels",
    "read_class_names",
    "resolve_model",
    "top_k_accuracy",
    "write_predictions_csv",
]
