"""Filing labelled images: class folders by layout, collisions renamed, undo, and train-only splits."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.images import write_images
from tlstudio.config import DataConfig
from tlstudio.data import prepare_data
from tlstudio.data.labelling import apply_labels, class_folder, pool_images, undo_batch
from tlstudio.errors import DataError


@pytest.fixture
def world(tmp_path):
    data = tmp_path / "data"
    write_images(data / "ants", 5, (200, 40, 40), seed=1)
    write_images(data / "bees", 5, (40, 40, 200), seed=2)
    pool = tmp_path / "pool"
    write_images(pool / "day1", 3, (190, 50, 50), seed=3)
    write_images(pool / "day2" / "deep", 2, (50, 50, 190), seed=4)
    (pool / ".hidden.png").write_bytes(b"x")
    (pool / "notes.txt").write_text("not an image")
    return data, pool


def _bytes(path) -> bytes:
    return Path(path).read_bytes()


def test_pool_lists_images_in_every_sub_folder(world):
    _, pool = world
    found = pool_images(pool)
    assert len(found) == 5 and all(p.endswith(".png") and "/." not in p for p in found)


def test_copy_into_a_flat_dataset_never_overwrites_and_undo_restores(world):
    data, pool = world
    source = pool / "day1" / "img_000.png"  # data/ants/img_000.png exists: a collision
    before = _bytes(data / "ants" / "img_000.png")
    batch = apply_labels([(str(source), "ants"), (str(pool / "day1" / "img_001.png"), "new_class")], data)
    assert not batch.errors
    first, second = batch.placed
    assert first.target == str(data / "ants" / "img_000-1.png") and first.renamed
    assert _bytes(data / "ants" / "img_000.png") == before  # the dataset's image is untouched
    assert _bytes(first.target) == _bytes(source) and source.is_file()  # copied: the unsorted image stays
    assert second.target == str(data / "new_class" / "img_001.png") and not second.renamed
    undone = undo_batch(batch)
    assert not undone.errors and len(undone.placed) == 2
    assert not Path(first.target).exists() and not Path(second.target).exists()
    assert _bytes(data / "ants" / "img_000.png") == before and source.is_file()


def test_move_into_a_presplit_dataset_goes_to_train_and_undo_moves_back(tmp_path):
    data = tmp_path / "data"
    for split in ("train", "val"):
        write_images(data / split / "ants", 3, (200, 40, 40))
        write_images(data / split / "bees", 3, (40, 40, 200))
    pool = tmp_path / "pool"
    write_images(pool, 2, (100, 100, 100), seed=9)
    assert class_folder(data, "bees") == data / "train" / "bees"
    content = _bytes(pool / "img_000.png")
    batch = apply_labels([(str(pool / "img_000.png"), "bees")], data, move=True)
    placed = batch.placed[0]
    assert placed.moved and placed.target == str(data / "train" / "bees" / "img_000-1.png")
    assert not (pool / "img_000.png").exists() and _bytes(placed.target) == content
    assert not undo_batch(batch).errors
    assert _bytes(pool / "img_000.png") == content and not Path(placed.target).exists()


def test_undo_keeps_a_copy_whose_original_is_gone(world, tmp_path):
    data, pool = world
    source = tmp_path / "elsewhere.png"
    source.write_bytes(_bytes(pool / "day1" / "img_002.png"))
    batch = apply_labels([(str(source), "bees")], data)
    source.unlink()
    undone = undo_batch(batch)
    assert not undone.placed and "kept" in undone.errors[0]
    assert Path(batch.placed[0].target).is_file()


def test_a_bad_class_name_or_missing_image_is_reported_and_the_rest_goes_on(world):
    data, pool = world
    batch = apply_labels([(str(pool / "nope.png"), "ants"), (str(pool / "day1" / "img_000.png"), "../evil"),
                          (str(pool / "day1" / "img_001.png"), "bees")], data)
    assert len(batch.placed) == 1 and len(batch.errors) == 2
    assert "nope.png" in batch.errors[0] and "Received: '../evil'" in batch.errors[1]
    with pytest.raises(DataError, match="no such folder"):
        apply_labels([], data / "missing")


def test_the_split_sends_new_images_to_train_only_and_moves_no_other_file(world):
    data, pool = world
    before = prepare_data(DataConfig(root=str(data), val_fraction=0.4))
    batch = apply_labels([(p, "ants") for p in pool_images(pool)], data)
    added = tuple(p.target for p in batch.placed)
    after = prepare_data(DataConfig(root=str(data), val_fraction=0.4, train_only=added))
    assert {i.path for i in after.val} == {i.path for i in before.val}  # validation is unchanged
    assert {i.path for i in after.train} == {i.path for i in before.train} | set(added)
    unpinned = prepare_data(DataConfig(root=str(data), val_fraction=0.4))
    assert {i.path for i in unpinned.val} != {i.path for i in before.val}  # what train_only prevents
