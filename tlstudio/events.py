"""Events that long-running engine work sends to its reporter.

Every long function in the engine takes ``sink``, a plain callable that
receives these frozen dataclasses, and ``cancel``, a :class:`~tlstudio.cancel.CancelToken`.
The CLI prints them; the GUI re-emits them as Qt signals from its worker thread.

A sink must be cheap and must not raise; the engine calls it from the thread
doing the work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

Sink = Callable[[object], None]


def null_sink(event: object) -> None:
    """A sink that ignores every event."""


@dataclass(frozen=True)
class Progress:
    """Generic progress of a stage that is not a training epoch.

    Attributes:
        stage: Short machine name, e.g. ``"validate"``, ``"features"``, ``"export"``.
        done: Units finished so far.
        total: Units in all (0 when unknown).
        message: One human-readable line.
    """

    stage: str
    done: int
    total: int
    message: str = ""


@dataclass(frozen=True)
class LogMessage:
    """A line for the log pane (level is ``"info"``, ``"warning"`` or ``"error"``)."""

    message: str
    level: str = "info"


@dataclass(frozen=True)
class PhasePlan:
    """One phase of the two-phase recipe as planned at run start."""

    index: int  # 1 = head training, 2 = fine-tuning
    name: str  # "head" or "fine_tune"
    epochs: int
    learning_rate: float
    trainable_params: int
    non_trainable_params: int


@dataclass(frozen=True)
class RunStarted:
    """A training run began.

    Attributes:
        run_dir: Folder where the run writes its outputs.
        class_names: Class names in label order.
        phases: The planned phases.
        total_epochs: Sum of the phases' epochs.
        steps_per_epoch: Training batches per epoch.
        validation_steps: Validation batches per epoch (0 when there is no validation split).
        num_train: Training images.
        num_val: Validation images.
        batch_size: Global batch size.
        feature_cache: True when phase 1 trains the head on cached backbone features.
        devices: Human-readable description of the devices and strategy in use.
    """

    run_dir: str
    class_names: tuple[str, ...]
    phases: tuple[PhasePlan, ...]
    total_epochs: int
    steps_per_epoch: int
    validation_steps: int
    num_train: int
    num_val: int
    batch_size: int
    feature_cache: bool = False
    devices: str = "CPU"


@dataclass(frozen=True)
class PhaseChanged:
    """Training moved into a phase (sent at the start of every phase, including the first)."""

    phase: int
    name: str
    first_epoch: int  # global, 0-based epoch index where this phase starts
    epochs: int
    learning_rate: float
    trainable_params: int
    non_trainable_params: int


@dataclass(frozen=True)
class BatchEnd:
    """A training batch finished.

    Attributes:
        phase: 1 or 2.
        epoch: Global 0-based epoch index.
        batch: 0-based batch index within the epoch.
        steps: Batches in this epoch.
        global_step: Batches finished since the run started (1-based).
        loss: Running mean loss over the epoch so far, as Keras reports it.
        accuracy: Running mean accuracy over the epoch so far.
        learning_rate: Learning rate used for this batch.
        images_per_sec: Throughput over recent batches.
    """

    phase: int
    epoch: int
    batch: int
    steps: int
    global_step: int
    loss: float
    accuracy: float
    learning_rate: float
    images_per_sec: float


@dataclass(frozen=True)
class EpochEnd:
    """An epoch finished; ``metrics`` holds loss/accuracy and val_loss/val_accuracy."""

    phase: int
    epoch: int
    metrics: Mapping[str, float]
    learning_rate: float
    seconds: float


@dataclass(frozen=True)
class Validating:
    """The validation pass at the end of an epoch is running.

    Sent once when validation starts (``batch=0``) and after each validation
    batch, so a progress display can say "validating" instead of sitting on
    the last training batch.

    Attributes:
        phase: 1 or 2.
        epoch: Global 0-based epoch index being validated.
        batch: Validation batches finished so far (0 at the start).
        steps: Validation batches in all (0 when unknown).
    """

    phase: int
    epoch: int
    batch: int
    steps: int


@dataclass(frozen=True)
class TrainingAdvice:
    """The run shows a sign that it is not learning well, and what to try.

    Sent at most once per ``code`` and run session (see
    :mod:`tlstudio.training.advice`); it never stops the run.

    Attributes:
        code: Machine name of the rule, e.g. ``"high_initial_loss"``, ``"chance_accuracy"``,
            ``"divergent_loss"``, ``"overfitting"``.
        title: A few words for a badge, e.g. ``"Loss far above chance"``.
        message: What was seen, with the figures.
        suggestion: What to try, concretely.
        epoch: Global 0-based epoch index where it was seen.
        withdrawn: True when later epochs disproved an earlier advice of this
            ``code``: ``message`` says what was seen; a front end removes it.
    """

    code: str
    title: str
    message: str
    suggestion: str
    epoch: int
    withdrawn: bool = False


@dataclass(frozen=True)
class CheckpointSaved:
    """The best-so-far checkpoint was written."""

    path: str
    epoch: int
    monitor: str
    value: float


@dataclass(frozen=True)
class RunFinished:
    """A run ended: normally, by cancellation, or by an error.

    Attributes:
        cancelled: True when the user cancelled.
        error: One-line, human-readable error, or None.
        error_details: Full traceback text for a "details" expander, or None.
        best_metrics: Metrics of the best epoch (by the monitored value).
        model_path: Saved usable model (best checkpoint, or current weights), or None.
        run_dir: The run folder.
        epochs_completed: Epochs fully completed, over both phases.
    """

    cancelled: bool
    error: str | None
    error_details: str | None = None
    best_metrics: Mapping[str, float] = field(default_factory=dict)
    model_path: str | None = None
    run_dir: str | None = None
    epochs_completed: int = 0


def event_to_dict(event: Any) -> dict[str, Any]:
    """Convert an event into a JSON-friendly dict with a ``type`` key."""
    from dataclasses import asdict

    data = asdict(event)
    data["type"] = type(event).__name__
    return data
