"""Keras callbacks that turn ``fit`` into tlstudio events, checkpoints and cancellation.

One :class:`RunState` is shared by the callbacks of every phase of a run: it
holds the history, the best value so far and whether the run was cancelled.
The callbacks are meant to be passed to ``fit`` in this order::

    [EventCallback, CancelCallback, CheckpointCallback, PhaseEarlyStopping, ScalarLogger]

so that a cancel asked for while handling a ``BatchEnd`` stops after that batch,
and an epoch cut short by a cancel is neither reported nor checkpointed.
"""

from __future__ import annotations

import logging
import math
import errno
import os
import time
import warnings
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import keras
import numpy as np

from tlstudio.cancel import CancelToken
from tlstudio.compat import without_optimizers
from tlstudio.events import BatchEnd, CheckpointSaved, EpochEnd, Sink, Validating
from tlstudio.io.atomic import atomic_path
from tlstudio.training import saveguard
from tlstudio.training.optimizers import current_learning_rate
from tlstudio.run_folders.run_files import WEIGHTS_EPOCHS_ATTR
from tlstudio.training.result import write_json

logger = logging.getLogger(__name__)

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")

VALIDATING_INTERVAL = 0.1
"""Seconds between two :class:`~tlstudio.events.Validating` events (the first and last always go)."""


def safe_sink(sink: Sink) -> Sink:
    """Wrap ``sink`` so that an exception inside it is logged, never raised.

    A broken progress display must not kill a training run. Each distinct
    failure is logged once with its traceback.
    """
    seen: set[str] = set()

    def wrapped(event: object) -> None:
        try:
            sink(event)
        except Exception as exc:  # noqa: BLE001 - the whole point
            key = f"{type(exc).__name__}: {exc}"
            if key not in seen:
                seen.add(key)
                logger.warning("event sink raised on %s; the run goes on", type(event).__name__, exc_info=True)

    return wrapped


def save_weights(model, path: str, epochs: int | None = None) -> None:
    """``model.save_weights(path)`` without optimizer state, atomically.

    See :func:`tlstudio.compat.without_optimizers`. A disk without the room
    for a whole new copy is refused first (:class:`~tlstudio.training.disk_space.DiskFullError`,
    naming the folder and both sizes). The file is written
    under a temporary name and renamed into place
    (:func:`tlstudio.io.atomic.atomic_path`), so a run killed mid-checkpoint
    keeps its previous checkpoint whole. A second Ctrl-C waits for it
    (:func:`tlstudio.training.saveguard.saving`).

    Args:
        model: The model whose weights are saved.
        path: The ``.weights.h5`` file.
        epochs: Epochs completed, stored as the root attribute
            :data:`~tlstudio.run_folders.WEIGHTS_EPOCHS_ATTR` so that a
            resume can check ``history.json`` against the weights.
    """
    from tlstudio.training.disk_space import DiskFullError, check_free, checkpoint_needs, release_h5

    # Refused before h5py starts: on a full disk it fails half way and leaves HDF5 handles that crash the exit.
    check_free(os.path.dirname(os.path.abspath(path)), checkpoint_needs(path, model), f"the checkpoint {os.path.basename(path)}")
    with saveguard.saving(), without_optimizers(model), atomic_path(path) as tmp:
        try:
            model.save_weights(str(tmp), overwrite=True)
            if epochs is not None:
                import h5py

                with h5py.File(tmp, "a") as fh:
                    fh.attrs[WEIGHTS_EPOCHS_ATTR] = int(epochs)
        except BaseException as exc:
            release_h5(tmp)  # the disk filled during the write
            if isinstance(exc, OSError) and (exc.errno == errno.ENOSPC or "No space left" in str(exc)):
                raise DiskFullError(
                    errno.ENOSPC,
                    f"the disk of {os.path.dirname(os.path.abspath(path))} filled up while the checkpoint "
                    f"{os.path.basename(path)} was written; the previous one is kept. Free some space, then resume the run. "
                    f"Received: No space left on device",
                ) from exc
            raise


def weights_epochs(path: str | os.PathLike) -> int | None:
    """The epochs count stored in a weights file by :func:`save_weights`; None when absent or unreadable."""
    import h5py

    try:
        with h5py.File(path, "r") as fh:
            value = fh.attrs.get(WEIGHTS_EPOCHS_ATTR)
    except (OSError, ValueError) as exc:
        logger.warning("cannot read the epoch count of %s: %s", path, exc)
        return None
    return None if value is None else int(value)


def load_weights(model, path: str) -> None:
    """``model.load_weights(path)``, quiet about the optimizer state the file does not hold."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*optimizer.*")
        model.load_weights(path)


def is_better(value: float, best: float | None, mode: str) -> bool:
    """Whether ``value`` improves on ``best`` (``mode`` is ``"max"`` or ``"min"``)."""
    if value is None or not math.isfinite(value):
        return False
    if best is None:
        return True
    return value > best if mode == "max" else value < best


def monitor_mode(monitor: str) -> str:
    """``"max"`` for accuracy metrics, ``"min"`` for losses."""
    return "min" if monitor.endswith("loss") else "max"


@dataclass
class RunState:
    """Mutable bookkeeping shared by the callbacks of one run.

    Attributes:
        monitor: Metric that chooses the best epoch.
        history: Completed epochs (dicts as written to ``history.json``).
        global_step: Training batches finished so far in this session.
        cancelled: Set by :class:`CancelCallback` when the token fires.
        best_value: Best monitored value so far (over earlier sessions too).
        best_metrics: The epoch entry where ``best_value`` was reached.
        phase: Current phase (1 or 2).
        epochs_saved: Leading entries of ``history`` whose weights are in
            ``last.weights.h5``; ``history.json`` never holds more.
        advisor: The run's :class:`tlstudio.training.advice.Advisor` (made by the first
            :class:`EventCallback`; shared by the phases so each advice is given once).
        augmentation: Whether the run augments its training images (None: unknown).
        class_counts: Training images per class, in label order (empty: unknown); the
            advisor's chance accuracy takes the class balance from them.
    """

    monitor: str = "val_accuracy"
    history: list[dict[str, Any]] = field(default_factory=list)
    global_step: int = 0
    cancelled: bool = False
    best_value: float | None = None
    best_metrics: dict[str, Any] = field(default_factory=dict)
    phase: int = 1
    advisor: Any = None
    augmentation: bool | None = None
    epochs_saved: int = 0
    class_counts: tuple[int, ...] = ()

    @property
    def mode(self) -> str:
        return monitor_mode(self.monitor)

    @property
    def epochs_completed(self) -> int:
        return len(self.history)


def _float(value: Any) -> float:
    try:
        return float(np.asarray(value))
    except (TypeError, ValueError):
        return float("nan")


class CancelCallback(keras.callbacks.Callback):
    """Stops ``fit`` within one batch once ``cancel`` fires.

    Checks the token after every training batch (and every validation batch,
    so a cancel during validation does not wait for the whole validation set).

    Across several workers a worker may not stop alone: the others would wait
    in the next collective until TensorFlow gives up on it. With ``agree``
    (:func:`tlstudio.training.strategy.any_worker`) every check asks all the
    workers, so a cancel on any of them (Ctrl-C, SIGTERM) stops all of them
    after the same batch, and each cancels its own token.

    Args:
        cancel: The run's token.
        state: Shared run state (``cancelled`` is set here).
        agree: Maps this worker's flag to "some worker was cancelled"; None on one machine.
    """

    def __init__(self, cancel: CancelToken, state: RunState, agree: Callable[[bool], bool] | None = None):
        super().__init__()
        self.cancel = cancel
        self.state = state
        self.agree = agree

    def _check(self) -> bool:
        cancelled = self.cancel.cancelled
        if self.agree is not None and self.agree(cancelled) and not cancelled:
            self.cancel.cancel()  # another worker was cancelled: this one stops with it
            cancelled = True
        if cancelled:
            self.state.cancelled = True
            self.model.stop_training = True
            return True
        return False

    def on_epoch_begin(self, epoch, logs=None):
        self._check()

    def on_train_batch_end(self, batch, logs=None):
        self._check()

    def on_test_batch_end(self, batch, logs=None):
        if self._check():
            self.model.stop_evaluating = True


class EventCallback(keras.callbacks.Callback):
    """Sends :class:`BatchEnd` and :class:`EpochEnd` events and records the history.

    Args:
        sink: Receives the events (wrap it with :func:`safe_sink`).
        state: The run's shared state; completed epochs are appended to ``state.history``.
        phase: 1 (head) or 2 (fine-tuning).
        steps: Training batches per epoch.
        num_samples: Training images per epoch (for the last, smaller batch).
        batch_size: Global batch size.
        optimizer: Returns the optimizer in use (for the learning rate).
        window: Batches over which ``images_per_sec`` is measured.
        validation_steps: Validation batches per epoch, for :class:`Validating` (0: unknown).
    """

    def __init__(
        self,
        sink: Sink,
        state: RunState,
        *,
        phase: int,
        steps: int,
        num_samples: int,
        batch_size: int,
        optimizer: Callable[[], Any],
        window: int = 10,
        validation_steps: int = 0,
    ):
        super().__init__()
        self.sink = sink
        self.validation_steps = int(validation_steps)
        self._val_sent = 0.0
        self.state = state
        self.phase = phase
        self.steps = steps
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.get_optimizer = optimizer
        self._times: deque[tuple[float, int]] = deque(maxlen=window + 1)
        self._epoch_start = 0.0
        self._current_epoch = 0
        self._epoch_lr = float("nan")
        self._batch_lr = float("nan")

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = int(epoch)
        self._epoch_start = time.perf_counter()
        self._times.clear()
        self._times.append((self._epoch_start, 0))
        self._epoch_lr = current_learning_rate(self.get_optimizer())

    def _batch_images(self, batch: int) -> int:
        if self.num_samples <= 0:
            return self.batch_size
        return max(0, min(self.batch_size, self.num_samples - batch * self.batch_size))

    def on_train_batch_begin(self, batch, logs=None):
        self._batch_lr = current_learning_rate(self.get_optimizer())

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        now = time.perf_counter()
        self._times.append((now, self._batch_images(batch)))
        first_t = self._times[0][0]
        images = sum(n for _, n in list(self._times)[1:])
        ips = images / (now - first_t) if now > first_t else 0.0
        self.state.global_step += 1
        self.sink(
            BatchEnd(
                phase=self.phase,
                epoch=int(self._current_epoch),
                batch=int(batch),
                steps=int(self.steps),
                global_step=self.state.global_step,
                loss=_float(logs.get("loss")),
                accuracy=_float(logs.get("accuracy")),
                learning_rate=self._batch_lr,
                images_per_sec=float(ips),
            )
        )
        self._advise(lambda advisor: advisor.batch(epoch=self._current_epoch, batch=int(batch), steps=self.steps, loss=logs.get("loss")))

    def on_epoch_end(self, epoch, logs=None):
        if self.state.cancelled:
            return  # a partial epoch is neither recorded nor reported
        logs = logs or {}
        seconds = time.perf_counter() - self._epoch_start
        entry: dict[str, Any] = {"epoch": int(epoch), "phase": self.phase}
        for key in HISTORY_KEYS:
            if key in logs:
                entry[key] = _float(logs[key])
        entry["lr"] = self._epoch_lr
        entry["seconds"] = round(seconds, 4)
        self.state.history.append(entry)
        metrics = {k: entry[k] for k in HISTORY_KEYS if k in entry}
        self.sink(EpochEnd(phase=self.phase, epoch=int(epoch), metrics=metrics, learning_rate=self._epoch_lr, seconds=seconds))
        self._advise(lambda advisor: advisor.epoch(self.state.history))

    # -- validation progress and advice (kept apart from the batch/epoch reporting above)

    def on_test_begin(self, logs=None):
        self._validating(0, force=True)

    def on_test_batch_end(self, batch, logs=None):
        self._validating(int(batch) + 1)

    def _validating(self, done: int, *, force: bool = False) -> None:
        """Send :class:`Validating`, at most every ``VALIDATING_INTERVAL`` seconds after the first."""
        now = time.perf_counter()
        if not force and now - self._val_sent < VALIDATING_INTERVAL and done != self.validation_steps:
            return
        self._val_sent = now
        self.sink(Validating(phase=self.phase, epoch=int(self._current_epoch), batch=done, steps=int(self.validation_steps)))

    def _advise(self, check: Callable[[Any], list]) -> None:
        """Send the :class:`~tlstudio.events.TrainingAdvice` that ``check(advisor)`` returns.

        The advisor never stops a run: a failure in it is logged and dropped.
        """
        try:
            if self.state.advisor is None:
                from tlstudio.training.advice import Advisor

                self.state.advisor = Advisor(int(self.model.outputs[0].shape[-1]), self.state.augmentation,
                                             class_counts=self.state.class_counts or None)
            for advice in check(self.state.advisor):
                self.sink(advice)
        except Exception:  # noqa: BLE001 - advice is optional, the run is not
            logger.warning("training advice failed; the run goes on without it", exc_info=True)


class CheckpointCallback(keras.callbacks.Callback):
    """Writes ``last.weights.h5`` then the history every epoch, ``best.weights.h5`` on improvement.

    ``history.json`` is written only after the weights it describes, so it is
    never ahead of ``last.weights.h5`` (which records its epoch count, see
    :func:`save_weights`); a run killed between the two writes leaves the
    weights one epoch ahead at most.

    The weights saved are those of ``full_model`` (backbone and head), even
    when ``fit`` trains only the head on cached features: the head's
    variables are shared with the full model.

    With ``defer_writes=True`` (the feature-cache phase, where an epoch takes
    milliseconds but a full VGG checkpoint is tens of megabytes) the best head
    weights are kept in memory and both files are written once, when ``fit``
    ends (also after a cancel), then the history.

    :class:`CheckpointSaved` is sent, and ``state.best_metrics`` updated, only
    once the best checkpoint is on disk (with deferred writes, when ``fit``
    ends): a checkpoint a full disk refused is never claimed.

    Args:
        full_model: The complete model whose weights are saved.
        run_dir: The run folder.
        state: Shared run state (monitor, best value).
        sink: Receives :class:`CheckpointSaved` events.
        best_name: File name of the best checkpoint.
        last_name: File name of the last checkpoint.
        history_name: File name of the history, rewritten every epoch (None: not written).
        defer_writes: Keep checkpoints in memory until the end of ``fit``.
    """

    def __init__(
        self,
        full_model,
        run_dir: str,
        state: RunState,
        sink: Sink,
        *,
        best_name: str,
        last_name: str,
        history_name: str | None = None,
        defer_writes: bool = False,
    ):
        super().__init__()
        self.full_model = full_model
        self.best_path = os.path.join(run_dir, best_name)
        self.last_path = os.path.join(run_dir, last_name)
        self.history_path = os.path.join(run_dir, history_name) if history_name else None
        self.state = state
        self.sink = sink
        self.defer_writes = defer_writes
        self._pending_best = None
        self._epochs_seen = 0

    def on_train_begin(self, logs=None):
        self._pending_best = None
        self._epochs_seen = 0

    def _best_so_far(self) -> float | None:
        """The best value to beat: a pending (deferred, not yet written) best, else the one on disk."""
        return self._pending_best[1] if self._pending_best is not None else self.state.best_value

    def _saved_best(self, value: float, entry: dict, epoch: int) -> None:
        """Record a best checkpoint once its file is on disk, and say so."""
        self.state.best_value = float(value)
        self.state.best_metrics = dict(entry)
        self.sink(CheckpointSaved(path=self.best_path, epoch=int(epoch), monitor=self.state.monitor, value=float(value)))

    def on_epoch_end(self, epoch, logs=None):
        if self.state.cancelled or not self.state.history or self.state.history[-1]["epoch"] != epoch:
            return
        self._epochs_seen += 1
        entry = self.state.history[-1]
        done = len(self.state.history)
        value = entry.get(self.state.monitor)
        improved = value is not None and is_better(value, self._best_so_far(), self.state.mode)
        if self.defer_writes:
            if improved:
                self._pending_best = (self.model.get_weights(), float(value), dict(entry), int(epoch))
            return
        with saveguard.saving():
            save_weights(self.full_model, self.last_path, done)
            self.state.epochs_saved = done
            self._write_history()
            if improved:
                save_weights(self.full_model, self.best_path)
        if improved:  # only now: a best whose file never reached the disk is never claimed
            self._saved_best(value, entry, epoch)

    def _write_history(self) -> None:
        if self.history_path:
            write_json(self.history_path, self.state.history[: self.state.epochs_saved])

    def on_train_end(self, logs=None):
        if not self.defer_writes or not self._epochs_seen:
            return
        done = len(self.state.history)
        pending, self._pending_best = self._pending_best, None
        with saveguard.saving():
            if pending is not None:
                current = self.model.get_weights()
                self.model.set_weights(pending[0])
                try:
                    save_weights(self.full_model, self.best_path)
                finally:
                    self.model.set_weights(current)
                self._saved_best(*pending[1:])
            save_weights(self.full_model, self.last_path, done)
            self.state.epochs_saved = done
            self._write_history()


class PhaseEarlyStopping(keras.callbacks.Callback):
    """Stops a phase when the monitored metric stops improving; restores the phase's best weights.

    Unlike :class:`keras.callbacks.EarlyStopping`, it reads the metric from the
    shared history (so a cancelled, partial epoch never counts) and compares
    only epochs of the current phase.

    Args:
        state: Shared run state (monitor and history).
        patience: Epochs without improvement before stopping.
    """

    def __init__(self, state: RunState, patience: int):
        super().__init__()
        self.state = state
        self.patience = max(1, int(patience))
        self.best: float | None = None
        self.best_weights = None
        self.wait = 0
        self.stopped_epoch: int | None = None

    def on_train_begin(self, logs=None):
        self.best, self.best_weights, self.wait, self.stopped_epoch = None, None, 0, None

    def on_epoch_end(self, epoch, logs=None):
        if self.state.cancelled or not self.state.history or self.state.history[-1]["epoch"] != epoch:
            return
        value = self.state.history[-1].get(self.state.monitor)
        if value is not None and is_better(value, self.best, self.state.mode):
            self.best = float(value)
            self.best_weights = self.model.get_weights()
            self.wait = 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = int(epoch)
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch is not None and self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class ScalarLogger(keras.callbacks.Callback):
    """Writes per-epoch scalars as TensorBoard event files, without the tensorboard package.

    ``keras.callbacks.TensorBoard`` needs the ``tensorboard`` package (not a
    TensorFlow dependency any more). This writes the same layout with
    ``tf.summary.write`` from TensorFlow itself, tagged for the TensorBoard
    scalars plugin: ``logs/train`` gets ``epoch_loss``, ``epoch_accuracy`` and
    ``epoch_learning_rate``; ``logs/validation`` gets ``epoch_loss`` and
    ``epoch_accuracy``. ``tensorboard --logdir RUN_DIR/logs`` shows them.

    Args:
        log_dir: The run's ``logs`` folder.
        state: Shared run state; only completed epochs are written.
    """

    def __init__(self, log_dir: str, state: RunState):
        super().__init__()
        self.log_dir = log_dir
        self.state = state
        self._writers: dict[str, Any] = {}

    def _writer(self, name: str):
        import tensorflow as tf

        if name not in self._writers:
            self._writers[name] = tf.summary.create_file_writer(os.path.join(self.log_dir, name))
        return self._writers[name]

    @staticmethod
    def _metadata():
        from tensorflow.core.framework import summary_pb2

        metadata = summary_pb2.SummaryMetadata()
        metadata.plugin_data.plugin_name = "scalars"
        return metadata

    def on_epoch_end(self, epoch, logs=None):
        if self.state.cancelled or not self.state.history or self.state.history[-1]["epoch"] != epoch:
            return
        import tensorflow as tf

        entry = self.state.history[-1]
        groups = {
            "train": {"epoch_loss": entry.get("loss"), "epoch_accuracy": entry.get("accuracy"), "epoch_learning_rate": entry.get("lr")},
            "validation": {"epoch_loss": entry.get("val_loss"), "epoch_accuracy": entry.get("val_accuracy")},
        }
        metadata = self._metadata()
        for name, scalars in groups.items():
            values = {k: v for k, v in scalars.items() if v is not None and math.isfinite(v)}
            if not values:
                continue
            writer = self._writer(name)
            with writer.as_default():
                for tag, value in values.items():
                    tf.summary.write(tag, tf.constant(float(value), tf.float32), step=int(epoch), metadata=metadata)
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
