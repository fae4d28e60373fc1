"""A tiny trained Keras model laid out like tlstudio's, and a run folder around it (export, io and GUI tests).

The model has raw RGB input, a preprocessing layer, a nested frozen
"backbone" with BatchNorm called with ``training=False``, and a softmax head.
Importing this module imports Keras.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import keras

from tlstudio.config import DataConfig, ModelConfig, RunConfig, TrainConfig, to_json

SIZE = 32
CLASS_NAMES = ["ants", "bees", "wasps"]


def build_tiny_model(num_classes: int = len(CLASS_NAMES), size: int = SIZE, seed: int = 0) -> keras.Model:
    """A small model laid out like tlstudio.model.build_model's output."""
    keras.utils.set_random_seed(seed)
    b_in = keras.Input((size, size, 3))
    b = keras.layers.Conv2D(6, 3, padding="same", name="block1_conv1")(b_in)
    b = keras.layers.BatchNormalization(name="block1_bn")(b)
    b = keras.layers.Activation("relu")(b)
    b = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="block2_conv1")(b)
    backbone = keras.Model(b_in, b, name="backbone")
    backbone.get_layer("block1_conv1").trainable = False
    backbone.get_layer("block1_bn").trainable = False

    inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess")(inputs)
    x = backbone(x, training=False)
    x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
    x = keras.layers.Dropout(0.2, name="head_dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name="tiny")


def train_tiny_model(model: keras.Model, seed: int = 0) -> keras.Model:
    """Two quick epochs on coloured noise so the weights are really trained."""
    rng = np.random.default_rng(seed)
    n = model.output_shape[-1]
    y = np.arange(24) % n
    x = rng.uniform(0, 255, size=(24, SIZE, SIZE, 3)).astype("float32")
    for i, label in enumerate(y):
        x[i, ..., label % 3] = np.clip(x[i, ..., label % 3] + 120, 0, 255)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    return model


def make_image_folder(root: Path, class_names=CLASS_NAMES, per_class: int = 2) -> Path:
    from PIL import Image

    rng = np.random.default_rng(1)
    for ci, name in enumerate(class_names):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            arr = rng.integers(0, 255, size=(40 + 4 * i, 48, 3), dtype=np.uint8)
            arr[..., ci % 3] = 250
            Image.fromarray(arr).save(root / name / f"img_{i}.png")
    return root


def make_run_dir(base: Path) -> Path:
    """A run folder as tlstudio.training writes it, around the tiny model."""
    data_root = make_image_folder(base / "data")
    run_dir = base / "run"
    run_dir.mkdir()
    model = train_tiny_model(build_tiny_model())
    model.save(run_dir / "model.keras")
    run_config = RunConfig(
        data=DataConfig(root=str(data_root)),
        model=ModelConfig(backbone="vgg16", weights="none", image_size=SIZE),
        train=TrainConfig(epochs=2, batch_size=8),
        run_dir=str(run_dir),
    )
    (run_dir / "run_config.json").write_text(to_json(run_config), encoding="utf-8")
    (run_dir / "class_names.json").write_text(json.dumps(CLASS_NAMES), encoding="utf-8")
    (run_dir / "result.json").write_text(json.dumps({"best_metrics": {"val_accuracy": 0.75, "val_loss": 0.6}}))
    (run_dir / "dataset_report.json").write_text(json.dumps({"counts": {"train": {"ants": 2, "bees": 2, "wasps": 2}}}))
    return run_dir
