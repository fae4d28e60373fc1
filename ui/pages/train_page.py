"""The Train page: hyperparameters, Start / Cancel / Resume, live plots, progress and log.

Training is the engine job ``"train"`` (:func:`tlstudio.jobs.train.train`),
submitted through the one engine client (:mod:`ui.engine`); it runs in the
engine process, and its events arrive here as Qt signals,
batch events throttled to about 20 per second; the plots redraw at most
every 100 ms, and the log pane is capped, so a long run never slows the GUI
down. Cancel sets the run's cancel token: the engine stops within one batch,
saves a usable model and still reports ``RunFinished``.

TensorFlow never runs in the GUI process: its GIL-holding calls (graph
tracing, checkpoint writes, tensor conversions) cannot stall the window.

The engine does not raise for a failed run: it returns a
:class:`~tlstudio.training.RunResult` whose ``error`` is a readable line and
``error_details`` the traceback; both go to the error dialog.

The page is built from panels (:mod:`ui.panels.train_settings`,
:mod:`ui.panels.run_progress`, :mod:`ui.panels.advice_badge`,
:mod:`ui.panels.run_log`); what to submit and how a run ended come from
:mod:`ui.jobs.train_jobs`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSplitter, QVBoxLayout, QWidget

from tlstudio.config import RunConfig, TrainConfig
from tlstudio.events import (
    BatchEnd,
    CheckpointSaved,
    EpochEnd,
    LogMessage,
    PhaseChanged,
    Progress,
    RunFinished,
    RunStarted,
    TrainingAdvice,
    Validating,
)
from tlstudio.project import RunRecord
from tlstudio.api.train import RunResult
from ui.engine import EngineClient, engine
from ui.jobs.run_view import RunView, checkpointed
from ui.jobs.train_jobs import JobRefused, resume_plan, start_config
from ui.jobs.train_text import MONITOR_LABELS, engine_stopped_text, plural, run_summary
from ui.panels.advice_badge import AdviceBadge
from ui.panels.run_log import RunLog
from ui.panels.run_progress import RunProgress
from ui.panels.train_settings import WIDGETS, TrainSettings
from ui.state import AppState
from ui.widgets.plots import TrainingPlots
from ui.widgets.scroll_areas import FormScroll

RIGHT_MARGIN = 8
"""Pixels between the progress bar, plots and log and the window's right edge."""

LOG_SHARE = 0.28
"""Share of the plots-and-log height the log gets at first (the splitter moves it)."""


class TrainPage(QWidget):
    """Set hyperparameters and train with live plots.

    The settings widgets (``epochs_spin``, ``lr_spin``...), the progress bar
    (``progress``, ``speed_label``, ``cache_label``), the advice badge
    (``advice_label``) and the log (``log``) are reachable on the page under
    those names.

    Args:
        state: The shared application state.
        parent: Parent widget.
        client: The engine client that runs the ``"train"`` job (default: the app's, :func:`ui.engine.engine`).

    Signals:
        run_finished(object): the run ended; the :class:`~tlstudio.training.RunResult`
            (None when the worker failed before the engine could return one).
    """

    run_finished = Signal(object)

    def __init__(self, state: AppState, parent: QWidget | None = None, *, client: EngineClient | None = None):
        super().__init__(parent)
        self.setObjectName("TrainPage")
        self.state = state
        self.client = client if client is not None else engine()
        self._result: RunResult | None = None
        self._run_dir = ""
        self._last_finished: RunFinished | None = None
        self._worker_error: tuple[str, str] | None = None

        self.runner = self.client.task(self)
        self.runner.event.connect(self.handle_event)
        self.runner.result.connect(self._on_result)
        self.runner.error.connect(self._on_worker_error)
        self.runner.finished.connect(self._on_finished)

        self._build_ui()
        self._show_config(state.train_config)
        state.train_config_changed.connect(self._show_config)
        state.run_state_changed.connect(self._update_buttons)
        state.data_config_changed.connect(self._update_buttons)
        self._update_buttons()

    # ------------------------------------------------------------------ UI

    def _build_ui(self) -> None:
        title = QLabel("Train")
        title.setObjectName("PageTitle")
        self.settings = TrainSettings(self.state)
        for name in WIDGETS:  # the settings widgets keep their names on the page
            setattr(self, name, getattr(self.settings, name))

        # --- actions
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("PrimaryButton")
        self.start_button.setToolTip("Start training with these settings (F5)")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after the current batch; the model so far is kept (Esc)")
        self.cancel_button.clicked.connect(self.cancel)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip(
            "Continue the last run from its last checkpoint: the epochs it has left, or, when it completed "
            "its plan, the epochs set above"
        )
        self.resume_button.clicked.connect(lambda: self.resume())  # not clicked(bool) into run_dir
        self.start_action = QAction("Start training", self)
        self.start_action.setShortcut(QKeySequence(Qt.Key.Key_F5))
        self.start_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.start_action.triggered.connect(self.start)
        self.addAction(self.start_action)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.resume_button)

        self.summary_label = QLabel("No run yet.")
        self.summary_label.setObjectName("RunSummary")
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.settings)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.summary_label)
        left_layout.addStretch(1)
        left_scroll = FormScroll(left)  # up and down only; as narrow as the settings allow

        # --- progress, plots, log
        self.run_progress = RunProgress()
        self.progress = self.run_progress.bar
        self.speed_label = self.run_progress.speed_label
        self.cache_label = self.run_progress.cache_label
        self.advice_label = AdviceBadge()
        self.plots = TrainingPlots()
        self.log = RunLog()

        right_split = QSplitter(Qt.Orientation.Vertical)
        right_split.addWidget(self.plots)
        right_split.addWidget(self.log)
        right_split.setStretchFactor(0, 4)
        right_split.setStretchFactor(1, 1)
        right_split.setChildrenCollapsible(False)
        self.right_split = right_split
        right = QWidget()
        right_layout = QVBoxLayout(right)
        # A gap from the splitter handle and from the window's right edge.
        right_layout.setContentsMargins(4, 0, RIGHT_MARGIN, 0)
        right_layout.addWidget(self.run_progress)
        right_layout.addWidget(self.advice_label)
        right_layout.addWidget(right_split, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left_scroll)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 3)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([330, 800])

        layout = QVBoxLayout(self)
        layout.addWidget(title)
        from ui.panels.audit_offer import AuditOffer

        self.audit_offer = AuditOffer(self.state)  # issue 13: audit before the first training
        layout.addWidget(self.audit_offer)
        layout.addWidget(splitter, 1)

        self.form = self.settings.bind()
        order = [*self.settings.widgets(), self.start_button, self.cancel_button, self.resume_button, self.log]
        for a, b in zip(order, order[1:]):
            QWidget.setTabOrder(a, b)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if not getattr(self, "_log_sized", False):
            self._log_sized = True
            total = sum(self.right_split.sizes()) or self.right_split.height()
            log = max(self.log.minimumHeight(), int(total * LOG_SHARE))
            self.right_split.setSizes([max(1, total - log), log])

    # -------------------------------------------------------------- config

    def train_config(self) -> TrainConfig:
        """The :class:`TrainConfig` the widgets show (other fields kept from the state).

        Raises:
            ConfigError: the widgets show values the config refuses (e.g. 0 + 0 epochs).
        """
        return self.form.read()

    def _show_config(self, config: TrainConfig) -> None:
        self.settings.show_config(config)

    # ------------------------------------------------------------- actions

    def is_running(self) -> bool:
        return self.runner.is_running()

    def start(self) -> bool:
        """Start a new run with the current configs; False (with a message) when it cannot start.

        Settings the config refuses are reported with the config's own message
        ("The training settings are not valid: ..."); any other failure to
        build the run says so, with its traceback in the dialog's details.
        """
        if self.runner.is_running() or self.state.is_running:
            return False
        try:
            config = start_config(self.state, self.train_config)
        except JobRefused as refused:
            self.state.report_error(refused.message, refused.details)
            return False
        return self._launch(config, f"Training {config.model.backbone} on {Path(config.data.root).name}")

    def resume(self, run_dir: str | None = None) -> bool:
        """Continue a run from its last checkpoint.

        Args:
            run_dir: The run folder to continue, e.g. one picked from the run
                history. None continues the last run of this session (see
                :meth:`resumable_run`).

        Returns:
            True when the run started; False, with the reason reported through
            the state's error signal, when it could not (another run is going,
            no such run folder, or no ``last.weights.h5`` in it).

        A run whose plan is complete continues for the epochs set on this page;
        otherwise for the epochs it has left.
        """
        if self.runner.is_running() or self.state.is_running:
            return False
        if run_dir is None:
            run_dir = self.resumable_run()
            if not run_dir:
                self.state.report_error("There is no earlier run with a checkpoint to resume.", "")
                return False
        try:
            plan = resume_plan(run_dir, epochs=self.epochs_spin.value(), fine_tune_epochs=self.fine_epochs_spin.value())
        except JobRefused as refused:
            self.state.report_error(refused.message, refused.details)
            return False
        # the plots go on from the run on show; another run's plots are redrawn from its history
        same = bool(self._run_dir) and Path(self._run_dir).resolve() == Path(plan.run_dir).resolve()
        self._run_dir = plan.run_dir
        started = self._launch(plan.config, plan.message, reset_plots=not same, recorded=plan.recorded)
        if started and not same:
            self.plots.show_history(list(plan.history))
        return started

    def cancel(self) -> None:
        """Ask the run to stop after the current batch."""
        if self.runner.is_running():
            self.runner.cancel()
            self.state.mark_cancelling()
            self._log("Cancelling: the run stops after the current batch and keeps its model.", "warning")
            self._update_buttons()

    def resumable_run(self) -> str:
        """The last run folder that has a ``last.weights.h5`` checkpoint, or ``""``."""
        last: RunResult | None = self.state.run_result
        return checkpointed(self._run_dir, last.run_dir if last is not None else "")

    def show_run(self, run: RunRecord | None) -> bool:
        """Show a run that ended earlier (a reopened project's last run): plots, summary and Resume.

        Args:
            run: The project's :class:`tlstudio.project.RunRecord`.

        Returns:
            False, showing nothing, while a run is going or when ``run`` has no run folder.
        """
        if self.runner.is_running() or run is None or not run.run_dir:
            return False
        view = RunView.of_record(run)
        self._run_dir = view.run_dir
        self.advice_label.reset()
        self.plots.reset()
        self.plots.show_history(list(run.history or ()))
        self.log.clear()
        self._follow_log()
        self.cache_label.setVisible(False)
        self.run_progress.ended(view.status)
        summary = "The run failed." if view.status == "failed" else run_summary(view)
        self.summary_label.setText(summary)
        self._log(f"Last run of the project, in {self._run_dir}. {summary}")
        self._update_buttons()
        return True

    def _launch(self, config: RunConfig, message: str, reset_plots: bool = True, recorded: RunConfig | None = None) -> bool:
        """Submit the ``"train"`` job.

        Args:
            config: What the engine runs (for a resume: the epochs left).
            message: The first log line and summary.
            reset_plots: Start the plots and log afresh (False: a resume of the run on show).
            recorded: The settings the project records for this run (for a resume:
                the run's own ``run_config.json``, not the epochs left); None: ``config``.
        """
        self._result = None
        self._last_finished = None
        self._worker_error = None
        self.advice_label.reset()
        if reset_plots:
            self.plots.reset()
            self.log.clear()
        self._follow_log()
        self.run_progress.preparing()
        self.summary_label.setText(message + "…")
        self._log(message)
        self.state.begin_busy("training")
        self.state.start_run(recorded if recorded is not None else config)
        self.runner.start("train", config)
        self._update_buttons()
        return True

    def _update_buttons(self, *_signal_args) -> None:
        running = self.runner.is_running()
        cancelling = running and self.runner.is_cancelling()
        self.start_button.setEnabled(not running)
        self.start_action.setEnabled(not running)
        self.cancel_button.setEnabled(running and not cancelling)
        self.resume_button.setEnabled(not running and bool(self.resumable_run()))
        self.cancel_button.setText("Cancelling…" if cancelling else "Cancel")
        self.settings.set_running(running)

    # -------------------------------------------------------------- events

    def handle_event(self, event: object) -> None:
        """Update the plots, progress and log from one engine event."""
        self.plots.handle_event(event)
        if isinstance(event, BatchEnd):
            self.run_progress.batch(event)
        elif isinstance(event, EpochEnd):
            self._on_epoch(event)
        elif isinstance(event, RunStarted):
            self._on_run_started(event)
        elif isinstance(event, PhaseChanged):
            self._on_phase(event)
        elif isinstance(event, Validating):
            self.run_progress.validating(event)
        elif isinstance(event, TrainingAdvice):
            self._on_advice(event)
        elif isinstance(event, Progress):
            self._on_progress(event)
        elif isinstance(event, LogMessage):
            self._log(event.message, event.level)
        elif isinstance(event, CheckpointSaved):
            self._log(f"Best so far: {MONITOR_LABELS.get(event.monitor, event.monitor)} {event.value:.4f} at epoch {event.epoch + 1}; checkpoint saved.")
        elif isinstance(event, RunFinished):
            self._last_finished = event

    def _on_run_started(self, event: RunStarted) -> None:
        self._run_dir = event.run_dir
        self.run_progress.run_started(event)
        phases = ", ".join(f"{p.name.replace('_', '-')} {plural(p.epochs, 'epoch')}" for p in event.phases)
        self._log(
            f"Run folder {event.run_dir}. {event.num_train} training and {event.num_val} validation images, "
            f"{len(event.class_names)} classes, batch size {event.batch_size}, {event.steps_per_epoch} steps per epoch; "
            f"{phases}. Devices: {event.devices}."
        )

    def _on_phase(self, event: PhaseChanged) -> None:
        self.run_progress.phase_changed(event)
        name = "Training the head (backbone frozen)" if event.phase == 1 else "Fine-tuning the backbone"
        first, last = event.first_epoch + 1, event.first_epoch + event.epochs
        span = f"epoch {first}" if first == last else f"epochs {first}-{last}"
        self._log(
            f"Phase {event.phase}: {name}, {plural(event.epochs, 'epoch')} ({span}) at learning rate "
            f"{event.learning_rate:g}; {event.trainable_params:,} trainable, {event.non_trainable_params:,} frozen parameters."
        )

    def _on_advice(self, event: TrainingAdvice) -> None:
        """A line in the log and the badge above the plots; never a dialog."""
        if event.withdrawn:
            self._log(f"Advice withdrawn ({event.title}): {event.message}")
        else:
            self._log(f"Advice ({event.title}, epoch {event.epoch + 1}): {event.message} Try: {event.suggestion}", "advice")
        self.advice_label.add(event)

    @property
    def advice(self) -> list[TrainingAdvice]:
        """The advice the current run has given so far."""
        return self.advice_label.advice

    def _on_epoch(self, event: EpochEnd) -> None:
        self.run_progress.epoch_end(event)
        m = event.metrics or {}
        parts = [f"loss {m['loss']:.4f}" if "loss" in m else "", f"accuracy {m['accuracy']:.3f}" if "accuracy" in m else ""]
        if "val_loss" in m:
            parts.append(f"val loss {m['val_loss']:.4f}")
        if "val_accuracy" in m:
            parts.append(f"val accuracy {m['val_accuracy']:.3f}")
        text = ", ".join(p for p in parts if p)
        self._log(f"Epoch {event.epoch + 1} (phase {event.phase}, {event.seconds:.1f} s, LR {event.learning_rate:.2g}): {text}")

    def _on_progress(self, event: Progress) -> None:
        self.run_progress.stage(event)
        if event.message and (event.total == 0 or event.done == 0 or event.done >= event.total):
            self._log(event.message)

    def _log(self, message: str, level: str = "info") -> None:
        """Append a line; the log follows it unless the user scrolled up to read."""
        self.log.add(message, level)

    def _follow_log(self) -> None:
        """The next log line scrolls to the end whatever the scroll position (a new run starts)."""
        self.log.follow()

    # ---------------------------------------------------------- the end

    def _on_result(self, result: RunResult) -> None:
        self._result = result

    def _on_worker_error(self, message: str, details: str) -> None:
        self._worker_error = (message, details)

    def _on_finished(self) -> None:
        result = self._result
        view = RunView.of_result(result) if result is not None else None
        self.plots.redraw()
        self.plots.fit_epochs_run()
        self.state.end_busy("training")
        error = view.error if view is not None else None
        details = view.error_details if view is not None else ""
        crashed = ""
        if self._worker_error is not None:
            error, details = self._worker_error
            if error.startswith("EngineProcessError"):  # the engine process died under the run
                crashed = engine_stopped_text(self._run_dir)
                details = f"{error}\n\n{details}".strip()
        if view is not None and view.run_dir:
            self._run_dir = view.run_dir
        self.state.finish_run(result, error=error)
        if crashed:
            self.run_progress.ended("failed", 0.0)
            self.summary_label.setText(crashed)
            self._log(crashed, "error")
            self.state.report_error(crashed, details)
        elif error:
            self.run_progress.ended("failed", view.seconds if view is not None else 0.0)
            self.summary_label.setText(f"The run failed: {error}")
            self._log(error, "error")
            self.state.report_error(f"Training failed: {error}", details)
        else:
            self.run_progress.ended("cancelled" if view is not None and view.cancelled else "finished",
                                    view.seconds if view is not None else 0.0)
            self.summary_label.setText(run_summary(view))
            self._log(run_summary(view))
        self._update_buttons()
        self.run_finished.emit(result)

    def _summary(self, result: RunResult | None) -> str:
        """The summary line of a run that ended."""
        return run_summary(RunView.of_result(result) if result is not None else None)

    @property
    def last_result(self) -> RunResult | None:
        """The last run's :class:`~tlstudio.training.RunResult` (or None)."""
        return self._result

    def shutdown(self) -> None:
        """Cancel a running run and wait for it (the main window calls this when closing)."""
        self.runner.cancel()
        self.runner.wait(60_000)
