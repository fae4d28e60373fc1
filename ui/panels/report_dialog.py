"""File ▸ Export report…: the model card, the run and its export folder, then one self-contained HTML file.

The model card's fields (their labels and tooltips come from
:class:`~tlstudio.api.report.ModelCard`'s option schema) are kept in the
project as the user types; the report itself is the engine's ``report`` job
(:class:`~ui.jobs.report_jobs.ReportJobs`). The save dialog asks before it
replaces a file, so the job may overwrite what the user confirmed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from tlstudio.api.report import ModelCard, ReportResult
from tlstudio.events import Progress
from tlstudio.options import option_of
from ui.jobs.report_jobs import ReportJobs, default_run, project_audit
from ui.project_controller import project_controller


def _path_row(edit: QLineEdit, button: QPushButton) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(edit, 1)
    layout.addWidget(button)
    return row


class ReportDialog(QDialog):
    """Fill in the model card, pick the run and its export folder, and write the report.

    Args:
        state: The application state (the current model, dataset and audit).
        parent: The main window.
    """

    def __init__(self, state: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("ReportDialog")
        self.setWindowTitle("Export report")
        self.state = state
        self.controller = project_controller(state)
        self.jobs = ReportJobs(self)
        self.runner = self.jobs.runner
        self.runner.progress.connect(self._on_progress)
        self.runner.result.connect(self._on_result)
        self.runner.error.connect(self._on_error)
        self.runner.running_changed.connect(self._on_running)
        self.result: ReportResult | None = None

        self.run_edit = QLineEdit(default_run(state, self.controller.project))
        self.run_edit.setPlaceholderText("a run folder (train a model first, or choose one)")
        self.run_edit.setToolTip("The run folder the report is about")
        run_button = QPushButton("Choose…")
        run_button.clicked.connect(self._choose_run)
        self.export_edit = QLineEdit()
        self.export_edit.setPlaceholderText("optional: where this run's model was exported")
        self.export_edit.setToolTip("An export folder of this run: its files are listed with size and SHA-256, and its certificate if it holds one")
        export_button = QPushButton("Choose…")
        export_button.clicked.connect(self._choose_export)
        where = QFormLayout()
        where.addRow("Run folder", _path_row(self.run_edit, run_button))
        where.addRow("Export folder", _path_row(self.export_edit, export_button))

        card = self.controller.project.model_card
        self.card_edits: dict[str, QPlainTextEdit] = {}
        card_box = QGroupBox("Model card (kept in the project; empty fields say so in the report)")
        card_form = QFormLayout(card_box)
        for f in dataclasses.fields(ModelCard):
            opt = option_of(ModelCard, f.name)
            edit = QPlainTextEdit(getattr(card, f.name))
            edit.setObjectName(f"Card_{f.name}")
            edit.setPlaceholderText(opt.help)
            edit.setToolTip(opt.tooltip or opt.help)
            edit.setTabChangesFocus(True)
            edit.setMinimumHeight(48)
            edit.textChanged.connect(self._keep_card)
            self.card_edits[f.name] = edit
            card_form.addRow(opt.label, edit)

        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.status = QLabel("The report is one HTML file: no network needed, every image inside, printable from a browser.")
        self.status.setObjectName("ReportStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.export_button = QPushButton("Export report…")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.choose_and_export)
        self.cancel_button = QPushButton("Close")
        self.cancel_button.setToolTip("Stop the report while it is being written; close the dialog otherwise")
        self.cancel_button.clicked.connect(self._cancel_or_close)
        self.open_button = QPushButton("Open report")
        self.open_button.setVisible(False)
        self.open_button.clicked.connect(self.open_report)
        buttons = QHBoxLayout()
        buttons.addWidget(self.progress, 1)
        buttons.addStretch(0)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.cancel_button)

        layout = QVBoxLayout(self)
        layout.addLayout(where)
        layout.addWidget(card_box, 1)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self.resize(720, 560)

    # ---------------------------------------------------------------- card

    def model_card(self) -> ModelCard:
        """The card as typed."""
        return ModelCard(**{name: edit.toPlainText() for name, edit in self.card_edits.items()})

    def _keep_card(self) -> None:
        self.controller.set_model_card(self.model_card())

    # ---------------------------------------------------------------- choose

    def _choose_run(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a run folder", self.run_edit.text())
        if folder:
            self.run_edit.setText(folder)

    def _choose_export(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose the run's export folder", self.export_edit.text() or self.run_edit.text())
        if folder:
            self.export_edit.setText(folder)

    def choose_and_export(self) -> bool:
        """Ask where to save (the dialog confirms replacing a file), then write the report."""
        run_dir = self.run_edit.text().strip()
        if not run_dir or not Path(run_dir).is_dir():
            self.status.setText(f"Choose a run folder first. Received: {run_dir or '(empty)'}")
            return False
        out, _ = QFileDialog.getSaveFileName(self, "Save the report", str(Path(run_dir) / "report.html"), "HTML report (*.html)")
        return self.export_to(out) if out else False

    def export_to(self, out: str) -> bool:
        """Write the report of the chosen run to ``out`` (already confirmed by the user)."""
        run_dir = self.run_edit.text().strip()
        if not run_dir or not Path(run_dir).is_dir():
            self.status.setText(f"Choose a run folder first. Received: {run_dir or '(empty)'}")
            return False
        exports = [self.export_edit.text().strip()] if self.export_edit.text().strip() else []
        self.result = None
        self.open_button.setVisible(False)
        self.status.setText(f"Writing {out}…")
        self.jobs.start(run_dir, out, self.model_card(), project_audit(self.state, self.controller.project), exports)
        return True

    # ---------------------------------------------------------------- job

    def _on_progress(self, event: Progress) -> None:
        if event.stage == "report":
            self.progress.setRange(0, max(1, event.total))
            self.progress.setValue(event.done)
            self.status.setText(event.message)

    def _on_result(self, result: ReportResult) -> None:
        if result.cancelled:
            self.status.setText("Cancelled: no report was written.")
            return
        self.result = result
        gaps = f" It notes what the run folder lacks: {' '.join(result.missing)}" if result.missing else ""
        self.status.setText(f"Wrote {result.path} ({result.size / 1024:.0f} KB in {result.seconds:.1f} s).{gaps}")
        self.open_button.setVisible(True)

    def _on_error(self, message: str, _details: str) -> None:
        self.status.setText(f"The report could not be written: {message}")

    def _on_running(self, running: bool) -> None:
        self.progress.setVisible(running)
        self.export_button.setEnabled(not running)
        self.cancel_button.setText("Stop" if running else "Close")

    def _cancel_or_close(self) -> None:
        if self.runner.is_running():
            self.runner.cancel()
        else:
            self.accept()

    def open_report(self) -> None:
        """Open the written report in the default browser."""
        if self.result is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(self.result.path))
