"""Hand-written Keras pieces the benchmarks compare tlstudio against.

What a Keras user writes without tlstudio: a small trainable network, the
model step timed alone on one batch already in memory (no input pipeline),
and one plain ``fit`` epoch over any ``tf.data`` pipeline. Nothing here
imports tlstudio, so the figures measure Keras and ``tf.data`` only.
"""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf


def tiny_model(image_size: int, classes: int, seed: int = 0) -> keras.Model:
    """MobileNetV2 (random weights, every layer trainable) + average pooling + softmax, compiled.

    Inputs are raw 0..255 pixels; a ``Rescaling`` layer maps them to [-1, 1].
    """
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((image_size, image_size, 3))
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0)(inputs)
    x = keras.applications.MobileNetV2(input_shape=(image_size, image_size, 3), include_top=False, weights=None)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def model_step_rate(model: keras.Model, image_size: int, batch_size: int, classes: int, steps: int = 40) -> float:
    """Images/s of the training step alone: ``fit`` over one in-memory batch repeated ``steps`` times.

    The same ``fit`` loop as :func:`fit_epoch_rate`, with an input that costs
    nothing, so the difference between the two is the input pipeline's.
    """
    rng = np.random.default_rng(0)
    x = tf.constant(rng.integers(0, 256, (batch_size, image_size, image_size, 3)).astype(np.float32))
    y = tf.constant(rng.integers(0, classes, batch_size).astype(np.int32))
    return fit_epoch_rate(model, tf.data.Dataset.from_tensors((x, y)).repeat(steps), steps * batch_size)


def pipeline_rate(dataset: tf.data.Dataset, epochs: int = 2) -> tuple[float, int]:
    """Images/s of the last of ``epochs`` passes over a ``(images, labels)`` dataset with no model; also the image count.

    The first pass warms up what every later epoch has warm (the page cache,
    ``tf.data``'s threads), so the figure is the steady state of training.
    """
    rate, n = 0.0, 0
    for _ in range(epochs):
        start = time.perf_counter()
        n = 0
        for images, _ in dataset:
            n += int(images.shape[0])
        rate = n / (time.perf_counter() - start)
    return rate, n


def fit_epoch_rate(model: keras.Model, dataset: tf.data.Dataset, images: int) -> float:
    """Images/s of one plain ``model.fit`` epoch over ``dataset`` (``images`` images), after a one-batch warm-up."""
    model.fit(dataset.take(1), epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(dataset, epochs=1, verbose=0)
    return images / (time.perf_counter() - start)
