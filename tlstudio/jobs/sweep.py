"""The head sweep job: many small heads scored by k-fold CV on the cached pooled features.

A sweep tries cut points, poolings, hidden layers, dropout, learning rate,
weight decay, label smoothing and epoch budgets (with early stopping). Every
trial trains a small Keras head (the head the full model would build,
:func:`tlstudio.model.build_head`) on the pooled features of the multi-cut
cache (:mod:`tlstudio.features.pooled_cache`) and is scored by stratified
k-fold cross-validation on the training split, with the fold assignment of
the probe (:func:`tlstudio.analysis.kfold.fold_splits`). So a trial costs
seconds, not a training run.

A sweep can resume: when ``trials_file`` is set, every finished trial is
written there at once (atomically), and a sweep started again with the same
file skips the trials it already holds. A failing trial is recorded with its
error and the sweep goes on.

The config, trials and result dataclasses are in :mod:`tlstudio.api.sweep`.
"""

from __future__ import annotations

from tlstudio.api.sweep import SweepConfig, SweepResult
from tlstudio.cancel import CancelToken
from tlstudio.events import Sink


def sweep(config: SweepConfig, *, sink: Sink, cancel: CancelToken) -> SweepResult:
    """Run a head sweep (the job ``"sweep"``).

    Prepares the dataset, takes the pooled features of every cut from the
    cache (one extraction pass when missing), plans the trials, skips those
    the trials file already holds, and scores the rest by k-fold CV on the
    training split.

    Raises:
        DataError: the dataset cannot be used, or a class has fewer than 2 training images.
        ConfigError: an unknown cut, or a trials file of another sweep.
        WeightsUnavailableError: the weights cannot be loaded.
    """
    from tlstudio.analysis.sweep import run_sweep_job

    return run_sweep_job(config, sink=sink, cancel=cancel)
