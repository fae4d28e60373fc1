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


# --------------------------------------------------------------------------- a move killed half-way (issue 25.7)


def _killed_after_link(monkeypatch, src, dst):
    """Run move_image as a process killed between its link and its unlink: the image is in both class folders."""
    import tlstudio.io.move_image as module

    real_unlink = module.os.unlink

    def killed(path, *a, **k):
        if str(path) == str(src):
            raise KeyboardInterrupt("killed between link and unlink")
        return real_unlink(path, *a, **k)

    monkeypatch.setattr(module.os, "unlink", killed)
    with pytest.raises(KeyboardInterrupt):
        move_image(src, dst)
    monkeypatch.setattr(module.os, "unlink", real_unlink)
    assert src.exists() and dst.exists() and src.stat().st_ino == dst.stat().st_ino


def _dataset(root):
    for cls in ("ants", "bees"):
        for i in range(2):
            _image(root / cls / f"{cls}{i}.png", f"{cls}{i}".encode())
    return root


def test_the_next_scan_finishes_a_move_killed_between_link_and_unlink(tmp_path, monkeypatch):
    from tlstudio.data.scan import scan_folder

    root = _dataset(tmp_path / "data")
    src = root / "ants" / "ants0.png"
    dst = class_target(src, "ants", "bees")
    _killed_after_link(monkeypatch, src, dst)
    scan = scan_folder(root)
    assert str(dst) in scan.files["all"]["bees"] and str(src) not in scan.files["all"]["ants"]
    assert not src.exists() and dst.read_bytes() == b"ants0"
    assert any("interrupted" in w and str(src) in w and str(dst) in w for w in scan.warnings)
    again = scan_folder(root)  # done once, then nothing left to say
    assert not any("interrupted" in w for w in again.warnings)


def test_a_move_killed_before_its_link_leaves_the_image_where_it_was(tmp_path, monkeypatch):
    import tlstudio.io.move_image as module
    from tlstudio.data.scan import scan_folder

    root = _dataset(tmp_path / "data")
    src = root / "ants" / "ants1.png"
    dst = class_target(src, "ants", "bees")
    monkeypatch.setattr(module.os, "link", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        move_image(src, dst)
    monkeypatch.undo()
    scan = scan_folder(root)
    assert str(src) in scan.files["all"]["ants"] and not dst.exists()


def test_the_same_file_in_two_classes_without_a_record_is_named_and_kept(tmp_path):
    import os

    from tlstudio.data.scan import scan_folder

    root = _dataset(tmp_path / "data")
    src = root / "ants" / "ants0.png"
    os.link(src, root / "bees" / "copy.png")  # a hard link made by hand: which class is right is the user's call
    scan = scan_folder(root)
    assert src.exists() and (root / "bees" / "copy.png").exists()
    assert any(str(src) in w and "copy.png" in w and "both" in w for w in scan.warnings)
