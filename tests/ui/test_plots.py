"""Training plots: the learning-rate axis stays readable on a log scale."""

from __future__ import annotations

import pytest

from tlstudio.events import BatchEnd
from ui.widgets.plots import RateAxis, TrainingPlots, format_rate


def _labels(axis: RateAxis) -> list[str]:
    low, high = axis.range
    out = []
    for spacing, values in axis.tickValues(low, high, axis.height()):
        out += [s for s in axis.tickStrings(values, 1.0, spacing) if s]
    return out


@pytest.mark.parametrize(
    ("value", "text"), [(1e-3, "1e-3"), (2.5e-4, "2.5e-4"), (1e-4, "1e-4"), (0.01, "0.01"), (0.5, "0.5"), (0.0, "")]
)
def test_format_rate(value, text):
    assert format_rate(value) == text


def test_fine_tuning_drop_labels_decades_only(qtbot):
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.resize(500, 600)
    plots.show()
    plots.set_epochs(6)
    for epoch in range(6):
        for batch in range(4):
            lr = 1e-3 if epoch < 4 else 1e-4
            plots.add_batch(BatchEnd(1 + (epoch >= 4), epoch, batch, 4, epoch * 4 + batch, 1.0, 0.5, lr, 10.0))
    plots.redraw()
    qtbot.waitUntil(lambda: plots.lr_widget.getPlotItem().getAxis("left").range[0] < -3.5)
    axis = plots.lr_widget.getPlotItem().getAxis("left")
    assert isinstance(axis, RateAxis)
    labels = _labels(axis)
    # the old axis labelled 0.0002 … 0.0009 as well, crowded under 0.001
    assert labels == ["1e-4", "1e-3"]


def test_one_decade_gets_multiples_and_thin_axes_fewer_labels(qtbot):
    axis = RateAxis(orientation="left")
    axis.setLogMode(y=True)
    levels = axis.tickValues(-3.9, -3.1, 200)  # 1.3e-4 … 7.9e-4: no decade in view
    labels = [s for spacing, values in levels for s in axis.tickStrings(values, 1.0, spacing) if s]
    assert labels == ["2e-4", "5e-4"]
    many = axis.tickValues(-8.0, 0.0, 60)  # nine decades on 60 px
    labelled = [v for spacing, values in many if spacing is not None for v in values]
    assert 1 < len(labelled) <= 60 // RateAxis.MIN_LABEL_GAP + 1
    assert labelled[-1] == 0.0


def _bottom_labels(plots: TrainingPlots) -> list[str]:
    axis = plots.loss_widget.getPlotItem().getAxis("bottom")
    low, high = axis.range
    out = []
    for spacing, values in axis.tickValues(low, high, axis.width()):
        out += [text for text, v in zip(axis.tickStrings(values, 1.0, spacing), values) if low <= v <= high]
    return out


def test_epoch_axis_labels_whole_epochs(qtbot):
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.resize(600, 500)
    plots.show()
    assert _bottom_labels(plots) == ["0", "1"]  # empty: no 0.1 … 0.9
    plots.set_epochs(6)
    assert _bottom_labels(plots) == [str(e) for e in range(7)]  # no 0.5, 1.5, …
    plots.set_epochs(40)
    labels = _bottom_labels(plots)
    assert labels[:3] == ["0", "5", "10"] and labels[-1] == "40"
