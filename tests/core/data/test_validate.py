"""Validation: every bad-input reason, every mode conversion, the cache, progress and cancel."""

from __future__ import annotations

import io
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from tlstudio import imaging
from tlstudio.cancel import CancelToken
from tlstudio.data import scan_folder, validate_files
from tlstudio.data import validate as validate_module
from tlstudio.api.dataset import SPLIT_ALL
from tlstudio.events import Progress


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory, monkeypatch):
    """A fresh validation cache per test, outside the dataset folder."""
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


def _save(img, path, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kwargs)
    return path


def _noise(size=(64, 64)):
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")


def _png_header_only(width, height):
    """A PNG whose header claims ``width`` x ``height`` but holds almost no pixel data."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b"")


def _reasons(report):
    return {os.path.basename(s.path): s.reason for s in report.skipped}


def _validate(root, **kwargs):
    return validate_files(scan_folder(root), **kwargs)


def test_each_bad_file_is_skipped_with_its_reason(tmp_path):
    cls = tmp_path / "a"
    _save(Image.new("RGB", (8, 8), "red"), cls / "good.png")
    (cls / "empty.jpg").write_bytes(b"")
    (cls / "text.jpg").write_text("this is not a picture\n" * 20)
    jpeg = io.BytesIO()
    _noise().save(jpeg, format="JPEG", quality=95)
    (cls / "cut.jpg").write_bytes(jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    (cls / "cut_header.jpg").write_bytes(jpeg.getvalue()[:200])
    png = io.BytesIO()
    _noise().save(png, format="PNG")
    (cls / "cut.png").write_bytes(png.getvalue()[: len(png.getvalue()) // 2])
    _save(Image.new("RGB", (200, 100), "blue"), cls / "big.png")
    (cls / "bomb.png").write_bytes(_png_header_only(20000, 20000))
    (cls / "notes.csv").write_text("a,b\n")

    report = _validate(tmp_path, max_megapixels=0.01)
    assert report.valid[SPLIT_ALL]["a"] == (str(cls / "good.png"),)
    assert _reasons(report) == {
        "empty.jpg": "zero bytes",
        "text.jpg": "not an image",
        "cut.jpg": "truncated JPEG",
        "cut_header.jpg": "truncated JPEG",
        "cut.png": "truncated image",
        "big.png": "larger than 0.01 megapixels (200x100)",
        "bomb.png": "larger than 0.01 megapixels (400 megapixels)",
        "notes.csv": "not an image file type (.csv)",
    }
    assert report.num_files == 9 and report.num_valid == 1 and report.num_skipped == 8


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_size_is_checked_from_the_header_before_decoding(tmp_path):
    # 12000x12000 = 144 MP: above the default limit, below Pillow's bomb error.
    # The pixel data is missing, so a decode would say "truncated"; the header check must win.
    path = tmp_path / "a" / "huge.png"
    path.parent.mkdir()
    path.write_bytes(_png_header_only(12000, 12000))
    report = _validate(tmp_path)
    assert _reasons(report) == {"huge.png": "larger than 89 megapixels (12000x12000)"}


def test_decompression_bomb_is_reported_as_too_large(tmp_path):
    path = tmp_path / "a" / "bomb.png"
    path.parent.mkdir()
    path.write_bytes(_png_header_only(30000, 30000))  # 900 MP: Pillow refuses to open it
    report = _validate(tmp_path)
    assert _reasons(report) == {"bomb.png": "larger than 89 megapixels (900 megapixels)"}
    generous = _validate(tmp_path, max_megapixels=1000.0)  # above what Pillow accepts
    assert _reasons(generous) == {"bomb.png": "larger than Pillow's limit of 179 megapixels (900 megapixels)"}


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read files without read permission")
def test_unreadable_file_permission_denied(tmp_path):
    path = _save(Image.new("RGB", (8, 8)), tmp_path / "a" / "locked.png")
    path.chmod(0)
    try:
        report = _validate(tmp_path)
    finally:
        path.chmod(0o644)
    assert _reasons(report) == {"locked.png": "unreadable (permission denied)"}


def test_permission_error_maps_to_its_reason(tmp_path, monkeypatch):
    """The same mapping, provoked by an open() that raises, so it also runs as root."""
    path = _save(Image.new("RGB", (8, 8)), tmp_path / "a" / "locked.png")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(validate_module, "open", denied, raising=False)
    assert validate_module.check_file(str(path)).reason == "unreadable (permission denied)"


def test_content_decides_not_extension(tmp_path):
    _save(Image.new("RGB", (8, 8), "green"), tmp_path / "a" / "really_a_gif.jpg", format="GIF")
    _save(Image.new("RGB", (8, 8), "green"), tmp_path / "a" / "really_a_png.bmp", format="PNG")
    report = _validate(tmp_path)
    assert report.num_skipped == 0 and report.num_valid == 2
    assert imaging.load_image(tmp_path / "a" / "really_a_gif.jpg").shape == (8, 8, 3)


def _mode_images(folder):
    """Write one file per awkward mode; return {name: expected RGB of pixel (0, 0)}."""
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}
    _save(Image.new("L", (8, 8), 100), folder / "l.png")
    expected["l.png"] = (100, 100, 100)
    _save(Image.new("LA", (8, 8), (50, 0)), folder / "la.png")
    expected["la.png"] = (255, 255, 255)  # fully transparent -> white
    p = Image.new("P", (8, 8), 1)
    p.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    _save(p, folder / "p_transparent.png", transparency=1)
    expected["p_transparent.png"] = (255, 255, 255)
    _save(p, folder / "p_opaque.gif")
    expected["p_opaque.gif"] = (10, 20, 30)
    _save(Image.new("RGBA", (8, 8), (0, 0, 255, 255)), folder / "rgba.png")
    expected["rgba.png"] = (0, 0, 255)
    _save(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), folder / "cmyk.jpg", quality=100)
    expected["cmyk.jpg"] = (255, 0, 0)
    i16 = Image.fromarray(np.array([[0, 1000], [30000, 65535]], dtype=np.uint16))
    _save(i16, folder / "i16.png")
    expected["i16.png"] = (0, 0, 0)
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    expected["anim.gif"] = (255, 0, 0)  # first frame
    return expected


def test_every_mode_validates_and_converts_to_rgb(tmp_path):
    expected = _mode_images(tmp_path / "a")
    assert Image.open(tmp_path / "a" / "i16.png").mode.startswith("I")
    report = _validate(tmp_path)
    assert report.num_skipped == 0 and report.num_valid == len(expected)
    for name, rgb in expected.items():
        arr = imaging.load_image(tmp_path / "a" / name)
        assert arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3, name
        assert np.allclose(arr[0, 0], rgb, atol=3), (name, arr[0, 0], rgb)
    i16 = imaging.load_image(tmp_path / "a" / "i16.png")
    assert i16[1, 1].tolist() == [255, 255, 255]  # 16-bit range stretched to 8 bits


def test_exif_orientation_is_applied(tmp_path):
    # Stored 40 wide x 20 high, left half red, right half blue; Orientation 6 = rotate 90° clockwise to display.
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :20] = (255, 0, 0)
    arr[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    _save(Image.fromarray(arr), tmp_path / "a" / "rotated.jpg", exif=exif, quality=100)
    assert _validate(tmp_path).num_valid == 1
    out = imaging.load_image(tmp_path / "a" / "rotated.jpg")
    assert out.shape == (40, 20, 3)  # portrait after rotation
    top, bottom = out[5, 10], out[35, 10]
    assert top[0] > 200 and top[2] < 60, top  # red ends up on top
    assert bottom[2] > 200 and bottom[0] < 60, bottom


def test_cache_hits_on_rescan_and_invalidation_on_change(tmp_path):
    for i in range(6):
        _save(Image.new("RGB", (8, 8), (i * 40, 0, 0)), tmp_path / "a" / f"{i}.png")
    first = _validate(tmp_path)
    assert first.cache_hits == 0 and first.num_valid == 6
    second = _validate(tmp_path)
    assert second.cache_hits == 6
    assert second.valid == first.valid and second.skipped == first.skipped

    changed = tmp_path / "a" / "3.png"
    changed.write_text("no longer an image")
    st = os.stat(changed)
    os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    touched = tmp_path / "a" / "4.png"
    st = os.stat(touched)
    os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # same content, new mtime
    third = _validate(tmp_path)
    assert third.cache_hits == 4
    assert _reasons(third) == {"3.png": "not an image"}

    assert _validate(tmp_path, use_cache=False).cache_hits == 0


def test_cached_sizes_follow_a_changed_limit(tmp_path):
    _save(Image.new("RGB", (100, 100)), tmp_path / "a" / "x.png")  # 0.01 MP
    assert _validate(tmp_path).num_valid == 1
    lower = _validate(tmp_path, max_megapixels=0.005)
    assert lower.cache_hits == 1 and _reasons(lower) == {"x.png": "larger than 0.005 megapixels (100x100)"}
    higher = _validate(tmp_path, max_megapixels=1.0)
    assert higher.num_valid == 1


def test_image_too_large_then_allowed_is_decoded(tmp_path):
    cut = io.BytesIO()
    _noise((100, 100)).save(cut, format="PNG")
    path = tmp_path / "a" / "cut.png"
    path.parent.mkdir()
    path.write_bytes(cut.getvalue()[:300])
    assert _reasons(_validate(tmp_path, max_megapixels=0.001))["cut.png"].startswith("larger than")
    again = _validate(tmp_path, max_megapixels=1.0)
    assert again.cache_hits == 0 and _reasons(again) == {"cut.png": "truncated image"}


def test_progress_events_reach_the_total(tmp_path):
    for i in range(5):
        _save(Image.new("RGB", (8, 8)), tmp_path / "a" / f"{i}.png")
    events = []
    _validate(tmp_path, sink=events.append, workers=2)
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress and all(e.stage == "validate" and e.total == 5 for e in progress)
    assert progress[-1].done == 5


def test_cancel_stops_early_and_says_so(tmp_path):
    for i in range(20):
        _save(Image.new("RGB", (8, 8)), tmp_path / "a" / f"{i}.png")
    token = CancelToken()

    def sink(event):
        token.cancel()  # cancel at the first progress report, before any decode

    report = _validate(tmp_path, sink=sink, cancel=token, workers=1)
    assert report.cancelled
    assert report.num_valid < 20


def test_invalid_limit_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="Received"):
        _validate(tmp_path, max_megapixels=0)


def test_a_corrupt_cache_file_is_rebuilt(tmp_path):
    from tlstudio.data.cache import default_path

    _save(Image.new("RGB", (8, 8)), tmp_path / "a" / "x.png")
    with open(default_path(), "wb") as fh:
        fh.write(b"this is not a database" * 100)
    assert _validate(tmp_path).num_valid == 1
    assert _validate(tmp_path).cache_hits == 1


def test_unreadable_results_are_not_cached(tmp_path, monkeypatch):
    path = _save(Image.new("RGB", (8, 8)), tmp_path / "a" / "x.png")
    real_open = open

    def denied(file, *args, **kwargs):
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(validate_module, "open", denied, raising=False)
    assert _reasons(_validate(tmp_path)) == {"x.png": "unreadable (permission denied)"}
    monkeypatch.delattr(validate_module, "open")  # permissions fixed: same mtime, must be checked again
    again = _validate(tmp_path)
    assert again.cache_hits == 0 and again.num_valid == 1


def test_cancel_midway_keeps_and_caches_what_was_checked(tmp_path, monkeypatch):
    monkeypatch.setattr(validate_module._Reporter, "interval", 0.0)  # report after every task
    for i in range(40):
        _save(Image.new("RGB", (8, 8)), tmp_path / "a" / f"{i:02d}.png")
    token = CancelToken()

    def sink(event):
        if isinstance(event, Progress) and event.done > 0:
            token.cancel()

    report = _validate(tmp_path, sink=sink, cancel=token, workers=1)
    assert report.cancelled
    assert 0 < report.num_valid < 40 and report.num_skipped == 0
    again = _validate(tmp_path)
    assert again.cache_hits == report.num_valid and again.num_valid == 40 and not again.cancelled
