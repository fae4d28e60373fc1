"""The transfer probe's chart: cross-validated accuracy against the depth of the cut.

One point per cut point of the backbone, input to output, with ±1 standard
deviation of the fold accuracies as error bars; the best cut is drawn larger
in another colour and labelled, a dashed line shows chance (always answering
the largest class), and the probe's one-sentence explanation sits under the
plot. Hovering a point names its layer, accuracy and feature length.

:meth:`ProbeChart.set_result` takes a :class:`tlstudio.api.probe.ProbeResult`
(plain data from the engine process).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from tlstudio.api.probe import CutScore, ProbeResult  # dataclasses only: no TensorFlow
from ui.widgets.lazy_plot import LazyPlot, build_on_look, settle

LINE_COLOUR = "#2f6fb3"
BEST_COLOUR = "#d1495b"
CHANCE_COLOUR = "#8a8f98"
AXIS_COLOUR = "#34414e"
TICK_CHARS = 16
"""Longest tick label before it is shortened with an ellipsis (the tooltip has the full name)."""

EMPTY_TEXT = "Run the probe to see which depth of the backbone transfers best to this dataset."


class PercentAxis(pg.AxisItem):
    """A value axis that labels fractions as percentages (0.75 -> "75%")."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.enableAutoSIPrefix(False)

    def tickValues(self, minVal, maxVal, size):  # noqa: N802, N803 - pyqtgraph API
        # a view reaching past 100% (room for a marker) shows no tick above it: a fraction never passes 1
        return [(spacing, [v for v in values if v <= 1.0 + 1e-9]) for spacing, values in super().tickValues(minVal, maxVal, size)]

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph API
        decimals = 0 if spacing * scale >= 0.01 else 1
        labels = [f"{v * scale:.{decimals}%}" for v in values]
        return [text[1:] if text.startswith("-") and not any(c in "123456789" for c in text) else text for text in labels]


def short_names(names: Sequence[str]) -> list[str]:
    """Layer names cut at their first ``_`` when that keeps them apart (``block4_pool`` -> ``block4``), so ticks fit."""
    heads = [n.split("_", 1)[0] for n in names]
    return heads if len(set(heads)) == len(heads) else list(names)


def _short(name: str, limit: int = TICK_CHARS) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def ordered_cuts(result: ProbeResult) -> list[CutScore]:
    """The cuts of ``result`` from the input to the output (by ``depth_index``)."""
    return sorted(result.cuts, key=lambda c: c.depth_index)


def summary_text(result: ProbeResult) -> str:
    """One line under the title: the best cut, its score and what it was scored on."""
    best = next((c for c in result.cuts if c.layer == result.best), None)
    if best is None:
        return "The probe stopped before any cut was scored." if result.cancelled else "No cut was scored."
    pooling = f", {best.pooling} pooling" if best.by_pooling else ""
    parts = [f"<b>Best cut: {best.layer}</b> — {best.cv_accuracy:.1%} ± {best.cv_std:.1%}{pooling}"]
    detail = []
    if result.folds:
        detail.append(f"{result.folds}-fold CV")
    if result.num_images:
        detail.append(f"{result.num_images} training images")
    if result.chance:
        detail.append(f"chance {result.chance:.1%}")
    if result.seconds:
        detail.append(f"{result.seconds:.1f} s" + (", features from the cache" if result.cache_hit else ""))
    if detail:
        parts.append(f"({', '.join(detail)})")
    if result.cancelled:
        parts.append("— cancelled: only the cuts scored so far are shown")
    return " ".join(parts)


BEST_ROOM = 0.12
"""Share of the view kept above the best point: the star and its "best" label are drawn whole, even at 100%."""

PLOT_TIP = "Cut points from the input (left) to the output (right); hover a point for its score"


class ProbeChart(QWidget):
    """CV accuracy per cut point, the best cut marked, the explanation below.

    Attributes:
        layers: Cut layer names in depth order, as drawn.
        best_layer: The marked cut ("" before a result).
    """

    point_clicked = Signal(object, object, object)
    """A cut's point (or the best cut's star) was clicked: ``(item, points, event)``, as pyqtgraph's ``sigClicked``."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("ProbeChart")
        self.layers: list[str] = []
        self.best_layer = ""
        self.result: ProbeResult | None = None

        self.summary = QLabel(EMPTY_TEXT)
        self.summary.setObjectName("ProbeSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.holder = LazyPlot(self._make_plot)  # built when first shown
        self.holder.setMinimumHeight(180)
        self.holder.setToolTip(PLOT_TIP)

        self.explanation = QLabel("")
        self.explanation.setObjectName("ProbeExplanation")
        self.explanation.setWordWrap(True)
        self.explanation.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.summary)
        layout.addWidget(self.holder, 1)
        layout.addWidget(self.explanation)
        self.clear()
        settle([self.holder])

    def _make_plot(self) -> pg.PlotWidget:
        widget = pg.PlotWidget(background="w", enableMenu=False, axisItems={"left": PercentAxis("left")})
        widget.setObjectName("ProbePlot")
        widget.setMinimumHeight(180)
        widget.setMenuEnabled(False)
        widget.setMouseEnabled(x=False, y=False)
        widget.hideButtons()
        plot = widget.getPlotItem()
        plot.showGrid(x=False, y=True, alpha=0.25)
        plot.setLabel("left", "CV accuracy", color=AXIS_COLOUR)
        widget.setToolTip(PLOT_TIP)
        for name in ("left", "bottom"):
            axis = plot.getAxis(name)
            axis.setTextPen(AXIS_COLOUR)
            axis.setPen(AXIS_COLOUR)
        self.curve = plot.plot([], [], pen=pg.mkPen(LINE_COLOUR, width=2))
        self.error_bars = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0), height=np.zeros(0), beam=0.15, pen=pg.mkPen(LINE_COLOUR, width=1.5))
        plot.addItem(self.error_bars)
        self.points = pg.ScatterPlotItem(size=9, brush=pg.mkBrush(LINE_COLOUR), pen=pg.mkPen("w", width=1), hoverable=True, tip=self._tip)
        plot.addItem(self.points)
        self.best_marker = pg.ScatterPlotItem(size=22, symbol="star", brush=pg.mkBrush(BEST_COLOUR), pen=pg.mkPen("w", width=1), hoverable=True, tip=self._tip)
        plot.addItem(self.best_marker)
        self.best_label = pg.TextItem("", color=BEST_COLOUR, anchor=(0.5, 1.3))
        plot.addItem(self.best_label)
        self.chance_line = pg.InfiniteLine(angle=0, pen=pg.mkPen(CHANCE_COLOUR, width=1, style=Qt.PenStyle.DashLine),
                                           label="chance", labelOpts={"color": CHANCE_COLOUR, "position": 0.04, "anchors": [(0, 1), (0, 1)]})
        self.chance_line.setVisible(False)
        plot.addItem(self.chance_line)
        self.points.sigClicked.connect(self.point_clicked)
        self.best_marker.sigClicked.connect(self.point_clicked)

        return widget

    @property
    def plot_widget(self) -> pg.PlotWidget:
        return self.holder.widget()

    def __getattr__(self, name: str) -> Any:  # the plot's items: looking at one builds the plot
        return build_on_look(self, name, dict.fromkeys(("curve", "error_bars", "points", "best_marker", "best_label", "chance_line"), "holder"))

    # ------------------------------------------------------------------ API

    def clear(self, message: str = EMPTY_TEXT) -> None:
        """Show no result, with ``message`` above the empty plot."""
        self.result = None
        self.layers, self.best_layer = [], ""
        self._cuts: list[CutScore] = []
        self.holder.render(self._draw)
        self.summary.setText(message)
        self.explanation.setText("")

    def _draw_empty(self, widget: pg.PlotWidget) -> None:
        self.curve.setData([], [])
        self.error_bars.setData(x=np.zeros(0), y=np.zeros(0), height=np.zeros(0))
        self.points.setData([])
        self.best_marker.setData([])
        self.best_label.setText("")
        self.chance_line.setVisible(False)
        widget.getPlotItem().getAxis("bottom").setTicks([[]])
        widget.getPlotItem().setYRange(0.0, 1.0, padding=0)  # 0%..100%: an empty range labelled every tick "0.0%"

    def set_result(self, result: ProbeResult) -> None:
        """Draw the scores of ``result``, mark its best cut and show its explanation."""
        cuts = ordered_cuts(result)
        if not cuts:
            self.clear(summary_text(result))
            self.result = result
            self.explanation.setText(result.explanation)
            return
        self.result = result
        self.layers = [c.layer for c in cuts]
        self._cuts = cuts
        best = next((i for i, c in enumerate(cuts) if c.layer == result.best), None)
        self.best_layer = result.best if best is not None else ""
        self.holder.render(self._draw)
        self.summary.setText(summary_text(result))
        self.explanation.setText(result.explanation)

    def _draw(self, widget: pg.PlotWidget) -> None:
        """Draw the current result (or nothing) on the built plot."""
        cuts, result = self._cuts, self.result
        if not cuts or result is None:
            self._draw_empty(widget)
            return
        x = np.arange(len(cuts), dtype=float)
        y = np.array([c.cv_accuracy for c in cuts], dtype=float)
        std = np.array([c.cv_std for c in cuts], dtype=float)
        self.curve.setData(x, y)
        self.error_bars.setData(x=x, y=y, height=2 * std)
        self.points.setData([{"pos": (i, c.cv_accuracy), "data": c} for i, c in enumerate(cuts)])
        best = next((i for i, c in enumerate(cuts) if c.layer == result.best), None)
        if best is not None:
            self.best_marker.setData([{"pos": (best, cuts[best].cv_accuracy), "data": cuts[best]}])
            self.best_label.setText(f"best {cuts[best].cv_accuracy:.0%}")
            self.best_label.setPos(best, cuts[best].cv_accuracy + cuts[best].cv_std)
        else:
            self.best_marker.setData([])
            self.best_label.setText("")
        plot = widget.getPlotItem()
        names = short_names(self.layers)  # block4_pool -> block4, so five cuts fit a 1024-wide window
        plot.getAxis("bottom").setTicks([[(i, _short(name)) for i, name in enumerate(names)]])
        self.chance_line.setVisible(result.chance > 0)
        self.chance_line.setValue(result.chance)
        low = min(float(np.min(y - std)), result.chance or 1.0)
        high = float(np.max(y + std))
        pad = max(0.02, 0.12 * (high - low))
        # room above the best point for its star and its "best" label, past 100% if need be (no tick is drawn there)
        top = max(high + 2.5 * pad, high + BEST_ROOM * (high + 2.5 * pad - max(0.0, low - pad)))
        plot.setYRange(max(0.0, low - pad), min(1.0 + BEST_ROOM, top), padding=0)
        plot.setXRange(-0.5, len(cuts) - 0.5, padding=0)

    def best_point(self) -> tuple[float, float] | None:
        """Where the best-cut marker is drawn: ``(x, accuracy)``, or None."""
        self.holder.widget()
        points = self.best_marker.points()
        if not len(points):
            return None
        pos = points[0].pos()
        return float(pos.x()), float(pos.y())

    # ------------------------------------------------------------ internals

    @staticmethod
    def _tip(x: float, y: float, data: Any) -> str:
        if isinstance(data, CutScore):
            text = f"{data.layer}\nCV accuracy {data.cv_accuracy:.1%} ± {data.cv_std:.1%} ({data.pooling} pooling)\n"
            others = [f"{p} pooling {acc:.1%}" for p, acc, _ in data.by_pooling if p != data.pooling]
            return text + "".join(f"{o}\n" for o in others) + f"{data.features} features per image"
        return f"{y:.1%}"
