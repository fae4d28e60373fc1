"""Optimizers and learning-rate schedules for one training phase.

Each phase of the recipe gets a NEW optimizer (fresh moments) and its own
schedule that runs over that phase's steps only, so fine-tuning starts at
``fine_tune_learning_rate`` whatever phase 1 did.
"""

from __future__ import annotations

import keras

from tlstudio.config import TrainConfig
from tlstudio.errors import ConfigError


def make_schedule(
    train: TrainConfig,
    learning_rate: float,
    steps_per_epoch: int,
    epochs: int,
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """The learning rate, or schedule, of one phase.

    Args:
        train: The training config (``schedule``, ``step_every``, ``step_gamma``).
        learning_rate: The phase's initial learning rate.
        steps_per_epoch: Training batches per epoch.
        epochs: Epochs in the phase.

    Returns:
        ``learning_rate`` itself for ``"constant"``; a
        :class:`keras.optimizers.schedules.CosineDecay` over the phase's steps
        (decaying to 0 at its last step) for ``"cosine"``; an
        :class:`keras.optimizers.schedules.ExponentialDecay` with
        ``staircase=True`` that multiplies by ``step_gamma`` every
        ``step_every`` epochs for ``"step"``.
    """
    steps_per_epoch = max(1, int(steps_per_epoch))
    if train.schedule == "constant":
        return float(learning_rate)
    if train.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=float(learning_rate),
            decay_steps=max(1, steps_per_epoch * max(1, epochs)),
        )
    if train.schedule == "step":
        return keras.optimizers.schedules.ExponentialDecay(
            initial_learning_rate=float(learning_rate),
            decay_steps=max(1, steps_per_epoch * max(1, train.step_every)),
            decay_rate=float(train.step_gamma),
            staircase=True,
        )
    raise ConfigError(f"unknown learning-rate schedule. Received: schedule={train.schedule!r}")


def make_optimizer(
    train: TrainConfig,
    learning_rate: float,
    steps_per_epoch: int,
    epochs: int,
) -> keras.optimizers.Optimizer:
    """A new optimizer for one phase.

    ``"adam"`` is :class:`keras.optimizers.Adam`, ``"sgd"`` is
    :class:`keras.optimizers.SGD` with ``momentum``, ``"adamw"`` is
    :class:`keras.optimizers.AdamW` with ``weight_decay``.
    """
    lr = make_schedule(train, learning_rate, steps_per_epoch, epochs)
    if train.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=lr)
    if train.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=float(train.momentum))
    if train.optimizer == "adamw":
        return keras.optimizers.AdamW(learning_rate=lr, weight_decay=float(train.weight_decay))
    raise ConfigError(f"unknown optimizer. Received: optimizer={train.optimizer!r}")


def current_learning_rate(optimizer: keras.optimizers.Optimizer | None) -> float:
    """The learning rate the optimizer uses for its next step, as a float."""
    if optimizer is None:
        return float("nan")
    try:
        return float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    except Exception:  # noqa: BLE001 - an exotic optimizer must not break reporting
        return float("nan")
