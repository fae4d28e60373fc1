"""The training loss: cross-entropy on integer labels, with optional label smoothing.

The datasets yield integer class labels, and Keras'
``SparseCategoricalCrossentropy`` has no ``label_smoothing``. With
``TrainConfig.label_smoothing == 0`` the run keeps the plain
``"sparse_categorical_crossentropy"``; above 0 it uses
:class:`SparseSmoothedCrossentropy`, which one-hot encodes the labels and
computes the categorical cross-entropy against
``(1 - s) * one_hot + s / num_classes`` (what
``keras.losses.CategoricalCrossentropy(label_smoothing=s)`` does, and what
the sweep's trials use, so a promoted trial trains with the loss it was
scored with).

The class is registered with Keras, so a model saved while compiled with it
loads again.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from tlstudio.config import TrainConfig

PLAIN_LOSS = "sparse_categorical_crossentropy"
"""The loss without label smoothing."""


@keras.saving.register_keras_serializable(package="tlstudio")
class SparseSmoothedCrossentropy(keras.losses.Loss):
    """Categorical cross-entropy with label smoothing, on integer labels.

    Args:
        label_smoothing: Share of each label spread evenly over all classes, within [0, 1).
        name: Loss name.
        **kwargs: Passed to :class:`keras.losses.Loss` (``reduction``, ``dtype``).
    """

    def __init__(self, label_smoothing: float = 0.0, name: str = "sparse_smoothed_crossentropy", **kwargs: Any):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        """Per-sample loss of integer labels ``y_true`` (``[B]`` or ``[B, 1]``) against probabilities ``y_pred``."""
        y_true = ops.convert_to_tensor(y_true)
        if len(y_true.shape) == len(y_pred.shape):
            y_true = ops.squeeze(y_true, axis=-1)
        onehot = ops.one_hot(ops.cast(y_true, "int32"), ops.shape(y_pred)[-1], dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(onehot, y_pred, label_smoothing=self.label_smoothing)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, for saving."""
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def make_loss(train: TrainConfig) -> Any:
    """The loss of a run: the plain sparse cross-entropy, or the smoothed one when ``train.label_smoothing > 0``."""
    if train.label_smoothing > 0:
        return SparseSmoothedCrossentropy(train.label_smoothing)
    return PLAIN_LOSS
