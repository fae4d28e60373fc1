"""The sweep's trial table: one row per trial, sortable by any column.

:class:`SweepTableModel` holds :class:`tlstudio.api.sweep.Trial` instances
(plain data from the engine process) in plan order; :class:`SweepTable` is a
``QTableView`` over it through a sorting proxy. Numbers sort as numbers
(``Qt.UserRole`` holds the sort key); a failed trial shows "failed" with its
message, sorts below every scored trial, and its row is tinted. The best
trial is bold.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from tlstudio.api.sweep import Trial, best_index  # dataclasses only: no TensorFlow

SORT_ROLE = Qt.ItemDataRole.UserRole
FAILED_BRUSH = QBrush(QColor("#fbe9e7"))
FAILED_TEXT = QBrush(QColor("#b3261e"))

COLUMNS: tuple[tuple[str, str], ...] = (
    ("#", "Trial number, in the order the sweep ran them"),
    ("CV accuracy", "Mean accuracy on the held-out folds (k-fold cross-validation on the training images)"),
    ("±", "Standard deviation of the fold accuracies"),
    ("Status", "ok, resumed (kept from before a Resume) or failed with its message (hover for all of it)"),
    ("Cut", "The cut layer whose features the head takes"),
    ("Pooling", "How the cut's feature map becomes one vector"),
    ("Hidden", "Hidden layer widths of the head (linear: none)"),
    ("Dropout", "Dropout after each hidden layer and before the output"),
    ("LR", "Learning rate"),
    ("Weight decay", "Decoupled weight decay (0: Adam)"),
    ("Smoothing", "Label smoothing of the cross-entropy"),
    ("Epochs", "Epoch budget (early stopping usually ends sooner); the epochs run per fold are in the tooltip"),
    ("Time", "Wall time of the trial, all folds"),
)
SIZE_ROWS = 20
"""Rows the column widths are measured on (later rows are elided when longer)."""
STATUS_COLUMN = 3
STATUS_WIDTH = 150
"""Pixels of the Status column: a long failure message is elided there and whole in its tooltip."""


def hidden_text(hidden: Sequence[int]) -> str:
    """``(256, 128)`` -> ``"256+128"``; ``()`` -> ``"linear"``."""
    return "+".join(str(u) for u in hidden) if hidden else "linear"


def status_text(trial: Trial) -> str:
    """``"ok"``, ``"resumed"`` or ``"failed: <message>"``."""
    if not trial.ok:
        return f"failed: {trial.error}"
    return "resumed" if trial.resumed else "ok"


class SweepTableModel(QAbstractTableModel):
    """Trials in plan order, the best one marked.

    Attributes:
        trials: The trials shown (index = row = position in the plan).
        best: Row of the best trial (-1 when none scored).
    """

    def __init__(self, parent: Any = None):
        super().__init__(parent)
        self.trials: list[Trial] = []
        self.best = -1

    # ------------------------------------------------------------------ API

    def set_trials(self, trials: Sequence[Trial], best: int | None = None) -> None:
        """Show exactly ``trials``; ``best`` defaults to :func:`tlstudio.api.sweep.best_index`."""
        self.beginResetModel()
        self.trials = list(trials)
        self.best = best_index(self.trials) if best is None else best
        self.endResetModel()

    def put(self, index: int, trial: Trial, best: int | None = None) -> None:
        """Set the trial at plan position ``index`` (appending rows as needed) and the best row."""
        if index < len(self.trials):
            self.trials[index] = trial
            self.dataChanged.emit(self.index(index, 0), self.index(index, len(COLUMNS) - 1))
        else:
            self.beginInsertRows(QModelIndex(), len(self.trials), index)
            while len(self.trials) < index:  # a gap cannot happen in plan order; keep rows aligned anyway
                self.trials.append(trial)
            self.trials.append(trial)
            self.endInsertRows()
        old, self.best = self.best, best_index(self.trials) if best is None else best
        for row in {old, self.best} - {-1}:
            if row < len(self.trials):
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def trial(self, row: int) -> Trial | None:
        return self.trials[row] if 0 <= row < len(self.trials) else None

    # ------------------------------------------------------------- Qt model

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(self.trials)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section][0]
        if role == Qt.ItemDataRole.ToolTipRole:
            return COLUMNS[section][1]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        trial = self.trial(index.row()) if index.isValid() else None
        if trial is None:
            return None
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(index.row(), trial, col)
        if role == SORT_ROLE:
            return self._key(index.row(), trial, col)
        if role == Qt.ItemDataRole.ToolTipRole:
            if not trial.ok:
                return f"This trial failed and the sweep went on: {trial.error}"
            folds = ", ".join(f"{a:.1%}" for a in trial.fold_accuracies)
            epochs = ", ".join(str(e) for e in trial.epochs_run)
            return f"{trial.params.label()}\nfold accuracies: {folds or '—'}\nepochs run per fold: {epochs or '—'}"
        if role == Qt.ItemDataRole.TextAlignmentRole and col not in (STATUS_COLUMN, 4, 5, 6):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.FontRole and index.row() == self.best:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.BackgroundRole and not trial.ok:
            return FAILED_BRUSH
        if role == Qt.ItemDataRole.ForegroundRole and not trial.ok and col == STATUS_COLUMN:
            return FAILED_TEXT
        return None

    @staticmethod
    def _text(row: int, trial: Trial, col: int) -> str:
        p = trial.params
        scored = trial.ok and not math.isnan(trial.cv_accuracy)
        values = (
            str(row + 1),
            f"{trial.cv_accuracy:.1%}" if scored else "—",
            f"{trial.cv_std:.1%}" if scored else "—",
            status_text(trial), p.cut, p.pooling, hidden_text(p.hidden), f"{p.dropout:g}", f"{p.learning_rate:g}",
            f"{p.weight_decay:g}", f"{p.label_smoothing:g}", str(p.epochs), f"{trial.seconds:.1f} s",
        )
        return values[col]

    @staticmethod
    def _key(row: int, trial: Trial, col: int) -> Any:
        p = trial.params
        scored = trial.ok and not math.isnan(trial.cv_accuracy)
        values = (
            row, trial.cv_accuracy if scored else -1.0, trial.cv_std if scored else -1.0, status_text(trial), p.cut,
            p.pooling, (len(p.hidden), sum(p.hidden)), p.dropout, p.learning_rate, p.weight_decay, p.label_smoothing,
            p.epochs, trial.seconds,
        )
        return values[col]


class _SortProxy(QSortFilterProxyModel):
    def lessThan(self, left: QModelIndex, right: QModelIndex) -> bool:  # noqa: N802 - Qt API
        a, b = left.data(SORT_ROLE), right.data(SORT_ROLE)
        try:
            return a < b
        except TypeError:
            return str(a) < str(b)


class SweepTable(QTableView):
    """The sortable trial table (click a header to sort; the selection follows the trial, not the row).

    Signals:
        trial_selected(object): the selected :class:`~tlstudio.api.sweep.Trial`, or None.
    """

    trial_selected = Signal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("SweepTable")
        self.trials = SweepTableModel(self)
        self.proxy = _SortProxy(self)
        self.proxy.setSourceModel(self.trials)
        self.setModel(self.proxy)
        self.setSortingEnabled(True)
        self.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        header = self.horizontalHeader()
        # Interactive, sized from the first rows: ResizeToContents would measure every cell of
        # every row after each new trial (seconds per trial past a few hundred).
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setResizeContentsPrecision(SIZE_ROWS)
        header.setStretchLastSection(True)
        self._sized_rows = -1
        self._fit_when_shown = False
        self.trials.modelReset.connect(self._fit_columns)
        self.trials.rowsInserted.connect(lambda *_a: self._fit_columns() if self.trials.rowCount() <= SIZE_ROWS else None)
        self._fit_columns()
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.selectionModel().selectionChanged.connect(lambda *_a: self.trial_selected.emit(self.selected_trial()))

    def _fit_columns(self) -> None:
        """Size the columns to the header and the first :data:`SIZE_ROWS` rows; Status gets a fixed width.

        A hidden table is sized when it is next shown: measuring every cell with the style sheet is most of
        the Model page's construction when the project has a sweep (35 of 65 ms), and the page is built in
        the background after launch with its sweep tab hidden.
        """
        if not self.isVisible():
            self._fit_when_shown = True
            return
        self._fit_when_shown = False
        self.resizeColumnsToContents()
        self.horizontalHeader().resizeSection(STATUS_COLUMN, STATUS_WIDTH)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if self._fit_when_shown:
            self._fit_columns()

    def selected_row(self) -> int:
        """Plan position of the selected trial, or -1."""
        rows = self.selectionModel().selectedRows()
        return self.proxy.mapToSource(rows[0]).row() if rows else -1

    def selected_trial(self) -> Trial | None:
        return self.trials.trial(self.selected_row())

    def select_trial(self, row: int) -> None:
        """Select the trial at plan position ``row`` and scroll to it."""
        if not 0 <= row < self.trials.rowCount():
            self.clearSelection()
            return
        index = self.proxy.mapFromSource(self.trials.index(row, 0))
        self.selectRow(index.row())
        self.scrollTo(index)
