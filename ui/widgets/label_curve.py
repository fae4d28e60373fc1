"""The Label page's learning curve: validation accuracy against the number of labelled training images.

One point per refit (the start, then each round), coloured by the strategy
that chose the round's images, joined by a line; hovering a point names its
round, strategy, image count and accuracy. The validation split is the same
files in every round, so the points compare.
"""

from __future__ import annotations

from typing import Any, Sequence

import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ui.widgets.lazy_plot import LazyPlot, build_on_look, settle
from ui.widgets.probe_chart import AXIS_COLOUR, PercentAxis

COLOURS = {"start": "#8a8f98", "uncertainty": "#d1495b", "diverse": "#2f6fb3", "random": "#edae49"}
EMPTY_TEXT = "One point per round: validation accuracy against labelled training images."


class LabelCurve(QWidget):
    """The plot and a one-line summary under it."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("LabelCurve")
        self.holder = LazyPlot(self._make_plot)  # built when first shown
        self.holder.setMinimumHeight(150)
        self.summary = QLabel(EMPTY_TEXT)
        self.summary.setObjectName("Hint")
        self.summary.setWordWrap(True)
        self.legend = QLabel(" ".join(f"<span style='color:{c}'>●</span> {name}" for name, c in COLOURS.items()))
        self.legend.setObjectName("LabelCurveLegend")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.holder, 1)
        layout.addWidget(self.legend)
        layout.addWidget(self.summary)
        self.curve: list[tuple[int, float, str]] = []
        settle([self.holder])

    def _make_plot(self) -> pg.PlotWidget:
        plot = pg.PlotWidget(background="w", axisItems={"left": PercentAxis("left")})
        plot.setMinimumHeight(150)
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        item = plot.getPlotItem()
        item.setLabel("bottom", "labelled training images", color=AXIS_COLOUR)
        item.setLabel("left", "val accuracy", color=AXIS_COLOUR)
        item.showGrid(x=True, y=True, alpha=0.2)
        self.line = plot.plot([], [], pen=pg.mkPen("#9aa5b1", width=1.5))
        self.points = pg.ScatterPlotItem(size=9, hoverable=True, tip=self._tip)
        plot.addItem(self.points)
        return plot

    @property
    def plot(self) -> pg.PlotWidget:
        return self.holder.widget()

    def __getattr__(self, name: str) -> Any:  # the plot's items: looking at one builds the plot
        return build_on_look(self, name, {"line": "holder", "points": "holder"})

    def set_curve(self, curve: Sequence[tuple[int, float, str]]) -> None:
        """Show ``(labelled, accuracy, strategy)`` points, oldest first."""
        self.curve = list(curve)
        self.holder.render(self._draw)
        if not self.curve:
            self.summary.setText(EMPTY_TEXT)
            return
        n, acc, strategy = self.curve[-1]
        text = f"Latest: {acc:.1%} with {n} training images ({strategy})"
        if len(self.curve) > 1:
            first = self.curve[0]
            text += f"; {acc - first[1]:+.1%} over {n - first[0]} images since the start"
        self.summary.setText(text + ".")

    def _draw(self, plot: pg.PlotWidget) -> None:
        xs = [float(p[0]) for p in self.curve]
        ys = [float(p[1]) for p in self.curve]
        self.line.setData(xs, ys)
        self.points.setData([{"pos": (x, y), "data": i, "brush": pg.mkBrush(COLOURS.get(p[2], "#34414e")), "pen": None}
                             for i, (x, y, p) in enumerate(zip(xs, ys, self.curve))])
        if ys:
            plot.setYRange(max(0.0, min(ys) - 0.05), min(1.0, max(ys) + 0.05))
            pad = max(2.0, 0.05 * (max(xs) - min(xs)))
            plot.setXRange(min(xs) - pad, max(xs) + pad)

    def _tip(self, x: float, y: float, data: int) -> str:
        n, acc, strategy = self.curve[data]
        name = "start" if strategy == "start" else f"round {data if self.curve[0][2] == 'start' else data + 1}, {strategy}"
        return f"{name}\n{n} images: {acc:.1%}"
