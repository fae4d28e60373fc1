"""Two or more training runs compared: their accuracy and loss curves overlaid, and the config values that differ.

The config differences table is as tall as its rows (up to
:data:`DIFF_ROWS_SHOWN`, then it scrolls and its title says how many rows are
below). One legend above both plots names each run in its colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from tlstudio.project import RunRecord
from ui.widgets.lazy_plot import LazyPlot, settle

DIFF_ROWS_SHOWN = 6
"""Rows of the config differences table shown before it scrolls."""

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def compact_rows(table: QTableWidget) -> None:
    """Rows one text line tall (plus padding), not the style's roomier default."""
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 10)


def _make_plot(key: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(background="w")
    plot.setObjectName("CompareAccuracy" if key == "accuracy" else "CompareLoss")
    plot.setTitle(f"{key.capitalize()} (solid: validation, dashed: training)", color="#333", size="10pt")
    plot.setLabel("bottom", "epoch")
    plot.showGrid(x=True, y=True, alpha=0.25)
    return plot


def rows_height(table: QTableWidget, rows: int) -> int:
    """Height (px) that shows the header and ``rows`` rows of ``table`` without a vertical scrollbar."""
    header = table.horizontalHeader().sizeHint().height()
    bar = table.horizontalScrollBar().sizeHint().height() if table.horizontalScrollBar().isVisible() else 0
    return header + rows * table.verticalHeader().defaultSectionSize() + 2 * table.frameWidth() + bar + 2


class RunComparison(QWidget):
    """Legend, accuracy and loss plots, the training-curves switch and the config differences.

    Args:
        parent: Parent widget.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._legend_entries: list[tuple[str, str]] = []
        pg.setConfigOptions(antialias=True)
        self._records: tuple[RunRecord, ...] = ()
        # each plot is built when first shown (a PlotWidget is ~30 ms of work), and draws the runs then
        self.holders = {key: LazyPlot(lambda key=key: _make_plot(key)) for key in ("accuracy", "loss")}
        # One legend for both plots, as a wrapping label above them: run names are
        # long, and a pyqtgraph legend inside a half-width plot covered the
        # curves and was clipped at its right edge at 200% scaling.
        self.legend = QLabel("")
        self.legend.setObjectName("CompareLegend")
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        self.legend.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.legend.setToolTip("Colour of each selected run in both plots")
        self.train_curves = QCheckBox("Show training curves")
        self.train_curves.setToolTip("Also draw each run's training curves (dashed) next to its validation curves")
        self.train_curves.setChecked(True)

        self.diff_table = QTableWidget(0, 1)
        self.diff_table.setHorizontalHeaderLabels(["setting"])  # not Qt's default "1"
        self.diff_table.setObjectName("ConfigDiff")
        self.diff_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.diff_table.verticalHeader().setVisible(False)
        compact_rows(self.diff_table)
        self.diff_table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.diff_table.setWordWrap(False)
        self.diff_table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.diff_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)  # the runs share the width
        self.diff_label = QLabel("Config differences")

        plots = QWidget()
        plots_layout = QHBoxLayout(plots)
        plots_layout.setContentsMargins(0, 0, 0, 0)
        plots_layout.addWidget(self.holders["accuracy"], 1)  # halves: a built plot's size hint follows its size,
        plots_layout.addWidget(self.holders["loss"], 1)  # so the one built first would keep the width it had then
        lower_layout = QVBoxLayout(self)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addWidget(self.legend)
        lower_layout.addWidget(plots, 3)
        lower_layout.addWidget(self.train_curves)
        lower_layout.addWidget(self.diff_label)
        lower_layout.addWidget(self.diff_table)  # as tall as its rows: the plots take the rest
        self._fit_diff_table()
        settle(self.holders.values())

    @property
    def acc_plot(self) -> pg.PlotWidget:
        return self.holders["accuracy"].widget()

    @property
    def loss_plot(self) -> pg.PlotWidget:
        return self.holders["loss"].widget()

    def _fit_diff_table(self) -> None:
        """Make the differences table as tall as its rows (at most :data:`DIFF_ROWS_SHOWN`; more scroll)."""
        rows = self.diff_table.rowCount()
        self.diff_table.setFixedHeight(rows_height(self.diff_table, min(max(rows, 1), DIFF_ROWS_SHOWN)))

    def show_runs(self, records: Sequence[RunRecord]) -> None:
        """Overlay ``records``' curves and list their config differences (none: an empty comparison)."""
        self._records = tuple(records)
        for key, holder in self.holders.items():
            holder.render(lambda plot, key=key: self._draw(plot, key))
        self.diff_table.setRowCount(0)
        self._fit_diff_table()
        self.legend.clear()
        self._legend_entries = []
        if not records:
            self.diff_label.setText("Config differences: select two or more runs")
            return
        from tlstudio.project import config_diff

        self._legend_entries = [(PALETTE[n % len(PALETTE)], r.id) for n, r in enumerate(records)]
        self.legend.setText(" &nbsp; ".join(
            f'<span style="color:{colour}">&#9632;</span>&nbsp;{escape(run_id)}' for colour, run_id in self._legend_entries
        ))
        if len(records) < 2:
            self.diff_label.setText("Config differences: select two or more runs")
            return
        rows = config_diff([r.config for r in records])
        hidden = len(rows) - DIFF_ROWS_SHOWN
        title = f"Config differences ({len(rows)}"
        title += f"; scroll the table for the other {hidden})" if hidden > 0 else ")"
        self.diff_label.setText(title if rows else "Config differences: the configs are identical")
        self.diff_table.setColumnCount(1 + len(records))
        self.diff_table.setHorizontalHeaderLabels(["setting", *[r.id for r in records]])
        self.diff_table.setRowCount(len(rows))
        for row, values in enumerate(rows):
            for col, value in enumerate(values):
                item = QTableWidgetItem("—" if value is None else str(value))
                item.setToolTip(item.text())  # the full value when the column elides it
                self.diff_table.setItem(row, col, item)
        header = self.diff_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        for col, record in enumerate(records, start=1):
            self.diff_table.horizontalHeaderItem(col).setToolTip(record.run_dir or record.id)
        self._fit_diff_table()

    def _draw(self, plot: pg.PlotWidget, key: str) -> None:
        """Draw the runs' ``key`` curves (``accuracy`` or ``loss``) on ``plot``."""
        from tlstudio.project import history_curves

        plot.clear()
        show_train = self.train_curves.isChecked()
        for n, record in enumerate(self._records):
            colour = PALETTE[n % len(PALETTE)]
            curves = history_curves(record.history)
            x = curves["epoch"]
            if f"val_{key}" in curves:
                plot.plot(x, curves[f"val_{key}"], pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=5, symbolBrush=colour, name=record.id)
            if show_train and key in curves:
                plot.plot(x, curves[key], pen=pg.mkPen(colour, width=1.5, style=Qt.PenStyle.DashLine),
                          name=None if f"val_{key}" in curves else record.id)
        longest = max((len(r.history) for r in self._records), default=0)
        axis = plot.getAxis("bottom")
        if 0 < longest <= 25:
            axis.setTickSpacing(major=5 if longest > 12 else 1, minor=1)
        else:
            axis.setTickSpacing()

    def diff_rows(self) -> list[tuple[str, ...]]:
        """The config diff as shown: ``(setting, value per run...)``."""
        out = []
        for row in range(self.diff_table.rowCount()):
            out.append(tuple(self.diff_table.item(row, c).text() for c in range(self.diff_table.columnCount())))
        return out

    def legend_entries(self) -> list[tuple[str, str]]:
        """``(colour, run id)`` of each run named in the legend, in order."""
        return list(self._legend_entries)

    def plotted_runs(self) -> list[str]:
        """Names of the validation curves on the accuracy plot."""
        return [item.name() for item in self.acc_plot.getPlotItem().listDataItems() if item.name()]

