"""A heat-coloured confusion matrix whose cells can be clicked.

Each cell shows the count and the row-normalised percentage (the share of the
true class that went to the predicted class); the colour follows the
percentage, so a small class's mistakes stand out as much as a large one's.
Clicking a cell, or moving to it with the arrow keys (Enter or Space shows
the current cell again), emits :attr:`ConfusionMatrixView.cell_activated`
with ``(true_class, predicted_class)``. A selected cell keeps its colour (red
for a mistake, blue for a correct prediction) and gets a dark frame.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QKeyEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

_LOW = np.array([247, 251, 255], float)  # near white
_HIGH_OK = np.array([33, 113, 181], float)  # blue for the diagonal
_HIGH_BAD = np.array([203, 24, 29], float)  # red for mistakes


def heat_colour(fraction: float, diagonal: bool) -> QColor:
    """Cell colour for a row-normalised value in [0, 1]."""
    f = float(np.clip(fraction, 0.0, 1.0)) ** 0.7  # lift small shares so they remain visible
    high = _HIGH_OK if diagonal else _HIGH_BAD
    rgb = _LOW + (high - _LOW) * f
    return QColor(int(rgb[0]), int(rgb[1]), int(rgb[2]))


class ConfusionMatrixView(QTableWidget):
    """Rows are true classes, columns predicted classes.

    Signals:
        cell_activated(int, int): the user clicked, or moved the keyboard
            focus to, cell (true, predicted).
    """

    cell_activated = Signal(int, int)

    EMPTY_TEXT = "No results yet: train a model or open an exported one, then Evaluate."
    """Shown in the empty matrix, so the space does not look broken."""

    BUSY_TEXT = "Evaluating… the confusion matrix appears here when every image is predicted."
    """Shown in the empty matrix while an evaluation runs."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("ConfusionMatrix")
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.setCornerButtonEnabled(False)
        self.setToolTip(
            "Rows: true class. Columns: predicted class. Click a cell (or move with the arrow keys) to see its images; "
            "they are ringed on the Data page's embedding map too."
        )
        self.setAccessibleName("Confusion matrix")
        self._counts = np.zeros((0, 0), np.int64)
        self._empty_text = self.EMPTY_TEXT
        self.setItemDelegate(_KeepColourDelegate(self))
        self.cellClicked.connect(self._clicked)

    def empty_text(self) -> str:
        """The text the empty matrix shows."""
        return self._empty_text

    def set_empty_text(self, text: str) -> None:
        """Set what the empty matrix says (e.g. :data:`BUSY_TEXT` while evaluating)."""
        if text != self._empty_text:
            self._empty_text = text
            self.viewport().update()

    def set_matrix(self, counts: np.ndarray | Sequence[Sequence[int]], class_names: Sequence[str]) -> None:
        """Show a count matrix ``[true][pred]`` for ``class_names``."""
        counts = np.asarray(counts, dtype=np.int64)
        n = len(class_names)
        self._counts = counts
        self.clear()
        self.setRowCount(n)
        self.setColumnCount(n)
        self.setHorizontalHeaderLabels([f"→ {c}" for c in class_names])
        self.setVerticalHeaderLabels(list(class_names))
        totals = counts.sum(axis=1)
        for i in range(n):
            for j in range(n):
                c = int(counts[i, j])
                frac = c / totals[i] if totals[i] else 0.0
                item = QTableWidgetItem(f"{c}\n{frac:.0%}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                colour = heat_colour(frac, i == j)
                item.setBackground(QBrush(colour))
                item.setForeground(QBrush(QColor("white" if colour.lightnessF() < 0.55 else "#1b1f23")))
                item.setToolTip(f"true {class_names[i]}, predicted {class_names[j]}: {c} image(s), {frac:.1%} of {class_names[i]}")
                item.setData(Qt.ItemDataRole.UserRole, (i, j))
                self.setItem(i, j, item)

    def counts(self) -> np.ndarray:
        return self._counts.copy()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        super().paintEvent(event)
        if self.rowCount() == 0:
            painter = QPainter(self.viewport())
            painter.setPen(self.palette().placeholderText().color())
            flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
            painter.drawText(self.viewport().rect().adjusted(12, 12, -12, -12), flags, self._empty_text)
            painter.end()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt API
        before = (self.currentRow(), self.currentColumn())
        super().keyPressEvent(event)
        row, column = self.currentRow(), self.currentColumn()
        activate = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space)
        if row >= 0 and column >= 0 and (activate or (row, column) != before):
            self.cell_activated.emit(row, column)

    def _clicked(self, row: int, column: int) -> None:
        self.cell_activated.emit(row, column)


class _KeepColourDelegate(QStyledItemDelegate):
    """Paints a cell in its own heat colour, selected or not; the selected cell gets a dark frame.

    The default selection paints the highlight colour (blue) over the cell,
    so a selected mistake looked like a correct prediction.
    """

    FRAME = QColor("#1b1f23")

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index) -> None:
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        plain = QStyleOptionViewItem(option)
        plain.state &= ~QStyle.StateFlag.State_Selected
        plain.state &= ~QStyle.StateFlag.State_HasFocus
        super().paint(painter, plain, index)
        if selected:
            painter.save()
            pen = QPen(self.FRAME, 3)
            pen.setJoinStyle(Qt.PenJoinStyle.MiterJoin)
            painter.setPen(pen)
            painter.drawRect(option.rect.adjusted(1, 1, -2, -2))
            painter.restore()
