"""The sweep's two plots: score against a chosen parameter, and the best score so far.

* **By parameter** (left): one point per scored trial, CV accuracy against
  the parameter the combo names. Categorical parameters (cut, pooling,
  hidden layers) sit at evenly spaced ticks in their natural order (cuts by
  depth, hidden layers by size); learning rate and weight decay use a log
  axis (a weight decay of 0 gets its own tick left of the rest). The best
  trial is a red star; a selected trial is ringed.
* **Best so far** (right): every trial's score in arrival order (grey) and
  the running best as a step line, updated with ``setData`` as each
  :class:`~tlstudio.api.sweep.TrialFinished` arrives.

Failed trials have no score and are not drawn (the table lists them).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from tlstudio.api.sweep import Trial, best_index  # dataclasses only: no TensorFlow
from ui.widgets.probe_chart import PercentAxis, short_names
from ui.widgets.lazy_plot import LazyPlot, build_on_look, settle

POINT_COLOUR = "#2f6fb3"
BEST_COLOUR = "#d1495b"
TRIAL_COLOUR = "#9aa3ad"
AXIS_COLOUR = "#34414e"

PARAMETERS: tuple[tuple[str, str], ...] = (
    ("cut", "Cut"),
    ("pooling", "Pooling"),
    ("hidden", "Hidden layers"),
    ("dropout", "Dropout"),
    ("learning_rate", "Learning rate"),
    ("weight_decay", "Weight decay"),
    ("label_smoothing", "Label smoothing"),
    ("epochs", "Epoch budget"),
)
"""(TrialParams field, label) of every parameter the left plot can show."""

CATEGORICAL = {"cut", "pooling", "hidden"}
LOG_SCALE = {"learning_rate", "weight_decay"}


def _value(trial: Trial, name: str) -> Any:
    return getattr(trial.params, name)


def _hidden_label(hidden: Sequence[int]) -> str:
    return "+".join(str(u) for u in hidden) if hidden else "linear"


def axis_positions(trials: Sequence[Trial], name: str, cut_order: Sequence[str] = ()) -> tuple[list[float], list[tuple[float, str]]]:
    """Where each trial sits on the x axis for parameter ``name``, and the axis ticks.

    Args:
        trials: The trials drawn.
        name: A :data:`PARAMETERS` field.
        cut_order: Cut layers input to output (cuts missing from it follow, by name).

    Returns:
        ``(x per trial, [(x, label), ...])``.
    """
    values = [_value(t, name) for t in trials]
    if name in CATEGORICAL:
        if name == "cut":
            order = {c: i for i, c in enumerate(cut_order)}
            distinct = sorted(set(values), key=lambda c: (order.get(c, len(order)), c))
            label: Callable[[Any], str] = str
        elif name == "hidden":
            distinct = sorted(set(values), key=lambda h: (len(h), h))
            label = _hidden_label
        else:
            distinct = sorted(set(values))
            label = str
        where = {v: float(i) for i, v in enumerate(distinct)}
        labels = [label(v) for v in distinct]
        if name == "cut":
            labels = short_names(labels)
        return [where[v] for v in values], [(where[v], text) for v, text in zip(distinct, labels)]
    if name in LOG_SCALE:
        positive = [float(v) for v in values if v > 0]
        low = math.log10(min(positive)) if positive else 0.0
        zero_at = math.floor(low) - 1.0
        xs = [math.log10(v) if v > 0 else zero_at for v in values]
        lo, hi = min(xs, default=0.0), max(xs, default=0.0)
        ticks = [(math.log10(m * 10.0 ** e), f"{m * 10.0 ** e:g}")
                 for e in range(int(math.floor(lo)) - 1, int(math.ceil(hi)) + 1) for m in (1, 3)
                 if lo - 0.3 <= math.log10(m * 10.0 ** e) <= hi + 0.3]
        if any(v <= 0 for v in values):
            ticks = [(zero_at, "0")] + [t for t in ticks if t[0] > zero_at]
        return xs, ticks
    return [float(v) for v in values], []


def best_so_far(trials: Sequence[Trial]) -> tuple[np.ndarray, np.ndarray]:
    """``(trial numbers, running best CV accuracy)`` over the scored trials, in arrival order."""
    xs, ys, best = [], [], -math.inf
    for i, t in enumerate(trials, start=1):
        if t.ok and not math.isnan(t.cv_accuracy):
            best = max(best, t.cv_accuracy)
        if best > -math.inf:
            xs.append(float(i))
            ys.append(best)
    return np.asarray(xs, float), np.asarray(ys, float)


def steps(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A step line through ``(x, y)``: each value holds until the next x (the best so far only rises at a trial)."""
    if len(x) < 2:
        return x, y
    xs = np.repeat(x, 2)[1:]
    ys = np.repeat(y, 2)[:-1]
    return xs, ys


def _plot_widget(left: str, bottom: str) -> pg.PlotWidget:
    widget = pg.PlotWidget(background="w", enableMenu=False, axisItems={"left": PercentAxis("left")})
    widget.setMenuEnabled(False)
    widget.hideButtons()
    widget.setMinimumHeight(150)
    plot = widget.getPlotItem()
    plot.showGrid(x=False, y=True, alpha=0.25)
    plot.setLabel("left", left, color=AXIS_COLOUR)
    if bottom:  # the left plot's parameter is named by its combo: no label to clip in a short pane
        plot.setLabel("bottom", bottom, color=AXIS_COLOUR)
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setTextPen(AXIS_COLOUR)
        axis.setPen(AXIS_COLOUR)
    return widget


STAR_ROOM = 0.025
"""The view reaches this far above 100%: the best trial's star is drawn whole."""


def _fit_y(plot: pg.PlotItem, ys: Sequence[float]) -> None:
    """A y range with room above the best point for its star (scores are fractions in [0, 1])."""
    if not ys:
        plot.setYRange(0.0, 1.0, padding=0)
        return
    low, high = min(ys), max(ys)
    pad = max(0.02, 0.15 * (high - low))
    # a point at 100% keeps room for its star above it (the axis shows no tick past 100%)
    plot.setYRange(max(0.0, low - pad), min(1.0 + STAR_ROOM, high + pad), padding=0)


class SweepPlot(QWidget):
    """Score against one parameter, and the live best-so-far line.

    Signals:
        trial_clicked(int): the plan position of a trial whose point was clicked.
    """

    trial_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("SweepPlot")
        self.trials: list[Trial] = []
        self.cut_order: tuple[str, ...] = ()
        self.selected = -1
        self._best: tuple[np.ndarray, np.ndarray] = (np.zeros(0), np.zeros(0))

        self.param_combo = QComboBox()
        self.param_combo.setObjectName("SweepPlotParameter")
        for key, label in PARAMETERS:
            self.param_combo.addItem(label, key)
        self.param_combo.setToolTip("The parameter on the horizontal axis of the left plot")
        self.param_combo.currentIndexChanged.connect(self._draw_params)

        # each plot is built when first shown (a PlotWidget is ~30 ms of work), and draws the trials then
        self._params_holder, self._progress_holder = LazyPlot(self._make_by_param), LazyPlot(self._make_progress)
        self.holders = (self._params_holder, self._progress_holder)
        for holder in self.holders:
            holder.setMinimumHeight(150)
        self._xs: dict[int, float] = {}

        self.empty = QLabel("")
        self.empty.setObjectName("Hint")
        self.scale_note = QLabel("")
        self.scale_note.setObjectName("Hint")
        top = QHBoxLayout()
        top.addWidget(QLabel("Score by:"))
        top.addWidget(self.param_combo)
        top.addWidget(self.scale_note)
        top.addWidget(self.empty, 1)
        plots = QHBoxLayout()
        plots.addWidget(self.holders[0], 3)
        plots.addWidget(self.holders[1], 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addLayout(plots, 1)
        self.set_trials([])
        settle(self.holders)

    def _make_by_param(self) -> pg.PlotWidget:
        widget = _plot_widget("CV accuracy", "")
        widget.setObjectName("SweepByParameter")
        widget.setToolTip("Each scored trial's CV accuracy against the chosen parameter; click a point to select its trial")
        self.points = pg.ScatterPlotItem(size=8, brush=pg.mkBrush(POINT_COLOUR), pen=pg.mkPen("w", width=1), hoverable=True, tip=self._tip)
        self.points.sigClicked.connect(self._on_clicked)
        self.best_point = pg.ScatterPlotItem(size=18, symbol="star", brush=pg.mkBrush(BEST_COLOUR), pen=pg.mkPen("w", width=1))
        self.ring = pg.ScatterPlotItem(size=16, brush=None, pen=pg.mkPen(AXIS_COLOUR, width=2))
        for item in (self.points, self.best_point, self.ring):
            widget.addItem(item)
        return widget

    def _make_progress(self) -> pg.PlotWidget:
        widget = _plot_widget("CV accuracy", "")
        widget.setObjectName("SweepBestSoFar")
        widget.setToolTip("Grey: each trial's score as it finished; red: the best so far")
        self.trial_dots = pg.ScatterPlotItem(size=6, brush=pg.mkBrush(TRIAL_COLOUR), pen=None)
        self.best_line = pg.PlotDataItem([], [], pen=pg.mkPen(BEST_COLOUR, width=2), )
        widget.addItem(self.trial_dots)
        widget.addItem(self.best_line)
        widget.getPlotItem().setTitle(f"<span style='color:{BEST_COLOUR}'>best so far</span> by trial", color=AXIS_COLOUR, size="9pt")
        return widget

    @property
    def by_param(self) -> pg.PlotWidget:
        return self.holders[0].widget()

    @property
    def progress_plot(self) -> pg.PlotWidget:
        return self.holders[1].widget()

    def __getattr__(self, name: str) -> Any:  # the plots' items: looking at one builds its plot
        return build_on_look(self, name, {"points": "_params_holder", "best_point": "_params_holder", "ring": "_params_holder",
                                          "trial_dots": "_progress_holder", "best_line": "_progress_holder"})

    # ------------------------------------------------------------------ API

    @property
    def parameter(self) -> str:
        return self.param_combo.currentData()

    def set_parameter(self, name: str) -> None:
        self.param_combo.setCurrentIndex(self.param_combo.findData(name))

    def set_trials(self, trials: Sequence[Trial], cut_order: Sequence[str] | None = None) -> None:
        """Draw exactly ``trials`` (in arrival order)."""
        self.trials = list(trials)
        if cut_order is not None:
            self.cut_order = tuple(cut_order)
        self._draw_params()
        self._draw_progress()

    def add_trial(self, index: int, trial: Trial) -> None:
        """One more trial (or a replaced one at ``index``): both plots follow at once."""
        if index < len(self.trials):
            self.trials[index] = trial
        else:
            self.trials.append(trial)
        self._draw_params()
        self._draw_progress()

    def select(self, index: int) -> None:
        """Ring the trial at plan position ``index`` (-1: none)."""
        self.selected = index
        self._draw_ring()

    def best_line_data(self) -> tuple[np.ndarray, np.ndarray]:
        """The best score after each trial: ``(trial numbers, best so far)`` (the line draws them as steps)."""
        return self._best

    # ------------------------------------------------------------ internals

    def _scored(self) -> list[tuple[int, Trial]]:
        return [(i, t) for i, t in enumerate(self.trials) if t.ok and not math.isnan(t.cv_accuracy)]

    def _draw_params(self) -> None:
        scored = self._scored()
        name = self.parameter
        self.scale_note.setText("log scale" if name in LOG_SCALE else "")
        if not scored:
            self._xs = {}
            self.empty.setText("No scored trial yet." if not self.trials else "No trial has been scored: every one failed.")
        else:
            self.empty.setText("")
        self.holders[0].render(self._render_params)

    def _render_params(self, widget: pg.PlotWidget) -> None:
        scored = self._scored()
        plot = widget.getPlotItem()
        name = self.parameter
        if not scored:
            self.points.setData([])
            self.best_point.setData([])
            self.ring.setData([])
            plot.getAxis("bottom").setTicks(None)
            return
        xs, ticks = axis_positions([t for _i, t in scored], name, self.cut_order)
        self._xs = {i: x for (i, _t), x in zip(scored, xs)}
        # arrays, not a list of spot dicts: pyqtgraph's fast path (one call per trial event)
        self.points.setData(x=np.asarray(xs, float), y=np.asarray([t.cv_accuracy for _i, t in scored], float),
                            data=np.asarray([i for i, _t in scored], dtype=object))
        best = best_index(self.trials)
        if best in self._xs:
            self.best_point.setData(x=[self._xs[best]], y=[self.trials[best].cv_accuracy])
        else:
            self.best_point.setData([])
        axis = plot.getAxis("bottom")
        axis.setTicks([ticks] if ticks else None)
        if ticks and name in CATEGORICAL:
            plot.setXRange(-0.5, len(ticks) - 0.5, padding=0)
        else:
            plot.enableAutoRange(axis="x")
        _fit_y(plot, [t.cv_accuracy for _i, t in scored])
        self._draw_ring()

    def _draw_ring(self) -> None:
        if not self.holders[0].built:  # drawn with the points when the plot is built
            return
        xs = self._xs
        if self.selected in xs:
            self.ring.setData(x=[xs[self.selected]], y=[self.trials[self.selected].cv_accuracy])
        else:
            self.ring.setData([])

    def _draw_progress(self) -> None:
        self._best = best_so_far(self.trials)
        self.holders[1].render(self._render_progress)

    def _render_progress(self, widget: pg.PlotWidget) -> None:
        scored = [(i + 1.0, t.cv_accuracy) for i, t in enumerate(self.trials) if t.ok and not math.isnan(t.cv_accuracy)]
        self.trial_dots.setData([x for x, _y in scored], [y for _x, y in scored])
        self.best_line.setData(*steps(*self._best))
        plot = widget.getPlotItem()
        plot.setXRange(0.5, max(len(self.trials), 1) + 0.5, padding=0.02)
        _fit_y(plot, [y for _x, y in scored])

    def _tip(self, x: float, y: float, data: Any) -> str:
        trial = self.trials[data] if isinstance(data, int) and 0 <= data < len(self.trials) else None
        if trial is None:
            return f"{y:.1%}"
        return f"trial {data + 1}: {trial.cv_accuracy:.1%} ± {trial.cv_std:.1%}\n{trial.params.label()}"

    def _on_clicked(self, _item: Any, points: Any, *_event: Any) -> None:
        if len(points) and isinstance(points[0].data(), int):
            self.trial_clicked.emit(points[0].data())
