"""The Model page's "Head sweep" tab: many small heads scored in seconds, and the best one promoted to a run.

"Run sweep" submits the exclusive engine job ``"sweep"``
(:mod:`tlstudio.jobs.sweep`) with the page's backbone, weights and size,
the Data page's dataset and split, and the search space set here. Every
trial trains a head on the cached pooled features of one cut and is scored
by stratified k-fold cross-validation on the training images; each
:class:`~tlstudio.jobs.sweep.TrialFinished` event adds a row to the
sortable :class:`~ui.widgets.sweep_table.SweepTable` and a point to the
:class:`~ui.widgets.sweep_plot.SweepPlot` (score against a chosen
parameter, and the best-so-far line). A failing trial is listed with its
message and the sweep goes on.

The space is set in a :class:`~ui.panels.sweep_space.SweepSpaceEditor`; how
many trials it holds, the best trial in words and the run a trial is
promoted to come from :mod:`ui.jobs.sweep_jobs`.

Storage: every sweep has its own folder next to the project
(:mod:`tlstudio.project.sweeps`); the engine rewrites its trials file after
each trial. Reopening the project shows its last sweep, and "Resume"
continues it: the trials already scored are kept, the rest run.

"Promote" turns the selected trial into the Model and Train configs
(:func:`tlstudio.analysis.promote.promote`: the same head, optimizer, batch
size, epochs and early stopping as the trial) and starts the full run on
the Train page, with a fine-tuning phase when "then fine-tune" is ticked.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QScrollArea,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from tlstudio.backbones import BACKBONES, cut_points
from tlstudio.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from tlstudio.errors import TlStudioError
from tlstudio.api.sweep import SearchSpace, SweepConfig, SweepResult, Trial, TrialFinished
from tlstudio.project.sweeps import StoredSweep, last_sweep, new_sweep, read_sweep, sweeps_folder
from ui.engine import engine
from ui.jobs.sweep_jobs import best_text, grid_size, promotion, stale_text
from ui.panels.sweep_space import SweepSpaceEditor
from ui.state import AppState
from ui.widgets.job_controls import JobControls
from ui.widgets.sweep_plot import SweepPlot
from ui.widgets.sweep_table import SweepTable

logger = logging.getLogger(__name__)

BUSY_KEY = "sweep"

INTRO = ("Trains many small heads on the cached features of your training images and scores each by k-fold "
         "cross-validation: seconds per trial, not a training run. Promote the best to train it for real.")

DEFAULT_FINE_TUNE_EPOCHS = 5


class SweepPanel(QWidget):
    """Set up, run, resume and promote head sweeps.

    Args:
        state: The shared :class:`~ui.state.AppState`.
        parent: Parent widget.
        project_path: Returns the path of the open project (None when untitled);
            by default the one of the state's project controller
            (:func:`ui.project_controller.existing_project_controller`; none: untitled).

    Signals:
        finished_sweep(object): a :class:`~tlstudio.jobs.sweep.SweepResult` arrived.
        promoted(object): the :class:`~tlstudio.config.RunConfig` a trial was promoted to.
    """

    finished_sweep = Signal(object)
    promoted = Signal(object)

    def __init__(self, state: AppState, parent: QWidget | None = None, *, project_path: Callable[[], Any] | None = None):
        super().__init__(parent)
        self.setObjectName("SweepPanel")
        self.state = state
        self.shown: SweepConfig | None = None  # the sweep whose trials the table shows
        self.stored: StoredSweep | None = None  # the project's last sweep, as read back
        self._running: SweepConfig | None = None
        self._project_path = project_path or self._controller_path

        self._build_ui()
        self.runner = engine().task(self)
        self.controls.attach(self.runner)
        self.runner.event.connect(self._on_event)
        self.runner.result.connect(self._on_result)
        self.runner.error.connect(self._on_error)
        self.runner.finished.connect(self._on_finished)
        self.runner.running_changed.connect(lambda _r: self._update_buttons())
        self.controls.run_button.clicked.connect(lambda: self.run())
        state.model_config_changed.connect(lambda _c: self._update_size())
        state.train_config_changed.connect(lambda _c: self._update_size())
        state.model_config_changed.connect(lambda _c: self._update_stale())
        state.data_config_changed.connect(lambda _c: self._update_stale())
        self._follows_project = project_path is None
        if self._follows_project:
            from ui.project_controller import follow_project

            follow_project(state, lambda _p: self.load_last())  # making a controller would start autosaving
        self.load_last()

    # ------------------------------------------------------------------ UI

    def _build_ui(self) -> None:
        intro = QLabel(INTRO)
        intro.setObjectName("Hint")
        intro.setWordWrap(True)

        self.search_combo = QComboBox()
        self.search_combo.setObjectName("SweepSearch")
        self.search_combo.addItem("Random", "random")
        self.search_combo.addItem("Grid", "grid")
        self.search_combo.setToolTip("Random: draws settings from the ranges (covers the few settings that matter "
                                     "better). Grid: every combination of the listed values, in a seeded order")
        self.trials_spin = QSpinBox()
        self.trials_spin.setObjectName("SweepTrials")
        self.trials_spin.setRange(0, 1000)
        self.trials_spin.setValue(24)
        self.trials_spin.setSpecialValueText("whole grid")
        self.trials_spin.setToolTip("Trials to run (a grid capped below its size runs a seeded sample of it; "
                                    "0 runs the whole grid)")
        self.folds_spin = QSpinBox()
        self.folds_spin.setObjectName("SweepFolds")
        self.folds_spin.setRange(2, 10)
        self.folds_spin.setValue(SweepConfig().folds)
        self.folds_spin.setToolTip("Cross-validation folds per trial")
        self.seed_spin = QSpinBox()
        self.seed_spin.setObjectName("SweepSeed")
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setToolTip("Seed of the plan, the folds and every trial's initialisation: the same seed repeats a sweep")
        self.space_button = QToolButton()
        self.space_button.setObjectName("SweepSpaceToggle")
        self.space_button.setText("Search space")
        self.space_button.setCheckable(True)
        self.space_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.space_button.setToolTip("Show or hide which parameters the sweep varies and their values")
        self.trials_spin.setMaximumWidth(80)
        self.folds_spin.setMaximumWidth(60)
        self.seed_spin.setMaximumWidth(100)
        top = QHBoxLayout()
        top.setSpacing(4)  # fits beside the Model page's form at 1024 px
        for label, widget in (("Search:", self.search_combo), ("Trials:", self.trials_spin), ("Folds:", self.folds_spin)):
            top.addWidget(QLabel(label))
            top.addWidget(widget)
        self.size_label = QLabel("")
        self.size_label.setObjectName("Hint")
        self.size_label.setToolTip("How many settings the search space holds, and how many the sweep will try")
        self.size_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # never widens the tab
        top.addWidget(self.size_label, 1)

        self.space_box = SweepSpaceEditor(self.seed_spin)
        self.param_checks = self.space_box.param_checks
        self.param_edits = self.space_box.param_edits
        self.space_button.toggled.connect(self._show_space)
        self.space_box.changed.connect(self._update_size)
        self.search_combo.currentIndexChanged.connect(self._update_size)
        self.trials_spin.valueChanged.connect(self._update_size)

        self.controls = JobControls("Run sweep", "Score the trials of this search space on the dataset (k-fold CV on cached features)")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setObjectName("SweepResume")
        self.resume_button.setToolTip("Continue the project's last sweep: the trials it scored are kept, the rest run")
        self.resume_button.clicked.connect(lambda: self.resume())
        run_row = QHBoxLayout()
        run_row.addWidget(self.controls, 1)
        run_row.addWidget(self.space_button, 0, Qt.AlignmentFlag.AlignTop)
        run_row.addWidget(self.resume_button, 0, Qt.AlignmentFlag.AlignTop)

        self.table = SweepTable()
        self.table.trial_selected.connect(self._on_selected)
        self.plot = SweepPlot()
        self.plot.trial_clicked.connect(self.table.select_trial)
        self.stale = QLabel("")
        self.stale.setObjectName("SweepStale")
        self.stale.setWordWrap(True)
        self.stale.setStyleSheet("color: #8a5a00;")
        self.stale.setVisible(False)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.plot)
        split.setChildrenCollapsible(False)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        self.splitter = split

        self.promote_button = QPushButton("Promote to a run")
        self.promote_button.setObjectName("SweepPromote")
        self.promote_button.setToolTip("Put the selected trial's cut and head into the Model page and its training "
                                       "settings into the Train page, and start the full run there")
        self.promote_button.clicked.connect(lambda: self.promote_selected())
        self.fine_tune_check = QCheckBox("then fine-tune")
        self.fine_tune_check.setObjectName("SweepFineTune")
        self.fine_tune_check.setToolTip("After the head, fine-tune the backbone (the freezing tree's unfrozen layers; "
                                        "the last block when everything is frozen) at the Train page's low learning rate")
        self.fine_tune_spin = QSpinBox()
        self.fine_tune_spin.setRange(1, 999)
        self.fine_tune_spin.setValue(DEFAULT_FINE_TUNE_EPOCHS)
        self.fine_tune_spin.setSuffix(" epochs")
        self.fine_tune_spin.setEnabled(False)
        self.fine_tune_check.toggled.connect(self.fine_tune_spin.setEnabled)
        self.promote_hint = QLabel("")
        self.promote_hint.setObjectName("Hint")
        self.promote_hint.setWordWrap(True)
        promote_row = QHBoxLayout()
        promote_row.setSpacing(4)
        promote_row.addWidget(self.promote_button)
        promote_row.addWidget(self.fine_tune_check)
        promote_row.addWidget(self.fine_tune_spin)
        promote_row.addStretch(1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 6, 4, 4)
        layout.addWidget(intro)
        layout.addLayout(top)
        # the search space scrolls sideways in a narrow window (1024 px): the page never grows past the screen
        self.space_scroll = QScrollArea()
        self.space_scroll.setObjectName("SweepSpaceScroll")
        self.space_scroll.setWidgetResizable(True)
        self.space_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.space_scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.space_scroll.setWidget(self.space_box)
        self.space_scroll.setMinimumWidth(240)
        self._fit_space_height()
        layout.addWidget(self.space_scroll)
        layout.addLayout(run_row)
        layout.addWidget(self.stale)
        layout.addWidget(split, 1)
        layout.addLayout(promote_row)
        layout.addWidget(self.promote_hint)  # a line of its own: what promote changed is never cut
        self.space_button.setChecked(True)
        self._update_buttons()
        self._update_size()

    def _update_size(self) -> None:
        """Say how many points the space has and how many trials will run ("grid of 96 points: 24 in a seeded order")."""
        try:
            space = self.space(self.state.model_config, self.state.train_config)
        except (TlStudioError, KeyError) as exc:
            self.size_label.setText("space not valid")
            self.size_label.setToolTip(str(exc))
            return
        self.size_label.setToolTip("How many settings the search space holds, and how many the sweep will try")
        size = grid_size(space, self.state.model_config)
        trials = self.trials_spin.value()
        if self.search_combo.currentData() == "grid":
            runs = size if trials == 0 else min(trials, size)
            self.size_label.setText(f"grid of {size:,} points: {runs:,} trials")
        else:
            self.size_label.setText(f"{trials:,} random draws")

    def _fit_space_height(self) -> None:
        """The search space's whole height, and room for its sideways scroll bar."""
        self.space_box.adjustSize()
        height = max(self.space_box.sizeHint().height(), self.space_box.minimumSizeHint().height())
        self.space_scroll.setFixedHeight(height + self.space_scroll.horizontalScrollBar().sizeHint().height() + 4)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        self._fit_space_height()  # the style's sizes are known now

    def _show_space(self, shown: bool) -> None:
        self.space_scroll.setVisible(shown)
        self.space_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    # -------------------------------------------------------------- config

    def space(self, model: ModelConfig, train: TrainConfig) -> SearchSpace:
        """The search space the editor shows (unticked parameters at the pages' values).

        Raises:
            ConfigError: a value that cannot be read, naming the parameter and ``Received``.
        """
        return self.space_box.space(model, train)

    def config_for(self, data: DataConfig, model: ModelConfig, train: TrainConfig) -> SweepConfig:
        """The sweep config for the pages' data, model and training with this tab's settings.

        Raises:
            ConfigError: a setting the sweep refuses, in words.
        """
        return SweepConfig(data=data, model=model, space=self.space(model, train), trials=self.trials_spin.value(),
                           search=self.search_combo.currentData(), seed=self.seed_spin.value(),
                           folds=self.folds_spin.value(), batch_size=train.work_batch_size, precision=train.precision,
                           patience=train.patience if train.early_stopping else SweepConfig().patience)

    def show_settings(self, config: SweepConfig) -> None:
        """Show ``config``'s search, trials, folds, seed and space in the editor."""
        self.search_combo.setCurrentIndex(max(0, self.search_combo.findData(config.search)))
        self.trials_spin.setValue(config.trials)
        self.folds_spin.setValue(config.folds)
        self.seed_spin.setValue(config.seed)
        self.space_box.show_space(config.space)

    # ------------------------------------------------------------------ API

    def sweeps_folder(self) -> Path:
        """Where this project's sweeps are kept."""
        return sweeps_folder(self._project_path())

    def run(self, config: SweepConfig | None = None) -> bool:
        """Start a new sweep in a new folder of the project; False (and the reason on the status line) when it cannot."""
        if self.runner.is_running():
            self.controls.status.setText("A sweep is already running.")
            return False
        if config is None:
            if not self.state.data_config.root:
                self.controls.status.setText("Open a dataset on the Data page first: the sweep scores its training "
                                             "images. Received: no dataset folder")
                return False
            try:
                config = self.config_for(self.state.data_config, self.state.model_config, self.state.train_config)
            except TlStudioError as exc:
                self.controls.status.setText(str(exc))
                return False
        try:
            config = new_sweep(self.sweeps_folder(), config)
        except OSError as exc:
            self.controls.status.setText(f"Cannot make a folder for the sweep in {self.sweeps_folder()}: expected a "
                                         f"writable folder. Received: {exc}")
            return False
        self.stored = None
        if self.controller is not None:  # the project finds it again wherever it is (an untitled one's are in the cache)
            self.controller.record_sweep_folder(Path(config.trials_file).parent)
        return self._start(config, f"Sweeping {config.trials or 'all'} trials ({config.search}) on {config.data.root}…")

    def resume(self) -> bool:
        """Continue the project's last sweep in its folder; False when there is none or one is running."""
        if self.runner.is_running():
            return False
        stored = self.stored or last_sweep(self.sweeps_folder())
        if stored is None:
            self.controls.status.setText(f"There is no sweep to resume in {self.sweeps_folder()}.")
            return False
        self.stored = stored
        self.show_settings(stored.config)
        return self._start(stored.config, f"Resuming the sweep in {stored.folder.name}: {stored.scored} trials "
                                          "already scored are kept…")

    def load_last(self) -> StoredSweep | None:
        """Show the project's last sweep (its settings and trials), or an empty table."""
        if self.runner.is_running():
            return None
        folder = self.sweeps_folder()
        try:
            stored = self._project_sweep()
        except OSError as exc:
            logger.warning("cannot list the sweeps in %s: %s", folder, exc)
            self.controls.status.setText(f"Cannot read the project's sweeps in {folder}: expected a readable folder. "
                                         f"Received: {exc}")
            stored = None
        self.stored = stored
        if stored is None:
            self.shown = None
            self._show_trials([])
            self.controls.status.setText("")
        else:
            self.shown = stored.config
            self.show_settings(stored.config)
            # read back from the project: plain trials here ("resumed" marks those a Resume kept)
            self._show_trials([dataclasses.replace(t, resumed=False) for t in stored.trials])
            state = "complete" if stored.complete else "Resume continues it"
            self.controls.status.setText(f"The project's last sweep ({stored.folder.name}): {len(stored.trials)} trials, "
                                         f"{best_text(list(stored.trials))}; {state}.")
            self.space_button.setChecked(False)
        self._update_buttons()
        return stored

    @property
    def controller(self) -> Any:
        """The state's project controller when this panel follows the project, else None."""
        if not getattr(self, "_follows_project", False):
            return None
        from ui.project_controller import existing_project_controller

        return existing_project_controller(self.state)

    def _project_sweep(self) -> StoredSweep | None:
        """The project's last sweep: the one it recorded; else, for a saved project, the newest in its sweeps folder.

        A new untitled project has none (the cache's sweeps belong to the projects that recorded them).
        """
        recorded = self._recorded_sweep()
        if recorded is not None or (self.controller is not None and self.controller.path is None):
            return recorded
        return last_sweep(self.sweeps_folder())

    def _recorded_sweep(self) -> StoredSweep | None:
        """The sweep the project recorded (re-linked by its folder, wherever it is), or None."""
        folder = self.controller.project.sweep_folder if self.controller is not None else ""
        if not folder or not Path(folder).is_dir():
            return None
        try:
            return read_sweep(Path(folder))
        except TlStudioError as exc:
            logger.warning("the project's last sweep cannot be read: %s", exc)
            return None

    def selected_trial(self) -> Trial | None:
        return self.table.selected_trial()

    def promote_selected(self, *, start: bool = True) -> RunConfig | None:
        """Turn the selected trial into the Model and Train configs and (``start``) begin the full run.

        Returns:
            The run config, or None (with the reason beside the button) when no scored trial is selected.
        """
        trial = self.selected_trial()
        if trial is None or self.shown is None:
            self.promote_hint.setText("Select a trial in the table first.")
            return None
        fine = self.fine_tune_spin.value() if self.fine_tune_check.isChecked() else 0
        try:
            run, notes = promotion(trial, self.shown, fine_tune_epochs=fine,
                                   fine_tune_learning_rate=self.state.train_config.fine_tune_learning_rate,
                                   model_now=self.state.model_config, data_root_now=self.state.data_config.root,
                                   train_now=self.state.train_config)
        except TlStudioError as exc:
            self.promote_hint.setText(str(exc))
            return None
        self.state.set_model_config(run.model)
        self.state.set_train_config(run.train)
        what = f"trial {self.table.selected_row() + 1} ({trial.cv_accuracy:.1%})"
        self.promote_hint.setText(f"Promoted {what}" + (f"; {'; '.join(notes)}" if notes else "") + ".")
        self.promoted.emit(run)
        if start:
            self._start_training(what)
        return run

    def shutdown(self, timeout_ms: int = 30_000) -> None:
        """Cancel a running sweep and wait for it (it saves each finished trial)."""
        self.runner.cancel()
        self.runner.wait(timeout_ms)

    # ------------------------------------------------------------ internals

    def _controller_path(self) -> Any:
        from ui.project_controller import existing_project_controller

        controller = existing_project_controller(self.state)
        return controller.path if controller is not None else None

    def _start(self, config: SweepConfig, message: str) -> bool:
        self._running = config
        self.space_button.setChecked(False)  # the trials need the room; the toggle shows the space again
        self.shown = config
        self._show_trials([])
        self.controls.status.setText(message)
        self.state.begin_busy(BUSY_KEY)
        self.runner.start("sweep", config)
        self._update_buttons()
        return True

    def _update_stale(self) -> None:
        """Say so when the trials shown were scored on another dataset or backbone than the pages show now."""
        shown = self.shown
        if shown is None:
            self.stale.setVisible(False)
            return
        m, now = shown.model, self.state.model_config
        changed = ((m.backbone, m.weights, m.image_size) != (now.backbone, now.weights, now.image_size)
                   or shown.data.root != self.state.data_config.root)
        self.stale.setText(stale_text(shown))
        self.stale.setVisible(changed)

    def _show_trials(self, trials: list[Trial], best: int | None = None) -> None:
        order = cut_points(self.shown.model.backbone) if self.shown and self.shown.model.backbone in BACKBONES else ()
        self.table.trials.set_trials(trials, best)
        self.plot.set_trials(trials, order)
        self._update_stale()
        self._on_selected(self.table.selected_trial())

    def _on_event(self, event: object) -> None:
        if isinstance(event, TrialFinished):
            self.table.trials.put(event.index, event.trial, event.best_index)
            self.plot.add_trial(event.index, event.trial)

    def _on_result(self, result: SweepResult) -> None:
        self._show_trials(list(result.trials), result.best_index)
        if result.best_index >= 0:
            self.table.select_trial(result.best_index)
        failed = sum(1 for t in result.trials if not t.ok)
        parts = [f"{len(result.trials)} trials in {result.seconds:.1f} s", best_text(list(result.trials))]
        if failed:
            parts.append(f"{failed} failed (see the Status column)")
        if result.cancelled:
            parts.insert(0, "Cancelled; Resume continues")
        self.controls.status.setText("; ".join(parts) + ".")
        self.finished_sweep.emit(result)

    def _on_error(self, message: str, details: str) -> None:
        self.controls.status.setText(f"The sweep failed: {message}")
        self.state.report_error(f"The head sweep failed: {message}", details)

    def _on_finished(self) -> None:
        self._running = None
        self.state.end_busy(BUSY_KEY)
        try:
            self.stored = self._project_sweep()
        except OSError as exc:  # the folder went away: nothing to resume
            logger.warning("cannot read the sweeps in %s: %s", self.sweeps_folder(), exc)
            self.stored = None
        self._update_buttons()

    def _on_selected(self, trial: Trial | None) -> None:
        self.plot.select(self.table.selected_row())
        self._update_buttons()
        if trial is not None and not trial.ok:
            self.promote_hint.setText("A failed trial cannot be promoted.")
        elif trial is not None:
            self.promote_hint.setText("")

    def _update_buttons(self) -> None:
        running = self.runner.is_running() if hasattr(self, "runner") else False
        trial = self.table.selected_trial()
        self.promote_button.setEnabled(not running and trial is not None and trial.ok and self.shown is not None)
        can_resume = self.stored is not None and not self.stored.complete
        self.resume_button.setEnabled(not running and can_resume)

    def _start_training(self, what: str) -> None:
        """Start the full run on the Train page of this window (the configs are set already)."""
        window = self.window()
        pages = getattr(window, "pages", None)
        if pages is None:
            self.promote_hint.setText(self.promote_hint.text() + " Start it on the Train page.")
            return
        self.state.request_page("train")
        page = pages["train"]
        if not page.start():
            self.promote_hint.setText(self.promote_hint.text() + " The run did not start: see the Train page.")
            return
        self.state.show_status(f"Training the promoted {what} on the Train page", 6000)
