"""Moving an image to another class folder never overwrites, never deletes, and undoes by moving back."""

from __future__ import annotations

import pytest

from tlstudio.errors import DataError
from tlstudio.io.move_image import class_target, move_image


def _image(path, data=b"\x89PNG fake image bytes"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_move_to_the_sibling_class_folder_and_back(tmp_path):
    src = _image(tmp_path / "train" / "ants" / "a.jpg")
    (tmp_path / "train" / "bees").mkdir()
    dst = class_target(src, "ants", "bees")
    assert dst == tmp_path / "train" / "bees" / "a.jpg"
    assert move_image(src, dst) == dst
    assert not src.exists() and dst.read_bytes() == b"\x89PNG fake image bytes"
    move_image(dst, src)
    assert src.exists() and not dst.exists()


def test_a_taken_name_gets_a_free_one_and_an_existing_target_is_never_replaced(tmp_path):
    src = _image(tmp_path / "ants" / "a.jpg", b"ant")
    other = _image(tmp_path / "bees" / "a.jpg", b"bee")
    dst = class_target(src, "ants", "bees")
    assert dst.name == "a-1.jpg"
    with pytest.raises(DataError) as info:
        move_image(src, other)
    assert str(other) in str(info.value) and "Received:" in str(info.value)
    assert src.read_bytes() == b"ant" and other.read_bytes() == b"bee"


def test_refuses_an_image_outside_its_class_folder_or_a_missing_file(tmp_path):
    src = _image(tmp_path / "misc" / "a.jpg")
    with pytest.raises(DataError, match="expected the image inside its class folder 'ants'.*Received: folder 'misc'"):
        class_target(src, "ants", "bees")
    with pytest.raises(DataError, match="must be a folder name"):
        class_target(src, "misc", "../x")
    with pytest.raises(DataError, match="Received: no such file"):
        move_image(tmp_path / "gone.jpg", tmp_path / "b" / "gone.jpg")
