"""Head sweeps on the cached pooled features: plan the trials, run each, keep going past a failure.

* :func:`plan` turns a :class:`~tlstudio.api.sweep.SearchSpace` into a
  list of :class:`~tlstudio.api.sweep.TrialParams`: a grid visits every
  combination once, in a seeded order so that a grid capped at ``trials``
  still spans the space; a random search draws categorical settings from
  their lists and learning rate and weight decay log-uniformly, dropout and
  label smoothing uniformly, within the listed range (Bergstra & Bengio: a
  random search covers the few settings that matter better than a grid).
  The same seed gives the same plan, which is what makes a sweep resumable.
* :func:`run_trials` scores each trial (:mod:`tlstudio.analysis.sweep_trial`)
  on the same folds (:func:`tlstudio.analysis.kfold.fold_splits`), records
  a failure and goes on, clears the Keras session after every trial so
  memory does not grow, and saves the trials file after each one. While it
  runs, the objects alive when it started are kept out of the per-trial
  garbage collections (:func:`older_objects_frozen`).
* :func:`run_sweep_job` is the body of the ``"sweep"`` job.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import time
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np

from tlstudio.cancel import CancelToken
from tlstudio.errors import ConfigError
from tlstudio.events import LogMessage, Progress, Sink
from tlstudio.api.sweep import SearchSpace, SweepConfig, SweepResult, Trial, TrialFinished, TrialParams, best_index

logger = logging.getLogger(__name__)

RANDOM_DRAW_LIMIT = 50
"""A random search gives up looking for a new point after this many draws per trial (a small space is exhausted)."""


@contextlib.contextmanager
def older_objects_frozen() -> Iterator[None]:
    """Within the block, the garbage collector skips the objects that were alive when it began.

    Each trial ends with a full collection so that its model and traced
    graphs are freed before the next trial; with TensorFlow and Keras loaded
    (about 400,000 long-lived objects), each full collection walked them all:
    0.25 s a trial, a third of a 16-trial sweep of a small dataset. They move
    to the permanent generation (:func:`gc.freeze`) for the sweep and back
    afterwards (:func:`gc.unfreeze`), so what a trial makes is still
    collected after it. An object freed by its reference count is freed as
    before; a cycle among the older objects that becomes garbage during the
    sweep is collected after it. When the process already froze objects (the
    test suite does), it is left as it is: unfreezing would undo that.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def grid_size(space: SearchSpace, cuts: Sequence[str]) -> int:
    """Points of the grid over ``space`` with ``cuts``."""
    return math.prod(len(v) for v in _grid_axes(space, cuts))


def _grid_axes(space: SearchSpace, cuts: Sequence[str]) -> list[tuple]:
    return [tuple(cuts), tuple(space.poolings), tuple(space.hidden), tuple(space.dropouts), tuple(space.learning_rates),
            tuple(space.weight_decays), tuple(space.label_smoothings), tuple(space.epochs)]


def _params(values: Sequence) -> TrialParams:
    cut, pooling, hidden, dropout, lr, wd, ls, epochs = values
    return TrialParams(cut=cut, pooling=pooling, hidden=tuple(int(u) for u in hidden), dropout=float(dropout),
                       learning_rate=float(lr), weight_decay=float(wd), label_smoothing=float(ls), epochs=int(epochs))


def _round(value: float) -> float:
    """Three significant digits: readable values in tables and files."""
    return float(f"{value:.3g}")


def _log_uniform(rng: np.random.Generator, values: Sequence[float]) -> float:
    low, high = min(values), max(values)
    return _round(math.exp(rng.uniform(math.log(low), math.log(high)))) if high > low else float(low)


def _uniform(rng: np.random.Generator, values: Sequence[float]) -> float:
    low, high = min(values), max(values)
    return _round(rng.uniform(low, high)) if high > low else float(low)


def _random_params(rng: np.random.Generator, space: SearchSpace, cuts: Sequence[str]) -> TrialParams:
    pick = lambda seq: seq[int(rng.integers(len(seq)))]  # noqa: E731 - a local helper
    positive = [w for w in space.weight_decays if w > 0]
    if not positive or (0.0 in space.weight_decays and rng.random() < 1 / len(space.weight_decays)):
        decay = 0.0
    else:
        decay = _log_uniform(rng, positive)
    return TrialParams(cut=pick(tuple(cuts)), pooling=pick(space.poolings), hidden=tuple(pick(space.hidden)),
                       dropout=_uniform(rng, space.dropouts), learning_rate=_log_uniform(rng, space.learning_rates),
                       weight_decay=decay, label_smoothing=_uniform(rng, space.label_smoothings),
                       epochs=int(pick(space.epochs)))


def plan(space: SearchSpace, cuts: Sequence[str], *, search: str, trials: int, seed: int) -> list[TrialParams]:
    """The trials of a sweep, in the order they run.

    Args:
        space: The search space (its ``cuts`` already resolved into ``cuts``).
        cuts: The cut layers to try.
        search: ``"grid"`` or ``"random"``.
        trials: At most this many; 0 is the whole grid.
        seed: Seed of the order (grid) or the draws (random).

    Returns:
        Distinct trial settings; fewer than ``trials`` when the space has fewer points.
    """
    if not cuts:
        raise ConfigError("a sweep needs at least one cut point. Received: cuts=()")
    rng = np.random.default_rng(seed)
    if search == "grid":
        axes = _grid_axes(space, cuts)
        size = grid_size(space, cuts)
        count = size if trials == 0 else min(trials, size)
        order = rng.permutation(size)[:count] if size <= 10**7 else rng.choice(size, count, replace=False)
        shape = [len(a) for a in axes]
        return [_params([axes[d][int(i)] for d, i in enumerate(np.unravel_index(int(flat), shape))]) for flat in order]
    if search != "random":
        raise ConfigError(f"search must be 'grid' or 'random'. Received: search={search!r}")
    seen: set[TrialParams] = set()
    out: list[TrialParams] = []
    draws = 0
    while len(out) < trials and draws < RANDOM_DRAW_LIMIT * trials:
        draws += 1
        params = _random_params(rng, space, cuts)
        if params not in seen:
            seen.add(params)
            out.append(params)
    return out


def run_trials(
    planned: Sequence[TrialParams],
    features: Callable[[str, str], np.ndarray],
    labels: np.ndarray,
    *,
    num_classes: int,
    folds: int,
    seed: int,
    batch_size: int,
    patience: int,
    done: Mapping[TrialParams, Trial] | None = None,
    on_trial: Callable[[list[Trial]], None] | None = None,
    sink: Sink,
    cancel: CancelToken,
) -> tuple[list[Trial], int, bool]:
    """Score every planned trial by stratified k-fold CV; a failure is recorded and the sweep goes on.

    Args:
        planned: The trials, from :func:`plan`.
        features: ``(cut, pooling) -> [N, C]`` features of the training rows.
        labels: ``[N]`` integer labels.
        num_classes: Softmax units.
        folds: Wanted folds (fewer when a class is smaller).
        seed: Seed of the folds and of every trial's initialisation.
        batch_size: Head training batch size.
        patience: Early-stopping patience.
        done: Trials already scored (resumed), by settings; they are not run again.
        on_trial: Called with the trials so far after each new trial (the trials file is saved there).
        sink: Receives ``Progress("sweep", ...)``, :class:`TrialFinished` and a warning per failed trial.
        cancel: Checked between trials and between epochs.

    Returns:
        ``(trials, folds_used, cancelled)``; a cancelled trial is not recorded.
    """
    from tlstudio.analysis.kfold import fold_splits

    labels = np.asarray(labels, np.int64)
    splits = fold_splits(labels, folds, seed)
    done = dict(done or {})
    with older_objects_frozen():
        return _run_trials(planned, features, labels, splits, num_classes=num_classes, seed=seed,
                           batch_size=batch_size, patience=patience, done=done, on_trial=on_trial, sink=sink,
                           cancel=cancel)


def _run_trials(planned, features, labels, splits, *, num_classes, seed, batch_size, patience, done, on_trial, sink,
                cancel) -> tuple[list[Trial], int, bool]:
    """The loop of :func:`run_trials` on its folds ``splits``."""
    import keras

    from tlstudio.analysis.sweep_trial import run_folds

    trials: list[Trial] = []
    total = len(planned)
    for i, params in enumerate(planned):
        if cancel.cancelled:
            return trials, len(splits), True
        if params in done:
            trials.append(done[params])
            sink(TrialFinished(i, total, done[params], best_index(trials)))
            continue
        sink(Progress("sweep", i, total, f"Trial {i + 1}/{total}: {params.label()}"))
        start = time.perf_counter()
        try:
            scores = run_folds(params, features(params.cut, params.pooling), labels, splits, num_classes=num_classes,
                               batch_size=batch_size, patience=patience, seed=seed, cancel=cancel)
        except Exception as exc:  # noqa: BLE001 - a failing trial is recorded and the sweep goes on
            message = f"{type(exc).__name__}: {exc}"
            logger.warning("sweep trial %s failed: %s", params.label(), message, exc_info=True)
            sink(LogMessage(f"trial {i + 1} ({params.label()}) failed and was recorded: {message}", "warning"))
            trial = Trial(params, float("nan"), float("nan"), time.perf_counter() - start, error=message)
        else:
            if scores.cancelled:
                return trials, len(splits), True
            trial = Trial(params, float(np.mean(scores.accuracies)), float(np.std(scores.accuracies)),
                          time.perf_counter() - start, fold_accuracies=scores.accuracies, epochs_run=scores.epochs)
        finally:
            keras.backend.clear_session(free_memory=True)  # nothing of this trial survives it (a full collection)
        trials.append(trial)
        if on_trial is not None:
            on_trial(trials)
        best = best_index(trials)
        sink(TrialFinished(i, total, trial, best))
        score = "failed" if not trial.ok else f"{trial.cv_accuracy:.3f} ± {trial.cv_std:.3f}"
        sink(Progress("sweep", i + 1, total, f"Trial {i + 1}/{total}: {score}; best {trials[best].cv_accuracy:.3f}"
                      if best >= 0 else f"Trial {i + 1}/{total}: {score}"))
    return trials, len(splits), False


def run_sweep_job(config: SweepConfig, *, sink: Sink, cancel: CancelToken) -> SweepResult:
    """The ``"sweep"`` job (see :func:`tlstudio.jobs.sweep.sweep`)."""
    from tlstudio import backbones
    from tlstudio.analysis import sweep_store
    from tlstudio.analysis.dataset import analysis_data
    from tlstudio.features.pooled_cache import pooled_features
    from tlstudio.precision.runtime import fast_precision

    start = time.perf_counter()
    data = analysis_data(config.data, sink=sink, cancel=cancel)
    if data.cancelled:
        return SweepResult((), -1, data.class_names, seconds=time.perf_counter() - start, cancelled=True)
    pooled = pooled_features(
        data.paths, backbone=config.model.backbone, weights=config.model.weights, image_size=config.model.image_size,
        batch_size=config.feature_batch_size, cache_dir=config.cache_dir or None, sink=sink, cancel=cancel,
        precision=fast_precision(config.precision, sink),
    )
    if pooled is None:
        return SweepResult((), -1, data.class_names, seconds=time.perf_counter() - start, cancelled=True)
    unknown = [c for c in config.space.cuts if c not in pooled.cuts]
    if unknown:
        raise ConfigError(f"space.cuts: {unknown[0]!r} is not a cut point of {config.model.backbone}; expected one of "
                          f"{', '.join(pooled.cuts)}. Received: cuts={list(config.space.cuts)!r}")
    cuts = tuple(c for c in pooled.cuts if not config.space.cuts or c in config.space.cuts)
    rows = data.rows("train")
    labels = data.labels[rows]
    planned = plan(config.space, cuts, search=config.search, trials=config.trials, seed=config.seed)
    size = grid_size(config.space, cuts) if config.search == "grid" else 0
    if size and config.trials and config.trials < size:
        sink(LogMessage(f"the grid has {size} points; running {config.trials} of them in a seeded order", "info"))
    elif config.search == "random" and len(planned) < config.trials:
        sink(LogMessage(f"the search space has only {len(planned)} distinct settings; running those", "warning"))

    setup = {"images": sweep_store.images_fingerprint([data.paths[r] for r in rows], labels),
             "backbone": config.model.backbone, "weights": config.model.weights,
             "image_size": backbones.resolve_image_size(config.model.backbone, config.model.image_size), "folds": config.folds,
             "seed": config.seed, "data_seed": config.data.seed, "batch_size": config.batch_size,
             "patience": config.patience}
    done: dict[TrialParams, Trial] = {}
    if config.trials_file:
        done = {t.params: t for t in sweep_store.load(config.trials_file, setup) if t.ok}
        if done:
            sink(LogMessage(f"resuming: {len(done)} trials already scored in {config.trials_file}", "info"))
    extra = [t for t in done.values() if t.params not in set(planned)]  # scored by a longer or other plan: kept

    def save(trials: list[Trial]) -> None:
        if config.trials_file:
            sweep_store.save(config.trials_file, setup, extra + trials)

    cache: dict[tuple[str, str], np.ndarray] = {}

    def features(cut: str, pooling: str) -> np.ndarray:
        if (cut, pooling) not in cache:  # the training rows of one cut: small, read once
            cache[(cut, pooling)] = np.asarray(pooled.pooled(cut, pooling)[rows], np.float32)
        return cache[(cut, pooling)]

    trials_start = time.perf_counter()
    trials, folds, cancelled = run_trials(
        planned, features, labels, num_classes=len(data.class_names), folds=config.folds, seed=config.seed,
        batch_size=config.batch_size, patience=config.patience, done=done, on_trial=save, sink=sink, cancel=cancel,
    )
    if folds < config.folds:
        sink(LogMessage(f"the smallest class has {int(np.bincount(labels).min())} training images: "
                        f"{folds} folds instead of {config.folds}", "warning"))
    trials_seconds = time.perf_counter() - trials_start
    return SweepResult(
        trials=tuple(trials), best_index=best_index(trials), class_names=data.class_names, num_images=int(len(rows)),
        folds=folds, chance=float(np.bincount(labels).max() / max(len(labels), 1)),
        seconds=time.perf_counter() - start, trials_seconds=trials_seconds, cache_hit=pooled.cache_hit,
        planned=len(planned), space_size=size, cancelled=cancelled,
    )
