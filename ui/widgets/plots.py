"""Live training plots: loss, accuracy and learning rate, drawn with pyqtgraph.

:class:`TrainingPlots` listens to the training events of one run
(:class:`~tlstudio.events.RunStarted` fixes the x axis to the planned epochs,
:class:`~tlstudio.events.PhaseChanged`,
:class:`~tlstudio.events.BatchEnd`, :class:`~tlstudio.events.EpochEnd`) through
:meth:`TrainingPlots.handle_event`. Every curve is created once, in the
constructor; new points only grow a numpy buffer and the curve is updated with
``setData``. Redrawing is coalesced: however many events arrive, the curves are
redrawn at most :data:`REDRAW_INTERVAL_MS` apart. A redraw stays cheap: the x
range is fixed for the run and the axes are cached as pixmaps, so a new point
repaints the curves only, not the tick labels (measured: a page repaint went
from ~65 ms to ~7 ms median on a loaded 2-core machine).

The x axis is the epoch, fractional for batches: a batch ``b`` of ``steps`` in
epoch ``e`` sits at ``e + (b + 1) / steps``; the train and validation figures of
epoch ``e`` sit at ``e + 1``, where that epoch ends.

Keras reports a batch's loss and accuracy as the running mean over the epoch so
far. The batch curves undo that mean between two delivered events (the GUI
sees about 20 batch events a second, not every batch): with running means
``m1`` after ``n1`` batches and ``m2`` after ``n2``, the mean of the batches in
between is ``(n2 * m2 - n1 * m1) / (n2 - n1)``. That "recent" value is then
smoothed with an exponential moving average, which follows the training much
more closely than the epoch-long running mean.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QGraphicsItem, QLabel, QVBoxLayout, QWidget

from tlstudio.events import BatchEnd, EpochEnd, PhaseChanged, RunStarted
from ui.widgets.lazy_plot import LazyPlot, settle

REDRAW_INTERVAL_MS = 100
"""Minimum time between two redraws of the curves."""

DEFAULT_SMOOTHING = 0.6
"""Weight of the past in the exponential moving average of the batch curves."""

TRAIN_COLOUR = "#2f6fb3"
VAL_COLOUR = "#e08a2c"
RAW_COLOUR = (47, 111, 179, 70)
LR_COLOUR = "#3a9a5b"
PHASE_COLOUR = "#8a3ab9"
AXIS_COLOUR = "#34414e"

LEFT_AXIS_SAMPLES = ("-0.00", "2.5e-4")
"""The widest tick labels the left axes make room for (loss ``-0.00``, accuracy ``0.8``, learning rate ``2.5e-4``)."""

LR_PADDING = 0.3
"""Share of the learning rate's (log) range added above and below it, so the decade labels at its ends fit."""

PLOT_MIN_HEIGHT = 110
"""Minimum height (px) of the loss and accuracy plots."""

LR_MIN_HEIGHT = 78
"""Minimum height (px) of the learning-rate strip: room for two decade labels, the epoch axis and its title."""

LR_MAX_HEIGHT = 170
"""The learning-rate strip never grows past this: a tall window gives the room to loss and accuracy."""


LEGEND_FONT_SCALE = 0.9
"""The legend's font relative to the page's: one line above the plots in a 1024-pixel-wide window."""

PLOT_NAMES = ("loss", "acc", "lr")
PLOT_TITLES = {"loss": ("loss",), "acc": ("accuracy",), "lr": ("LR", "epoch")}
PLOT_TIPS = {
    "loss": "Loss. Faint line: recent training batches; bold line: the same, smoothed; "
            "squares: training loss per epoch; circles: validation loss per epoch.",
    "acc": "Accuracy. Faint line: recent training batches; bold line: the same, smoothed; "
           "squares: training accuracy per epoch; circles: validation accuracy per epoch.",
    "lr": "Learning rate used for each batch (log scale); the dashed line is where fine-tuning starts",
}


def _curve_styles(prefix: str) -> list[tuple[str, str, Any]]:
    return [
        (f"{prefix}_batch", prefix, lambda: {"pen": pg.mkPen(RAW_COLOUR, width=1)}),
        (f"{prefix}_smooth", prefix, lambda: {"pen": pg.mkPen(TRAIN_COLOUR, width=2), "name": "train (batches)"}),
        (f"{prefix}_train", prefix, lambda: {"pen": None, "symbol": "s", "symbolSize": 8, "symbolBrush": TRAIN_COLOUR,
                                             "symbolPen": "w", "name": "train (epoch)"}),
        (f"{prefix}_val", prefix, lambda: {"pen": pg.mkPen(VAL_COLOUR, width=2), "symbol": "o", "symbolSize": 8,
                                           "symbolBrush": VAL_COLOUR, "symbolPen": "w", "name": "validation"}),
    ]


CURVES = (*_curve_styles("loss"), *_curve_styles("acc"), ("lr", "lr", lambda: {"pen": pg.mkPen(LR_COLOUR, width=2)}))
"""Every curve: its key, the plot it is on, and its look (made when the plot is built)."""


def legend_html() -> str:
    """The legend row above the plots: one sample per kind of mark, in the marks' colours.

    The dashed fine-tuning marker needs no entry: the learning-rate strip labels it.
    """
    entries = (
        (TRAIN_COLOUR, "&#9473;&#9473;", "train (batches)"),
        (TRAIN_COLOUR, "&#9632;", "train (epoch)"),
        (VAL_COLOUR, "&#9472;&#9679;&#9472;", "validation"),
    )
    return " &nbsp; ".join(
        f'<span style="white-space:nowrap"><span style="color:{colour}; font-weight:bold">{glyph}</span>&nbsp;{text}</span>'
        for colour, glyph, text in entries
    )


class Series:
    """A growing (x, y) buffer that hands numpy views to ``setData`` without copying.

    The capacity doubles when full, so appending is amortised O(1) and a long
    run never re-converts Python lists.
    """

    def __init__(self, capacity: int = 256):
        self._x = np.empty(capacity, dtype=np.float64)
        self._y = np.empty(capacity, dtype=np.float64)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def append(self, x: float, y: float) -> None:
        if self._n == len(self._x):
            self._x = np.concatenate([self._x, np.empty_like(self._x)])
            self._y = np.concatenate([self._y, np.empty_like(self._y)])
        self._x[self._n] = x
        self._y[self._n] = y
        self._n += 1

    def clear(self) -> None:
        self._n = 0

    def truncate_after(self, x_max: float) -> int:
        """Drop the trailing points with ``x > x_max``; returns how many went.

        A resumed run drops the batches of the epoch a cancel cut short
        (points are appended in x order, so they are the trailing ones).
        """
        keep = self._n
        while keep and not self._x[keep - 1] <= x_max:
            keep -= 1
        dropped, self._n = self._n - keep, keep
        return dropped

    @property
    def x(self) -> np.ndarray:
        return self._x[: self._n]

    @property
    def y(self) -> np.ndarray:
        return self._y[: self._n]


class _Ema:
    """Exponential moving average that starts from its first value (no bias toward 0)."""

    def __init__(self, smoothing: float):
        self.smoothing = smoothing
        self.value: float | None = None

    def update(self, x: float) -> float:
        if self.value is None or not math.isfinite(self.value):
            self.value = x
        else:
            self.value = self.smoothing * self.value + (1.0 - self.smoothing) * x
        return self.value

    def reset(self) -> None:
        self.value = None


def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def format_rate(value: float) -> str:
    """Short label for a learning rate: ``1e-3``, ``5e-4``, ``2.5e-4``, ``0.01``."""
    if value <= 0 or not math.isfinite(value):
        return ""
    if 1e-2 <= value < 1e3:
        return f"{value:.3g}"
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


class RateAxis(pg.AxisItem):
    """Left axis of the learning-rate plot (log scale) with few, readable labels.

    pyqtgraph labels every 1..9 multiple inside a decade when fewer than three
    decades are visible, so the usual 1e-3 → 1e-4 fine-tuning drop crowds nine
    labels into the top of the plot. This axis labels the decades (``1e-3``),
    adds the 2× and 5× multiples only when at most one decade is in view,
    thins the labels to one per ``MIN_LABEL_GAP`` pixels, and draws the other
    multiples as unlabelled minor ticks.
    """

    MIN_LABEL_GAP = 22
    """Minimum distance in (logical) pixels between two labels."""

    def logTickValues(self, minVal, maxVal, size, stdTicks):  # noqa: N802, N803 - pyqtgraph API
        span = maxVal - minVal
        if not (math.isfinite(span) and span > 0):
            return []
        lo, hi = math.floor(minVal), math.ceil(maxVal)
        decades = [float(d) for d in range(lo, hi + 1) if minVal <= d <= maxVal]
        multiples = (2, 5) if len(decades) <= 1 else ()
        labelled = sorted(decades + [d + math.log10(k) for d in range(lo, hi + 1) for k in multiples
                                     if minVal <= d + math.log10(k) <= maxVal])
        if not labelled:
            # less than a factor 2 in view: plain evenly spaced values
            return [(spacing, [v for v in values if minVal <= v <= maxVal]) for spacing, values in stdTicks[-1:]]
        per_label = span / max(1.0, float(size)) * self.MIN_LABEL_GAP
        step = 1
        while len(labelled) > 1 and (labelled[-1] - labelled[0]) / max(1, len(labelled) - 1) * step < per_label:
            step += 1
        labelled = labelled[::-1][::step][::-1]  # keep the largest value labelled
        minor = [d + math.log10(k) for d in range(lo, hi + 1) for k in range(1, 10)
                 if minVal <= d + math.log10(k) <= maxVal]
        minor = [v for v in minor if all(abs(v - m) > 1e-9 for m in labelled)]
        return [(1.0, labelled), (None, minor)]

    def logTickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph API
        if spacing is None:  # the unlabelled minor ticks
            return [""] * len(values)
        return [format_rate(10.0 ** v) for v in values]


def left_axis_width(widget: QWidget) -> int:
    """Width (px) of every plot's left axis: tick labels plus the rotated title.

    The three plots get the same width, so their data areas, and the epochs
    on them, line up under one another.
    """
    metrics = widget.fontMetrics()
    ticks = max(metrics.horizontalAdvance(text) for text in LEFT_AXIS_SAMPLES)
    return ticks + 6 + round(1.4 * metrics.height())  # tick text offset, then the rotated title


def _style_plot(widget: pg.PlotWidget, left: str, bottom: str = "") -> pg.PlotItem:
    """Common look of the three plots; only the one with a ``bottom`` title shows epoch numbers."""
    widget.setMenuEnabled(False)
    widget.hideButtons()
    plot = widget.getPlotItem()
    plot.showGrid(x=True, y=True, alpha=0.2)
    plot.setLabel("left", left, color=AXIS_COLOUR)
    plot.getAxis("left").setWidth(left_axis_width(widget))
    if bottom:
        plot.setLabel("bottom", bottom, color=AXIS_COLOUR)
    else:
        # the plots share the epoch axis: its numbers are drawn once, under the bottom plot
        plot.getAxis("bottom").setStyle(showValues=False)
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setTextPen(AXIS_COLOUR)
        axis.setPen(AXIS_COLOUR)
        axis.enableAutoSIPrefix(False)
        # Keep the rendered axis as a pixmap: a new point repaints the curves,
        # not the tick labels (replaying the axis text was most of a redraw).
        axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    plot.setDownsampling(auto=True, mode="peak")
    plot.setClipToView(True)
    return plot


class TrainingPlots(QWidget):
    """Three stacked plots for one training run: loss, accuracy and learning rate.

    Each of the loss and accuracy plots holds four curves: the raw "recent"
    batch values (faint), their smoothed version, and the per-epoch train and
    validation points. The learning-rate strip at the bottom holds one curve
    (log scale) and the epoch axis the three plots share. A dashed vertical
    line marks where phase 2 (fine-tuning) starts; on the strip it is labelled
    with the fine-tuning learning rate.

    The legend is a row of text above the plots, never inside them, so it
    hides no curve whatever the window size. The strip keeps a readable
    height (two decade labels and the marker's label) in a 1024×680 window.

    Args:
        smoothing: EMA weight of the past for the batch curves, in ``[0, 1)``.
        parent: Parent widget.

    Attributes:
        curves: Every curve by name (``"loss_batch"``, ``"loss_smooth"``,
            ``"loss_train"``, ``"loss_val"``, the same for ``"acc_…"``, and ``"lr"``).
        phase_lines: The phase-2 markers, one per plot (the last one, on the LR strip, labelled).
        legend: The legend row above the plots.
    """

    def __init__(self, smoothing: float = DEFAULT_SMOOTHING, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("TrainingPlots")
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"smoothing must be within [0, 1). Received: smoothing={smoothing!r}")
        self._smoothing = smoothing
        self._phase2_lr: float | None = None

        self._phase2_label = "fine-tune"
        self._x_end: float | None = None
        self._plots: dict[str, pg.PlotItem] = {}
        """The plots built so far, by name (``loss``, ``acc``, ``lr``)."""
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._lines: dict[str, pg.InfiniteLine] = {}
        # Each plot is built when first shown, one per event-loop turn (a PlotWidget is ~30 ms of work).
        self.holders = {name: LazyPlot(lambda name=name: self._make_plot(name)) for name in PLOT_NAMES}
        for name in ("loss", "acc"):
            self.holders[name].setMinimumHeight(PLOT_MIN_HEIGHT)
        self.holders["lr"].setMinimumHeight(LR_MIN_HEIGHT)
        self.holders["lr"].setMaximumHeight(LR_MAX_HEIGHT)
        self.holders["loss"].setToolTip(PLOT_TIPS["loss"])

        self.legend = QLabel(legend_html())
        self.legend.setObjectName("TrainingPlotsLegend")
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        self.legend.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.legend.setStyleSheet(f"color: {AXIS_COLOUR};")
        font = self.legend.font()
        font.setPointSizeF(font.pointSizeF() * LEGEND_FONT_SCALE)
        self.legend.setFont(font)
        self.legend.setToolTip(
            "Both plots: the faint line is the mean of the batches since the last update, the bold line the same "
            "smoothed; squares and circles are the training and validation figures of each finished epoch; "
            "the dashed line marks where fine-tuning the backbone starts."
        )

        self.series: dict[str, Series] = {key: Series() for key, _plot, _kwargs in CURVES}

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.legend)
        for name, stretch in zip(PLOT_NAMES, (3, 3, 2)):
            layout.addWidget(self.holders[name], stretch)

        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(REDRAW_INTERVAL_MS)
        self._redraw_timer.timeout.connect(self.redraw)
        self._dirty: set[str] = set()
        self.reset()
        settle(self.holders.values())

    def _make_plot(self, name: str) -> pg.PlotWidget:
        """Build plot ``name`` with its curves and phase marker, and draw what is known so far."""
        if name != "loss":
            self.holders["loss"].widget()  # the x axis the others link to
        widget = pg.PlotWidget(background="w", enableMenu=False, axisItems={"left": RateAxis(orientation="left")} if name == "lr" else None)
        widget.setToolTip(PLOT_TIPS[name])
        plot = _style_plot(widget, *PLOT_TITLES[name])
        if name == "acc":
            plot.setYRange(0.0, 1.0, padding=0.02)
            plot.enableAutoRange(axis="y", enable=False)
        if name == "lr":
            plot.setLogMode(x=False, y=True)
            plot.getViewBox().setDefaultPadding(LR_PADDING)
            widget.setMinimumHeight(LR_MIN_HEIGHT)
            widget.setMaximumHeight(LR_MAX_HEIGHT)
        else:
            widget.setMinimumHeight(PLOT_MIN_HEIGHT)
        if name != "loss":
            plot.setXLink(self._plots["loss"])
        self._plots[name] = plot
        for key, plot_name, kwargs in CURVES:
            if plot_name == name:
                self._curves[key] = plot.plot([], [], connect="finite", **kwargs())
                self._dirty.add(key)
        line = pg.InfiniteLine(
            angle=90, movable=False,
            pen=pg.mkPen(PHASE_COLOUR, width=1.5, style=Qt.PenStyle.DashLine),
            # labelled on the LR strip, half-way up: the rate steps down at the marker,
            # so the label sits between the two levels, on the side of the line with
            # more room (pyqtgraph flips the anchor when the line passes the middle)
            label="fine-tune" if name == "lr" else None,
            labelOpts={"position": 0.5, "color": PHASE_COLOUR, "anchors": [(0, 0.5), (1, 0.5)]},
        )
        line.setVisible(False)
        line.setZValue(-10)
        plot.addItem(line, ignoreBounds=True)
        self._lines[name] = line
        self._apply_x_range()
        self._apply_phase_lines()
        self.redraw()
        return widget

    def _built(self) -> None:
        """Build every plot now (code and tests that look at them get real plots)."""
        for holder in self.holders.values():
            holder.widget()

    @property
    def loss_widget(self) -> pg.PlotWidget:
        return self.holders["loss"].widget()

    @property
    def acc_widget(self) -> pg.PlotWidget:
        return self.holders["acc"].widget()

    @property
    def lr_widget(self) -> pg.PlotWidget:
        return self.holders["lr"].widget()

    @property
    def curves(self) -> dict[str, pg.PlotDataItem]:
        """Every curve by name (the plots are built if they were not)."""
        self._built()
        return dict(self._curves)

    @property
    def phase_lines(self) -> list[pg.InfiniteLine]:
        """The phase-2 markers of the loss, accuracy and LR plots (the last one labelled)."""
        self._built()
        return [self._lines[name] for name in PLOT_NAMES]

    # ----------------------------------------------------------------- API

    @property
    def phase2_epoch(self) -> float | None:
        """Epoch where phase 2 starts (the marker's position), or None before phase 2."""
        return self._phase2_epoch

    def reset(self) -> None:
        """Forget the current run: empty every curve and hide the phase marker."""
        for series in self.series.values():
            series.clear()
        self._dirty = set(self.series)
        self._ema = {"loss": _Ema(self._smoothing), "acc": _Ema(self._smoothing)}
        self._last_batch: tuple[int, int, float, float] | None = None  # epoch, n, loss mean, acc mean
        self._phase2_epoch: float | None = None
        self._x_end: float | None = None
        self._session_epochs: int | None = None
        self._apply_x_range()
        self._apply_phase_lines()
        self.redraw()

    def point_count(self, key: str) -> int:
        """Number of finite points in curve ``key`` (buffered, even if not yet redrawn)."""
        return int(np.isfinite(self.series[key].y).sum())

    def handle_event(self, event: object) -> None:
        """Add what ``event`` says to the curves (other event types are ignored)."""
        if isinstance(event, BatchEnd):
            self.add_batch(event)
        elif isinstance(event, EpochEnd):
            self.add_epoch(event)
        elif isinstance(event, PhaseChanged):
            if self._session_epochs is not None:
                self.begin_session(event.first_epoch, self._session_epochs)
            # a resumed session that goes on fine-tuning keeps the marker where phase 2 began
            resumed_in_phase2 = self._phase2_epoch is not None and self._phase2_epoch <= event.first_epoch
            if event.phase >= 2 and not resumed_in_phase2:
                self.mark_phase2(event.first_epoch, event.learning_rate)
        elif isinstance(event, RunStarted):
            # this session's epochs; where it starts comes with the first PhaseChanged
            self._session_epochs = event.total_epochs
            self.set_epochs(event.total_epochs, offset=self._completed_epochs())

    def begin_session(self, first_epoch: int, epochs: int) -> None:
        """A run session starts at global epoch ``first_epoch`` for ``epochs`` more epochs.

        The x axis ends at ``first_epoch + epochs`` (the run's last epoch),
        and what was drawn after ``first_epoch`` goes: the batches of an
        epoch a cancel cut short, which the resumed run trains again.
        """
        self._session_epochs = None
        for key, series in self.series.items():
            if series.truncate_after(float(first_epoch)):
                self._dirty.add(key)
        for ema in self._ema.values():
            ema.reset()
        self._last_batch = None
        if self._phase2_epoch is not None and self._phase2_epoch > first_epoch:
            self._phase2_epoch = None
            self._apply_phase_lines()
        self._x_end = max(1.0, float(first_epoch) + float(epochs))
        self._apply_x_range()
        self._schedule()

    def show_history(self, history) -> None:
        """Draw the per-epoch points of a run's ``history.json`` entries (after :meth:`reset`).

        Used when a run that is not on show is resumed, so its earlier epochs
        stay visible under the new ones.
        """
        for entry in history:
            epoch, phase = int(entry.get("epoch", 0)), int(entry.get("phase", 1))
            if phase >= 2 and self._phase2_epoch is None:
                self.mark_phase2(epoch, _finite(entry.get("lr")))
            metrics = {k: entry[k] for k in ("loss", "accuracy", "val_loss", "val_accuracy") if k in entry}
            self.add_epoch(EpochEnd(phase, epoch, metrics, math.nan, 0.0))
            lr = _finite(entry.get("lr"))
            if lr is not None and lr > 0:  # the epoch's rate as a step
                self.series["lr"].append(float(epoch), lr)
                self.series["lr"].append(float(epoch + 1), lr)
        self._dirty = set(self.series)
        self.redraw()
        self.fit_epochs_run()

    def _completed_epochs(self) -> float:
        """The last whole epoch with a drawn epoch point (0 when none)."""
        ends = [float(np.nanmax(self.series[k].x)) for k in ("loss_train", "loss_val", "acc_train", "acc_val") if len(self.series[k])]
        return max(ends) if ends else 0.0

    def add_batch(self, event: BatchEnd) -> None:
        """Add one (throttled) batch event to the batch curves and the LR curve."""
        steps = max(1, int(event.steps))
        n = int(event.batch) + 1
        x = event.epoch + min(n, steps) / steps
        loss = _finite(event.loss)
        acc = _finite(event.accuracy)
        recent_loss, recent_acc = loss, acc
        last = self._last_batch
        if last is not None and last[0] == event.epoch and n > last[1]:
            # mean of the batches since the previous event, from the two running means
            n1 = last[1]
            if loss is not None and last[2] is not None:
                recent_loss = (n * loss - n1 * last[2]) / (n - n1)
            if acc is not None and last[3] is not None:
                recent_acc = min(1.0, max(0.0, (n * acc - n1 * last[3]) / (n - n1)))
        self._last_batch = (event.epoch, n, loss, acc)
        self._widen(x)
        for prefix, value in (("loss", recent_loss), ("acc", recent_acc)):
            if value is None:
                continue
            self.series[f"{prefix}_batch"].append(x, value)
            self.series[f"{prefix}_smooth"].append(x, self._ema[prefix].update(value))
            self._dirty.update((f"{prefix}_batch", f"{prefix}_smooth"))
        lr = _finite(event.learning_rate)
        if lr is not None and lr > 0:
            self.series["lr"].append(x, lr)
            self._dirty.add("lr")
        self._schedule()

    def add_epoch(self, event: EpochEnd) -> None:
        """Add the train and validation figures of one finished epoch."""
        x = float(event.epoch + 1)
        self._widen(x)
        metrics = event.metrics or {}
        for prefix, key in (("loss", "loss"), ("acc", "accuracy")):
            for kind, name in (("train", key), ("val", f"val_{key}")):
                value = _finite(metrics.get(name))
                if value is not None:
                    self.series[f"{prefix}_{kind}"].append(x, value)
                    self._dirty.add(f"{prefix}_{kind}")
        if not len(self.series["lr"]):
            lr = _finite(event.learning_rate)
            if lr is not None and lr > 0:
                self.series["lr"].append(x, lr)
                self._dirty.add("lr")
        self._schedule()

    def set_epochs(self, total: int, offset: float = 0.0) -> None:
        """Fix the x axis to ``[0, offset + total]`` epochs for the run ahead.

        A fixed range means a new point does not rescale the x axis, so the
        axes are not re-rendered on every redraw. Points beyond the range
        widen it.
        """
        self._x_end = max(1.0, float(math.ceil(offset)) + float(total))
        self._apply_x_range()

    def fit_epochs_run(self) -> None:
        """The run ended: the x axis spans the epochs it ran, not the plan (an early stop fills the plot)."""
        done = self._completed_epochs()
        if done > 0:
            self._x_end = max(1.0, float(math.ceil(done)))
            self._apply_x_range()

    def _apply_x_range(self) -> None:
        """Show ``[0, x_end]`` (automatic while no run is planned) on the plots built so far."""
        plot = self._plots.get("loss")  # the other plots are x-linked to it
        if plot is not None:
            if self._x_end is None:
                plot.enableAutoRange(x=True)
            else:
                plot.enableAutoRange(x=False)
                plot.setXRange(0.0, self._x_end, padding=0.02)
        self._epoch_ticks(1.0 if self._x_end is None else self._x_end)  # an empty plot shows epochs 0 and 1, not 0.1 … 0.9

    def _epoch_ticks(self, end: float) -> None:
        """Label whole epochs on the x axes (every 1, 2, 5 or 10 epochs for ``[0, end]``)."""
        major = next((step for step, limit in ((1, 12), (2, 25), (5, 60), (10, 120)) if end <= limit), None)
        for plot in self._plots.values():
            axis = plot.getAxis("bottom")
            if major is None:
                axis.setTickSpacing()  # long runs: pyqtgraph's automatic spacing
            else:
                axis.setTickSpacing(levels=[(float(major), 0.0)])  # one level: no labelled half epochs

    def _widen(self, x: float) -> None:
        if self._x_end is not None and x > self._x_end:
            self._x_end = float(math.ceil(x))
            self._apply_x_range()

    def mark_phase2(self, first_epoch: float, learning_rate: float | None = None) -> None:
        """Show the phase-2 marker at ``first_epoch`` (global, 0-based epoch index).

        Args:
            first_epoch: Where fine-tuning starts.
            learning_rate: Its starting learning rate, shown in the marker's label ("fine-tune · LR 1e-4");
                None or not positive: the label says "fine-tune" only.
        """
        self._phase2_epoch = float(first_epoch)
        rate = format_rate(learning_rate) if learning_rate is not None else ""
        self._phase2_label = f"fine-tune · LR {rate}" if rate else "fine-tune"
        self._apply_phase_lines()
        # the batch curves restart: fine-tuning is a new regime, so break the lines there
        for ema in self._ema.values():
            ema.reset()
        for key in ("loss_batch", "loss_smooth", "acc_batch", "acc_smooth", "lr"):
            if len(self.series[key]):
                self.series[key].append(self._phase2_epoch, math.nan)
                self._dirty.add(key)

    def redraw(self) -> None:
        """Push the buffered points of every changed curve into pyqtgraph now."""
        self._redraw_timer.stop()
        dirty, self._dirty = self._dirty, set()
        for key in dirty:
            curve = self._curves.get(key)
            if curve is None:  # its plot is not built yet: it draws every point when it is
                continue
            series = self.series[key]
            curve.setData(series.x, series.y)

    def _apply_phase_lines(self) -> None:
        """Show the phase-2 marker (or hide it) on the plots built so far."""
        for name, line in self._lines.items():
            line.setVisible(self._phase2_epoch is not None)
            if self._phase2_epoch is not None:
                line.setPos(self._phase2_epoch)
            if name == "lr":
                line.label.format = self._phase2_label
                if self._phase2_epoch is not None:
                    line.label.valueChanged()  # re-renders the text (it skips that while the line is hidden)

    # ----------------------------------------------------------- internals

    def _schedule(self) -> None:
        if not self._redraw_timer.isActive():
            self._redraw_timer.start()
