"""Promote: turn a sweep trial into the :class:`~tlstudio.config.RunConfig` of a full training run.

The sweep builds every trial's head and optimizer from the same two
functions (:func:`head_config`, :func:`train_config`), so the promoted run
trains the very head that was scored: :func:`tlstudio.model.build_head` of
the same :class:`~tlstudio.config.HeadConfig`, the optimizer of
:func:`tlstudio.training.optimizers.make_optimizer` with the same learning
rate and weight decay, the same batch size, epoch budget and early-stopping
patience (on ``val_loss``, as the trials stop on their inner validation loss).

The cut point goes into ``ModelConfig.cut`` and label smoothing into
``TrainConfig.label_smoothing`` (the run's loss smooths the labels as the
trial's did, :mod:`tlstudio.training.loss`), so a promoted run carries every
setting of its trial. ``train --head auto`` promotes its best trial through the same
path (:mod:`tlstudio.jobs.auto_head`).

Plain Python: no Keras.
"""

from __future__ import annotations

import dataclasses

from tlstudio.config import DenseSpec, HeadConfig, RunConfig, TrainConfig
from tlstudio.errors import ConfigError
from tlstudio.api.sweep import SweepConfig, Trial, TrialParams


def head_config(params: TrialParams) -> HeadConfig:
    """The head of a trial: its pooling, hidden ReLU layers with dropout, and dropout before the output."""
    dense = tuple(DenseSpec(units=int(u), activation="relu", dropout=float(params.dropout)) for u in params.hidden)
    return HeadConfig(pooling=params.pooling, dense=dense, dropout=float(params.dropout))


def train_config(params: TrialParams, *, batch_size: int, patience: int, seed: int) -> TrainConfig:
    """The phase-1 training of a trial: Adam (AdamW with weight decay), constant rate, early stopping on val_loss.

    Class weights are off: the trials fit unweighted, and their accuracy is
    the plain accuracy.
    """
    return TrainConfig(
        epochs=int(params.epochs), fine_tune_epochs=0, batch_size=int(batch_size),
        optimizer="adamw" if params.weight_decay > 0 else "adam", learning_rate=float(params.learning_rate),
        weight_decay=float(params.weight_decay), schedule="constant", early_stopping=True, patience=int(patience),
        monitor="val_loss", class_weights=False, seed=int(seed),
        label_smoothing=float(params.label_smoothing),
    )


def promote(trial: Trial, config: SweepConfig, *, run_dir: str = "", fine_tune_epochs: int = 0,
            fine_tune_learning_rate: float = 1e-5) -> RunConfig:
    """The run configuration that trains ``trial``'s head on the sweep's data and backbone.

    Args:
        trial: A scored trial of the sweep.
        config: The sweep's configuration (data, backbone, weights, size, batch size, patience, seed).
        run_dir: The run folder; empty makes a new one.
        fine_tune_epochs: Phase-2 epochs after the head (0: none); the backbone's freezing is the sweep's.
        fine_tune_learning_rate: Phase-2 learning rate.

    Raises:
        ConfigError: the trial failed (there is nothing to promote), naming its error.
    """
    if not trial.ok:
        raise ConfigError(f"trial {trial.params.label()} failed, so it cannot be promoted to a run. "
                          f"Received: error={trial.error!r}")
    model = dataclasses.replace(config.model, head=head_config(trial.params), cut=trial.params.cut)
    train = dataclasses.replace(
        train_config(trial.params, batch_size=config.batch_size, patience=config.patience, seed=config.seed),
        fine_tune_epochs=int(fine_tune_epochs), fine_tune_learning_rate=float(fine_tune_learning_rate),
    )
    return RunConfig(data=config.data, model=model, train=train, run_dir=run_dir)

