"""The feature cache's LRU never evicts the shards a running job is reading (issue 25, item 1).

A job that reads an entry pins it (:func:`tlstudio.caches.pin`); the eviction
skips pinned entries of live processes and drops the pins of dead ones.
Tiny: VGG16 with random weights at 32 px on a dozen generated images, the
limit at 0 MB so that every extraction evicts everything it may.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from tlstudio import caches
from tlstudio.features import pooled_cache
from tlstudio.features.shards import RowReader

SIZE = 32


@pytest.fixture()
def images(tmp_path, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(caches.FEATURE_LIMIT_ENV, "0")
    rng = np.random.default_rng(0)
    out = []
    for i in range(12):
        path = tmp_path / "images" / f"{i:02d}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)).save(path)
        out.append(str(path))
    return out


def _features(paths, cache_dir):
    keras.utils.set_random_seed(1)
    return pooled_cache.pooled_features(paths, backbone="vgg16", weights="none", image_size=SIZE, cuts=("block5_pool",),
                                        poolings=("avg",), cache_dir=cache_dir, weights_id="seed1")


def test_an_entry_in_use_survives_the_next_extraction_over_the_limit(images, tmp_path):
    cache_dir = tmp_path / "pooled"
    first = _features(images[:6], cache_dir)  # the train split of a training, still being read
    second = _features(images[6:], cache_dir)  # its val split: the limit is 0, so the LRU wants the first gone
    assert first.key != second.key
    rows = RowReader(first.pooled("block5_pool", "avg")).range(0, 6)
    assert rows.shape == (6, 512)
    first.pin.release()
    second.pin.release()
    third = _features(images[:3], cache_dir)  # nothing pinned now but this one: the old entries go
    left = {p.name.split(".")[0] for p in cache_dir.glob("*.npy")}
    assert left == {third.key}
    third.pin.release()


def test_a_pin_of_another_live_process_protects_and_a_dead_ones_does_not(images, tmp_path):
    cache_dir = tmp_path / "pooled"
    first = _features(images[:6], cache_dir)
    first.pin.release()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        held = caches.pin(cache_dir, first.key, pid=alive.pid)  # as a training in that process would hold it
        _features(images[6:], cache_dir).pin.release()
        assert (cache_dir / f"{first.key}.block5_pool.npy").is_file()
    finally:
        alive.kill()
        alive.wait()
    _features(images[6:9], cache_dir).pin.release()  # the owner is dead: its pin is stale, the entry may go
    assert not (cache_dir / f"{first.key}.block5_pool.npy").exists()
    assert not [p for p in (cache_dir / caches.PINS).iterdir() if p.name.startswith(first.key)]
    assert held.path.name.startswith(first.key)  # (held until here: a dropped pin would release itself)


def test_clearing_the_cache_keeps_entries_in_use(images, tmp_path, monkeypatch):
    used = _features(images[:6], None)
    freed = caches.clear_caches(["pooled"])
    assert (caches.cache_root() / "pooled" / f"{used.key}.block5_pool.npy").is_file()
    assert freed[0].files == 0
    used.pin.release()
    assert caches.clear_caches(["pooled"])[0].files >= 2  # shard and manifest


def test_a_dropped_result_releases_its_pin(images, tmp_path):
    cache_dir = tmp_path / "pooled"
    first = _features(images[:6], cache_dir)
    key = first.key
    del first
    import gc

    gc.collect()
    assert key not in caches.pinned_keys(cache_dir)
