"""Head sweeps: planning, k-fold trials without leakage, failures recorded, resume, bounded memory, promote."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest

from tests.support.analysis_data import make_presplit, seeded_weights
from tlstudio.analysis import sweep as sweep_mod
from tlstudio.analysis.kfold import fold_splits
from tlstudio.analysis.promote import head_config, promote
from tlstudio.analysis.sweep_trial import run_folds
from tlstudio.cancel import CancelToken
from tlstudio.config import DataConfig, ModelConfig, RunConfig
from tlstudio.errors import ConfigError
from tlstudio.jobs import EXCLUSIVE_JOBS, JOBS, run_job
from tlstudio.api.sweep import SearchSpace, SweepConfig, Trial, TrialFinished, TrialParams

CUTS = tuple(f"block{b}_pool" for b in range(1, 6))
SMALL = SearchSpace(hidden=((), (16,)), dropouts=(0.0, 0.3), learning_rates=(1e-3, 1e-2), weight_decays=(0.0, 1e-2),
                    label_smoothings=(0.0,), epochs=(20,))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    base = tmp_path_factory.mktemp("sweep")
    make_presplit(base / "data", train=12, val=4)
    model = ModelConfig(backbone="vgg16", weights=seeded_weights(base), image_size=32)
    config = SweepConfig(DataConfig(root=str(base / "data")), model, space=SMALL, trials=3, seed=3, folds=3,
                         batch_size=8, patience=3, cache_dir=str(base / "cache"))
    return base, config


def _blobs(n=60, d=8, seed=0, shift=4.0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.normal(size=(n, d)).astype(np.float32) * 20 + 50  # large, unnormalised, like pooled backbone features
    x[:, 0] += shift * 20 * y
    return x, y


def test_the_job_is_registered_and_exclusive():
    assert JOBS["sweep"] == "tlstudio.jobs.sweep:sweep" and "sweep" in EXCLUSIVE_JOBS


def test_plans_are_seeded_distinct_and_within_the_space():
    grid = sweep_mod.plan(SMALL, CUTS[:2], search="grid", trials=0, seed=1)
    assert len(grid) == sweep_mod.grid_size(SMALL, CUTS[:2]) == 2 * 2 * 2 * 2 * 2 * 2 and len(set(grid)) == len(grid)
    assert sweep_mod.plan(SMALL, CUTS[:2], search="grid", trials=5, seed=1) == grid[:5]
    assert {p.cut for p in grid[:16]} == set(CUTS[:2])  # a capped grid still spans the space
    rand = sweep_mod.plan(SearchSpace(), CUTS, search="random", trials=40, seed=7)
    assert rand == sweep_mod.plan(SearchSpace(), CUTS, search="random", trials=40, seed=7)
    assert rand != sweep_mod.plan(SearchSpace(), CUTS, search="random", trials=40, seed=8)
    assert len(set(rand)) == 40
    for p in rand:
        assert 3e-4 <= p.learning_rate <= 3e-3 and 0.0 <= p.dropout <= 0.5 and 0.0 <= p.label_smoothing <= 0.1
        assert p.weight_decay == 0.0 or 1e-2 <= p.weight_decay <= 1e-1
        assert p.pooling in ("avg", "max") and p.cut in CUTS and p.epochs in (30, 100)
    assert len({p.learning_rate for p in rand}) > 10  # continuous draws, not the three listed values
    tiny = SearchSpace(poolings=("avg",), hidden=((),), dropouts=(0.0,), learning_rates=(1e-3,), weight_decays=(0.0,),
                       label_smoothings=(0.0,), epochs=(5,))
    assert len(sweep_mod.plan(tiny, CUTS[:2], search="random", trials=10, seed=0)) == 2  # exhausted, not repeated


def test_bad_space_and_config_name_the_field():
    with pytest.raises(ConfigError, match=r"space.poolings.*Received: poolings=\('mean',\)"):
        SearchSpace(poolings=("mean",))
    with pytest.raises(ConfigError, match="space.dropouts.*Received"):
        SearchSpace(dropouts=(1.5,))
    with pytest.raises(ConfigError, match="trials=0.*grid.*Received"):
        SweepConfig(trials=0, search="random")
    with pytest.raises(ConfigError, match="search must be.*Received: search='bayes'"):
        SweepConfig(search="bayes")


def test_a_trial_learns_separable_features_and_does_not_leak():
    x, y = _blobs()
    splits = fold_splits(y, 3, 0)
    params = TrialParams("c", hidden=(16,), dropout=0.0, learning_rate=1e-2, epochs=40)
    scores = run_folds(params, x, y, splits, num_classes=2, batch_size=16, patience=5, seed=0, cancel=CancelToken())
    assert len(scores.accuracies) == 3 and np.mean(scores.accuracies) > 0.9  # standardised inside: it learns
    assert all(1 <= e <= 40 for e in scores.epochs)
    # Leakage check: one-hot row-index features on random labels. A head that saw the held-out rows
    # (or their statistics) could memorise them; held out, each index feature is unseen, so it stays near chance.
    n = 90
    rng = np.random.default_rng(1)
    labels = rng.permutation(np.arange(n) % 2)
    index_features = np.eye(n, dtype=np.float32)
    splits = fold_splits(labels, 3, 0)
    leak = run_folds(TrialParams("c", hidden=(), learning_rate=3e-2, epochs=60), index_features, labels, splits,
                     num_classes=2, batch_size=16, patience=60, seed=0, cancel=CancelToken())
    assert np.mean(leak.accuracies) < 0.7


def test_sweep_job_scores_trials_and_reports_progress(dataset):
    _, config = dataset
    events = []
    result = run_job("sweep", config, sink=events.append)
    assert len(result.trials) == 3 and result.planned == 3 and result.folds == 3 and result.num_images == 24
    assert all(t.ok and 0.0 <= t.cv_accuracy <= 1.0 and len(t.fold_accuracies) == 3 for t in result.trials)
    best = result.best
    assert best is not None and best.cv_accuracy == max(t.cv_accuracy for t in result.trials)
    assert best.cv_accuracy > 0.75  # the colour classes are easy at some cut
    finished = [e for e in events if isinstance(e, TrialFinished)]
    assert [e.index for e in finished] == [0, 1, 2] and finished[-1].best_index == result.best_index
    data = json.loads(json.dumps(result.to_json()))
    assert data["best"]["params"]["cut"] == best.params.cut and len(data["trials"]) == 3


def test_a_failing_trial_is_recorded_and_the_sweep_goes_on(dataset, monkeypatch):
    _, config = dataset
    from tlstudio.analysis import sweep_trial

    real = sweep_trial.run_folds
    calls = []

    def flaky(params, *args, **kwargs):
        calls.append(params)
        if len(calls) == 2:
            raise RuntimeError("planted failure")
        return real(params, *args, **kwargs)

    monkeypatch.setattr(sweep_trial, "run_folds", flaky)
    messages = []
    result = run_job("sweep", config, sink=messages.append)
    assert len(result.trials) == 3 and [t.ok for t in result.trials] == [True, False, True]
    failed = result.trials[1]
    assert "RuntimeError: planted failure" in failed.error and np.isnan(failed.cv_accuracy)
    assert result.best_index in (0, 2)
    assert any("failed and was recorded" in getattr(m, "message", "") for m in messages)
    with pytest.raises(ConfigError, match="failed.*cannot be promoted.*Received: error="):
        promote(failed, config)


def test_resume_skips_trials_already_done_and_refuses_another_sweeps_file(dataset, tmp_path, monkeypatch):
    _, config = dataset
    path = tmp_path / "trials.json"
    cancel = CancelToken()

    def stop_after_two(event):
        if isinstance(event, TrialFinished) and event.index == 1:
            cancel.cancel()

    first = run_job("sweep", dataclasses.replace(config, trials_file=str(path)), sink=stop_after_two, cancel=cancel)
    assert first.cancelled and len(first.trials) == 2
    stored = json.loads(path.read_text())
    assert stored["format"] == "tlstudio-sweep" and len(stored["trials"]) == 2

    from tlstudio.analysis import sweep_trial

    real = sweep_trial.run_folds
    ran = []
    monkeypatch.setattr(sweep_trial, "run_folds", lambda p, *a, **k: (ran.append(p), real(p, *a, **k))[1])
    second = run_job("sweep", dataclasses.replace(config, trials_file=str(path)))
    assert len(ran) == 1 and len(second.trials) == 3 and not second.cancelled  # only the missing trial ran
    assert [t.resumed for t in second.trials] == [True, True, False]
    assert [t.params for t in second.trials[:2]] == [t.params for t in first.trials]
    assert second.trials[0].cv_accuracy == pytest.approx(first.trials[0].cv_accuracy, abs=1e-6)
    assert len(json.loads(path.read_text())["trials"]) == 3

    before = path.read_bytes()
    with pytest.raises(ConfigError, match=r"trials.json: these trials come from another sweep.*Expected folds=2.*Received: folds=3"):
        run_job("sweep", dataclasses.replace(config, trials_file=str(path), folds=2))
    other = tmp_path / "notes.json"
    other.write_text('{"my": "notes"}')
    with pytest.raises(ConfigError, match="notes.json: this is not a sweep's trials file.*Received"):
        run_job("sweep", dataclasses.replace(config, trials_file=str(other)))
    assert path.read_bytes() == before and other.read_text() == '{"my": "notes"}'  # never overwritten


def test_memory_per_trial_stays_bounded():
    """RSS across trials after warm-up. Tracing a graph loop leaked about 4 MB a trial (TensorFlow keeps its
    while bodies) and the optimizer's one-replica all-reduce another 2 MB (its traced custom gradient stays in
    TensorFlow's gradient registry with the whole train step graph); without them about 0.1 MB a trial remains."""
    x, y = _blobs(n=120, d=64)
    planned = sweep_mod.plan(SearchSpace(hidden=((32,), (64, 32)), epochs=(3,)), ("c",), search="random",
                             trials=16, seed=0)

    def rss_mb() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    marks = {}

    def sink(event):
        if isinstance(event, TrialFinished) and event.index in (3, 15):
            marks[event.index] = rss_mb()

    trials, _, _ = sweep_mod.run_trials(planned, lambda cut, pooling: x, y, num_classes=2, folds=2, seed=0,
                                        batch_size=16, patience=3, sink=sink, cancel=CancelToken())
    assert len(trials) == 16 and all(t.ok for t in trials)
    per_trial = (marks[15] - marks[3]) / 12
    assert per_trial < 0.75, f"RSS grew {per_trial:.2f} MB per trial"


def test_no_traced_train_step_outlives_its_trial():
    """The leak itself: no trial's traced graph stays reachable once the sweep has moved on."""
    import gc

    from tensorflow.python.framework.func_graph import FuncGraph

    x, y = _blobs(n=40, d=8)
    planned = sweep_mod.plan(SearchSpace(hidden=((8,),), epochs=(2,)), ("c",), search="random", trials=3, seed=0)
    trials, _, _ = sweep_mod.run_trials(planned, lambda cut, pooling: x, y, num_classes=2, folds=2, seed=0,
                                        batch_size=16, patience=3, sink=lambda e: None, cancel=CancelToken())
    assert all(t.ok for t in trials)
    gc.collect()
    names = ("train_step", "val_loss_of", "step_and_val_loss")
    alive = [g.name for g in gc.get_objects() if isinstance(g, FuncGraph) and g.name in names]
    assert alive == []


def test_promote_gives_a_run_config_whose_head_reproduces_the_trial(dataset):
    """Train the promoted RunConfig's head with plain Keras fit() on the same cached features and folds."""
    import keras

    from tlstudio.features.pooled_cache import pooled_features
    from tlstudio.analysis.dataset import analysis_data
    from tlstudio.events import null_sink
    from tlstudio.model import build_head
    from tlstudio.training.optimizers import make_optimizer

    _, config = dataset
    params = TrialParams("block3_pool", pooling="max", hidden=(16,), dropout=0.0, learning_rate=3e-3,
                         weight_decay=1e-2, label_smoothing=0.0, epochs=25)
    data = analysis_data(config.data, sink=null_sink, cancel=CancelToken())
    rows = data.rows("train")
    x = np.asarray(pooled_features(data.paths, backbone="vgg16", weights=config.model.weights, image_size=32,
                                   cache_dir=config.cache_dir).pooled(params.cut, params.pooling)[rows])
    y = data.labels[rows]
    splits = fold_splits(y, config.folds, config.seed)
    scores = run_folds(params, x, y, splits, num_classes=2, batch_size=config.batch_size, patience=config.patience,
                       seed=config.seed, cancel=CancelToken())
    trial = Trial(params, float(np.mean(scores.accuracies)), float(np.std(scores.accuracies)), 1.0,
                  fold_accuracies=scores.accuracies)

    run = promote(trial, config)
    assert isinstance(run, RunConfig) and run.data == config.data and run.model.backbone == "vgg16"
    assert run.model.head == head_config(params) and run.model.head.pooling == "max"
    assert run.model.head.dense[0].units == 16
    assert (run.train.optimizer, run.train.learning_rate, run.train.weight_decay) == ("adamw", 3e-3, 1e-2)
    assert run.train.early_stopping and run.train.monitor == "val_loss" and run.train.patience == config.patience
    assert run.train.epochs == 25 and run.train.batch_size == config.batch_size
    assert run.model.cut == "block3_pool"

    from tlstudio.analysis.sweep_trial import inner_split, standardise

    accuracies = []
    for train_rows, test_rows in splits:
        z = standardise(x, train_rows).reshape(-1, 1, 1, x.shape[1])
        inner = inner_split(y[train_rows], config.seed + 1)
        fit_rows, val_rows = train_rows[inner[0]], train_rows[inner[1]]
        head = build_head(run.model.head, (1, 1, x.shape[1]), 2, seed=run.train.seed)
        steps = -(-len(fit_rows) // run.train.batch_size)
        head.compile(optimizer=make_optimizer(run.train, run.train.learning_rate, steps, run.train.epochs),
                     loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        stop = keras.callbacks.EarlyStopping(monitor=run.train.monitor, patience=run.train.patience,
                                             restore_best_weights=True)
        head.fit(z[fit_rows], y[fit_rows], validation_data=(z[val_rows], y[val_rows]), epochs=run.train.epochs,
                 batch_size=run.train.batch_size, callbacks=[stop], verbose=0)
        accuracies.append(float(np.mean(np.argmax(head.predict(z[test_rows], verbose=0), 1) == y[test_rows])))
        keras.backend.clear_session()
    assert np.mean(accuracies) == pytest.approx(trial.cv_accuracy, abs=0.1)


def test_a_trial_scores_the_same_in_a_sweep_as_alone():
    """Nothing of one trial reaches the next: the third trial of a sweep (after a different head and one of its own
    architecture) scores exactly as the same trial run alone, and running the sweep again gives the same trials."""
    import keras

    x, y = _blobs(n=48, d=8, shift=1.0)
    planned = [TrialParams("c", hidden=(8,), dropout=0.3, learning_rate=1e-2, weight_decay=1e-2, label_smoothing=0.1,
                           epochs=12),
               TrialParams("c", hidden=(), dropout=0.0, learning_rate=3e-2, epochs=12),
               TrialParams("c", hidden=(8,), dropout=0.3, learning_rate=3e-3, weight_decay=1e-2, label_smoothing=0.1,
                           epochs=12)]
    kwargs = dict(num_classes=2, folds=3, seed=5, batch_size=16, patience=3, sink=lambda e: None, cancel=CancelToken())
    trials, _, _ = sweep_mod.run_trials(planned, lambda cut, pooling: x, y, **kwargs)
    assert all(t.ok for t in trials)
    again, _, _ = sweep_mod.run_trials(planned, lambda cut, pooling: x, y, **kwargs)
    assert [(t.fold_accuracies, t.epochs_run) for t in again] == [(t.fold_accuracies, t.epochs_run) for t in trials]
    keras.backend.clear_session()
    alone = run_folds(planned[2], x, y, fold_splits(y, 3, 5), num_classes=2, batch_size=16, patience=3, seed=5,
                      cancel=CancelToken())
    assert (alone.accuracies, alone.epochs) == (trials[2].fold_accuracies, trials[2].epochs_run)
    assert trials[2].epochs_run != trials[0].epochs_run or trials[2].fold_accuracies != trials[0].fold_accuracies


def test_the_sweep_keeps_older_objects_out_of_collections_only_while_it_runs():
    """The app's engine collects without freezing: the sweep freezes what was alive before it and unfreezes after;
    a cycle made during the sweep is still collected."""
    import gc
    import weakref

    class Node:
        pass

    gc.unfreeze()  # the suite freezes once TensorFlow is loaded (tests/conftest.py); this is the app's case
    try:
        before = Node()
        before.me = before
        with sweep_mod.older_objects_frozen():
            assert gc.get_freeze_count() > 0
            during = Node()
            during.me = during
            gone = weakref.ref(during)
            del during
            gc.collect()
            assert gone() is None  # made during the sweep: collected
            kept = weakref.ref(before)
            del before
            gc.collect()
            assert kept() is not None  # older: skipped while the sweep runs
        assert gc.get_freeze_count() == 0
        gc.collect()
        assert kept() is None  # and collected after it
    finally:
        gc.collect()
        gc.freeze()
