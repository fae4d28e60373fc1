"""Run history: the project's runs in a table, and two or more of them compared.

Selecting runs overlays their accuracy and loss curves (pyqtgraph) and lists
the config values that differ between them. A run's TensorBoard log folder
opens in the system file browser; deleting a run asks first, showing the run
folder's full path, and can delete that folder too, but only when it is a
tlstudio run folder (:mod:`tlstudio.training.safe_delete`); otherwise the question
says why the files stay. A damaged run (its entry, ``history.json`` or
``run_config.json`` cannot be read) is shown as damaged, in red, with the
message naming the file and field as its tooltip; it cannot be resumed.

Both tables fit their width: the runs table sizes every column to its
contents and gives the Run column what is left (at least
:data:`RUN_MIN_WIDTH`), eliding long names in the middle with the run folder's
full path in the tooltip, and Notes stretches into the rest; they refit when
the view resizes, so a 1024×680 window needs no horizontal scrollbar. The
comparison below the table is :class:`~ui.widgets.run_comparison.RunComparison`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QEvent, Qt, QUrl
from PySide6.QtGui import QBrush, QColor, QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from tlstudio.errors import TlStudioError
from ui.widgets.run_comparison import RunComparison, compact_rows, rows_height

COLUMNS = (
    ("id", "Run"),
    ("status", "Status"),
    ("backbone", "Backbone"),
    ("weights", "Weights"),
    ("freeze", "Freeze"),
    ("epochs", "Epochs"),
    ("learning_rate", "LR"),
    ("batch_size", "Batch"),
    ("val_accuracy", "Val acc"),
    ("created", "Created"),
    ("notes", "Notes"),
)
NOTES_COLUMN = len(COLUMNS) - 1
DAMAGED_COLOUR = "#c62828"
"""Text colour of a damaged run's row."""

RUN_MIN_WIDTH = 110
"""The Run column never gets narrower than this (px); a long run name is elided in the middle."""

NOTES_MIN_WIDTH = 80
"""Room (px) the Run column leaves for the Notes column (its title's width while no run has a note); Notes takes the rest."""

COLUMN_TIPS = {
    "id": "The run's name; hover a run for its folder",
    "freeze": "Which backbone layers stay frozen while fine-tuning",
    "epochs": "Epochs the run completed",
    "learning_rate": "Head-training learning rate",
    "batch_size": "Batch size",
    "val_accuracy": "Best validation accuracy of the run",
    "created": "When the run started (local time)",
    "notes": "Your notes: double-click a cell to write one",
}
"""Header tooltips of the runs table, by column key."""

def _fmt(key: str, value: Any) -> str:
    if value is None:
        return "—"
    if key in ("val_accuracy", "accuracy") and isinstance(value, (int, float)):
        return f"{value:.1%}"
    if key == "learning_rate" and isinstance(value, (int, float)):
        return f"{value:g}"
    if key == "created" and isinstance(value, str):
        return _local_time(value)
    return str(value)


def _local_time(iso: str) -> str:
    """``"2025-03-01T09:30:00Z"`` (UTC, as projects store it) -> ``"2025-03-01 10:30"`` in local time."""
    import datetime as _dt

    try:
        stamp = _dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso.replace("T", " ").replace("Z", "")[:16]
    return (stamp.astimezone() if stamp.tzinfo else stamp).strftime("%Y-%m-%d %H:%M")


class RunHistoryWidget(QWidget):
    """Table of runs plus a comparison of the selected ones.

    Args:
        controller: The :class:`ui.project_controller.ProjectController` whose project is shown.
    """

    def __init__(self, controller: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("RunHistory")
        self.controller = controller
        self.confirm_delete: Callable[[str], tuple[bool, bool]] = self._confirm_delete
        """Hook returning (delete?, also delete files?); replaced in tests. The
        question's text is :meth:`delete_prompt`."""
        self.open_url: Callable[[QUrl], Any] = QDesktopServices.openUrl
        """Hook that opens a folder in the system browser; replaced in tests."""
        self.resume_handler: Callable[[str], Any] | None = None
        """Continues a run folder for more epochs (the Train page's resume); the
        Resume button is hidden while this is None. See :meth:`set_resume_handler`."""

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("RunTable")
        self.table.setHorizontalHeaderLabels([title for _, title in COLUMNS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.table.verticalHeader().setVisible(False)
        compact_rows(self.table)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)  # Notes takes what is left
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.setWordWrap(False)
        for col, (key, _title) in enumerate(COLUMNS):
            if key in COLUMN_TIPS:
                self.table.horizontalHeaderItem(col).setToolTip(COLUMN_TIPS[key])
        self.table.setAccessibleName("Runs")
        self.table.setMinimumHeight(rows_height(self.table, 5))  # five runs at 1024×680, more when there is room
        self.table.viewport().installEventFilter(self)  # its width is the room the columns share
        self.table.itemSelectionChanged.connect(self.update_comparison)
        self.table.itemChanged.connect(self._on_item_changed)

        self.hint = QLabel("Select two or more runs (Ctrl+click) to overlay their curves and see what differs.")
        self.hint.setWordWrap(True)
        self.logs_button = QPushButton("Open TensorBoard logs")
        self.logs_button.setToolTip("Open the selected run's TensorBoard log folder")
        self.logs_button.clicked.connect(self.open_logs)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue the selected run from its last checkpoint, with the same config")
        self.resume_button.clicked.connect(self.resume_selected)
        self.resume_button.setVisible(False)
        self.delete_button = QPushButton("Delete run…")
        self.delete_button.setToolTip("Remove the selected run from the project (asks first; can delete its files too)")
        self.delete_button.clicked.connect(self.delete_selected)
        buttons = QHBoxLayout()
        buttons.addWidget(self.hint, 1)
        buttons.addWidget(self.resume_button)
        buttons.addWidget(self.logs_button)
        buttons.addWidget(self.delete_button)

        self.comparison = RunComparison()
        self.comparison.train_curves.toggled.connect(self.update_comparison)
        for name in ("legend", "train_curves", "diff_table", "diff_label"):
            setattr(self, name, getattr(self.comparison, name))

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.table)
        top_layout.addLayout(buttons)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(self.comparison)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

        controller.runs_changed.connect(self.refresh)
        controller.project_changed.connect(lambda _p: self.refresh())
        self.refresh()

    # ------------------------------------------------------------- layout


    @property
    def acc_plot(self):
        """The comparison's accuracy plot (built now if it was not shown yet)."""
        return self.comparison.acc_plot

    @property
    def loss_plot(self):
        return self.comparison.loss_plot

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt API
        if watched is self.table.viewport() and event.type() == QEvent.Type.Resize:
            self.fit_columns()
        return super().eventFilter(watched, event)

    def fit_columns(self) -> None:
        """Size the runs table's columns to the view's width, so it needs no horizontal scrollbar.

        Every column but Run and Notes gets its contents' width; Run gets the
        width of its longest name if there is room, else what is left after
        :data:`NOTES_MIN_WIDTH` for Notes, or the Notes title's width while
        no run has a note (at least :data:`RUN_MIN_WIDTH`, names elided in
        the middle); Notes stretches into the rest.
        """
        header = self.table.horizontalHeader()
        widths = [max(self.table.sizeHintForColumn(c), header.sectionSizeHint(c)) for c in range(len(COLUMNS))]
        for col in range(1, NOTES_COLUMN):
            header.resizeSection(col, widths[col])
        notes = min(NOTES_MIN_WIDTH, widths[NOTES_COLUMN])  # no notes yet: room for the title only
        room = self.table.viewport().width() - sum(widths[1:NOTES_COLUMN]) - notes
        header.resizeSection(0, max(RUN_MIN_WIDTH, min(widths[0], room)))
        # a stretched last section never shrinks below its size before stretching (100 px by default)
        header.setStretchLastSection(False)
        header.resizeSection(NOTES_COLUMN, notes)
        header.setStretchLastSection(True)

    # ------------------------------------------------------------- table

    def refresh(self) -> None:
        """Reload the table from the project, keeping the selection where possible."""
        selected = set(self.selected_ids())
        runs = self.controller.project.runs
        self.table.blockSignals(True)
        self.table.setRowCount(len(runs))
        for row, record in enumerate(runs):
            summary = {**record.summary(), "notes": record.notes}
            for col, (key, _title) in enumerate(COLUMNS):
                item = QTableWidgetItem(record.notes if key == "notes" else _fmt(key, summary.get(key)))
                item.setData(Qt.ItemDataRole.UserRole, record.id)
                if key == "notes":
                    item.setToolTip("Double-click to write a note about this run")
                else:
                    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                if col == 0:
                    item.setToolTip(f"{record.run_dir}\n{record.notes}".strip())
                if record.damaged:
                    item.setForeground(QBrush(QColor(DAMAGED_COLOUR)))
                    if key != "notes":
                        item.setToolTip(f"Damaged: {record.damaged}")
                self.table.setItem(row, col, item)
            if record.id in selected:
                self.table.selectRow(row)
        self.table.blockSignals(False)
        self.fit_columns()
        self._update_buttons()
        self.update_comparison()

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() != NOTES_COLUMN:
            return
        run_id = item.data(Qt.ItemDataRole.UserRole)
        record = self.controller.project.get_run(run_id)
        if item.text() != record.notes:
            self.controller.set_notes(run_id, item.text())

    def selected_ids(self) -> list[str]:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        return [self.table.item(r, 0).data(Qt.ItemDataRole.UserRole) for r in rows if self.table.item(r, 0)]

    def select_runs(self, ids: list[str]) -> None:
        """Select the rows of ``ids`` (replacing the selection)."""
        self.table.clearSelection()
        mode = self.table.selectionMode()
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).data(Qt.ItemDataRole.UserRole) in ids:
                self.table.selectRow(row)
        self.table.setSelectionMode(mode)

    def _update_buttons(self) -> None:
        n = len(self.selected_ids())
        self.logs_button.setEnabled(n == 1)
        self.resume_button.setEnabled(n == 1 and self._resumable(self.selected_ids()[0]))
        self.delete_button.setEnabled(n == 1)

    # ------------------------------------------------------------- comparison

    def update_comparison(self) -> None:
        """Overlay the curves of the selected runs and list their config differences."""
        self._update_buttons()
        ids = self.selected_ids()
        records = [self.controller.project.get_run(i) for i in ids]
        # a run that completed no epoch has no curves: it is left out of the comparison
        self.comparison.show_runs([r for r in records if r.epochs_completed or r.history])

    def diff_rows(self) -> list[tuple[str, ...]]:
        """The config diff as shown: ``(setting, value per run...)``."""
        return self.comparison.diff_rows()

    def legend_entries(self) -> list[tuple[str, str]]:
        """``(colour, run id)`` of each run named in the legend, in order."""
        return self.comparison.legend_entries()

    def plotted_runs(self) -> list[str]:
        """Names of the validation curves on the accuracy plot."""
        return self.comparison.plotted_runs()

    # ------------------------------------------------------------- actions

    def open_logs(self) -> bool:
        ids = self.selected_ids()
        if len(ids) != 1:
            return False
        record = self.controller.project.get_run(ids[0])
        folder = Path(record.log_dir)
        if not folder.is_dir():
            self.controller.state.show_status(f"{record.id} has no TensorBoard logs ({folder} does not exist)", 6000)
            return False
        self.open_url(QUrl.fromLocalFile(str(folder)))
        return True

    def set_resume_handler(self, handler: Callable[[str], Any] | None) -> None:
        """Show the Resume button and call ``handler(run_dir)`` when it is clicked."""
        self.resume_handler = handler
        self.resume_button.setVisible(handler is not None)
        self._update_buttons()

    def _resumable(self, run_id: str) -> bool:
        record = self.controller.project.get_run(run_id)
        return not record.damaged and bool(record.run_dir) and (Path(record.run_dir) / "last.weights.h5").is_file()

    def resume_selected(self) -> bool:
        ids = self.selected_ids()
        if len(ids) != 1 or self.resume_handler is None or not self._resumable(ids[0]):
            return False
        self.resume_handler(self.controller.project.get_run(ids[0]).run_dir)
        return True

    def delete_prompt(self, run_id: str) -> tuple[str, str | None]:
        """The delete question for a run, and why its folder cannot be deleted (None when it can).

        The question names the run folder by its full path.
        """
        record = self.controller.project.get_run(run_id)
        try:
            folder = self.controller.project.deletable_folder(run_id)
        except TlStudioError as exc:
            return (
                f"Remove run {run_id} from the project?\n\nIts folder stays on disk:\n{exc}",
                str(exc),
            )
        if folder is None:
            return f"Remove run {run_id} from the project?\n\nIts folder {record.run_dir or '(none)'} no longer exists.", "the folder no longer exists"
        return (
            f"Remove run {run_id} from the project?\n\nIts run folder is\n{folder}\n\n"
            "Tick the box to also delete that folder (model, checkpoints, history and logs). This cannot be undone.",
            None,
        )

    def _confirm_delete(self, run_id: str) -> tuple[bool, bool]:
        text, refused = self.delete_prompt(run_id)
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Delete run")
        box.setText(text)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        files = QCheckBox("Also delete this run folder from disk")
        files.setEnabled(refused is None)
        if refused is not None:
            files.setToolTip(refused)
        box.setCheckBox(files)
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        ok = box.exec() == QMessageBox.StandardButton.Yes
        return ok, files.isChecked() and refused is None

    def delete_selected(self) -> bool:
        ids = self.selected_ids()
        if len(ids) != 1:
            return False
        ok, delete_files = self.confirm_delete(ids[0])
        if not ok:
            return False
        try:
            self.controller.remove_run(ids[0], delete_files=delete_files)
        except TlStudioError as exc:
            self.controller.state.report_error(str(exc), "")
            return False
        return True
