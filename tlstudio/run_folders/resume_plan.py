"""Resuming a run: what is left of its plan, and the config that continues it.

A run's :class:`~tlstudio.config.TrainConfig` always holds its *planned*
epochs. The epochs a resumed session trains are a separate
:class:`~tlstudio.config.ResumePlan`, carried as ``RunConfig.resume_plan``.

This module is light (no TensorFlow): the GUI resumes runs with it.
"""

from __future__ import annotations

import dataclasses
import os

from tlstudio.config import ResumePlan, RunConfig
from tlstudio.errors import ConfigError
from tlstudio.run_folders.run_files import load_history, load_run_config


def epochs_done(history: list[dict]) -> tuple[int, int]:
    """Epochs completed per phase: ``(head epochs, fine-tune epochs)``."""
    done = {1: 0, 2: 0}
    for entry in history:
        phase = int(entry.get("phase", 1))
        done[phase] = done.get(phase, 0) + 1
    return done[1], done[2]


def plan_resume(
    config: RunConfig,
    history: list[dict],
    *,
    epochs: int | None = None,
    fine_tune_epochs: int | None = None,
    where: str | os.PathLike = "the run",
) -> ResumePlan:
    """The epochs a resumed session trains.

    Args:
        config: The run's own config (``run_config.json``).
        history: The epochs the run completed (``history.json``).
        epochs: More head-training (phase 1) epochs. None means what is left
            of the plan (none once phase 2 has started).
        fine_tune_epochs: More fine-tuning (phase 2) epochs. None means what is
            left of the plan.
        where: The run folder, for the message.

    Raises:
        ConfigError: the plan is complete and no more epochs were asked for.
    """
    head_done, fine_done = epochs_done(history)
    train = config.train
    if epochs is None:
        epochs = max(0, train.epochs - head_done) if fine_done == 0 else 0
    if fine_tune_epochs is None:
        fine_tune_epochs = max(0, train.fine_tune_epochs - fine_done)
    if epochs + fine_tune_epochs < 1:
        raise ConfigError(
            f"the run in {where} already completed its {len(history)} planned epochs; "
            f"ask for more epochs to resume it. Received: epochs={epochs}, fine_tune_epochs={fine_tune_epochs}"
        )
    return ResumePlan(
        epochs_done=head_done,
        fine_tune_epochs_done=fine_done,
        remaining_epochs=epochs,
        remaining_fine_tune_epochs=fine_tune_epochs,
    )


def resume_config(
    run_dir: str | os.PathLike,
    *,
    epochs: int | None = None,
    fine_tune_epochs: int | None = None,
) -> RunConfig:
    """A :class:`RunConfig` that continues the run in ``run_dir``.

    The run's own config is reused, with ``resume_from`` and ``run_dir`` set to
    the folder, so the new session loads ``last.weights.h5``, continues the
    epoch numbering and appends to ``history.json``. ``train.epochs`` and
    ``train.fine_tune_epochs`` stay the planned epochs (grown when more are
    asked for than the plan has left); ``resume_plan`` says what this session trains.

    Args:
        run_dir: A run folder written by :func:`~tlstudio.training.run_training`.
        epochs: More head-training (phase 1) epochs. None means what is left
            of the original plan.
        fine_tune_epochs: More fine-tuning (phase 2) epochs. None means what is
            left of the original plan.

    Raises:
        ProjectError: when ``run_dir`` is not a run folder or its files are damaged.
        ConfigError: when the original plan is complete and no more epochs were asked for.
    """
    config = load_run_config(run_dir)
    history = load_history(run_dir)
    plan = plan_resume(config, history, epochs=epochs, fine_tune_epochs=fine_tune_epochs, where=run_dir)
    train = dataclasses.replace(
        config.train,
        epochs=max(config.train.epochs, plan.epochs_done + plan.remaining_epochs),
        fine_tune_epochs=max(config.train.fine_tune_epochs, plan.fine_tune_epochs_done + plan.remaining_fine_tune_epochs),
    )
    return dataclasses.replace(config, train=train, run_dir=str(run_dir), resume_from=str(run_dir), resume_plan=plan)
