"""The Train page's jobs: the run config to start, the plan of a resume, and a typed view of how a run ended.

The page asks these functions for what to submit through the engine client
(the ``"train"`` job, :func:`tlstudio.jobs.train.train`) and shows what they
return. They refuse with :class:`JobRefused`, whose message is written for the
error dialog: a settings problem says what the settings got wrong, anything
else says that the run could not be prepared, with the traceback as details.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from tlstudio.config import RunConfig, TrainConfig
from tlstudio.errors import ConfigError
from tlstudio.run_folders import LAST_WEIGHTS, load_history, load_run_config, resume_config
from ui.forms import INVALID_INPUT
from ui.jobs.train_text import resume_message
from ui.worker import format_error

if TYPE_CHECKING:
    from ui.state import AppState


class JobRefused(Exception):
    """A run the page asked for cannot start.

    Args:
        message: One readable line for the error dialog.
        details: More text for the dialog's details (a traceback), or ``""``.
    """

    def __init__(self, message: str, details: str = ""):
        super().__init__(message)
        self.message = message
        self.details = details


@dataclass(frozen=True)
class ResumeSession:
    """What a resume submits and records.

    Attributes:
        run_dir: The run folder that continues.
        config: What the engine runs: the run's settings with the epochs this session trains.
        recorded: The run's own settings, as its ``run_config.json`` holds them (what the project records).
        history: The epochs the run completed before, as its ``history.json`` lists them.
        message: The first log line of the session (:func:`~ui.jobs.train_text.resume_message`).
    """

    run_dir: str
    config: RunConfig
    recorded: RunConfig
    history: tuple[Mapping[str, Any], ...]
    message: str


def start_config(state: AppState, read_train: Callable[[], TrainConfig]) -> RunConfig:
    """The run config of a new run: the Data and Model pages' configs with the training settings the widgets show.

    The settings read are stored in ``state`` first (as every edit is).

    Args:
        state: The shared application state.
        read_train: Returns the :class:`~tlstudio.config.TrainConfig` the widgets show; raises when they disagree.

    Raises:
        JobRefused: no dataset is open, the settings are not valid (the
            validation message, e.g. "at least one epoch"), or the run
            config could not be built for another reason (with its traceback).
    """
    if not state.data_config.root:
        raise JobRefused("Open a dataset on the Data page before training.")
    if state.dataset_refused:
        raise JobRefused(f"Nothing to train on: {state.dataset_refused} Open another folder on the Data page.")
    try:
        state.set_train_config(read_train())  # raises when the widgets disagree (0 + 0 epochs)
        return state.run_config()
    except INVALID_INPUT as exc:  # a ConfigError is written for people
        raise JobRefused(f"The training settings are not valid: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - not a settings problem: say so, with the traceback
        message, details = format_error(exc)
        raise JobRefused(f"The run could not be prepared: {message}", details) from exc


def resume_plan(run_dir: str, *, epochs: int, fine_tune_epochs: int) -> ResumeSession:
    """Plan the continuation of the run in ``run_dir`` from its last checkpoint.

    A run with epochs left trains those; a run whose plan is complete trains
    ``epochs`` and ``fine_tune_epochs`` more (the page's settings).

    Raises:
        JobRefused: the folder does not exist, has no checkpoint, or its files cannot be read.
    """
    run_dir = str(run_dir)
    if not Path(run_dir).is_dir():
        raise JobRefused(f"Cannot resume the run in {run_dir}: the folder does not exist.")
    if not (Path(run_dir) / LAST_WEIGHTS).is_file():
        raise JobRefused(
            f"Cannot resume the run in {run_dir}: it has no checkpoint ({LAST_WEIGHTS}); "
            "the run stopped before its first epoch ended."
        )
    extended = False
    try:
        recorded = load_run_config(run_dir)  # the run's own settings, as run_config.json holds them
        history = load_history(run_dir)
        try:
            config = resume_config(run_dir)  # the epochs the run has left
        except ConfigError:
            # the run completed its plan: train the epochs set on the page on top of it
            config = resume_config(run_dir, epochs=epochs, fine_tune_epochs=fine_tune_epochs)
            extended = True
    except Exception as exc:  # noqa: BLE001 - any unreadable file: the dialog shows which and why
        message, details = format_error(exc)
        raise JobRefused(f"Cannot resume the run in {run_dir}: {message}", details) from exc
    plan = config.resume_plan  # the planned epochs stay in config.train; what this session trains is here
    message = resume_message(run_dir, len(history), plan.remaining_epochs, plan.remaining_fine_tune_epochs, extended)
    return ResumeSession(run_dir=run_dir, config=config, recorded=recorded, history=tuple(history), message=message)
