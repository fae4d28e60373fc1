"""The tf.data pipeline and the augmentation block (small images, no training)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tlstudio import imaging
from tlstudio.config import AugmentConfig
from tlstudio.data import Item, build_augmentation, load_items_array, make_dataset

import tensorflow as tf  # noqa: E402


@pytest.fixture
def items(tmp_path):
    """Seven small images in two classes, including modes tf.io.decode_image cannot read."""
    out = []
    rng = np.random.default_rng(0)
    for i in range(5):
        path = tmp_path / f"rgb_{i}.png"
        Image.fromarray(rng.integers(0, 256, (20 + i, 30, 3), dtype=np.uint8)).save(path)
        out.append(Item(str(path), i % 2))
    cmyk = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (12, 12), (0, 255, 255, 0)).save(cmyk, quality=100)
    out.append(Item(str(cmyk), 0))
    gif = tmp_path / "gif_named.jpg"
    Image.new("RGB", (12, 12), (0, 255, 0)).save(gif, format="GIF")
    out.append(Item(str(gif), 1))
    return out


def _collect(ds):
    xs, ys = [], []
    for x, y in ds:
        xs.append(x.numpy())
        ys.append(y.numpy())
    return np.concatenate(xs), np.concatenate(ys)


def test_shapes_dtypes_range_and_values_match_pillow(items):
    ds = make_dataset(items, 16, 3)
    assert ds.element_spec[0].shape.as_list() == [None, 16, 16, 3]
    assert ds.element_spec[0].dtype == tf.float32 and ds.element_spec[1].dtype == tf.int32
    assert int(ds.cardinality()) == 3
    x, y = _collect(ds)
    assert x.shape == (7, 16, 16, 3) and x.dtype == np.float32 and y.dtype == np.int32
    assert 0.0 <= x.min() and x.max() <= 255.0 and x.max() > 1.0  # raw pixels, not scaled
    assert y.tolist() == [it.label for it in items]
    for i, item in enumerate(items):
        np.testing.assert_array_equal(x[i], imaging.load_image(item.path, 16).astype(np.float32))
    assert np.allclose(x[5, 0, 0], (255, 0, 0), atol=3)  # CMYK decoded through Pillow
    assert np.allclose(x[6, 0, 0], (0, 255, 0), atol=3)  # GIF content behind a .jpg name


def test_drop_remainder_gives_static_batch(items):
    ds = make_dataset(items, 8, 3, drop_remainder=True)
    assert ds.element_spec[0].shape.as_list() == [3, 8, 8, 3]
    assert sum(1 for _ in ds) == 2


def test_seeded_shuffle_is_repeatable_and_reshuffles_each_epoch(items):
    def orders(seed):
        ds = make_dataset(items * 4, 8, 28, shuffle=True, seed=seed)
        return [_collect(ds)[0][:, 0, 0, 0].tolist() for _ in range(2)]

    first = orders(5)
    assert first == orders(5)
    assert first[0] != first[1]  # a new order every epoch
    assert sorted(first[0]) == sorted(first[1])  # same images each epoch


def test_memory_cache_gives_same_pixels_as_no_cache(items):
    cached = make_dataset(items, 8, 4, cache=True)
    x1, _ = _collect(cached)
    x2, _ = _collect(cached)  # second pass served from memory
    x3, _ = _collect(make_dataset(items, 8, 4, cache=False))
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(x1, x3)


def test_load_items_array_matches_the_dataset(items):
    x, y = load_items_array(items, 16)
    assert x.shape == (7, 16, 16, 3) and x.dtype == np.float32
    assert y.dtype == np.int32 and y.tolist() == [it.label for it in items]
    np.testing.assert_array_equal(x, _collect(make_dataset(items, 16, 7))[0])


def test_bad_arguments_are_rejected(items):
    with pytest.raises(ValueError, match="Received"):
        make_dataset([], 16, 2)
    with pytest.raises(ValueError, match="batch_size"):
        make_dataset(items, 16, 0)


def test_augmentation_off_returns_none():
    assert build_augmentation(AugmentConfig(), seed=1) is None


def test_augmentation_changes_pixels_only_in_training():
    augment = AugmentConfig(flip="horizontal_and_vertical", rotation=0.1, zoom=0.2, contrast=0.3, translation=0.1)
    block = build_augmentation(augment, seed=3)
    assert block.name == "augmentation"
    assert [layer.__class__.__name__ for layer in block.layers] == [
        "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast"
    ]
    x = np.random.default_rng(0).uniform(0, 255, (4, 24, 24, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(block(x, training=False)), x)
    trained = np.asarray(block(x, training=True))
    assert trained.shape == x.shape
    assert np.abs(trained - x).mean() > 1.0
    assert trained.min() >= 0.0 and trained.max() <= 255.0


def test_augmentation_is_seeded():
    augment = AugmentConfig(flip="horizontal", rotation=0.2)
    x = np.random.default_rng(1).uniform(0, 255, (2, 16, 16, 3)).astype("float32")
    a = np.asarray(build_augmentation(augment, seed=11)(x, training=True))
    b = np.asarray(build_augmentation(augment, seed=11)(x, training=True))
    np.testing.assert_allclose(a, b)


def test_a_file_gone_since_validation_fails_with_its_path(items, tmp_path):
    import os

    os.remove(items[2].path)
    with pytest.raises(Exception, match="rgb_2.png"):
        for _ in make_dataset(items, 8, 2, cache=False):
            pass
