"""One-vs-rest ROC and precision-recall curves per class, with their areas, drawn with pyqtgraph.

The curves are the evaluation's own (:attr:`tlstudio.api.metrics.Metrics.curves`,
computed once in the engine with scikit-learn), the same numbers the run
report draws; this widget only draws them. A class the split has no image of
(or only images of) has no curve, and its legend entry says so.
"""

from __future__ import annotations

from typing import Sequence

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from tlstudio.api.metrics import ClassCurves
from ui.widgets.lazy_plot import LazyPlot, settle

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
"""Matplotlib's tab10, so a class has the same colour here and in the report."""


def _area(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _plot(title: str, x: str, y: str, tip: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(background="w")
    plot.setMinimumSize(150, 150)
    plot.setTitle(title, color="#333", size="9pt")
    plot.setLabel("bottom", x)
    plot.setLabel("left", y)
    plot.setXRange(0, 1, padding=0.02)
    plot.setYRange(0, 1, padding=0.02)
    plot.setMouseEnabled(x=False, y=False)
    plot.hideButtons()
    plot.setToolTip(tip)
    return plot


def _roc_plot() -> pg.PlotWidget:
    plot = _plot("ROC (one vs rest)", "false-positive rate", "true-positive rate",
                 "One class against the rest: the true-positive rate against the false-positive rate as the "
                 "threshold on the class's probability falls. AUC 1 is perfect, 0.5 is chance.")
    plot.setObjectName("RocPlot")
    plot.addLegend(offset=(-4, -4), labelTextSize="7pt")
    return plot


def _pr_plot() -> pg.PlotWidget:
    plot = _plot("PR (one vs rest)", "recall", "precision",
                 "Precision-recall, one class against the rest: precision against recall as the threshold falls. AP (average "
                 "precision) is the area under it; it says more than ROC AUC when a class is rare.")
    plot.setObjectName("PrPlot")
    plot.addLegend(offset=(4, -4), labelTextSize="7pt")
    return plot


class RocPrPlots(QWidget):
    """ROC above precision-recall, one curve per class, its area in the legend."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        # each plot is built when first shown (a PlotWidget is ~30 ms of work), and draws the curves then
        self.holders = (LazyPlot(lambda: _roc_plot()), LazyPlot(lambda: _pr_plot()))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for holder in self.holders:
            holder.setMinimumSize(150, 150)
            layout.addWidget(holder, 1)
        self.curves: tuple[ClassCurves, ...] = ()
        settle(self.holders)

    @property
    def roc(self) -> pg.PlotWidget:
        return self.holders[0].widget()

    @property
    def pr(self) -> pg.PlotWidget:
        return self.holders[1].widget()

    @property
    def legends(self):
        return self.roc.plotItem.legend, self.pr.plotItem.legend

    def set_curves(self, curves: Sequence[ClassCurves]) -> None:
        """Draw ``curves`` (one :class:`~tlstudio.api.metrics.ClassCurves` per class), replacing the last ones."""
        self.curves = tuple(curves)
        self.holders[0].render(self._draw_roc)
        self.holders[1].render(self._draw_pr)

    def _draw_roc(self, plot: pg.PlotWidget) -> None:
        plot.clear()
        plot.plot([0, 1], [0, 1], pen=pg.mkPen("#999", width=1, style=Qt.PenStyle.DotLine))
        for i, c in enumerate(self.curves):
            if c.roc_auc is not None:
                plot.plot(list(c.fpr), list(c.tpr), pen=pg.mkPen(COLOURS[i % len(COLOURS)], width=2), name=f"{c.name} AUC {_area(c.roc_auc)}")

    def _draw_pr(self, plot: pg.PlotWidget) -> None:
        plot.clear()
        for i, c in enumerate(self.curves):
            if c.average_precision is not None:
                plot.plot(list(c.recall), list(c.precision), pen=pg.mkPen(COLOURS[i % len(COLOURS)], width=2), stepMode=None,
                          name=f"{c.name} AP {_area(c.average_precision)}")

    def legend_texts(self) -> tuple[list[str], list[str]]:
        """The ROC and PR legends' entries, as shown."""
        return tuple([label.text for _, label in legend.items] for legend in self.legends)  # type: ignore[return-value]
