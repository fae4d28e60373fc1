"""The generated sample dataset: deterministic, valid, balanced and learnable."""

from __future__ import annotations

import numpy as np
import pytest

from tlstudio import imaging
from tlstudio.config import DataConfig
from tlstudio.data import generate_sample_dataset, prepare_data, sample_dataset_path
from tlstudio.data.sample import CLASSES


def _pixels(root):
    return {p.relative_to(root).as_posix(): imaging.load_image(p) for p in sorted(root.rglob("*.png"))}


def test_same_seed_same_pixels_other_seed_differs(tmp_path):
    a = _pixels(generate_sample_dataset(tmp_path / "a", per_class=4, seed=3))
    b = _pixels(generate_sample_dataset(tmp_path / "b", per_class=4, seed=3))
    c = _pixels(generate_sample_dataset(tmp_path / "c", per_class=4, seed=4))
    assert list(a) == list(b) and len(a) == 12
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not all(np.array_equal(a[k], c[k]) for k in a)


def test_layout_size_and_every_file_valid(tmp_path):
    root = generate_sample_dataset(tmp_path / "s", per_class=5, size=48)
    data = prepare_data(DataConfig(root=str(root), val_fraction=0.2))
    assert data.class_names == CLASSES
    assert data.report.num_skipped == 0 and data.report.num_valid == 15
    assert imaging.load_image(root / "circle" / "circle_000.png").shape == (48, 48, 3)


def test_sample_dataset_path_is_generated_once(tmp_path, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path / "cache"))
    path = sample_dataset_path()
    assert path == tmp_path / "cache" / "sample-shapes-v1"
    files = sorted(path.rglob("*.png"))
    assert len(files) == 60 * len(CLASSES)
    mtimes = [f.stat().st_mtime_ns for f in files]
    assert sample_dataset_path() == path
    assert [f.stat().st_mtime_ns for f in files] == mtimes  # not rewritten


def test_bad_arguments_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="per_class"):
        generate_sample_dataset(tmp_path, per_class=0)


@pytest.mark.slow
def test_a_small_cnn_learns_the_shapes(tmp_path):
    import keras
    from tlstudio.data import load_items_array

    root = generate_sample_dataset(tmp_path / "s", per_class=60, size=64)
    data = prepare_data(DataConfig(root=str(root), val_fraction=0.25, seed=0))
    x_train, y_train = load_items_array(data.train, 32)
    x_val, y_val = load_items_array(data.val, 32)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Rescaling(1 / 255.0),
            keras.layers.Conv2D(16, 3, activation="relu", padding="same"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, activation="relu", padding="same"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, activation="relu", padding="same"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=30, batch_size=16, verbose=0)
    _, accuracy = model.evaluate(x_val, y_val, verbose=0)
    assert accuracy >= 0.5  # chance is 1/3; reaches about 0.7
