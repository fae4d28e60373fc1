"""``train --head auto``: probe, short sweep, train the chosen cut and head, record the choice in the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.analysis_data import make_presplit, seeded_weights
from tests.support.events import Recorder
from tlstudio.jobs import auto_head
from tlstudio.analysis.promote import head_config
from tlstudio.cancel import CancelToken
from tlstudio.config import DataConfig, HeadConfig, ModelConfig, RunConfig, TrainConfig, from_json
from tlstudio.events import LogMessage, Progress, RunFinished
from tlstudio.jobs import run_job
from tlstudio.api.probe import CutScore, ProbeResult
from tlstudio.api.sweep import TrialParams
from tlstudio.run_folders import RUN_ENTRIES, RUN_CONFIG, RESULT


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    base = tmp_path_factory.mktemp("auto")
    make_presplit(base / "data", train=12, val=4)
    return base, seeded_weights(base)


@pytest.fixture()
def small(monkeypatch):
    monkeypatch.setattr(auto_head, "AUTO_TRIALS", 3)
    monkeypatch.setattr(auto_head, "AUTO_FOLDS", 3)


def _config(data, run_dir: Path, **train) -> RunConfig:
    base, weights = data
    defaults = dict(epochs=2, batch_size=8, seed=3, tensorboard=False, auto_head=True, class_weights=True)
    defaults.update(train)
    return RunConfig(data=DataConfig(root=str(base / "data")),
                     model=ModelConfig(backbone="vgg16", weights=weights, image_size=32, head=HeadConfig()),
                     train=TrainConfig(**defaults), run_dir=str(run_dir))


def _probe(scores: dict[str, float]) -> ProbeResult:
    cuts = tuple(CutScore(layer, acc, 0.02, 8, i) for i, (layer, acc) in enumerate(scores.items()))
    best = max(cuts, key=lambda c: c.cv_accuracy).layer
    return ProbeResult(cuts, best, "")


def test_sweep_cuts_are_the_best_and_close_neighbours():
    probe = _probe({"b1": 0.50, "b2": 0.70, "b3": 0.74, "b4": 0.60, "b5": 0.55})
    assert auto_head.sweep_cuts(probe) == ("b2", "b3")  # b4 is more than the margin below the best
    assert auto_head.sweep_cuts(_probe({"b1": 0.9, "b2": 0.88})) == ("b1", "b2")
    assert auto_head.sweep_cuts(_probe({"only": 0.6})) == ("only",)
    # a cut whose max-pooled probe is clearly better moves the sweep there
    assert auto_head.sweep_cuts(probe, {"b1": 0.80, "b2": 0.6}) == ("b1",)
    assert auto_head.sweep_cuts(probe, {"b1": 0.72, "b2": 0.6}) == ("b2", "b3")


def test_auto_head_trains_the_chosen_cut_and_head_and_records_why(data, tmp_path, small):
    run_dir = tmp_path / "run"
    events = Recorder()
    result = run_job("train", _config(data, run_dir, label_smoothing=0.0), sink=events)
    assert result.ok, result.error

    record = json.loads((run_dir / "auto_head.json").read_text())
    assert record["format"] == "tlstudio-auto-head" and record["version"] == 1
    chosen = TrialParams.from_json(record["chosen"]["trial"])
    assert len(record["probe"]["cuts"]) == 5 and set(record["probe_max_pooled"]) == {c["layer"] for c in record["probe"]["cuts"]}
    assert chosen.cut in record["sweep"]["cuts"] and len(record["sweep"]["trials"]) == 3
    # the chosen trial is the best scored one
    scores = [t["cv_accuracy"] for t in record["sweep"]["trials"] if t["cv_accuracy"] is not None]
    assert record["chosen"]["cv_accuracy"] == pytest.approx(max(scores), abs=1e-4)

    # the run trained exactly that cut and head, with the trial's optimizer and label smoothing
    config = from_json(RunConfig, (run_dir / RUN_CONFIG).read_text())
    assert config.model.cut == chosen.cut and config.model.head == head_config(chosen)
    assert config.train.learning_rate == chosen.learning_rate and config.train.weight_decay == chosen.weight_decay
    assert config.train.label_smoothing == chosen.label_smoothing and config.train.epochs == chosen.epochs
    assert config.train.early_stopping and config.train.monitor == "val_loss" and not config.train.class_weights
    assert config.train.auto_head and config.train.seed == 3 and not config.train.tensorboard

    # result (returned and on disk) and a log line say what was chosen and why
    assert result.auto_head["cut"] == chosen.cut and chosen.cut in result.auto_head["reason"]
    assert json.loads((run_dir / RESULT).read_text())["auto_head"]["reason"] == result.auto_head["reason"]
    logs = [e.message for e in events.of(LogMessage)]
    assert any(m.startswith("Auto head: " + chosen.cut) and "best of 3 trials" in m for m in logs), logs
    assert {e.stage for e in events.of(Progress)} >= {"probe", "sweep"}
    assert len(events.of(RunFinished)) == 1 and events.of(RunFinished)[0].error is None
    assert "auto_head.json" in RUN_ENTRIES  # a run folder holding it can still be deleted safely

    # the saved model uses the backbone up to the chosen cut
    import keras

    model = keras.saving.load_model(run_dir / "model.keras", compile=False)
    assert model.get_layer("backbone").layers[-1].name == chosen.cut


def test_a_cancel_during_the_search_ends_the_run_before_training(data, tmp_path, small):
    token = CancelToken()
    events = Recorder()

    def sink(event):
        events(event)
        if isinstance(event, Progress) and event.stage == "probe":
            token.cancel()

    result = run_job("train", _config(data, tmp_path / "run"), sink=sink, cancel=token)
    assert result.cancelled and result.error is None and result.auto_head is None
    assert events.of(RunFinished) and events.of(RunFinished)[-1].cancelled
    assert not (tmp_path / "run").exists()


def test_a_search_that_finds_no_head_fails_the_run_with_one_line(data, tmp_path, small, monkeypatch):
    from tlstudio.analysis import sweep_trial

    def broken(*args, **kwargs):
        raise FloatingPointError("the validation loss became nan")

    monkeypatch.setattr(sweep_trial, "run_folds", broken)
    events = Recorder()
    result = run_job("train", _config(data, tmp_path / "run"), sink=events)
    assert not result.ok and "every one of the 3 sweep trials failed" in result.error
    assert "Received: FloatingPointError: the validation loss became nan" in result.error
    assert events.of(RunFinished)[-1].error == result.error
    assert not (tmp_path / "run").exists()


def test_a_resumed_auto_run_does_not_search_again(monkeypatch, tmp_path):
    import tlstudio.training.run as run_module

    calls = []
    monkeypatch.setattr(run_module, "run_training", lambda config, sink, cancel, strategy=None: calls.append(config))
    monkeypatch.setattr(auto_head, "choose", lambda *a, **k: pytest.fail("a resume must not search"))
    config = RunConfig(train=TrainConfig(auto_head=True), resume_from=str(tmp_path))
    run_job("train", config)
    assert calls == [config]


def test_cli_head_auto_sets_auto_head_and_keeps_other_heads():
    from tlstudio.cli import build_parser
    from tlstudio.cli.train import _config

    auto = _config(build_parser().parse_args(["train", "photos", "--head", "auto"]))
    assert auto.train.auto_head and auto.model.head == HeadConfig()
    plain = _config(build_parser().parse_args(["train", "photos", "--head", "max:dense=16"]))
    assert not plain.train.auto_head and plain.model.head.pooling == "max"


def test_the_sweep_takes_the_pooling_the_probe_found_better():
    from tlstudio.jobs.auto_head import auto_space, max_pool_scores, probe_pooling

    def cut(layer, depth, avg, mx):
        best = max((("avg", avg), ("max", mx)), key=lambda t: t[1])
        return CutScore(layer, best[1], 0.05, 64, depth, best[0], (("avg", avg, 0.05), ("max", mx, 0.05)))

    probe = ProbeResult((cut("block1_pool", 0, 0.69, 0.76), cut("block2_pool", 1, 0.66, 0.60)), "block1_pool", "")
    assert max_pool_scores(probe) == {"block1_pool": 0.76, "block2_pool": 0.60}
    assert probe_pooling(probe, max_pool_scores(probe), ["block1_pool", "block2_pool"]) == "max"
    probe = ProbeResult((cut("block1_pool", 0, 0.69, 0.65), cut("block2_pool", 1, 0.66, 0.60)), "block1_pool", "")
    assert probe_pooling(probe, max_pool_scores(probe), ["block1_pool", "block2_pool"]) == "avg"
    assert probe_pooling(_probe({"b1": 0.7}), {}, ["b1"]) == "avg"  # a probe of average pooling only
    assert auto_space(["block1_pool"], ("max",)).poolings == ("max",)
