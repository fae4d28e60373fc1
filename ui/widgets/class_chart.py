"""A bar chart of images per class, stacked by split (pyqtgraph ``BarGraphItem``)."""

from __future__ import annotations

from typing import Mapping

import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ui.widgets.lazy_plot import LazyPlot, settle

SPLIT_COLOURS = {"train": "#2f6fb3", "val": "#e08a2c", "test": "#3a9a5b"}


SPLIT_NAMES = {"train": "train", "val": "validation", "test": "test", "all": "images"}
AXIS_COLOUR = "#34414e"


class ClassCountChart(QWidget):
    """Images per class, one stacked bar per class (train, val, test), with a legend below.

    Call :meth:`set_counts` with ``{split: {class: n}}``.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("ClassCountChart")
        self.setToolTip("Images per class; colours show the train / validation / test split")
        self.holder = LazyPlot(self._make_plot)  # built when first shown
        self.holder.setMinimumHeight(140)
        self.legend_label = QLabel()
        self.legend_label.setObjectName("ChartLegend")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.holder, 1)
        layout.addWidget(self.legend_label)
        self._bars: dict[str, pg.BarGraphItem] = {}
        self._stacks: list[tuple[str, list[float], list[float]]] = []
        self.class_names: tuple[str, ...] = ()
        self.totals: list[int] = []
        settle([self.holder])

    def _make_plot(self) -> pg.PlotWidget:
        widget = pg.PlotWidget(background="w", enableMenu=False)
        widget.setMinimumHeight(140)
        widget.setMenuEnabled(False)
        widget.setMouseEnabled(x=False, y=False)
        widget.hideButtons()
        plot = widget.getPlotItem()
        plot.showGrid(x=False, y=True, alpha=0.25)
        plot.setLabel("left", "images", color=AXIS_COLOUR)
        for name in ("left", "bottom"):
            axis = plot.getAxis(name)
            axis.setTextPen(AXIS_COLOUR)
            axis.setPen(AXIS_COLOUR)
        return widget

    @property
    def plot_widget(self) -> pg.PlotWidget:
        return self.holder.widget()

    @property
    def bars(self) -> dict[str, pg.BarGraphItem]:
        """The stacked bars drawn, by split (the plot is built if it was not)."""
        self.holder.widget()
        return self._bars

    def set_counts(self, counts: Mapping[str, Mapping[str, int]], class_names: tuple[str, ...] | None = None) -> None:
        """Draw ``counts`` (``{split: {class: n}}``); classes in ``class_names`` order."""
        legend = []
        if class_names is None:
            seen: dict[str, None] = {}
            for per_class in counts.values():
                seen.update(dict.fromkeys(per_class))
            class_names = tuple(seen)
        self.class_names = tuple(class_names)
        base = [0.0] * len(self.class_names)
        self._stacks = []
        for split in ("train", "val", "test", *[s for s in counts if s not in ("train", "val", "test")]):
            per_class = counts.get(split)
            if not per_class:
                continue
            heights = [float(per_class.get(name, 0)) for name in self.class_names]
            if not any(heights):
                continue
            colour = SPLIT_COLOURS.get(split, "#888888")
            self._stacks.append((split, heights, list(base)))
            legend.append(f'<span style="color:{colour}">&#9632;</span>&nbsp;{SPLIT_NAMES.get(split, split)}')
            base = [b + h for b, h in zip(base, heights)]
        self.totals = [int(b) for b in base]
        self.legend_label.setText("&nbsp;&nbsp;&nbsp;".join(legend))
        self.holder.render(self._draw)

    def _draw(self, widget: pg.PlotWidget) -> None:
        plot = widget.getPlotItem()
        for item in self._bars.values():
            plot.removeItem(item)
        self._bars = {}
        x = list(range(len(self.class_names)))
        for split, heights, base in self._stacks:
            bar = pg.BarGraphItem(x=x, height=heights, y0=base, width=0.6, brush=SPLIT_COLOURS.get(split, "#888888"),
                                  pen=pg.mkPen("#ffffff", width=1))
            plot.addItem(bar)
            self._bars[split] = bar
        axis = plot.getAxis("bottom")
        axis.setTicks([[(i, _short(name)) for i, name in enumerate(self.class_names)]])
        top = max(self.totals) if self.totals else 1
        plot.setXRange(-0.6, max(len(x) - 0.4, 0.6), padding=0)
        plot.setYRange(0, top * 1.1 if top else 1, padding=0)


def _short(name: str, limit: int = 14) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"
