"""Tiny models laid out like tlstudio's for the int8 tests (``image -> preprocess -> backbone -> head``).

The head comes from :func:`tlstudio.model.build_head` with ``head_norm``
adapted; the last convolution's output channels are deliberately spread over
five decades, as VGG16's are (0.01..1477). Shared by
``tests/core/export/test_equalize.py`` and ``test_int8_ranges.py``.
"""

from __future__ import annotations

import keras
import numpy as np

from tlstudio.backbones.preprocessing import preprocess_layer
from tlstudio.config import HeadConfig
from tlstudio.model import HEAD_NORM_NAME, build_head

SIZE = 32
CHANNELS = 16


def _backbone(last: str = "conv_relu") -> keras.Model:
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="block1_conv1")(inputs)
    x = keras.layers.MaxPooling2D(name="block1_pool")(x)
    if last == "conv_relu":
        x = keras.layers.Conv2D(CHANNELS, 3, padding="same", activation="relu", name="block2_conv1")(x)
    elif last == "bn_relu":
        x = keras.layers.Conv2D(CHANNELS, 3, padding="same", name="block2_conv1")(x)
        x = keras.layers.BatchNormalization(name="block2_bn")(x)
        x = keras.layers.ReLU(name="block2_relu")(x)
    elif last == "relu6":
        x = keras.layers.Conv2D(CHANNELS, 3, padding="same", name="block2_conv1")(x)
        x = keras.layers.ReLU(max_value=6.0, name="block2_relu6")(x)
    x = keras.layers.MaxPooling2D(name="block2_pool")(x)
    return keras.Model(inputs, x, name="backbone")


def _spread(backbone: keras.Model) -> None:
    """Multiply the last convolution's output channels by 1e-3 .. 1e2 (a float-equivalent change is not what we test)."""
    conv = backbone.get_layer("block2_conv1")
    kernel, *rest = conv.get_weights()
    factors = np.logspace(-3, 2, CHANNELS).astype("float32")[np.random.default_rng(1).permutation(CHANNELS)]
    conv.set_weights([kernel * factors, *[r * factors for r in rest]])


def tiny_model(pooling: str = "avg", last: str = "conv_relu", norm: bool = True, classes: int = 4) -> keras.Model:
    keras.utils.set_random_seed(0)
    backbone = _backbone(last)
    _spread(backbone)
    if norm:
        head = build_head(HeadConfig(pooling=pooling), backbone.output.shape[1:], classes)
    else:
        h_in = keras.Input(backbone.output.shape[1:])
        pool = {"avg": keras.layers.GlobalAveragePooling2D, "max": keras.layers.GlobalMaxPooling2D,
                "flatten": keras.layers.Flatten}[pooling](name="head_pool")(h_in)
        head = keras.Model(h_in, keras.layers.Dense(classes, activation="softmax", name="predictions")(pool), name="head")
    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    model = keras.Model(inputs, head(backbone(preprocess_layer("vgg16")(inputs))), name="tlstudio_tiny")
    if norm:  # head_norm standardises the pooled features of these images, as training does
        pooled = keras.Model(head.inputs, head.get_layer("head_pool").output)(backbone(preprocess_layer("vgg16")(images(64, 7))))
        pooled = np.asarray(pooled, dtype=np.float64)
        layer = head.get_layer(HEAD_NORM_NAME)
        layer.adapt_mean.assign(pooled.mean(axis=0))
        layer.adapt_variance.assign(pooled.var(axis=0))
        layer.finalize_state()
    return model


def images(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.uniform(0, 255, (n, 1, 1, 3))
    return np.clip(base + rng.normal(0, 40, (n, SIZE, SIZE, 3)), 0, 255).astype("float32")
