"""The label_suggest and label_retrain jobs on a generated dataset, unsorted folder and run."""

from __future__ import annotations

import pytest

from tests.support.label_data import make_flat, make_pool, make_run
from tlstudio.api.label import RetrainConfig, SuggestConfig
from tlstudio.config import DataConfig
from tlstudio.jobs import run_job


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    base = tmp_path_factory.mktemp("label")
    data = base / "data"
    labelled = make_flat(data)
    planted = make_pool(base / "pool", labelled)
    run_dir = make_run(base, data)
    return {"base": base, "data": data, "pool": base / "pool", "planted": planted, "run": run_dir}


def _config(loop, **kw):
    return SuggestConfig(pool=str(loop["pool"]), run_dir=str(loop["run"]), cache_dir=str(loop["base"] / "cache"), **kw)


def test_suggest_flags_copies_of_labelled_images_instead_of_suggesting_them(loop):
    result = run_job("label_suggest", _config(loop, n=24, strategy="uncertainty"))
    suggested = {s.path for s in result.suggestions}
    skipped = {s.path: s.reason for s in result.skipped}
    exact, near = str(loop["planted"]["exact"]), str(loop["planted"]["near"])
    assert exact in skipped and "exact copy" in skipped[exact]
    assert near in skipped and "near copy" in skipped[near]
    assert exact not in suggested and near not in suggested
    assert len(result.suggestions) == 12 == result.pool_size  # every other pool image, nothing more
    assert [s.rank for s in result.suggestions] == list(range(1, 13))
    margins = [s.margin for s in result.suggestions]
    assert margins == sorted(margins)
    assert all(s.suggested in ("blue", "red") and 0.5 <= s.probability <= 1 for s in result.suggestions)


def test_suggest_skips_what_was_decided_and_gives_n(loop):
    first = run_job("label_suggest", _config(loop, n=4, strategy="diverse"))
    assert len(first.suggestions) == 4
    done = tuple((s.path, s.suggested) for s in first.suggestions[:2])
    again = run_job("label_suggest", _config(loop, n=24, labelled=done, exclude=(first.suggestions[2].path,)))
    paths = {s.path for s in again.suggestions}
    assert not paths & {s.path for s in first.suggestions[:3]}
    assert len(paths) == 12 - 3


def test_retrain_adds_labelled_images_to_training_and_scores_validation(loop, tmp_path):
    first = run_job("label_suggest", _config(loop, n=6, strategy="random", seed=3))
    truth = [(s.path, "red" if "red" in s.path else "blue") for s in first.suggestions]
    head = tmp_path / "head.keras"
    config = RetrainConfig(run_dir=str(loop["run"]), data=DataConfig(root=str(loop["data"]), val_fraction=0.25),
                           pool=str(loop["pool"]), labelled=tuple(truth), head_file=str(head),
                           cache_dir=str(loop["base"] / "cache"), strategy="random")
    result = run_job("label_retrain", config)
    assert result.labelled == 12 + 6  # 6 training images per class in the dataset, plus the batch
    assert result.val_accuracy == 1.0  # red against blue: easy on the seeded backbone's features
    assert head.is_file()
    rescored = run_job("label_suggest", _config(loop, n=24, labelled=tuple(truth), head_file=str(head),
                                                head_classes=result.class_names))
    right = [s for s in rescored.suggestions if s.suggested in s.path]
    assert len(right) == len(rescored.suggestions)


def test_the_configs_round_trip_through_json_and_name_a_bad_field():
    from tlstudio.config import from_json, to_json
    from tlstudio.errors import ConfigError

    suggest = SuggestConfig(pool="/p", run_dir="/r", n=16, strategy="random", labelled=(("/p/a.jpg", "ants"),), exclude=("/p/b.jpg",))
    assert from_json(SuggestConfig, to_json(suggest)) == suggest
    retrain = RetrainConfig(run_dir="/r", pool="/p", labelled=(("/p/a.jpg", "ants"),), head_file="/h/round-1.keras")
    assert from_json(RetrainConfig, to_json(retrain)) == retrain
    with pytest.raises(ConfigError, match="strategy must be one of .*Received: 'smart'"):
        SuggestConfig(pool="/p", run_dir="/r", strategy="smart")
    with pytest.raises(ConfigError, match=r"n must be within \[1, 1000\]. Received: n=0"):
        SuggestConfig(pool="/p", run_dir="/r", n=0)
    with pytest.raises(ConfigError, match="pool must be a folder path. Received: pool=''"):
        SuggestConfig(pool="", run_dir="/r")
