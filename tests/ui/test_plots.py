"""Training plots: the learning-rate axis stays readable on a log scale."""

from __future__ import annotations

import pytest

from tlstudio.events import BatchEnd
from ui.widgets.plots import RateAxis, TrainingPlots, format_rate

from tests.support.plots import drawn_labels, feed_demo_run, scene_rect


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


# ------------------------------------------------------------ layout at both window sizes


@pytest.mark.parametrize("size", [(396, 330), (396, 390), (790, 520)])  # 1024x680 (with/without advice), 1600x1000
def test_legend_sits_above_the_plots_and_the_lr_strip_stays_readable(qtbot, size):
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.resize(*size)
    plots.show()
    qtbot.waitExposed(plots)
    qtbot.waitUntil(lambda: all(holder.built for holder in plots.holders.values()))  # built when shown, one a turn
    feed_demo_run(plots)
    qtbot.wait(50)
    # the legend is a row of its own: no legend item inside a plot, nothing of it over a data area
    for widget in (plots.loss_widget, plots.acc_widget, plots.lr_widget):
        assert widget.getPlotItem().legend is None
        assert not plots.legend.geometry().intersects(widget.geometry())
    assert plots.legend.geometry().bottom() < plots.loss_widget.geometry().top()
    line = plots.legend.fontMetrics().lineSpacing()
    assert plots.legend.height() < 2 * line, "the legend wraps onto a second line"
    assert plots.legend.sizeHint().width() <= plots.width()
    # the three data areas share their left edge, so the epochs line up under one another
    lefts = {scene_rect(w.getPlotItem().getViewBox(), plots).left() for w in (plots.loss_widget, plots.acc_widget, plots.lr_widget)}
    assert len(lefts) == 1, lefts
    # the LR strip: both rates labelled, the marker labelled with the fine-tuning rate, inside the strip
    lr_box = plots.lr_widget.getPlotItem().getViewBox()
    assert lr_box.height() >= 36
    assert drawn_labels(plots.lr_widget.getPlotItem().getAxis("left")) == ["1e-4", "1e-3"]
    assert drawn_labels(plots.lr_widget.getPlotItem().getAxis("bottom"))[:3] == ["0", "1", "2"]
    label = plots.phase_lines[-1].label
    assert label.isVisible() and label.toPlainText() == "fine-tune · LR 1e-4"
    assert scene_rect(lr_box, plots).contains(scene_rect(label, plots)), "the fine-tune label is cut"
    # loss and accuracy keep readable data areas and tick labels; the epochs are numbered once, at the bottom
    for widget in (plots.loss_widget, plots.acc_widget):
        assert widget.getPlotItem().getViewBox().height() >= 90
        assert len(drawn_labels(widget.getPlotItem().getAxis("left"))) >= 3
        assert drawn_labels(widget.getPlotItem().getAxis("bottom")) == []


def test_marker_label_without_a_known_rate_and_after_reset(qtbot):
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.resize(400, 400)
    plots.show()
    plots.mark_phase2(3)
    assert plots.phase_lines[-1].label.toPlainText() == "fine-tune"
    plots.mark_phase2(3, 2.5e-5)
    assert plots.phase_lines[-1].label.toPlainText() == "fine-tune · LR 2.5e-5"
    plots.reset()
    assert not plots.phase_lines[-1].isVisible()
    plots.show_history([{"epoch": 0, "phase": 1, "loss": 1.0, "lr": 1e-3}, {"epoch": 1, "phase": 2, "loss": 0.5, "lr": 1e-5}])
    assert plots.phase2_epoch == 1.0 and plots.phase_lines[-1].label.toPlainText() == "fine-tune · LR 1e-5"


def test_the_x_axis_fits_the_epochs_run_once_the_run_ends(qtbot):
    """Issue 24: an early-stopped run filled 8% of a 0–100 axis."""
    from tlstudio.events import EpochEnd

    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.resize(600, 500)
    plots.show()
    plots.set_epochs(100)  # the plan
    for epoch in range(8):  # early stopping after 8
        plots.add_epoch(EpochEnd(1, epoch, {"loss": 1.0 / (epoch + 1), "accuracy": 0.5, "val_loss": 1.0, "val_accuracy": 0.5}, 0.0, 1.0))
    plots.fit_epochs_run()
    low, high = plots.loss_widget.getPlotItem().viewRange()[0]
    assert high < 10 and _bottom_labels(plots)[-1] == "8"
    plots.reset()
    plots.show_history([{"epoch": e, "phase": 1, "loss": 1.0, "accuracy": 0.5} for e in range(3)])  # a reopened run
    assert plots.loss_widget.getPlotItem().viewRange()[0][1] < 4
