"""Scanning dataset folders: layouts, hidden files, extensions, symlink loops, root errors."""

from __future__ import annotations

import os

import pytest
from PIL import Image

from tlstudio.data import scan_folder
from tlstudio.api.dataset import LAYOUT_FLAT, LAYOUT_PRESPLIT, SPLIT_ALL
from tlstudio.errors import DataError


def _img(path, colour=(200, 30, 30), fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 16), colour).save(path, format=fmt)
    return path


def _names(paths):
    return sorted(os.path.basename(p) for p in paths)


def test_flat_layout_lists_classes_sorted_and_files(tmp_path):
    for cls in ("zebra", "Ant", "bee"):
        for i in range(2):
            _img(tmp_path / cls / f"{i}.png")
    scan = scan_folder(tmp_path)
    assert scan.layout == LAYOUT_FLAT
    assert scan.class_names == ("Ant", "bee", "zebra")
    assert set(scan.files) == {SPLIT_ALL}
    assert _names(scan.files[SPLIT_ALL]["bee"]) == ["0.png", "1.png"]
    assert scan.num_files == 6
    assert all(os.path.isabs(p) for per in scan.files[SPLIT_ALL].values() for p in per)


def test_presplit_layout_with_case_insensitive_split_names(tmp_path):
    _img(tmp_path / "Train" / "cats" / "a.png")
    _img(tmp_path / "Train" / "dogs" / "b.png")
    _img(tmp_path / "VALIDATION" / "cats" / "c.png")
    _img(tmp_path / "test" / "dogs" / "d.png")
    scan = scan_folder(tmp_path)
    assert scan.layout == LAYOUT_PRESPLIT
    assert scan.class_names == ("cats", "dogs")
    assert list(scan.files) == ["train", "val", "test"]
    assert _names(scan.files["val"]["cats"]) == ["c.png"]
    assert scan.split_dirs["val"] == str(tmp_path / "VALIDATION")


def test_single_train_folder_is_a_class_not_a_split(tmp_path):
    _img(tmp_path / "train" / "x.png")
    _img(tmp_path / "other" / "y.png")
    scan = scan_folder(tmp_path)
    assert scan.layout == LAYOUT_FLAT
    assert scan.class_names == ("other", "train")


def test_extensions_any_case_nested_folders_and_other_types_listed(tmp_path):
    _img(tmp_path / "a" / "one.JPG", fmt="JPEG")
    _img(tmp_path / "a" / "two.Png", fmt="PNG")
    _img(tmp_path / "a" / "sub" / "three.tiff", fmt="TIFF")
    (tmp_path / "a" / "notes.txt").write_text("hello")
    (tmp_path / "a" / "LICENSE").write_text("x")
    _img(tmp_path / "b" / "four.webp", fmt="WEBP")
    scan = scan_folder(tmp_path)
    assert _names(scan.files[SPLIT_ALL]["a"]) == ["one.JPG", "three.tiff", "two.Png"]
    reasons = {os.path.basename(s.path): s.reason for s in scan.skipped}
    assert reasons == {"notes.txt": "not an image file type (.txt)", "LICENSE": "not an image file type (no extension)"}


def test_hidden_files_and_folders_are_ignored(tmp_path):
    _img(tmp_path / "a" / "ok.png")
    _img(tmp_path / "a" / "._ok.png")
    (tmp_path / "a" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    _img(tmp_path / "a" / ".thumbs" / "t.png")
    _img(tmp_path / ".git" / "objects" / "x.png")
    _img(tmp_path / "__MACOSX" / "a" / "._ok.png")
    (tmp_path / "a" / "Thumbs.db").write_bytes(b"\0" * 16)
    _img(tmp_path / "b" / "ok.png")
    scan = scan_folder(tmp_path)
    assert scan.class_names == ("a", "b")
    assert _names(scan.files[SPLIT_ALL]["a"]) == ["ok.png"]
    assert scan.skipped == ()


def test_files_in_root_are_ignored_with_a_warning(tmp_path):
    _img(tmp_path / "a" / "1.png")
    _img(tmp_path / "b" / "1.png")
    (tmp_path / "README.txt").write_text("about")
    scan = scan_folder(tmp_path)
    assert scan.num_files == 2
    assert any("README.txt" in w for w in scan.warnings)


def test_symlink_loop_terminates_and_files_are_counted_once(tmp_path):
    _img(tmp_path / "a" / "1.png")
    _img(tmp_path / "b" / "1.png")
    os.symlink(tmp_path / "a", tmp_path / "a" / "loop")  # a/loop -> a
    os.symlink(tmp_path, tmp_path / "b" / "up")  # b/up -> root
    scan = scan_folder(tmp_path)
    assert _names(scan.files[SPLIT_ALL]["a"]) == ["1.png"]
    assert _names(scan.files[SPLIT_ALL]["b"]) == ["1.png"]
    assert any("loop" in w for w in scan.warnings)


def test_symlinked_class_folder_is_followed(tmp_path):
    outside = tmp_path / "elsewhere"
    _img(outside / "x.png")
    root = tmp_path / "data"
    _img(root / "a" / "1.png")
    os.symlink(outside, root / "b")
    scan = scan_folder(root)
    assert _names(scan.files[SPLIT_ALL]["b"]) == ["x.png"]


def test_empty_folder_scans_to_no_classes(tmp_path):
    scan = scan_folder(tmp_path)
    assert scan.class_names == () and scan.num_files == 0


@pytest.mark.parametrize("kind", ["missing", "file", "blank"])
def test_bad_root_raises_data_error_naming_it(tmp_path, kind):
    if kind == "missing":
        root = str(tmp_path / "nope")
    elif kind == "file":
        root = str(_img(tmp_path / "f.png"))
    else:
        root = "  "
    with pytest.raises(DataError) as info:
        scan_folder(root)
    if kind != "blank":
        assert root in str(info.value)
        assert info.value.path == root
