"""The full transfer-learning model and the freezing of its backbone.

Layout (every part a named, nested piece so other modules can find it)::

    "image"         Input (S, S, 3) float32, raw RGB 0..255
    "augmentation"  Random* layers, active only in training (absent when off)
    "preprocess"    the backbone's own preprocess_input, as standard Keras ops
    "backbone"      keras.applications model without top (up to ModelConfig.cut), called with training=False
    "head"          nested model: pooling -> "head_norm" -> 0-3 Dense(+Dropout) -> Dropout -> "predictions"

The head is a model of its own so training can fit it alone on cached backbone
features and put the very same layers back into the full model.

The head standardises its pooled input: ``head_norm`` is a Keras
``Normalization`` layer whose mean and variance (non-trainable weights, so
checkpoints, resumes and exports keep them) are set once per run by
:func:`adapt_head_normalization` from the training features. Without it the
pooled features of a frozen backbone can be in the tens, and the first epoch's
loss starts at 20-35 instead of near ln(number of classes). Until adapted the
layer is the identity (mean 0, variance 1).

Freezing follows the Keras transfer-learning recipe: phase 1 trains the head
with the whole backbone frozen (:func:`freeze_all`); phase 2 unfreezes what the
:class:`~tlstudio.config.FreezeConfig` does not freeze (:func:`apply_freeze`)
and fine-tunes at a low learning rate. Which layers a config freezes, and the
parameter counts that follow, are computed without Keras in :mod:`tlstudio.layout`
(the Model page shows the same numbers). BatchNorm layers are never trainable
and, since the backbone is called with ``training=False``, always run in
inference mode. Changing ``trainable`` only takes effect for training after the
model is compiled again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import keras
import numpy as np

from tlstudio import backbones
from tlstudio.config import AugmentConfig, FreezeConfig, HeadConfig, ModelConfig
from tlstudio.errors import ConfigError
from tlstudio.layout import ParamCounts, resolve_freeze  # noqa: F401 - shared with the GUI, re-exported here

INPUT_NAME = "image"
BACKBONE_NAME = "backbone"
HEAD_NAME = "head"
HEAD_NORM_NAME = "head_norm"
PREPROCESS_NAME = "preprocess"
AUGMENTATION_NAME = "augmentation"


@dataclass(frozen=True)
class FreezeReport:
    """What a freezing change did.

    Attributes:
        before: Parameter counts before the change.
        after: Parameter counts after the change.
        frozen_layers: Backbone layers (in order) that are not trainable afterwards,
            BatchNorm layers included.
        trainable_layers: Backbone layers (in order) that are trainable afterwards.
    """

    before: ParamCounts
    after: ParamCounts
    frozen_layers: tuple[str, ...]
    trainable_layers: tuple[str, ...]


def _count(weights: Iterable) -> int:
    return int(sum(int(np.prod(w.shape)) for w in weights))


def param_counts(model: keras.Model) -> ParamCounts:
    """Count trainable and non-trainable parameters of ``model`` (nested models included)."""
    trainable = _count(model.trainable_weights)
    non_trainable = _count(model.non_trainable_weights)
    return ParamCounts(trainable, non_trainable, trainable + non_trainable)


# --------------------------------------------------------------------------- building


def build_head(
    head_cfg: HeadConfig,
    feature_shape: Sequence[int | None],
    num_classes: int,
    name: str = HEAD_NAME,
    *,
    seed: int = 0,
) -> keras.Model:
    """Build the classification head as a model of its own.

    Args:
        head_cfg: Pooling, hidden dense layers and final dropout.
        feature_shape: Shape of one backbone output without the batch axis,
            e.g. ``(7, 7, 512)``.
        num_classes: Units of the softmax output.
        name: Name of the returned model.
        seed: Seed of the dense initialisers and the dropout masks.

    Returns:
        A functional model ``feature map -> class probabilities`` with layers
        ``head_pool``, ``head_norm`` (standardises the pooled features once
        :func:`adapt_head_normalization` has run), ``head_dense_N``
        (+ ``head_dropout_N``), ``head_dropout`` and ``predictions``
        (softmax, float32 even under mixed precision).
    """
    if num_classes < 2:
        raise ConfigError(f"A classifier needs at least 2 classes. Received: num_classes={num_classes}")
    feature_shape = tuple(feature_shape)
    if len(feature_shape) != 3:
        raise ConfigError(f"The head expects a (height, width, channels) feature map. Received: {feature_shape}")
    inputs = keras.Input(shape=feature_shape, name=f"{name}_features")
    pool = {
        "avg": keras.layers.GlobalAveragePooling2D,
        "max": keras.layers.GlobalMaxPooling2D,
        "flatten": keras.layers.Flatten,
    }[head_cfg.pooling]
    x = pool(name="head_pool")(inputs)
    x = keras.layers.Normalization(axis=-1, dtype="float32", name=HEAD_NORM_NAME)(x)
    for i, dense in enumerate(head_cfg.dense, start=1):
        x = keras.layers.Dense(
            dense.units,
            activation=dense.activation,
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed + i),
            name=f"head_dense_{i}",
        )(x)
        if dense.dropout > 0:
            x = keras.layers.Dropout(dense.dropout, seed=seed + 10 + i, name=f"head_dropout_{i}")(x)
    if head_cfg.dropout > 0:
        x = keras.layers.Dropout(head_cfg.dropout, seed=seed + 10, name="head_dropout")(x)
    outputs = keras.layers.Dense(
        num_classes,
        activation="softmax",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
        dtype="float32",
        name="predictions",
    )(x)
    return keras.Model(inputs, outputs, name=name)


def build_model(
    model_cfg: ModelConfig,
    num_classes: int,
    *,
    augment: AugmentConfig | None = None,
    seed: int = 0,
) -> keras.Model:
    """Build the full model: raw pixels in, class probabilities out.

    The backbone starts fully frozen and the head trainable (phase 1), see
    :func:`freeze_all`.

    Args:
        model_cfg: Backbone, weights, input size, cut point and head. With a
            ``cut``, the nested backbone ends at that layer (its later layers
            are not part of the model, nor of a saved or exported file).
        num_classes: Number of classes of the softmax output.
        augment: Training-time augmentation; None or all-off leaves it out.
        seed: Seed of the augmentation layers and the head initialisers.

    Raises:
        ConfigError: unknown backbone, bad size or fewer than 2 classes.
        WeightsUnavailableError: the backbone weights cannot be loaded.
    """
    size = backbones.resolve_image_size(model_cfg.backbone, model_cfg.image_size)
    if num_classes < 2:
        raise ConfigError(f"A classifier needs at least 2 classes. Received: num_classes={num_classes}")
    backbone = backbones.build_backbone(model_cfg.backbone, model_cfg.weights, size, name=BACKBONE_NAME, cut=model_cfg.cut)
    inputs = keras.Input(shape=(size, size, 3), dtype="float32", name=INPUT_NAME)
    x = inputs
    if augment is not None and augment.enabled:
        from tlstudio.data import build_augmentation

        aug = build_augmentation(augment, seed)
        if aug is not None:
            x = aug(x)
    x = backbones.preprocess_layer(model_cfg.backbone, name=PREPROCESS_NAME)(x)
    features = backbone(x, training=False)
    head = build_head(model_cfg.head, tuple(backbone.output.shape[1:]), num_classes, seed=seed)
    outputs = head(features)
    model = keras.Model(inputs, outputs, name=f"tlstudio_{model_cfg.backbone}")
    freeze_all(model)
    return model


def set_compute_precision(model: keras.Model, precision: str) -> None:
    """Make a model from :func:`build_model` compute in ``precision``, in place.

    The backbone and the head's pooling and hidden layers take the precision's
    policy; the input, augmentation, preprocessing, ``head_norm`` and the
    ``predictions`` layer stay float32 (the Keras mixed-precision recipe: a
    float32 output and loss). Weights are float32 variables under every
    policy, so checkpoints do not change. ``set_compute_precision(model,
    "float32")`` undoes it before the model is saved.
    """
    from tlstudio.precision.runtime import set_policy

    head = find_head(model)
    hidden = [layer for layer in head.layers if layer.name.startswith(("head_pool", "head_dense_", "head_dropout"))]
    set_policy([find_backbone(model), *hidden], precision)


def find_backbone(model: keras.Model) -> keras.Model:
    """Return the nested backbone model of a model made by :func:`build_model`."""
    return _find(model, BACKBONE_NAME)


def find_head(model: keras.Model) -> keras.Model:
    """Return the nested head model of a model made by :func:`build_model`."""
    return _find(model, HEAD_NAME)


def _find(model: keras.Model, name: str) -> keras.Model:
    for layer in model.layers:
        if layer.name == name:
            return layer
    raise ConfigError(
        f"This model has no {name!r} part; it was not built by tlstudio. "
        f"Received: layers {[l.name for l in model.layers]}"
    )


# --------------------------------------------------------------------------- freezing


def _is_batchnorm(layer) -> bool:
    return isinstance(layer, keras.layers.BatchNormalization)


def _backbone_layers(backbone: keras.Model) -> list:
    return [l for l in backbone.layers if not isinstance(l, keras.layers.InputLayer)]


def _backbone_key(model: keras.Model, key: str | None) -> str:
    if key is not None:
        backbones.get_spec(key)
        return key
    name = model.name
    if name.startswith("tlstudio_") and name[len("tlstudio_"):] in backbones.BACKBONES:
        return name[len("tlstudio_"):]
    raise ConfigError(f"Cannot tell which backbone this model uses; pass key=. Received: model name {name!r}")


def _report(model: keras.Model, before: ParamCounts) -> FreezeReport:
    layers = _backbone_layers(find_backbone(model))
    return FreezeReport(
        before=before,
        after=param_counts(model),
        frozen_layers=tuple(l.name for l in layers if not l.trainable),
        trainable_layers=tuple(l.name for l in layers if l.trainable),
    )


def _set_trainable(model: keras.Model, frozen: set[str]) -> None:
    backbone = find_backbone(model)
    # Setting a model's flag sets every sub-layer's, so open the backbone
    # first, then choose layer by layer.
    backbone.trainable = True
    any_trainable = False
    for layer in _backbone_layers(backbone):
        trainable = layer.name not in frozen and not _is_batchnorm(layer)
        layer.trainable = trainable
        any_trainable = any_trainable or trainable
    if not any_trainable:
        backbone.trainable = False
    find_head(model).trainable = True
    for layer in model.layers:
        if layer.name in (PREPROCESS_NAME, AUGMENTATION_NAME):
            layer.trainable = False


def freeze_all(model: keras.Model) -> FreezeReport:
    """Phase 1: freeze the whole backbone, make the head trainable."""
    before = param_counts(model)
    backbone = find_backbone(model)
    _set_trainable(model, {l.name for l in _backbone_layers(backbone)})
    return _report(model, before)


def apply_freeze(model: keras.Model, freeze_cfg: FreezeConfig, *, key: str | None = None) -> FreezeReport:
    """Phase 2: freeze what ``freeze_cfg`` selects and unfreeze the rest of the backbone.

    BatchNorm layers stay non-trainable whatever the selection. Compile the
    model again afterwards for the change to reach training.

    Args:
        model: A model made by :func:`build_model`.
        freeze_cfg: What stays frozen.
        key: Backbone registry key; by default read from the model's name
            (``"tlstudio_<key>"``).

    Raises:
        ConfigError: the config names blocks or layers the backbone lacks.
    """
    before = param_counts(model)
    backbone = find_backbone(model)
    names = [l.name for l in _backbone_layers(backbone)]
    frozen = resolve_freeze(names, _backbone_key(model, key), freeze_cfg)
    _set_trainable(model, frozen)
    return _report(model, before)
