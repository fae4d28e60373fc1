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
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from tlstudio.config import RunConfig, TrainConfig
from tlstudio.options import option_of
from tlstudio.run_folders import RunFolder
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
from ui.pages.train_eta import EtaClock
from ui.state import AppState
from ui.widgets.plots import TrainingPlots
from ui.engine import EngineClient, engine
from ui.forms import FormBinder, field_label

LOG_LINES = 2000
"""Lines kept in the log pane."""

RIGHT_MARGIN = 8
"""Pixels between the progress bar, plots and log and the window's right edge."""

LOG_MIN_LINES = 6
"""The log keeps at least this many lines visible however short the window."""

LOG_SHARE = 0.28
"""Share of the plots-and-log height the log gets at first (the splitter moves it)."""

ADVICE_STYLE = "background: #fff4d6; border: 1px solid #e0b44c; border-radius: 3px; padding: 3px 6px; color: #5a4300;"

OPTIMIZER_LABELS = {
    "adam": "Adam (adaptive, a safe default)",
    "sgd": "SGD with momentum",
    "adamw": "AdamW (Adam with weight decay)",
}
SCHEDULE_LABELS = {
    "constant": "Constant",
    "cosine": "Cosine decay",
    "step": "Step decay",
}
STAGE_LABELS = {
    "validate": "Checking images",
    "features": "Computing backbone features",
    "pixels": "Decoding images once into the cache",
    "probe": "Transfer probe",
    "sweep": "Head sweep",
}
"""Progress-bar text of the engine's ``Progress`` stages before the first batch."""

MONITOR_LABELS = {
    "val_accuracy": "validation accuracy",
    "val_loss": "validation loss",
    "accuracy": "training accuracy",
    "loss": "training loss",
}


def plural(count: int, noun: str) -> str:
    """``plural(1, "epoch")`` -> ``"1 epoch"``, ``plural(3, "epoch")`` -> ``"3 epochs"``."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def format_duration(seconds: float) -> str:
    """``75`` -> ``"1:15"``, ``3725`` -> ``"1:02:05"``."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _lr_spin() -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setDecimals(7)
    spin.setRange(1e-7, 1.0)
    spin.setSingleStep(1e-4)
    spin.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
    return spin


class TrainPage(QWidget):
    """Set hyperparameters and train with live plots.

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
        self._result: Any = None
        self._run_dir = ""
        self._plan: RunStarted | None = None
        self._t_first_batch: float | None = None
        self._first_step = 0
        self._last_finished: RunFinished | None = None
        self._worker_error: tuple[str, str] | None = None
        self._epoch_offset = 0  # global index of the session's first epoch (a resumed run's earlier epochs)
        self._session_started = False  # the first PhaseChanged of the session has arrived
        self._eta: EtaClock | None = None
        self._advice: list[TrainingAdvice] = []

        self.runner = self.client.task(self)
        self.runner.event.connect(self.handle_event)
        self.runner.result.connect(self._on_result)
        self.runner.error.connect(self._on_worker_error)
        self.runner.finished.connect(self._on_finished)

        self._build_ui()
        self._show_config(state.train_config)
        state.train_config_changed.connect(self._show_config)
        state.run_state_changed.connect(lambda _s: self._update_buttons())
        state.data_config_changed.connect(lambda _c: self._update_buttons())
        self._update_buttons()

    # ------------------------------------------------------------------ UI

    def _build_ui(self) -> None:
        title = QLabel("Train")
        title.setObjectName("PageTitle")

        # --- hyperparameters: tooltips, labels and choices come from TrainConfig's option schema (FormBinder.bind)
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(0, 1000)
        self.fine_epochs_spin = QSpinBox()
        self.fine_epochs_spin.setRange(0, 1000)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 4096)
        self.optimizer_combo = QComboBox()
        for key in option_of(TrainConfig, "optimizer").choices:
            self.optimizer_combo.addItem(OPTIMIZER_LABELS.get(key, key), key)
        self.lr_spin = _lr_spin()
        self.fine_lr_spin = _lr_spin()
        self.schedule_combo = QComboBox()
        for key in option_of(TrainConfig, "schedule").choices:
            self.schedule_combo.addItem(SCHEDULE_LABELS.get(key, key), key)
        self.early_check = QCheckBox("Stop early")
        self.patience_spin = QSpinBox()
        self.patience_spin.setRange(1, 100)
        self.patience_spin.setSuffix(" epochs")
        self.monitor_combo = QComboBox()
        for key in option_of(TrainConfig, "monitor").choices:
            self.monitor_combo.addItem(MONITOR_LABELS.get(key, key), key)
        self.class_weights_check = QCheckBox("Balance classes")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        early_row = QHBoxLayout()
        early_row.setContentsMargins(0, 0, 0, 0)
        early_row.addWidget(self.early_check)
        early_row.addWidget(self.patience_spin, 1)
        early = QWidget()
        early.setLayout(early_row)

        params_box = QGroupBox("Hyperparameters")
        form = QFormLayout(params_box)
        for name, widget in (
            ("epochs", self.epochs_spin), ("fine_tune_epochs", self.fine_epochs_spin), ("batch_size", self.batch_spin),
            ("optimizer", self.optimizer_combo), ("learning_rate", self.lr_spin), ("fine_tune_learning_rate", self.fine_lr_spin),
            ("schedule", self.schedule_combo), ("monitor", self.monitor_combo), ("early_stopping", early),
            ("class_weights", self.class_weights_check), ("seed", self.seed_spin),
        ):
            form.addRow(field_label(TrainConfig, name), widget)
        # issue 12: TrainConfig.auto_head, the "Auto" choice of cut and head
        self.auto_head_check = QCheckBox(option_of(TrainConfig, "auto_head").label)
        self.auto_head_check.setObjectName("AutoHead")
        auto_hint = QLabel("probe + sweep first; overrides the Model page's cut and head, and the head epochs "
                           "(early stopping on validation loss decides)")
        auto_hint.setObjectName("Hint")
        auto_hint.setWordWrap(True)
        form.addRow(self.auto_head_check)
        form.addRow(auto_hint)

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
        left_layout.addWidget(params_box)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.summary_label)
        left_layout.addStretch(1)
        left_scroll = QScrollArea()
        left_scroll.setWidgetResizable(True)
        left_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        left_scroll.setWidget(left)
        left_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        left_scroll.setMinimumWidth(left.minimumSizeHint().width() + left_scroll.verticalScrollBar().sizeHint().width() + 4)

        # --- progress, plots, log
        self.progress = QProgressBar()
        self.progress.setObjectName("TrainProgress")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("Idle")
        self.progress.setToolTip("Batches done over the whole run")
        self.speed_label = QLabel()
        self.speed_label.setObjectName("TrainSpeed")
        self.speed_label.setToolTip("Estimated time left and training throughput")
        self.speed_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.speed_label.setMinimumHeight(self.speed_label.fontMetrics().height())  # no jump when text appears
        self.advice_label = QLabel()
        self.advice_label.setObjectName("AdviceBadge")
        self.advice_label.setWordWrap(True)
        self.advice_label.setVisible(False)
        self.advice_label.setStyleSheet(ADVICE_STYLE)
        self.advice_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
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
        progress_row = QVBoxLayout()
        progress_row.setSpacing(1)
        progress_row.addWidget(self.progress)
        progress_row.addWidget(self.speed_label)

        self.plots = TrainingPlots()
        self.log = QPlainTextEdit()
        self.log.setObjectName("TrainLog")
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(LOG_LINES)
        self.log.setToolTip("What the run did: data checks, phases, epochs, checkpoints and warnings")
        self.log.setPlaceholderText("The run's log appears here.")

        right_split = QSplitter(Qt.Orientation.Vertical)
        right_split.addWidget(self.plots)
        right_split.addWidget(self.log)
        right_split.setStretchFactor(0, 4)
        right_split.setStretchFactor(1, 1)
        right_split.setChildrenCollapsible(False)
        line = self.log.fontMetrics().lineSpacing()
        self.log.setMinimumHeight(LOG_MIN_LINES * line + 2 * self.log.frameWidth() + 8)
        self.right_split = right_split
        right = QWidget()
        right_layout = QVBoxLayout(right)
        # A gap from the splitter handle and from the window's right edge.
        right_layout.setContentsMargins(4, 0, RIGHT_MARGIN, 0)
        right_layout.addLayout(progress_row)
        right_layout.addWidget(self.cache_label)
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
        from ui.pages.audit_offer import AuditOffer

        self.audit_offer = AuditOffer(self.state)  # issue 13: audit before the first training
        layout.addWidget(self.audit_offer)
        layout.addWidget(splitter, 1)

        self.form = FormBinder(self.state.train_config, parent=self)
        for path, widget in (
            ("epochs", self.epochs_spin),
            ("fine_tune_epochs", self.fine_epochs_spin),
            ("batch_size", self.batch_spin),
            ("optimizer", self.optimizer_combo),
            ("learning_rate", self.lr_spin),
            ("fine_tune_learning_rate", self.fine_lr_spin),
            ("schedule", self.schedule_combo),
            ("monitor", self.monitor_combo),
            ("early_stopping", self.early_check),
            ("patience", self.patience_spin),
            ("class_weights", self.class_weights_check),
            ("seed", self.seed_spin),
            ("auto_head", self.auto_head_check),
        ):
            self.form.bind(path, widget)
        self.early_check.toggled.connect(self.patience_spin.setEnabled)
        self.form.edited.connect(self.state.set_train_config)
        self.form.invalid.connect(lambda message: self.state.show_status(message))

        order = [self.epochs_spin, self.fine_epochs_spin, self.batch_spin, self.optimizer_combo, self.lr_spin,
                 self.fine_lr_spin, self.schedule_combo, self.monitor_combo, self.early_check, self.patience_spin,
                 self.class_weights_check, self.seed_spin, self.auto_head_check, self.start_button, self.cancel_button, self.resume_button, self.log]
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
        self.form.set_config(config)
        self.patience_spin.setEnabled(config.early_stopping)

    # ------------------------------------------------------------- actions

    def is_running(self) -> bool:
        return self.runner.is_running()

    def start(self) -> bool:
        """Start a new run with the current configs; False (with a message) when it cannot start."""
        if self.runner.is_running() or self.state.is_running:
            return False
        if not self.state.data_config.root:
            self.state.report_error("Open a dataset on the Data page before training.", "")
            return False
        try:
            self.state.set_train_config(self.train_config())  # raises when the widgets disagree (0 + 0 epochs)
            config = self.state.run_config()
        except Exception as exc:  # noqa: BLE001 - a ConfigError is written for people
            self.state.report_error(f"The training settings are not valid: {exc}", "")
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
        else:
            run_dir = str(run_dir)
            if not Path(run_dir).is_dir():
                self.state.report_error(f"Cannot resume the run in {run_dir}: the folder does not exist.", "")
                return False
            if not RunFolder(run_dir).can_resume():
                self.state.report_error(
                    f"Cannot resume the run in {run_dir}: it has no checkpoint (last.weights.h5); "
                    "the run stopped before its first epoch ended.",
                    "",
                )
                return False
        from tlstudio.errors import ConfigError
        from tlstudio.run_folders import load_history, load_run_config, resume_config  # light: reads JSON only

        extended = False
        try:
            recorded = load_run_config(run_dir)  # the run's own settings, as run_config.json holds them
            history = load_history(run_dir)
            try:
                config = resume_config(run_dir)  # the epochs the run has left
            except ConfigError:
                # the run completed its plan: train the epochs set on this page on top of it
                config = resume_config(run_dir, epochs=self.epochs_spin.value(), fine_tune_epochs=self.fine_epochs_spin.value())
                extended = True
        except Exception as exc:  # noqa: BLE001
            from ui.worker import format_error

            message, details = format_error(exc)
            self.state.report_error(f"Cannot resume the run in {run_dir}: {message}", details)
            return False
        plan = config.resume_plan
        message = resume_message(run_dir, len(history), plan.remaining_epochs, plan.remaining_fine_tune_epochs, extended)
        # the plots go on from the run on show; another run's plots are redrawn from its history
        same = bool(self._run_dir) and Path(self._run_dir).resolve() == Path(run_dir).resolve()
        self._run_dir = run_dir
        started = self._launch(config, message, reset_plots=not same, recorded=recorded)
        if started and not same:
            self.plots.show_history(history)
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
        candidates = [self._run_dir, getattr(self.state.run_result, "run_dir", "") or ""]
        for run_dir in candidates:
            if run_dir and RunFolder(run_dir).can_resume():
                return run_dir
        return ""

    def show_run(self, run: Any) -> bool:
        """Show a run that ended earlier (a reopened project's last run): plots, summary and Resume.

        Args:
            run: A :class:`tlstudio.project.RunRecord` (or anything with ``run_dir``,
                ``history``, ``status``, ``epochs_completed``, ``best_metrics`` and ``model_path``).

        Returns:
            False, showing nothing, while a run is going or when ``run`` has no run folder.
        """
        if self.runner.is_running() or run is None or not getattr(run, "run_dir", ""):
            return False
        from types import SimpleNamespace

        status = getattr(run, "status", "finished")
        self._run_dir = str(run.run_dir)
        self._advice = []
        self._show_advice()
        self.plots.reset()
        self.plots.show_history(list(getattr(run, "history", ()) or ()))
        self.log.clear()
        self._follow_log()
        self.cache_label.setVisible(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(0 if status == "failed" else 1)
        self.progress.setFormat({"cancelled": "Cancelled", "failed": "Failed"}.get(status, "Finished"))
        self.speed_label.setText("")
        view = SimpleNamespace(
            cancelled=status == "cancelled",
            epochs_completed=getattr(run, "epochs_completed", 0),
            best_metrics=getattr(run, "best_metrics", {}),
            model_path=getattr(run, "model_path", None),
        )
        summary = "The run failed." if status == "failed" else self._summary(view)
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
        self._plan = None
        self._t_first_batch = None
        self._epoch_offset = 0
        self._session_started = False
        self._eta = None
        self._advice = []
        self._show_advice()
        if reset_plots:
            self.plots.reset()
            self.log.clear()
        self._follow_log()
        self.cache_label.setVisible(False)
        self.progress.setRange(0, 0)  # busy until RunStarted gives the number of steps
        self.progress.setFormat("Preparing data…")
        self.speed_label.setText("")
        self.summary_label.setText(message + "…")
        self._log(message)
        self.state.begin_busy("training")
        self.state.start_run(recorded if recorded is not None else config)
        self.runner.start("train", config)
        self._update_buttons()
        return True

    def _update_buttons(self) -> None:
        running = self.runner.is_running()
        cancelling = running and self.runner.is_cancelling()
        self.start_button.setEnabled(not running)
        self.start_action.setEnabled(not running)
        self.cancel_button.setEnabled(running and not cancelling)
        self.resume_button.setEnabled(not running and bool(self.resumable_run()))
        self.cancel_button.setText("Cancelling…" if cancelling else "Cancel")
        for widget in (self.epochs_spin, self.fine_epochs_spin, self.batch_spin, self.optimizer_combo, self.lr_spin,
                       self.fine_lr_spin, self.schedule_combo, self.monitor_combo, self.early_check,
                       self.class_weights_check, self.seed_spin):
            widget.setEnabled(not running)
        self.patience_spin.setEnabled(not running and self.early_check.isChecked())

    # -------------------------------------------------------------- events

    def handle_event(self, event: object) -> None:
        """Update the plots, progress and log from one engine event."""
        self.plots.handle_event(event)
        if isinstance(event, BatchEnd):
            self._on_batch(event)
        elif isinstance(event, EpochEnd):
            self._on_epoch(event)
        elif isinstance(event, RunStarted):
            self._on_run_started(event)
        elif isinstance(event, PhaseChanged):
            self._on_phase(event)
        elif isinstance(event, Validating):
            self._on_validating(event)
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
        self._plan = event
        self._run_dir = event.run_dir
        total = max(1, event.total_epochs * event.steps_per_epoch)
        self.progress.setRange(0, total)
        self.progress.setValue(0)
        self.progress.setFormat("Starting…")
        phases = ", ".join(f"{p.name.replace('_', '-')} {plural(p.epochs, 'epoch')}" for p in event.phases)
        self._log(
            f"Run folder {event.run_dir}. {event.num_train} training and {event.num_val} validation images, "
            f"{len(event.class_names)} classes, batch size {event.batch_size}, {event.steps_per_epoch} steps per epoch; "
            f"{phases}. Devices: {event.devices}."
        )
        if event.feature_cache:
            self.cache_label.setText(
                "Feature cache in use: phase 1 computes the frozen backbone's features once and trains the head "
                "on them, so its epochs are much faster."
            )
            self.cache_label.setVisible(True)

    def _on_phase(self, event: PhaseChanged) -> None:
        if not self._session_started:
            # the session's first phase says where it starts: a resumed run's earlier epochs come first
            self._session_started = True
            self._epoch_offset = int(event.first_epoch)
            plan = self._plan
            if plan is not None:
                self._eta = EtaClock(self._total_epochs(), self._epoch_offset, plan.steps_per_epoch, plan.validation_steps)
                self.progress.setRange(0, max(1, self._total_epochs() * max(1, plan.steps_per_epoch)))
                self.progress.setValue(self._epoch_offset * max(1, plan.steps_per_epoch))
        if self._eta is not None:
            self._eta.phase_changed(event.phase)
        name = "Training the head (backbone frozen)" if event.phase == 1 else "Fine-tuning the backbone"
        first, last = event.first_epoch + 1, event.first_epoch + event.epochs
        span = f"epoch {first}" if first == last else f"epochs {first}-{last}"
        self._log(
            f"Phase {event.phase}: {name}, {plural(event.epochs, 'epoch')} ({span}) at learning rate "
            f"{event.learning_rate:g}; {event.trainable_params:,} trainable, {event.non_trainable_params:,} frozen parameters."
        )
        if event.phase == 2:
            self.cache_label.setVisible(False)

    def _total_epochs(self, fallback: int = 1) -> int:
        """Epochs of the whole run: this session's plan after the epochs earlier sessions completed."""
        plan = self._plan
        return self._epoch_offset + plan.total_epochs if plan is not None else fallback

    def _on_batch(self, event: BatchEnd) -> None:
        now = time.monotonic()
        if self._t_first_batch is None:
            self._t_first_batch, self._first_step = now, event.global_step
        total_epochs = max(self._total_epochs(event.epoch + 1), event.epoch + 1)
        steps = max(1, event.steps)
        done_steps = event.epoch * steps + event.batch + 1
        total = max(1, total_epochs * steps)
        if self.progress.maximum() != total:
            self.progress.setRange(0, total)
        self.progress.setValue(min(done_steps, total))
        self.progress.setFormat(
            f"Phase {event.phase} · epoch {event.epoch + 1}/{total_epochs} · batch {event.batch + 1}/{steps} · %p%"
        )
        if self._eta is None:
            plan = self._plan
            self._eta = EtaClock(total_epochs, self._epoch_offset, steps, plan.validation_steps if plan else 0)
            self._eta.phase_changed(event.phase)
        self._eta.batch(now, event.epoch, event.batch, event.global_step)
        self._show_speed(now, event.images_per_sec)

    def _show_speed(self, now: float, images_per_sec: float | None = None) -> None:
        """The ETA (and, from batches, the throughput) next to the progress bar."""
        if images_per_sec is not None:
            self._images_per_sec = images_per_sec
        parts = []
        left = self._eta.seconds_left(now) if self._eta is not None else None
        if left is not None:
            parts.append(f"ETA {format_duration(left)}")
        ips = getattr(self, "_images_per_sec", 0.0)
        if ips > 0:
            parts.append(f"{ips:,.0f} images/s")
        self.speed_label.setText(" · ".join(parts))

    def _on_validating(self, event: Validating) -> None:
        now = time.monotonic()
        plan = self._plan
        steps = event.steps or (plan.validation_steps if plan is not None else 0)
        total_epochs = max(self._total_epochs(event.epoch + 1), event.epoch + 1)
        done = f" {min(event.batch, steps)}/{steps}" if steps else ""
        self.progress.setFormat(f"Phase {event.phase} · epoch {event.epoch + 1}/{total_epochs} · validating{done}… · %p%")
        if self._eta is not None:
            self._eta.validating(now)
            self._show_speed(now)

    def _on_advice(self, event: TrainingAdvice) -> None:
        """A line in the log and the badge above the plots; never a dialog."""
        self._advice.append(event)
        self._log(f"Advice ({event.title}, epoch {event.epoch + 1}): {event.message} Try: {event.suggestion}", "advice")
        self._show_advice()

    def _show_advice(self) -> None:
        if not self._advice:
            self.advice_label.setVisible(False)
            self.advice_label.clear()
            return
        latest = self._advice[-1]
        more = f" (+{len(self._advice) - 1} more: see the log)" if len(self._advice) > 1 else ""
        self.advice_label.setText(f"⚠ <b>{_html(latest.title)}</b>{more}: {_html(latest.suggestion)}")
        self.advice_label.setToolTip("\n\n".join(f"{a.title}: {a.message}\nTry: {a.suggestion}" for a in self._advice))
        self.advice_label.setVisible(True)

    @property
    def advice(self) -> list[TrainingAdvice]:
        """The advice the current run has given so far."""
        return list(self._advice)

    def _on_epoch(self, event: EpochEnd) -> None:
        if self._eta is not None:
            self._eta.epoch_end(time.monotonic(), event.epoch)
        m = event.metrics or {}
        parts = [f"loss {m['loss']:.4f}" if "loss" in m else "", f"accuracy {m['accuracy']:.3f}" if "accuracy" in m else ""]
        if "val_loss" in m:
            parts.append(f"val loss {m['val_loss']:.4f}")
        if "val_accuracy" in m:
            parts.append(f"val accuracy {m['val_accuracy']:.3f}")
        text = ", ".join(p for p in parts if p)
        self._log(f"Epoch {event.epoch + 1} (phase {event.phase}, {event.seconds:.1f} s, LR {event.learning_rate:.2g}): {text}")

    _log_follows = True

    def _on_progress(self, event: Progress) -> None:
        if event.total > 0 and self._t_first_batch is None:
            self.progress.setRange(0, event.total)
            self.progress.setValue(min(event.done, event.total))
            label = STAGE_LABELS.get(event.stage, event.stage)
            self.progress.setFormat(f"{label} %v/%m")
        if event.message and (event.total == 0 or event.done == 0 or event.done >= event.total):
            self._log(event.message)

    def _log(self, message: str, level: str = "info") -> None:
        """Append a line; the log follows it unless the user scrolled up to read."""
        bar = self.log.verticalScrollBar()
        follow = self._log_follows or bar.value() >= bar.maximum() - 2
        stamp = time.strftime("%H:%M:%S")
        prefix = {"warning": "⚠ ", "error": "✖ ", "advice": "» "}.get(level, "")
        self.log.appendPlainText(f"{stamp}  {prefix}{message}")
        if follow:
            bar.setValue(bar.maximum())
        self._log_follows = False

    def _follow_log(self) -> None:
        """The next log line scrolls to the end whatever the scroll position (a new run starts)."""
        self._log_follows = True

    # ---------------------------------------------------------- the end

    def _on_result(self, result: Any) -> None:
        self._result = result

    def _on_worker_error(self, message: str, details: str) -> None:
        self._worker_error = (message, details)

    def _on_finished(self) -> None:
        result = self._result
        self.plots.redraw()
        self.state.end_busy("training")
        error = getattr(result, "error", None)
        details = getattr(result, "error_details", None) or ""
        if self._worker_error is not None:
            error, details = self._worker_error
        if result is not None and getattr(result, "run_dir", ""):
            self._run_dir = result.run_dir
        self.state.finish_run(result, error=error)
        self.progress.setRange(0, 1)
        if error:
            self.progress.setValue(0)
            self.progress.setFormat("Failed")
            self.summary_label.setText(f"The run failed: {error}")
            self._log(error, "error")
            self.state.report_error(f"Training failed: {error}", details)
        else:
            self.progress.setValue(1)
            cancelled = bool(getattr(result, "cancelled", False))
            self.progress.setFormat("Cancelled" if cancelled else "Finished")
            self.summary_label.setText(self._summary(result))
            self._log(self._summary(result))
        self.speed_label.setText(self._elapsed_text(result))
        self._update_buttons()
        self.run_finished.emit(result)

    def _elapsed_text(self, result: Any) -> str:
        seconds = getattr(result, "seconds", 0.0) or 0.0
        return f"took {format_duration(seconds)}" if seconds else ""

    def _summary(self, result: Any) -> str:
        if result is None:
            return "The run ended without a result."
        best = dict(getattr(result, "best_metrics", {}) or {})
        head = "Run cancelled" if getattr(result, "cancelled", False) else "Run finished"
        head += f" after {plural(int(getattr(result, 'epochs_completed', 0) or 0), 'epoch')}."
        if best:
            epoch = best.get("epoch")
            figures = []
            for key in ("val_accuracy", "val_loss", "accuracy", "loss"):
                if key in best:
                    figures.append(f"{MONITOR_LABELS[key]} {best[key]:.4f}" if "loss" in key else f"{MONITOR_LABELS[key]} {best[key]:.3f}")
            where = f" (epoch {int(epoch) + 1})" if isinstance(epoch, (int, float)) else ""
            head += f" Best{where}: " + ", ".join(figures) + "."
        if getattr(result, "model_path", None):
            head += f" Model saved to {result.model_path}."
        return head

    @property
    def last_result(self) -> Any:
        """The last run's :class:`~tlstudio.training.RunResult` (or None)."""
        return self._result

    def shutdown(self) -> None:
        """Cancel a running run and wait for it (the main window calls this when closing)."""
        self.runner.cancel()
        self.runner.wait(60_000)


def _html(text: str) -> str:
    from html import escape

    return escape(text, quote=False)


def resume_message(run_dir: str, done: int, epochs: int, fine_tune_epochs: int, extended: bool) -> str:
    """The first log line of a resume: what the run has done and what this session adds.

    Args:
        run_dir: The run folder.
        done: Epochs the run completed before (its ``history.json`` entries).
        epochs: Head-training epochs this session trains.
        fine_tune_epochs: Fine-tuning epochs this session trains.
        extended: True when the run had completed its plan and the page's epochs are added.
    """
    parts = [plural(n, "epoch") + f" {what}" for n, what in ((epochs, "of head training"), (fine_tune_epochs, "of fine-tuning")) if n]
    more = " and ".join(parts)
    total = done + epochs + fine_tune_epochs
    head = f"Resuming the run in {run_dir}: {plural(done, 'epoch')} done"
    if extended:
        return f"{head}, its plan complete; training {more} more as set on this page (to epoch {total})"
    return f"{head}; training the {more} it has left (to epoch {total})"
