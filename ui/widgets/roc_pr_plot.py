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


class RocPrPlots(QWidget):
    """ROC above precision-recall, one curve per class, its area in the legend."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.roc = _plot("ROC (one vs rest)", "false-positive rate", "true-positive rate",
                         "One class against the rest: the true-positive rate against the false-positive rate as the "
                         "threshold on the class's probability falls. AUC 1 is perfect, 0.5 is chance.")
        self.roc.setObjectName("RocPlot")
        self.pr = _plot("Precision-recall (one vs rest)", "recall", "precision",
                        "One class against the rest: precision against recall as the threshold falls. AP (average "
                        "precision) is the area under it; it says more than ROC AUC when a class is rare.")
        self.pr.setObjectName("PrPlot")
        self.legends = (self.roc.addLegend(offset=(-4, -4), labelTextSize="7pt"), self.pr.addLegend(offset=(4, -4), labelTextSize="7pt"))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.roc, 1)
        layout.addWidget(self.pr, 1)
        self.curves: tuple[ClassCurves, ...] = ()

    def set_curves(self, curves: Sequence[ClassCurves]) -> None:
        """Draw ``curves`` (one :class:`~tlstudio.api.metrics.ClassCurves` per class), replacing the last ones."""
        self.curves = tuple(curves)
        for plot in (self.roc, self.pr):
            plot.clear()
        self.roc.plot([0, 1], [0, 1], pen=pg.mkPen("#999", width=1, style=Qt.PenStyle.DotLine))
        for i, c in enumerate(self.curves):
            pen = pg.mkPen(COLOURS[i % len(COLOURS)], width=2)
            if c.roc_auc is not None:
                self.roc.plot(list(c.fpr), list(c.tpr), pen=pen, name=f"{c.name} AUC {_area(c.roc_auc)}")
            if c.average_precision is not None:
                self.pr.plot(list(c.recall), list(c.precision), pen=pen, stepMode=None, name=f"{c.name} AP {_area(c.average_precision)}")

    def legend_texts(self) -> tuple[list[str], list[str]]:
        """The ROC and PR legends' entries, as shown."""
        return tuple([label.text for _, label in legend.items] for legend in self.legends)  # type: ignore[return-value]
