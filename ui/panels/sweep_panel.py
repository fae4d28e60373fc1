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

The settings and the search space are a
:class:`~ui.panels.sweep_settings.SweepSettings`; the promote row is a
:class:`~ui.panels.sweep_promote.PromoteRow`; which stored sweep is the
project's last comes from :mod:`ui.panels.sweep_history`; how many trials the
space holds, the best trial in words and the run a trial is promoted to come
from :mod:`ui.jobs.sweep_jobs`. This module wires them to the engine task.

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

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QPushButton, QSplitter, QVBoxLayout, QWidget

from tlstudio.api.sweep import SearchSpace, SweepConfig, SweepResult, Trial, TrialFinished
from tlstudio.backbones import BACKBONES, cut_points
from tlstudio.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from tlstudio.errors import TlStudioError
from tlstudio.project.sweeps import StoredSweep, last_sweep, new_sweep, sweeps_folder
from ui.engine import engine
from ui.jobs.sweep_jobs import best_text, stale_text
from ui.panels.sweep_history import project_sweep
from ui.panels.sweep_promote import PromoteRow
from ui.panels.sweep_settings import SweepSettings
from ui.state import AppState
from ui.widgets.job_controls import JobControls
from ui.widgets.sweep_plot import SweepPlot
from ui.widgets.sweep_table import SweepTable

logger = logging.getLogger(__name__)

BUSY_KEY = "sweep"

INTRO = ("Trains many small heads on the cached features of your training images and scores each by k-fold "
         "cross-validation: seconds per trial, not a training run. Promote the best to train it for real.")


class _CompactSplitter(QSplitter):
    """The table and the plot ask for little height and take what is left.

    In the Model page's scroll area a panel gets at least its preferred height
    (word-wrapped labels make it height-for-width); the table's and plot's
    preferred 700 px made the tab scroll at 1024×680 with the promote row out
    of sight. They stretch into whatever room the window has.
    """

    PREFERRED_HEIGHT = 300

    def sizeHint(self):  # noqa: N802 - Qt API
        hint = super().sizeHint()
        hint.setHeight(max(self.minimumSizeHint().height(), self.PREFERRED_HEIGHT))
        return hint


class SweepPanel(QWidget):
    """Set up, run, resume and promote head sweeps.

    Args:
        state: The shared :class:`~ui.state.AppState`.
        parent: Parent widget.
        project_path: Returns the path of the open project (None when untitled);
            by default the one of the state's project controller
            (:func:`ui.project_controller.existing_project_controller`; none: untitled).

    Attributes:
        settings: The :class:`~ui.panels.sweep_settings.SweepSettings` (its controls are also
            reachable here: ``search_combo``, ``trials_spin``, ``folds_spin``, ``seed_spin``,
            ``size_label``, ``space_box``, ``param_checks``, ``param_edits``, ``space_button``).
        promote_row: The :class:`~ui.panels.sweep_promote.PromoteRow` (``promote_button``,
            ``fine_tune_check``, ``fine_tune_spin``, ``promote_hint``).

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
        self._split_set = False
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
        state.model_config_changed.connect(self._update_size)
        state.train_config_changed.connect(self._update_size)
        state.model_config_changed.connect(self._update_stale)
        state.data_config_changed.connect(self._update_stale)
        self._follows_project = project_path is None
        if self._follows_project:
            from ui.project_controller import follow_project

            follow_project(state, lambda _p: self.load_last())  # making a controller would start autosaving
        self.load_last()

    # ------------------------------------------------------------------ UI

    def _build_ui(self) -> None:
        self.intro = QLabel(INTRO)
        self.intro.setObjectName("Hint")
        self.intro.setWordWrap(True)
        self.settings = SweepSettings()
        self.settings.changed.connect(self._update_size)
        for name in ("search_combo", "trials_spin", "folds_spin", "seed_spin", "size_label", "space_box", "space_scroll",
                     "space_button"):
            setattr(self, name, getattr(self.settings, name))
        self.param_checks = self.settings.param_checks
        self.param_edits = self.settings.param_edits

        self.controls = JobControls("Run sweep", "Score the trials of this search space on the dataset (k-fold CV on cached features)")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setObjectName("SweepResume")
        self.resume_button.setToolTip("Continue the project's last sweep: the trials it scored are kept, the rest run")
        self.resume_button.clicked.connect(lambda: self.resume())
        # beside Run/Cancel, so the status line beneath has the panel's whole width (two lines at 1024 px, not four)
        buttons = self.controls.layout().itemAt(0).layout()
        buttons.addStretch(0)
        buttons.addWidget(self.space_button)
        buttons.addWidget(self.resume_button)

        self.table = SweepTable()
        self.table.trial_selected.connect(self._on_selected)
        self.plot = SweepPlot()
        self.plot.trial_clicked.connect(self.table.select_trial)
        self.stale = QLabel("")
        self.stale.setObjectName("SweepStale")
        self.stale.setWordWrap(True)
        self.stale.setStyleSheet("color: #8a5a00;")
        self.stale.setVisible(False)
        split = _CompactSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.plot)
        split.setChildrenCollapsible(False)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        self.splitter = split

        self.promote_row = PromoteRow(self.state)
        self.promote_button = self.promote_row.promote_button
        self.promote_button.clicked.connect(lambda: self.promote_selected())
        self.fine_tune_check = self.promote_row.fine_tune_check
        self.fine_tune_spin = self.promote_row.fine_tune_spin
        self.promote_hint = self.promote_row.hint

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 6, 4, 4)
        layout.setSpacing(4)
        layout.addWidget(self.intro)
        layout.addWidget(self.settings, 1)  # as much of an open search space as the trials leave room for (capped at all of it)
        layout.addWidget(self.controls)
        layout.addWidget(self.stale)
        layout.addWidget(split, 1)
        layout.addWidget(self.promote_row)
        self.space_button.setChecked(True)
        self._update_buttons()
        self._update_size()

    def _update_size(self, *_signal_args) -> None:
        self.settings.update_size(self.state.model_config, self.state.train_config)

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt API
        """The least height the panel needs at ``width``: the Model page's scroll area gives it at least this much and
        scrolls only when the window is shorter; the room above it goes to the trials and an open search space."""
        layout = self.layout()
        return layout.totalMinimumHeightForWidth(width) if layout.hasHeightForWidth() else layout.totalMinimumSize().height()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if not self._split_set:
            QTimer.singleShot(0, self, self._share_split)

    def _share_split(self) -> None:
        """Three fifths of the room to the table, the rest to the plot (once; the user's drag is kept after)."""
        total = sum(self.splitter.sizes())
        if total > 0 and self.isVisible():
            self._split_set = True
            self.splitter.setSizes([total * 3 // 5, total - total * 3 // 5])

    # -------------------------------------------------------------- config

    def space(self, model: ModelConfig, train: TrainConfig) -> SearchSpace:
        """The search space the editor shows (unticked parameters at the pages' values).

        Raises:
            ConfigError: a value that cannot be read, naming the parameter and ``Received``.
        """
        return self.settings.space(model, train)

    def config_for(self, data: DataConfig, model: ModelConfig, train: TrainConfig) -> SweepConfig:
        """The sweep config for the pages' data, model and training with this tab's settings.

        Raises:
            ConfigError: a setting the sweep refuses, in words.
        """
        return self.settings.config_for(data, model, train)

    def show_settings(self, config: SweepConfig) -> None:
        """Show ``config``'s search, trials, folds, seed and space in the editor."""
        self.settings.show_settings(config)

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
        """The project's last sweep (:func:`ui.panels.sweep_history.project_sweep`)."""
        return project_sweep(self.controller, self.sweeps_folder())

    def selected_trial(self) -> Trial | None:
        return self.table.selected_trial()

    def promote_selected(self, *, start: bool = True) -> RunConfig | None:
        """Turn the selected trial into the Model and Train configs and (``start``) begin the full run.

        Returns:
            The run config, or None (with the reason beside the button) when no scored trial is selected.
        """
        trial = self.selected_trial()
        what = f"trial {self.table.selected_row() + 1} ({trial.cv_accuracy:.1%})" if trial is not None else ""
        run = self.promote_row.promote(trial, self.shown, what)
        if run is None:
            return None
        self.promoted.emit(run)
        if start:
            self.promote_row.start_training(what)
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

    def _update_stale(self, *_signal_args) -> None:
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
        self.intro.setVisible(not trials and self._running is None)  # once there are trials, they need the room
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
        self.promote_row.show_selection(trial)

    def _update_buttons(self) -> None:
        running = self.runner.is_running() if hasattr(self, "runner") else False
        trial = self.table.selected_trial()
        self.promote_button.setEnabled(not running and trial is not None and trial.ok and self.shown is not None)
        can_resume = self.stored is not None and not self.stored.complete
        self.resume_button.setEnabled(not running and can_resume)
