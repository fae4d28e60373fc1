"""The Train page's time-left estimate: training batches and validation passes timed apart.

A run's time goes to training batches and, at the end of every epoch, to a
validation pass. Timing them together makes the estimate jump after the first
epoch, when the first validation suddenly enters the average (1:38 -> 3:38 in
one walk-through). :class:`EtaClock` times training steps only between
batches of the same epoch, times each validation pass from its
:class:`~tlstudio.events.Validating` start to the epoch's end, and adds the
validations still ahead. Before the first validation was timed, one is
estimated from the training step time (:data:`VALIDATION_COST`).

Pure Python, no Qt: the page passes ``time.monotonic()`` readings in.
"""

from __future__ import annotations

VALIDATION_COST = {1: 1.0, 2: 0.5}
"""A validation batch's time relative to a training step, per phase, until one is measured.

Phase 1 trains only the head (the frozen backbone's forward pass dominates
both); phase 2 also back-propagates through the backbone, so a training step
costs about twice a forward pass.
"""


class EtaClock:
    """Time-left estimate for one run session.

    Args:
        total_epochs: Epochs of the whole run, earlier sessions included.
        first_epoch: Global index of this session's first epoch (a resumed run's earlier epochs).
        steps: Training batches per epoch.
        validation_steps: Validation batches per epoch (0: no validation).
    """

    def __init__(self, total_epochs: int, first_epoch: int, steps: int, validation_steps: int):
        self.total_epochs = int(total_epochs)
        self.first_epoch = int(first_epoch)
        self.steps = max(1, int(steps))
        self.validation_steps = max(0, int(validation_steps))
        self.phase = 1
        self._last: tuple[float, int, int] | None = None  # time, epoch, global step
        self._train_seconds = 0.0
        self._train_steps = 0
        self._val_started: float | None = None
        self._val_seconds: list[float] = []
        self._epoch = self.first_epoch
        self._batch = -1

    def phase_changed(self, phase: int) -> None:
        """A new phase starts: its steps cost differently, so time them afresh."""
        self.phase = int(phase)
        self._last = None
        self._train_seconds, self._train_steps = 0.0, 0
        self._val_seconds = []
        self._val_started = None

    def batch(self, now: float, epoch: int, batch: int, global_step: int) -> None:
        """A training batch finished (``global_step`` counts batches since the session started)."""
        last = self._last
        if last is not None and last[1] == epoch and global_step > last[2]:
            self._train_seconds += now - last[0]
            self._train_steps += global_step - last[2]
        self._last = (now, int(epoch), int(global_step))
        self._epoch, self._batch = int(epoch), int(batch)
        self._val_started = None

    def validating(self, now: float) -> None:
        """The epoch's validation pass started (later calls during the same pass are ignored)."""
        if self._val_started is None:
            self._val_started = now

    def epoch_end(self, now: float, epoch: int) -> None:
        """An epoch ended: its validation pass, if any, is timed."""
        if self._val_started is not None:
            self._val_seconds.append(now - self._val_started)
        self._val_started = None
        self._epoch, self._batch = int(epoch) + 1, -1
        self._last = None  # the gap to the next epoch's first batch is not training time

    def step_seconds(self) -> float | None:
        """Seconds per training step in this phase, None until two batches were timed."""
        return self._train_seconds / self._train_steps if self._train_steps else None

    def validation_seconds(self) -> float | None:
        """Seconds per validation pass (measured, else estimated), None without any timing."""
        if not self.validation_steps:
            return 0.0
        if self._val_seconds:
            recent = self._val_seconds[-3:]
            return sum(recent) / len(recent)
        step = self.step_seconds()
        return None if step is None else step * self.validation_steps * VALIDATION_COST.get(self.phase, 1.0)

    def seconds_left(self, now: float) -> float | None:
        """Estimated seconds until the run ends, or None until there is a rate to go by."""
        step, val = self.step_seconds(), self.validation_seconds()
        if step is None or val is None:
            return None
        epochs_left = max(0, self.total_epochs - self._epoch)  # the current epoch included
        steps_left = max(0, epochs_left * self.steps - (self._batch + 1))
        seconds = steps_left * step + epochs_left * val
        if self._val_started is not None:  # validating: the current pass is partly done
            seconds -= min(val, now - self._val_started)
        return max(0.0, seconds)
