"""Caches: keys that see upgrades and precision, damaged entries rebuilt, a size limit, clearing."""

import os
import time

import pytest

from tlstudio import caches, paths
from tlstudio.cli import main as cli_main
from tlstudio.api.dataset import Item


def _items(tmp_path, n=2):
    out = []
    for i in range(n):
        p = tmp_path / f"{i}.png"
        p.write_bytes(b"x" * (i + 1))
        out.append(Item(str(p), i % 2))
    return out


def test_key_includes_versions_and_precision(tmp_path, monkeypatch):
    import PIL

    import tlstudio
    from tlstudio.features import pooled_cache

    paths_ = [item.path for item in _items(tmp_path)]

    def key(policy="float32"):
        return pooled_cache.cache_key(paths_, "vgg16", "w", 32, policy)

    base = key()
    assert set(pooled_cache.versions()) == {"tlstudio", "keras", "tensorflow", "numpy", "pillow"}
    monkeypatch.setattr(tlstudio, "__version__", "999.0")
    assert key() != base
    monkeypatch.undo()
    monkeypatch.setattr(PIL, "__version__", "0.0.1")
    assert key() != base
    monkeypatch.undo()
    assert key("mixed_bfloat16") != base and key("mixed_float16") not in (base, key("mixed_bfloat16"))
    assert key() == base


def test_enforce_limit_evicts_least_recently_used_and_keeps_the_new_files(tmp_path):
    folder = tmp_path / "pooled"
    folder.mkdir()
    now = time.time()
    for n, name in enumerate(["a", "b", "c"]):
        (folder / f"{name}.npy").write_bytes(b"0" * 400_000)
        os.utime(folder / f"{name}.npy", (now - 100 + n, now - 100 + n))
    (folder / "a.json").write_text("{}")  # not an ending the eviction was given: never touched
    caches.touch(folder / "a.npy")  # "a" used: now the newest
    evicted = caches.enforce_limit(folder, 1 << 20, endings=(".npy",), keep=[folder / "c.npy"])
    assert evicted == [folder / "b.npy"]
    assert sorted(p.name for p in folder.iterdir()) == ["a.json", "a.npy", "c.npy"]
    assert caches.enforce_limit(folder, 0, endings=(".npy",), keep=[folder / "c.npy"]) == [folder / "a.npy"]
    assert (folder / "c.npy").exists()


def test_the_limit_setting_is_checked(monkeypatch):
    monkeypatch.setenv(caches.FEATURE_LIMIT_ENV, "lots")
    with pytest.raises(ValueError, match="Received: 'lots'"):
        caches.feature_limit_bytes()


def test_clear_deletes_only_cache_files(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path / "cache"))
    feats = paths.cache_dir("features")
    (feats / "x.npy").write_bytes(b"1" * 100)
    pooled = paths.cache_dir("pooled")
    (pooled / "k.block5_pool.npy").write_bytes(b"3" * 30)
    (pooled / "k.json").write_text("{}")
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
    assert list(pooled.iterdir()) == []
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
        model=ModelConfig(backbone="vgg16", weights="none", image_size=32, head=HeadConfig(dropout=0.0), cut="block2_pool"),
        train=TrainConfig(epochs=1, batch_size=4, feature_cache="off", tensorboard=False),
        run_dir=str(tmp_path / "run"),
    )

    def sink(event):
        if isinstance(event, RunStarted):  # after the scan, before the first batch
            victim.write_bytes(b"")

    result = run_training(config, sink)
    assert result.error_type == "DataError", result.error
    assert result.error.startswith(f"{victim}: the image cannot be read any more") and "Received:" in result.error
