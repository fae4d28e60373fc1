"""Caches: keys that see upgrades and precision, damaged entries rebuilt, a size limit, clearing."""

import os
import time

import numpy as np
import pytest

from tlstudio import caches, paths
from tlstudio.cli import main as cli_main
from tlstudio.data.types import Item


def _items(tmp_path, n=2):
    out = []
    for i in range(n):
        p = tmp_path / f"{i}.png"
        p.write_bytes(b"x" * (i + 1))
        out.append(Item(str(p), i % 2))
    return out


@pytest.fixture()
def features(monkeypatch, tmp_path):
    from tlstudio.training import features as module

    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path / "cache"))
    module.clear_memory()
    yield module
    module.clear_memory()


def test_key_includes_versions_and_dtype_policy(features, tmp_path, monkeypatch):
    import keras
    import PIL

    import tlstudio

    items = _items(tmp_path)
    base = features.cache_key(items, 32, "vgg16", "w")
    assert set(features.versions()) == {"tlstudio", "keras", "tensorflow", "numpy", "pillow", "dtype_policy"}
    monkeypatch.setattr(tlstudio, "__version__", "999.0")
    assert features.cache_key(items, 32, "vgg16", "w") != base
    monkeypatch.undo()
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(PIL, "__version__", "0.0.1")
    assert features.cache_key(items, 32, "vgg16", "w") != base
    monkeypatch.undo()
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        assert features.cache_key(items, 32, "vgg16", "w") != base
    finally:
        keras.config.set_dtype_policy(previous)
    assert features.cache_key(items, 32, "vgg16", "w") == base


@pytest.mark.parametrize("content", [b"", b"\x93NUMPY\x01\x00v\x00{'descr'", b"not numpy at all"])
def test_a_damaged_entry_is_ignored_deleted_and_rebuilt(features, content, caplog):
    path = features._disk_path("k" * 32)
    with open(path, "wb") as fh:
        fh.write(content)
    assert features.lookup("k" * 32, (2, 3)) is None  # no EOFError, no ValueError
    assert not os.path.exists(path)
    assert "damaged feature cache entry" in caplog.text
    good = np.arange(6, dtype=np.float32).reshape(2, 3)
    features.store("k" * 32, good)
    features.clear_memory()
    np.testing.assert_array_equal(features.lookup("k" * 32, (2, 3)), good)


def test_a_wrong_shape_is_a_miss_and_rebuilt(features):
    features.store("s" * 32, np.zeros((2, 3), np.float32))
    features.clear_memory()
    assert features.lookup("s" * 32, (4, 3)) is None and not os.path.exists(features._disk_path("s" * 32))


def test_disk_cache_keeps_under_its_limit_evicting_least_recently_used(features, monkeypatch):
    monkeypatch.setenv(caches.FEATURE_LIMIT_ENV, "1")  # 1 MB
    block = np.zeros((100_000,), np.float32)  # 400 KB
    keys = ["a" * 32, "b" * 32, "c" * 32]
    now = time.time()
    for n, key in enumerate(keys[:2]):
        features.store(key, block)
        os.utime(features._disk_path(key), (now - 100 + n, now - 100 + n))
    features.clear_memory()
    assert features.lookup(keys[0], block.shape) is not None  # "a" used: now the newest
    features.store(keys[2], block)  # 1.2 MB > 1 MB: the least recently used ("b") goes
    present = {k for k in keys if os.path.exists(features._disk_path(k))}
    assert present == {keys[0], keys[2]}
    total = sum(os.path.getsize(features._disk_path(k)) for k in present)
    assert total <= 1 << 20


def test_the_limit_setting_is_checked(monkeypatch):
    monkeypatch.setenv(caches.FEATURE_LIMIT_ENV, "lots")
    with pytest.raises(ValueError, match="Received: 'lots'"):
        caches.feature_limit_bytes()


def test_clear_deletes_only_cache_files(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path / "cache"))
    feats = paths.cache_dir("features")
    (feats / "x.npy").write_bytes(b"1" * 100)
    (feats / "mine.jpg").write_bytes(b"a photo someone put here")
    (paths.cache_dir("validation") / "validation-v2.sqlite").write_bytes(b"2" * 50)
    autosave = paths.cache_dir("autosave") / "untitled.tlsproj.1-a.autosave"
    autosave.write_text("{}")
    info = {u.name: u for u in caches.cache_info()}
    assert (info["features"].files, info["features"].bytes, info["validation"].bytes) == (1, 100, 50)
    assert cli_main(["cache", "info"]) == 0
    assert "features" in capsys.readouterr().out
    assert cli_main(["cache", "clear"]) == 0
    out = capsys.readouterr().out
    assert "cleared features: 1 files, 100 bytes" in out and "cleared validation: 1 files, 50 bytes" in out
    assert not (feats / "x.npy").exists() and (feats / "mine.jpg").exists() and autosave.exists()
    assert cli_main(["cache"]) == 2
    assert "needs an action" in capsys.readouterr().err


def test_validation_cache_survives_a_damaged_database(monkeypatch, tmp_path):
    from tlstudio.data.cache import FileCheck, ValidationCache

    db = tmp_path / "v.sqlite"
    db.write_bytes(b"garbage, not SQLite" * 10)
    with ValidationCache(str(db)) as cache:
        assert cache.available
        cache.store([("/a.jpg", 1, 2, FileCheck(None, 3, 4))])
        assert cache.lookup({"/a.jpg": (1, 2)})["/a.jpg"].width == 3


def test_an_image_broken_after_the_scan_gives_the_data_error_naming_the_file(tmp_path):
    from PIL import Image

    from tlstudio.data.pipeline import make_dataset, unreadable_image_error
    from tlstudio.errors import DataError

    items = []
    for i in range(2):
        p = tmp_path / f"{i}.png"
        Image.new("RGB", (40, 40), (i * 100, 0, 0)).save(p)
        items.append(Item(str(p), i))
    dataset = make_dataset(items, 32, 2, cache=False)
    (tmp_path / "1.png").write_bytes(b"")  # broken after the scan
    with pytest.raises(Exception) as info:
        for _ in dataset:
            pass
    assert not isinstance(info.value, DataError)  # TensorFlow's own error...
    error = unreadable_image_error(info.value)  # ...carries the file, which training reports
    assert isinstance(error, DataError) and error.path == str(tmp_path / "1.png")
    assert str(error).startswith(f"{tmp_path / '1.png'}: the image cannot be read any more") and "Received: " in str(error)
    assert unreadable_image_error(ValueError("unrelated")) is None


def test_training_names_an_image_broken_after_the_scan(tmp_path):
    from tlstudio.config import DataConfig, HeadConfig, ModelConfig, RunConfig, TrainConfig
    from tlstudio.data import generate_sample_dataset
    from tlstudio.events import RunStarted
    from tlstudio.training import run_training

    root = generate_sample_dataset(tmp_path / "data", per_class=4, size=32, seed=1)
    victim = sorted(p for p in root.rglob("*.png"))[0]
    config = RunConfig(
        data=DataConfig(root=str(root), val_fraction=0.25, seed=1),
        model=ModelConfig(backbone="vgg16", weights="none", image_size=32, head=HeadConfig(dropout=0.0)),
        train=TrainConfig(epochs=1, batch_size=4, feature_cache="off", tensorboard=False),
        run_dir=str(tmp_path / "run"),
    )

    def sink(event):
        if isinstance(event, RunStarted):  # after the scan, before the first batch
            victim.write_bytes(b"")

    result = run_training(config, sink)
    assert result.error_type == "DataError", result.error
    assert result.error.startswith(f"{victim}: the image cannot be read any more") and "Received:" in result.error
