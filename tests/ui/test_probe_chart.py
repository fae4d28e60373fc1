"""The transfer probe's chart and its tab on the Model page.

The chart is driven with real :class:`~tlstudio.api.probe.ProbeResult`
instances (data, the same the engine sends). The page test runs the real
``"probe"`` job in the session's engine process on a tiny generated dataset.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tlstudio.config import DataConfig, ModelConfig
from tlstudio.api.probe import CutScore, ProbeResult
from ui.state import AppState
from ui.widgets.probe_chart import ProbeChart

VGG_CUTS = (
    CutScore("block3_pool", 0.71, 0.04, 256, 2),  # given out of order: the chart sorts by depth
    CutScore("block1_pool", 0.58, 0.05, 64, 0),
    CutScore("block5_pool", 0.66, 0.06, 512, 4),
    CutScore("block2_pool", 0.63, 0.03, 128, 1),
    CutScore("block4_pool", 0.76, 0.03, 512, 3),
)
EXPLANATION = ("block4_pool transfers best: the middle blocks' features (textures, parts) suit these photos "
               "better than the last block, which is tuned to the edge-detection task.")


def _result(**changes) -> ProbeResult:
    values = dict(cuts=VGG_CUTS, best="block4_pool", explanation=EXPLANATION, class_names=("ants", "bees"),
                  num_images=200, folds=5, chance=0.52, seconds=3.4)
    values.update(changes)
    return ProbeResult(**values)


def _grab(widget, name: str, tmp_path: Path) -> list[Path]:
    """Grab ``widget`` at 1024×680 and 1600×1000 (PNG files; also into $TLSTUDIO_GRAB_DIR when set)."""
    out = []
    for w, h in ((1024, 680), (1600, 1000)):
        widget.resize(w, h)
        widget.show()
        pixmap = widget.grab()
        assert (pixmap.width(), pixmap.height()) == (w, h)
        for folder in filter(None, (tmp_path, os.environ.get("TLSTUDIO_GRAB_DIR"))):
            path = Path(folder) / f"{name}_{w}x{h}.png"
            assert pixmap.save(str(path))
            out.append(path)
    return out


def test_chart_shows_every_cut_in_depth_order_and_marks_the_best(qtbot, tmp_path):
    chart = ProbeChart()
    qtbot.addWidget(chart)
    chart.set_result(_result())

    assert chart.layers == ["block1_pool", "block2_pool", "block3_pool", "block4_pool", "block5_pool"]
    xs, ys = chart.curve.getData()
    assert list(xs) == [0, 1, 2, 3, 4]
    assert [round(y, 2) for y in ys] == [0.58, 0.63, 0.71, 0.76, 0.66]
    assert len(chart.points.points()) == 5
    heights = chart.error_bars.opts["height"]
    assert [round(h, 2) for h in heights] == [0.10, 0.06, 0.08, 0.06, 0.12]  # ±1 std
    ticks = [label for _x, label in chart.plot_widget.getPlotItem().getAxis("bottom")._tickLevels[0]]
    assert ticks == [name.split("_")[0] for name in chart.layers]  # block4_pool -> block4: five cuts fit

    assert chart.best_layer == "block4_pool"
    assert chart.best_point() == (3.0, pytest.approx(0.76))
    assert "best 76%" in chart.best_label.toPlainText()
    assert "Best cut: block4_pool" in chart.summary.text() and "76.0% ± 3.0%" in chart.summary.text()
    assert "5-fold CV" in chart.summary.text() and "chance 52.0%" in chart.summary.text()
    assert chart.explanation.text() == EXPLANATION
    assert chart.chance_line.isVisible() and chart.chance_line.value() == pytest.approx(0.52)
    tip = chart._tip(3, 0.76, VGG_CUTS[4])
    assert "block4_pool" in tip and "512 features" in tip

    for path in _grab(chart, "probe_chart", tmp_path):
        assert path.stat().st_size > 5000


def test_a_cancelled_probe_shows_the_cuts_it_scored_and_says_so(qtbot):
    chart = ProbeChart()
    qtbot.addWidget(chart)
    chart.set_result(_result(cuts=VGG_CUTS[1:2], best="block1_pool", cancelled=True))
    assert chart.layers == ["block1_pool"] and chart.best_layer == "block1_pool"
    assert "cancelled" in chart.summary.text()

    chart.set_result(_result(cuts=(), best="", cancelled=True, explanation=""))
    assert chart.layers == [] and chart.best_point() is None
    assert "stopped before any cut was scored" in chart.summary.text()


def test_model_page_probe_tab_refuses_without_a_dataset_and_names_what_is_missing(qtbot):
    from ui.pages.model_page import ModelPage

    state = AppState(model_config=ModelConfig(backbone="vgg16", weights="none", image_size=32))
    page = ModelPage(state)
    qtbot.addWidget(page)
    tabs = page.right_tabs
    assert [tabs.tabText(i) for i in range(tabs.count())] == ["Freezing", "Transfer probe", "Head sweep"]
    assert page.run_probe() is False
    text = page.probe_panel.controls.status.text()
    assert "Open a dataset on the Data page" in text and "Received: no dataset folder" in text
    assert not page.probe_panel.runner.is_running()


@pytest.mark.engine
def test_model_page_runs_the_probe_job_in_the_engine_and_draws_every_cut(qtbot, tiny_dataset, tmp_path):
    from ui.pages.model_page import ModelPage

    model = ModelConfig(backbone="vgg16", weights="none", image_size=32)
    state = AppState(model_config=model, data_config=DataConfig(root=str(tiny_dataset), val_fraction=0.25))
    page = ModelPage(state)
    qtbot.addWidget(page)
    page.resize(1024, 680)
    page.show()
    page.right_tabs.setCurrentIndex(1)
    panel = page.probe_panel
    panel.folds_spin.setValue(2)
    with qtbot.waitSignal(panel.probed, timeout=240_000) as got:
        assert page.run_probe() is True
        assert panel.runner.job == "probe" and panel.controls.cancel_button.isVisible()
    result = got.args[0]
    qtbot.waitUntil(lambda: not panel.runner.is_running(), timeout=30_000)
    assert isinstance(result, ProbeResult) and not result.cancelled
    assert panel.chart.layers == [c.layer for c in sorted(result.cuts, key=lambda c: c.depth_index)]
    assert len(panel.chart.layers) == 5 and panel.chart.best_layer == result.best
    assert panel.scored.model == model and panel.scored.folds == 2
    assert not panel.controls.cancel_button.isVisible() and panel.controls.run_button.isEnabled()
    assert not panel.stale.isVisible()

    state.update_model_config(image_size=48)  # the chart now belongs to other settings
    assert panel.stale.isVisible() and "32 px" in panel.stale.text()
    _grab(page, "model_page_probe", tmp_path)


def test_use_this_cut_and_a_click_on_a_point_set_the_model_pages_cut(qtbot):
    from ui.pages.model_page import ModelPage

    state = AppState(model_config=ModelConfig(backbone="vgg16", weights="none", image_size=32))
    page = ModelPage(state)
    qtbot.addWidget(page)
    panel = page.probe_panel
    assert not panel.use_button.isEnabled()
    panel.show_result(_result())
    assert panel.use_button.isEnabled() and panel.use_button.text() == "Use block4_pool"
    panel.use_button.click()
    assert state.model_config.cut == "block4_pool" and page.cut_combo.currentData() == "block4_pool"
    spot = next(p for p in panel.chart.points.points() if p.data().layer == "block2_pool")
    panel.chart.points.sigClicked.emit(panel.chart.points, [spot], None)
    assert state.model_config.cut == "block2_pool" and page.cut_combo.currentText() == "block2_pool"
    panel.choose_cut("block5_pool")  # the last cut is the whole backbone
    assert page.cut_combo.currentData() == ""
    messages = []
    state.status_message.connect(lambda text, _ms: messages.append(text))
    panel.choose_cut("conv4_block6_out")  # a chart scored for ResNet50 while the page shows VGG16
    assert state.model_config.cut == "" and page.cut_combo.currentData() == ""
    assert messages and "Cannot use this cut" in messages[-1] and "Received: 'conv4_block6_out'" in messages[-1]


def test_using_a_cut_takes_the_pooling_the_probe_found_better(qtbot):
    from ui.pages.model_page import ModelPage

    state = AppState(model_config=ModelConfig(backbone="vgg16", weights="none", image_size=32))
    page = ModelPage(state)
    qtbot.addWidget(page)
    cuts = (CutScore("block1_pool", 0.76, 0.05, 64, 0, "max", (("avg", 0.69, 0.05), ("max", 0.76, 0.05))),
            CutScore("block2_pool", 0.70, 0.04, 128, 1, "avg", (("avg", 0.70, 0.04), ("max", 0.61, 0.06))))
    page.probe_panel.show_result(ProbeResult(cuts, "block1_pool", "block1_pool transfers best with max pooling."))
    assert "max pooling" in page.probe_panel.chart.summary.text()
    assert "avg pooling 69.0%" in ProbeChart._tip(0, 0.76, cuts[0])
    page.probe_panel.use_button.click()
    assert state.model_config.cut == "block1_pool" and state.model_config.head.pooling == "max"
    page.probe_panel.choose_cut("block2_pool")
    assert state.model_config.cut == "block2_pool" and state.model_config.head.pooling == "avg"


def test_percent_ticks_never_read_minus_zero():
    """Issue 24: the empty probe chart's ticks read "-0.0%"."""
    from ui.widgets.probe_chart import PercentAxis

    axis = PercentAxis("left")
    labels = axis.tickStrings([-0.00001, -0.0, 0.0, 0.0004, 0.5], 1.0, 0.001)
    assert not any(label.startswith("-0") for label in labels) and labels[-1] == "50.0%"


def test_the_empty_chart_reads_zero_to_a_hundred_percent(qtbot):
    """The walk (issue 24) saw an empty probe chart whose every tick read "0.0%": its range was a sliver around 0."""
    from ui.widgets.probe_chart import ProbeChart

    chart = ProbeChart()
    qtbot.addWidget(chart)
    chart.resize(450, 400)
    chart.show()
    qtbot.waitExposed(chart)
    chart.set_result(_result())
    chart.clear()  # another dataset, or a project without a probe
    qtbot.wait(50)
    low, high = chart.plot_widget.getPlotItem().viewRange()[1]
    assert low <= 0.0 and high >= 1.0 - 1e-9
    axis = chart.plot_widget.getPlotItem().getAxis("left")
    spacing, values = axis.tickValues(low, high, 300)[0]
    labels = axis.tickStrings(values, 1.0, spacing)
    assert len(labels) > 2 and len(set(labels)) == len(labels)  # distinct labels, not "0.0%" on every tick


def test_a_best_cut_at_100_percent_keeps_its_star_and_label_inside_the_plot(qtbot):
    """Seen in the walk's screenshot (sample shapes, 1024×680): the best cut scored 100% and its star was cut in half
    at the top edge; its "best 100%" label was above the view."""
    cuts = tuple(CutScore(f"block{b}_pool", acc, 0.0 if acc == 1.0 else 0.04, 64 * b, 0, "max", (("max", acc, 0.0),))
                 for b, acc in zip(range(1, 6), (0.93, 0.97, 0.98, 1.0, 0.985)))
    chart = ProbeChart()
    qtbot.addWidget(chart)
    chart.resize(480, 330)
    chart.show()
    chart.set_result(ProbeResult(cuts=cuts, best="block4_pool", explanation="", class_names=("a", "b", "c"), num_images=126,
                                 folds=5, chance=1 / 3, seconds=4.3))
    qtbot.waitUntil(lambda: chart.holder.built)
    qtbot.wait(50)
    box = chart.plot_widget.getPlotItem().getViewBox()
    view = box.mapRectToScene(box.boundingRect())
    star = chart.best_marker.points()[0]
    centre = box.mapViewToScene(star.pos())
    assert view.top() + 11 <= centre.y(), (view.top(), centre.y())  # the whole star (22 px) is in the view
    label = chart.best_label.mapRectToScene(chart.best_label.boundingRect())
    assert view.contains(label) and chart.best_label.toPlainText() == "best 100%"
    axis = chart.plot_widget.getPlotItem().getAxis("left")
    low, high = box.viewRange()[1]
    assert all(v <= 1.0 + 1e-9 for _s, values in axis.tickValues(low, high, 300) for v in values)  # no "110%" tick
