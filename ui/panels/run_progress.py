"""The Train page's progress bar, time left and throughput, and the feature-cache notice.

The bar counts batches over the whole run (a resumed run's earlier epochs
included); before the first batch it counts the engine's preparation stages
(``Progress`` events). The time left comes from :class:`~ui.jobs.train_eta.EtaClock`.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QProgressBar, QVBoxLayout, QWidget

from tlstudio.events import BatchEnd, EpochEnd, PhaseChanged, Progress, RunStarted, Validating
from ui.jobs.train_eta import EtaClock
from ui.jobs.train_text import format_duration

STAGE_LABELS = {
    "validate": "Checking images",
    "features": "Computing backbone features",
    "pixels": "Decoding images once into the cache",
    "probe": "Transfer probe",
    "sweep": "Head sweep",
}
"""Progress-bar text of the engine's ``Progress`` stages before the first batch."""

ENDED = {"cancelled": "Cancelled", "failed": "Failed"}
"""The bar's text when a run ended other than finished."""


class RunProgress(QWidget):
    """Progress of one run session, from the engine's events.

    Attributes:
        bar: The progress bar (``TrainProgress``).
        speed_label: Time left and images per second, beneath the bar.
        cache_label: Says that phase 1 trains on cached backbone features.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setObjectName("TrainProgress")
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.bar.setFormat("Idle")
        self.bar.setToolTip("Batches done over the whole run")
        self.speed_label = QLabel()
        self.speed_label.setObjectName("TrainSpeed")
        self.speed_label.setToolTip("Estimated time left and training throughput")
        self.speed_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.speed_label.setMinimumHeight(self.speed_label.fontMetrics().height())  # no jump when text appears
        self.cache_label = QLabel()
        self.cache_label.setObjectName("FeatureCacheNotice")
        self.cache_label.setWordWrap(True)
        self.cache_label.setVisible(False)
        self.cache_label.setToolTip(
            "With the backbone frozen and no augmentation, phase 1 computes the backbone's features once "
            "and trains the head on them: much faster, same result."
        )
        self.cache_label.setStyleSheet("background: #e8f1fb; border: 1px solid #9cc3ea; border-radius: 3px; padding: 3px;")
        # the bar has the whole width to itself: its text ("Phase 2 · epoch 7/7 · validating 3/8… · 96%")
        # fits at 1024 px, and the ETA appearing beneath it never changes its width
        bar_rows = QVBoxLayout()
        bar_rows.setSpacing(1)
        bar_rows.addWidget(self.bar)
        bar_rows.addWidget(self.speed_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar_rows)
        layout.addWidget(self.cache_label)

        self._plan: RunStarted | None = None
        self._t_first_batch: float | None = None
        self._first_step = 0
        self._epoch_offset = 0  # global index of the session's first epoch (a resumed run's earlier epochs)
        self._session_started = False  # the first PhaseChanged of the session has arrived
        self._eta: EtaClock | None = None
        self._images_per_sec = 0.0

    @property
    def plan(self) -> RunStarted | None:
        """The session's plan (its ``RunStarted`` event), None before it arrived."""
        return self._plan

    # ------------------------------------------------------------ a session

    def preparing(self) -> None:
        """A session was submitted: busy until ``RunStarted`` gives the number of steps."""
        self._plan = None
        self._t_first_batch = None
        self._epoch_offset = 0
        self._session_started = False
        self._eta = None
        self.cache_label.setVisible(False)
        self.bar.setRange(0, 0)
        self.bar.setFormat("Preparing data…")
        self.speed_label.setText("")

    def ended(self, status: str, elapsed: float = 0.0) -> None:
        """The run ended: ``"finished"``, ``"cancelled"`` or ``"failed"``; ``elapsed`` seconds under the bar (0: none)."""
        self.bar.setRange(0, 1)
        self.bar.setValue(0 if status == "failed" else 1)
        self.bar.setFormat(ENDED.get(status, "Finished"))
        self.speed_label.setText(f"took {format_duration(elapsed)}" if elapsed else "")

    # ---------------------------------------------------------------- events

    def run_started(self, event: RunStarted) -> None:
        self._plan = event
        total = max(1, event.total_epochs * event.steps_per_epoch)
        self.bar.setRange(0, total)
        self.bar.setValue(0)
        self.bar.setFormat("Starting…")
        if event.feature_cache:
            self.cache_label.setText(
                "Feature cache in use: phase 1 computes the frozen backbone's features once and trains the head "
                "on them, so its epochs are much faster."
            )
            self.cache_label.setVisible(True)

    def phase_changed(self, event: PhaseChanged) -> None:
        if not self._session_started:
            # the session's first phase says where it starts: a resumed run's earlier epochs come first
            self._session_started = True
            self._epoch_offset = int(event.first_epoch)
            plan = self._plan
            if plan is not None:
                self._eta = EtaClock(self._total_epochs(), self._epoch_offset, plan.steps_per_epoch, plan.validation_steps)
                self.bar.setRange(0, max(1, self._total_epochs() * max(1, plan.steps_per_epoch)))
                self.bar.setValue(self._epoch_offset * max(1, plan.steps_per_epoch))
        if self._eta is not None:
            self._eta.phase_changed(event.phase)
        if event.phase == 2:
            self.cache_label.setVisible(False)

    def _total_epochs(self, fallback: int = 1) -> int:
        """Epochs of the whole run: this session's plan after the epochs earlier sessions completed."""
        plan = self._plan
        return self._epoch_offset + plan.total_epochs if plan is not None else fallback

    def batch(self, event: BatchEnd) -> None:
        now = time.monotonic()
        if self._t_first_batch is None:
            self._t_first_batch, self._first_step = now, event.global_step
        total_epochs = max(self._total_epochs(event.epoch + 1), event.epoch + 1)
        steps = max(1, event.steps)
        done_steps = event.epoch * steps + event.batch + 1
        total = max(1, total_epochs * steps)
        if self.bar.maximum() != total:
            self.bar.setRange(0, total)
        self.bar.setValue(min(done_steps, total))
        self.bar.setFormat(
            f"Phase {event.phase} · epoch {event.epoch + 1}/{total_epochs} · batch {event.batch + 1}/{steps} · %p%"
        )
        if self._eta is None:
            plan = self._plan
            self._eta = EtaClock(total_epochs, self._epoch_offset, steps, plan.validation_steps if plan else 0)
            self._eta.phase_changed(event.phase)
        self._eta.batch(now, event.epoch, event.batch, event.global_step)
        self._show_speed(now, event.images_per_sec)

    def _show_speed(self, now: float, images_per_sec: float | None = None) -> None:
        """The ETA (and, from batches, the throughput) beneath the bar."""
        if images_per_sec is not None:
            self._images_per_sec = images_per_sec
        parts = []
        left = self._eta.seconds_left(now) if self._eta is not None else None
        if left is not None:
            parts.append(f"ETA {format_duration(left)}")
        if self._images_per_sec > 0:
            parts.append(f"{self._images_per_sec:,.0f} images/s")
        self.speed_label.setText(" · ".join(parts))

    def validating(self, event: Validating) -> None:
        now = time.monotonic()
        plan = self._plan
        steps = event.steps or (plan.validation_steps if plan is not None else 0)
        total_epochs = max(self._total_epochs(event.epoch + 1), event.epoch + 1)
        done = f" {min(event.batch, steps)}/{steps}" if steps else ""
        self.bar.setFormat(f"Phase {event.phase} · epoch {event.epoch + 1}/{total_epochs} · validating{done}… · %p%")
        if self._eta is not None:
            self._eta.validating(now)
            self._show_speed(now)

    def epoch_end(self, event: EpochEnd) -> None:
        if self._eta is not None:
            self._eta.epoch_end(time.monotonic(), event.epoch)

    def stage(self, event: Progress) -> None:
        """A preparation stage's progress, shown until the first batch."""
        if event.total > 0 and self._t_first_batch is None:
            self.bar.setRange(0, event.total)
            self.bar.setValue(min(event.done, event.total))
            label = STAGE_LABELS.get(event.stage, event.stage)
            self.bar.setFormat(f"{label} %v/%m")
