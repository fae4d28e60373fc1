"""Splitting and preparing data: determinism, stability, stratification, class weights, DataErrors."""

from __future__ import annotations

import json
import os

import pytest
from PIL import Image

from tlstudio.cancel import CancelToken
from tlstudio.config import DataConfig
from tlstudio.data import prepare_data, scan_folder, split_items, validate_files
from tlstudio.data.split import split_counts
from tlstudio.errors import DataError


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


def _img(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), (10, 20, 30)).save(path)


def _make(root, counts):
    for cls, n in counts.items():
        for i in range(n):
            _img(root / cls / f"{cls}_{i:03d}.png")
    return root


def _assignment(data):
    return {
        item.path: split for split in ("train", "val", "test") for item in getattr(data, split)
    }


def test_same_seed_same_split_and_other_seed_differs(tmp_path):
    root = _make(tmp_path / "d", {"a": 30, "b": 30})
    config = DataConfig(root=str(root), val_fraction=0.2, test_fraction=0.1, seed=7)
    first, again = prepare_data(config), prepare_data(config)
    assert first.train == again.train and first.val == again.val and first.test == again.test
    other = prepare_data(DataConfig(root=str(root), val_fraction=0.2, test_fraction=0.1, seed=8))
    assert {i.path for i in other.val} != {i.path for i in first.val}


def test_split_is_stratified_and_covers_every_file_once(tmp_path):
    root = _make(tmp_path / "d", {"a": 50, "b": 11, "c": 3})
    data = prepare_data(DataConfig(root=str(root), val_fraction=0.2, test_fraction=0.1))
    assert data.counts["val"] == {"a": 10, "b": 2, "c": 1}
    assert data.counts["test"] == {"a": 5, "b": 1, "c": 1}
    assert data.counts["train"] == {"a": 35, "b": 8, "c": 1}
    paths = [i.path for i in data.train + data.val + data.test]
    assert len(paths) == len(set(paths)) == 64
    for item in data.train + data.val + data.test:
        assert os.path.basename(os.path.dirname(item.path)) == data.class_names[item.label]


def test_adding_a_file_leaves_other_classes_alone_and_barely_moves_its_own(tmp_path):
    root = _make(tmp_path / "d", {"a": 40, "b": 40})
    config = DataConfig(root=str(root), val_fraction=0.25, test_fraction=0.1, seed=3)
    before = _assignment(prepare_data(config))
    for extra in range(3):
        _img(root / "a" / f"new_{extra}.png")
        after = _assignment(prepare_data(config))
        in_b = [p for p in before if "/b/" in p]
        assert all(after[p] == before[p] for p in in_b)
        moved = [p for p in before if after[p] != before[p]]
        assert len(moved) <= 2, moved
        before = after


def test_renaming_the_root_keeps_the_split(tmp_path):
    root = _make(tmp_path / "d", {"a": 20, "b": 20})
    first = prepare_data(DataConfig(root=str(root)))
    moved = tmp_path / "moved"
    root.rename(moved)
    second = prepare_data(DataConfig(root=str(moved)))
    assert [os.path.basename(i.path) for i in first.val] == [os.path.basename(i.path) for i in second.val]


def test_split_counts_rounding_and_minimums():
    assert split_counts(10, 0.2, 0.0) == (8, 2, 0)
    assert split_counts(3, 0.2, 0.1) == (1, 1, 1)  # each split with a fraction gets one
    assert split_counts(10, 0.0, 0.0) == (10, 0, 0)


def test_balanced_class_weights(tmp_path):
    root = _make(tmp_path / "d", {"few": 10, "many": 30})
    data = prepare_data(DataConfig(root=str(root), val_fraction=0.0))
    # n_samples / (n_classes * n_c) = 40 / (2 * 10) and 40 / (2 * 30)
    assert data.class_weights == pytest.approx({0: 2.0, 1: 40 / 60})
    assert data.val == ()


def test_class_weights_are_computed_on_train(tmp_path):
    root = _make(tmp_path / "d", {"a": 10, "b": 20})
    data = prepare_data(DataConfig(root=str(root), val_fraction=0.5))
    n_a, n_b = data.counts["train"]["a"], data.counts["train"]["b"]
    assert (n_a, n_b) == (5, 10)
    assert data.class_weights[0] == pytest.approx(15 / (2 * 5))
    assert data.class_weights[1] == pytest.approx(15 / (2 * 10))


def test_presplit_keeps_the_users_split(tmp_path):
    root = tmp_path / "d"
    _make(root / "train", {"a": 5, "b": 4})
    _make(root / "Val", {"a": 2, "b": 1})
    _make(root / "test", {"a": 1, "b": 1})
    data = prepare_data(DataConfig(root=str(root), val_fraction=0.3, test_fraction=0.0))
    assert data.layout == "presplit"
    assert data.counts == {"train": {"a": 5, "b": 4}, "val": {"a": 2, "b": 1}, "test": {"a": 1, "b": 1}}
    assert all("/Val/" in i.path for i in data.val)


def test_presplit_without_val_folder_takes_validation_from_train(tmp_path):
    root = tmp_path / "d"
    _make(root / "train", {"a": 10, "b": 10})
    _make(root / "test", {"a": 2, "b": 2})
    data = prepare_data(DataConfig(root=str(root), val_fraction=0.2))
    assert data.counts["val"] == {"a": 2, "b": 2}
    assert data.counts["train"] == {"a": 8, "b": 8}
    assert data.counts["test"] == {"a": 2, "b": 2}
    assert all("/train/" in i.path for i in data.val)


def test_presplit_class_missing_from_train_is_skipped(tmp_path):
    root = tmp_path / "d"
    _make(root / "train", {"a": 3, "b": 3})
    _make(root / "val", {"a": 1, "b": 1, "c": 1})
    data = prepare_data(DataConfig(root=str(root)))
    assert data.class_names == ("a", "b")
    assert [(c.name, c.folder) for c in data.report.skipped_classes] == [("c", str(root / "train" / "c"))]


def test_empty_root_is_an_error_naming_the_folder(tmp_path):
    root = tmp_path / "empty"
    root.mkdir()
    with pytest.raises(DataError) as info:
        prepare_data(DataConfig(root=str(root)))
    assert str(root) in str(info.value) and "no class folders" in str(info.value)


def test_missing_root_is_an_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        prepare_data(DataConfig(root=str(tmp_path / "nope")))


def test_one_class_is_an_error(tmp_path):
    root = _make(tmp_path / "d", {"only": 5})
    with pytest.raises(DataError, match=r"only one class \('only'\)"):
        prepare_data(DataConfig(root=str(root)))


def test_class_without_valid_images_names_folder_and_reasons(tmp_path):
    root = _make(tmp_path / "d", {"a": 5})
    (root / "b").mkdir()
    (root / "b" / "x.jpg").write_bytes(b"")
    (root / "b" / "y.jpg").write_text("text")
    with pytest.raises(DataError) as info:
        prepare_data(DataConfig(root=str(root)))
    message = str(info.value)
    assert str(root / "b") in message
    assert "zero bytes" in message and "not an image" in message


def test_class_with_too_few_images_for_the_split(tmp_path):
    root = _make(tmp_path / "d", {"a": 10, "b": 2})
    with pytest.raises(DataError) as info:
        prepare_data(DataConfig(root=str(root), val_fraction=0.2, test_fraction=0.2))
    assert "Class 'b'" in str(info.value) and str(root / "b") in str(info.value)
    assert "at least 3" in str(info.value)
    ok = prepare_data(DataConfig(root=str(root), val_fraction=0.2))  # 2 images: one train, one val
    assert ok.counts["train"]["b"] == 1 and ok.counts["val"]["b"] == 1


def test_split_items_directly_from_a_report(tmp_path):
    root = _make(tmp_path / "d", {"a": 4, "b": 6})
    report = validate_files(scan_folder(root))
    result = split_items(report, DataConfig(root=str(root), val_fraction=0.5))
    assert result.class_names == ("a", "b")
    assert result.counts["val"] == {"a": 2, "b": 3}
    assert [i.label for i in result.train] == sorted(i.label for i in result.train)


def test_to_dict_is_json_and_lists_skipped_files(tmp_path):
    root = _make(tmp_path / "d", {"a": 3, "b": 3})
    (root / "a" / "bad.jpg").write_text("nope")
    data = prepare_data(DataConfig(root=str(root), val_fraction=0.3))
    out = json.loads(json.dumps(data.to_dict()))
    assert out["class_names"] == ["a", "b"]
    assert out["totals"] == {"train": 4, "val": 2, "test": 0}
    assert out["skipped"] == [{"path": str(root / "a" / "bad.jpg"), "reason": "not an image"}]
    assert out["num_files"] == 7 and out["num_valid"] == 6
    assert set(out["class_weights"]) == {"a", "b"}


def test_cancelled_preparation_returns_empty_splits(tmp_path):
    root = _make(tmp_path / "d", {"a": 5, "b": 5})
    token = CancelToken()
    token.cancel()
    data = prepare_data(DataConfig(root=str(root)), cancel=token, use_cache=False)
    assert data.cancelled and data.train == () and data.val == ()


def test_images_in_root_without_class_folders_say_so(tmp_path):
    root = tmp_path / "d"
    root.mkdir()
    for i in range(3):
        _img(root / f"{i}.png")
    with pytest.raises(DataError, match=r"has 3 file\(s\) but no class folders"):
        prepare_data(DataConfig(root=str(root)))


def test_presplit_ignores_test_fraction_with_a_warning(tmp_path):
    from tlstudio.events import LogMessage

    root = tmp_path / "d"
    _make(root / "train", {"a": 4, "b": 4})
    _make(root / "val", {"a": 1, "b": 1})
    events = []
    data = prepare_data(DataConfig(root=str(root), test_fraction=0.2), sink=events.append)
    assert data.test == ()
    assert any(isinstance(e, LogMessage) and "test_fraction is ignored" in e.message for e in events)


def test_split_items_alone_rejects_an_empty_class(tmp_path):
    root = _make(tmp_path / "d", {"a": 4})
    (root / "b").mkdir()
    report = validate_files(scan_folder(root))
    with pytest.raises(DataError, match=r"Class 'b' has no valid images in .*b"):
        split_items(report, DataConfig(root=str(root), val_fraction=0.0))
