"""The Label page: grow the dataset from an unsorted folder, the images the model is least sure about first.

The user picks an unsorted folder and a run, then loops:

1. **Suggest** (``label_suggest`` in the engine): a batch of N images ranked
   by the chosen strategy, copies of labelled images left out;
2. **label** them in the grid (:class:`~ui.panels.label_grid.LabelGrid`:
   1-9, 0/x, u; "Accept all with p ≥ …"; a new class);
3. **Apply**: the decided images are copied (or moved) into the dataset's
   class folders and recorded in the project (:mod:`ui.jobs.label_jobs`);
   "Undo last batch" takes them back out;
4. **Refit** (``label_retrain``): the run's head on the grown dataset, one
   point of the learning curve, then the next batch is suggested.

"Train a full run" trains the run's model on the grown dataset on the Train
page. Rounds, decisions and the curve live in the project (the ``label``
field), so they come back when it is reopened.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog, QLabel, QMessageBox, QSplitter, QVBoxLayout, QWidget

from tlstudio.api.label import RetrainResult, SuggestResult
from tlstudio.errors import TlStudioError
from tlstudio.project.label_record import LabelRecord
from ui.engine import engine
from ui.jobs import label_jobs
from ui.panels.label_actions import LabelActions
from ui.panels.label_cams import CardCams
from ui.panels.label_grid import LabelCard, LabelGrid
from ui.panels.label_source import LabelSource
from ui.state import AppState
from ui.widgets.job_controls import JobControls

BUSY_KEY = "label"


class LabelPage(QWidget):
    """Suggest, label, apply, refit; see the module's notes.

    Attributes:
        record: The loop (kept in the project).
        grid: The batch's cards.
        actions: The side column.
    """

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.record = LabelRecord()
        self._classes: list[str] = []
        self._after_refit_suggest = True

        self.source = LabelSource()
        self.controls = JobControls("Suggest batch", "Rank the unsorted images and show the batch to label")
        self.controls.run_button.clicked.connect(lambda: self.suggest())

        self.grid = LabelGrid()
        self.grid.changed.connect(self._refresh)
        self.grid.gradcam_requested.connect(self.request_gradcam)
        self.empty = QLabel("Pick an unsorted folder and a run, then Suggest batch. The images the model is least sure "
                            "about come first; label them with the number keys.")
        self.empty.setObjectName("Hint")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.empty)
        left_layout.addWidget(self.grid, 1)
        self.actions = LabelActions()
        self.actions.setMinimumWidth(330)
        self.actions.setMaximumWidth(480)
        self.actions.accept_clicked.connect(self.accept_all)
        self.actions.threshold_changed.connect(lambda p: self.actions.show_accept_count(self.grid.accept_count(p)))
        self.actions.new_class_clicked.connect(self.new_class)
        self.actions.apply_clicked.connect(self.apply_batch)
        self.actions.undo_batch_clicked.connect(self.undo_batch)
        self.actions.promote_clicked.connect(self.promote)
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(self.actions)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)

        layout = QVBoxLayout(self)
        layout.addWidget(self.source)
        layout.addWidget(self.controls)
        layout.addWidget(splitter, 1)

        self.runner = engine().task(self)
        self.controls.attach(self.runner)
        self.runner.result.connect(self._on_result)
        self.runner.error.connect(self._on_error)
        self.runner.finished.connect(lambda: self.state.end_busy(BUSY_KEY))
        self.cams = CardCams(self)
        self._watched = None
        self.restore_from_project()
        self._refresh()

    # ------------------------------------------------------------------ the loop

    def suggest(self, confirmed: bool = False) -> bool:
        """Start the next batch (refitting first when the last round has no point yet); False when it cannot start."""
        if self.runner.is_running():
            return False
        labelled, skipped = self.grid.decisions()
        if (labelled or skipped) and not confirmed:
            answer = QMessageBox.question(self, "Suggest another batch", f"Drop the {len(labelled) + len(skipped)} "
                                          "decision(s) of this batch, which is not applied yet?")
            if answer != QMessageBox.StandardButton.Yes:
                return False
        self._after_refit_suggest = True
        if not self._take_form():
            return False
        if self.record.baseline is None and not self.record.rounds:
            return self._start("label_retrain", label_jobs.retrain_config(self.state, self.record),
                               "Fitting the run's head on the dataset as it is (the curve's first point)…")
        if self.record.rounds and self.record.rounds[-1].val_accuracy is None:  # a refit cancelled, or the app killed
            return self._start("label_retrain", label_jobs.retrain_config(self.state, self.record),
                               "Refitting the head on the last applied batch first…")
        return self._start("label_suggest", label_jobs.suggest_config(self.state, self.record),
                           f"Ranking {self.record.pool} with {self.record.strategy}…")

    def accept_all(self, threshold: float) -> int:
        count = self.grid.accept_all(threshold)
        self.controls.status.setText(f"Accepted the suggested class of {count} image(s) with p ≥ {threshold:.2f}.")
        return count

    def new_class(self, name: str | None = None) -> str:
        """Add a class the dataset does not have yet (asks for its name when none is given); "" when cancelled."""
        if name is None:
            name, ok = QInputDialog.getText(self, "New class", "Name of the new class (a folder name):")
            if not ok:
                return ""
        name = name.strip()
        if not name or any(c in name for c in "/\\") or name.startswith(".") or name in (".", ".."):
            self.controls.status.setText(f"A class name must be a plain folder name. Received: {name!r}")
            return ""
        self.grid.add_class(name)
        return name

    def apply_batch(self, confirmed: bool = False) -> bool:
        """File the decided images, record the round, refit; False when nothing was filed."""
        labelled, skipped = self.grid.decisions()
        if not labelled and not skipped:
            return False
        self.record.move = self.actions.move_check.isChecked()
        root = label_jobs.data_config(self.state, self.record).root
        if self.record.move and not confirmed:
            answer = QMessageBox.question(self, "Move images", f"Move {len(labelled)} image(s) out of {self.record.pool} "
                                          f"into the class folders of {root}? Undo last batch moves them back.")
            if answer != QMessageBox.StandardButton.Yes:
                return False
        try:
            batch = label_jobs.file_batch(self.state, self.record, labelled, skipped)
        except TlStudioError as exc:
            self.state.report_error(str(exc))
            return False
        renamed = [p for p in batch.placed if p.renamed]
        verb = "Moved" if self.record.move else "Copied"
        text = f"{verb} {len(batch.placed)} image(s) into {root}; {len(skipped)} skipped."
        if renamed:
            text += " Renamed (a file of that name was there): " + ", ".join(
                f"{Path(p.source).name} → {Path(p.target).name}" for p in renamed[:5]) + ("…" if len(renamed) > 5 else "")
        self.controls.status.setText(text)
        self.actions.show_applied(text)
        if batch.errors:
            self.state.report_error(f"{len(batch.errors)} image(s) were not filed; the others were.", "\n".join(batch.errors))
        self.grid.set_batch((), self._classes)
        self._save()
        self._start("label_retrain", label_jobs.retrain_config(self.state, self.record),
                    f"Refitting the head with {len(batch.placed)} more image(s)…")
        return True

    def undo_batch(self, confirmed: bool = False) -> bool:
        """Take the last applied batch back out of the dataset (asks first); False when nothing was undone."""
        if not self.record.rounds or self.runner.is_running():
            return False
        last = self.record.rounds[-1].batch
        if not confirmed:
            listing = "\n".join(p.target for p in last.placed[:8]) + ("\n…" if len(last.placed) > 8 else "")
            answer = QMessageBox.question(self, "Undo last batch",
                                          f"Take these {len(last.placed)} image(s) back out of the dataset?\n{listing}")
            if answer != QMessageBox.StandardButton.Yes:
                return False
        undone = label_jobs.undo_last(self.state, self.record)
        self.controls.status.setText(f"Took {len(undone.placed)} image(s) back out of {last.dataset}.")
        self.actions.show_applied(self.controls.status.text())
        if undone.errors:
            self.state.report_error(f"{len(undone.errors)} image(s) were left in the dataset.", "\n".join(undone.errors))
        self._save()
        self._refresh()
        return True

    def promote(self, fine_tune_epochs: int) -> bool:
        """Train the run's model on the grown dataset on the Train page."""
        try:
            run = label_jobs.promoted_run(self.state, self.record, fine_tune_epochs=fine_tune_epochs)
        except TlStudioError as exc:
            self.state.report_error(str(exc))
            return False
        self.state.set_data_config(run.data)
        self.state.set_model_config(run.model)
        self.state.set_train_config(run.train)
        self.state.request_page("train")
        pages = getattr(self.window(), "pages", None)
        if pages is not None and pages["train"].start():
            self.state.show_status("Training the grown dataset on the Train page", 6000)
            return True
        self.controls.status.setText("The Model and Train pages now hold the run's settings; start it on the Train page.")
        return False

    def request_gradcam(self, card: LabelCard) -> None:
        """Queue ``card``'s Grad-CAM (the run's model on that image)."""
        self.cams.request(card, self.record.run_dir)

    # ------------------------------------------------------------------ engine results

    def _start(self, job: str, config, message: str) -> bool:
        self.controls.status.setText(message)
        self.state.begin_busy(BUSY_KEY)
        self.runner.start(job, config)
        return True

    def _on_result(self, result) -> None:
        if isinstance(result, SuggestResult):
            self._show_batch(result)
        elif isinstance(result, RetrainResult):
            self._record_refit(result)

    def _show_batch(self, result: SuggestResult) -> None:
        if result.cancelled:
            self.controls.status.setText("Cancelled; nothing was suggested.")
            return
        extra = [c for c in self._classes if c not in result.class_names]
        self._classes = list(result.class_names) + extra
        self.cams.clear()
        self.grid.set_batch(result.suggestions, self._classes)
        self.grid.setFocus()
        copies = sum(1 for s in result.skipped if "copy of" in s.reason)
        text = (f"{len(result.suggestions)} of {result.pool_size} unsorted images to label ({result.strategy}, "
                f"{result.seconds:.1f} s).")
        if copies:
            text += f" {copies} copies of labelled images were left out."
        if not result.suggestions:
            text = f"Nothing left to label in {self.record.pool}: every image is labelled, skipped or a copy."
        self.controls.status.setText(text)
        self._refresh()

    def _record_refit(self, result: RetrainResult) -> None:
        if result.cancelled:
            self.controls.status.setText("Refit cancelled; the batch stays applied (Suggest batch refits first).")
            self._after_refit_suggest = False
            return
        if self.record.rounds:
            last = self.record.rounds[-1]
            last.labelled, last.val_accuracy, last.classes = result.labelled, result.val_accuracy, result.class_names
            last.head_file = label_jobs.retrain_config(self.state, self.record).head_file
        else:
            self.record.baseline = (result.labelled, result.val_accuracy)
            self.record.baseline_head = label_jobs.retrain_config(self.state, self.record).head_file
            self.record.baseline_classes = result.class_names
        self._save()
        self._refresh()
        self.controls.status.setText(f"Validation accuracy {result.val_accuracy:.1%} with {result.labelled} training "
                                     f"images ({result.seconds:.1f} s).")
        if self._after_refit_suggest:
            self.runner.finished.connect(self._suggest_once)

    def _suggest_once(self) -> None:
        self.runner.finished.disconnect(self._suggest_once)
        self.suggest(confirmed=True)

    def _on_error(self, message: str, details: str) -> None:
        self.controls.status.setText(f"<span style='color:#b00020'>{html.escape(message)}</span>")
        self.state.report_error(message, details)

    # ------------------------------------------------------------------ form, project, read-outs

    def _take_form(self) -> bool:
        problem = self.source.problem()
        if problem:
            self.controls.status.setText(problem)
            return False
        pool, run_dir = os.path.abspath(self.source.pool()), os.path.abspath(self.source.run_dir())
        if (pool, run_dir) != (self.record.pool, self.record.run_dir):
            if self.record.rounds or self.record.baseline:
                self.record = LabelRecord()  # another folder or run: a new loop (the old rounds' files stay filed)
            self.record.pool, self.record.run_dir = pool, run_dir
        self.record.strategy = self.source.strategy_combo.currentText()
        self.record.n = self.source.batch_spin.value()
        return True

    def _controller(self):
        from ui.project_controller import existing_project_controller

        controller = existing_project_controller(self.state)
        if controller is not None and controller is not self._watched:
            controller.project_changed.connect(lambda _p: self.restore_from_project())
            self._watched = controller
        return controller

    def restore_from_project(self) -> bool:
        """Show the project's loop (folders, curve, runs to pick from); True when it had one."""
        controller = self._controller()
        project = controller.project if controller is not None else None
        runs = [r.run_dir for r in (project.runs if project is not None else []) if r.run_dir]
        if self.state.model_path:
            runs.append(os.path.dirname(self.state.model_path))
        self.source.offer_runs(runs)
        if project is None or project.label is None:
            return False
        self.record = project.label
        self.source.show_record(self.record)
        self.actions.move_check.setChecked(self.record.move)
        self._refresh()
        return True

    def _save(self) -> None:
        from ui.project_controller import project_controller

        controller = project_controller(self.state)
        controller.project.set_label(self.record)
        controller._changed()  # marks the project dirty and schedules its autosave, as every project change does
        controller.autosave()  # now: the files are filed already, so a killed app must not lose the round

    def _refresh(self) -> None:
        labelled, skipped = self.grid.decisions()
        self.empty.setVisible(not self.grid.cards)
        self.actions.show_classes(self.grid.classes or self._classes)
        self.actions.show_accept_count(self.grid.accept_count(self.actions.threshold.value()))
        self.actions.show_batch(len(labelled), len(skipped), self.grid.undecided(), len(self.record.rounds))
        self.actions.curve.set_curve(self.record.curve())

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Cancel running jobs and stop loading thumbnails (the undecided batch is not kept)."""
        self.cams.clear()
        self.runner.cancel()
        self.grid.shutdown(timeout_ms)
