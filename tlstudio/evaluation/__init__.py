"""Evaluation: evaluating saved models on a dataset's splits.

Public API::

    from tlstudio.evaluation import evaluate_model

    result = evaluate_model("runs/2026-01-01_vgg16", split="val")  # loads Keras lazily
    result.metrics.accuracy, result.cell(0, 1), result.mistakes(10)

The results and the metrics (pure NumPy) are defined in :mod:`tlstudio.api.evaluate`
and :mod:`tlstudio.api.metrics`. Importing this package never imports TensorFlow
or Keras: :func:`evaluate_model` loads Keras only when it loads a model.
:func:`load_model`, :func:`resolve_model`, :class:`LoadedModel` and
:class:`ModelSource` are those of :mod:`tlstudio.io.model_files`.
"""

from tlstudio.evaluation.runner import evaluate_loaded, evaluate_model, evaluate_splits, predict_images
from tlstudio.io.model_files import LoadedModel, ModelSource, load_model, resolve_model

__all__ = [
    "LoadedModel",
    "ModelSource",
    "evaluate_loaded",
    "evaluate_model",
    "evaluate_splits",
    "load_model",
    "predict_images",
    "resolve_model",
]
