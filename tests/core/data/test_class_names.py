"""Class folder names that would break labels.txt or look like another class are refused at scan (issue 25.9).

A class named ``be\\nes`` gave a labels.txt of 4 lines for 3 classes; ``cat``
and `` cat`` collapsed into one when labels.txt was read back; ``café`` in
NFC and in NFD became two classes that look the same.
"""

from __future__ import annotations

import unicodedata

import pytest
from PIL import Image

from tlstudio.data.scan import scan_folder
from tlstudio.errors import DataError


def _dataset(root, names):
    for i, name in enumerate(names):
        folder = root / name
        folder.mkdir(parents=True)
        Image.new("RGB", (8, 8), (i * 60, 10, 10)).save(folder / "a.png")
    return root


@pytest.mark.parametrize(
    "bad, shown",
    [
        ("be\nes", "'be\\nes'"),
        ("bees\r", "'bees\\r'"),
        ("tab\there", "'tab\\there'"),
        (" cat", "' cat'"),
        ("cat ", "'cat '"),
    ],
)
def test_a_class_name_with_a_line_break_or_edge_whitespace_is_refused(tmp_path, bad, shown):
    root = _dataset(tmp_path / "d", ["ants", bad, "wasps"])
    with pytest.raises(DataError) as info:
        scan_folder(root)
    message = str(info.value)
    assert shown in message and "rename" in message and "Received:" in message
    assert str(root) in message


def test_nfc_and_nfd_look_alikes_are_refused_naming_both(tmp_path):
    nfc = unicodedata.normalize("NFC", "café")
    nfd = unicodedata.normalize("NFD", "café")
    assert nfc != nfd
    root = _dataset(tmp_path / "d", [nfc, nfd])
    with pytest.raises(DataError) as info:
        scan_folder(root)
    message = str(info.value)
    assert "look the same" in message and ascii(nfc) in message and ascii(nfd) in message and "Received:" in message


def test_presplit_names_are_checked_too(tmp_path):
    _dataset(tmp_path / "d" / "train", ["ants", "bees"])
    _dataset(tmp_path / "d" / "val", ["ants", "bees "])
    with pytest.raises(DataError, match="'bees '"):
        scan_folder(tmp_path / "d")


def test_ordinary_names_pass_including_one_nfd_name_and_inner_spaces(tmp_path):
    names = ["red ants", unicodedata.normalize("NFD", "abeilles é"), "Wasps", "wasps"]
    scan = scan_folder(_dataset(tmp_path / "d", names))
    assert sorted(scan.class_names) == sorted(names)


def test_labels_txt_is_always_one_line_per_class():
    from tlstudio.errors import ExportError
    from tlstudio.export.metadata import labels_text

    assert labels_text(["a", "b c"]) == "a\nb c\n"
    for names in (["a", "b\nc"], ["a", "a"], [" a", "b"]):
        with pytest.raises(ExportError, match="Received"):
            labels_text(names)
