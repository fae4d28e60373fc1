"""Issue 24, item 13: plots are built when first shown, so building the pages after launch is no long freeze.

A pyqtgraph ``PlotWidget`` is 30-65 ms of GUI work; the pages held 13, all
built in the turns right after launch (opening a project then froze the
window up to 0.6 s, ``benchmarks/bench_gui_stalls.py``).
"""

from __future__ import annotations

import pyqtgraph as pg

from ui.widgets.class_chart import ClassCountChart
from ui.widgets.lazy_plot import LazyPlot


def test_building_every_page_builds_no_plot_and_showing_a_page_builds_its_plots(qtbot, isolated_settings, fake_engine):
    from ui.main_window import MainWindow

    win = MainWindow(restore=False)
    qtbot.addWidget(win)
    win.build_remaining_pages()
    assert win.findChildren(pg.PlotWidget) == []  # not one plot made with the pages
    holders = win.findChildren(LazyPlot)
    assert len(holders) >= 12

    win.resize(1024, 680)
    win.show()
    win.show_page("train")
    train = win.pages["train"]
    qtbot.waitUntil(lambda: all(h.built for h in train.plots.holders.values()))
    assert len(train.findChildren(pg.PlotWidget)) == 3
    assert all(h.isVisible() for h in train.plots.holders.values()) is False  # the plots took their holders' places
    assert all(train.plots.holders[n].widget().isVisible() for n in ("loss", "acc", "lr"))
    evaluate = win.pages["evaluate"]
    assert evaluate.findChildren(pg.PlotWidget) == []  # a page not shown yet has none


def test_data_given_before_the_plot_is_shown_appears_when_it_is_and_later_data_goes_to_the_same_plot(qtbot):
    chart = ClassCountChart()
    qtbot.addWidget(chart)
    chart.set_counts({"train": {"ants": 8, "bees": 6}, "val": {"ants": 2, "bees": 2}})
    assert not chart.holder.built and chart.totals == [10, 8]
    chart.resize(400, 300)
    chart.show()
    qtbot.waitUntil(lambda: chart.holder.built)
    widget = chart.plot_widget
    assert [list(bar.opts["height"]) for bar in chart.bars.values()] == [[8.0, 6.0], [2.0, 2.0]]
    assert widget.parentWidget() is chart and widget.isVisible()  # in the holder's place in the layout
    chart.set_counts({"train": {"ants": 3, "bees": 4}})
    assert chart.plot_widget is widget and list(chart.bars["train"].opts["height"]) == [3.0, 4.0]
    assert widget.getPlotItem().viewRange()[1][1] >= 4.0


def test_looking_at_a_plot_before_it_is_shown_builds_it_with_its_data(qtbot):
    from tlstudio.api.probe import CutScore, ProbeResult
    from ui.widgets.probe_chart import ProbeChart

    chart = ProbeChart()
    qtbot.addWidget(chart)
    cuts = tuple(CutScore(f"block{b}_pool", 0.5 + 0.08 * b, 0.03, 64 * b, 0, "avg", (("avg", 0.5 + 0.08 * b, 0.03),)) for b in range(1, 4))
    chart.set_result(ProbeResult(cuts=cuts, best="block3_pool", explanation="", class_names=("a", "b"), num_images=40, folds=5,
                                 chance=0.5, seconds=1.0))
    assert not chart.holder.built
    xs, ys = chart.curve.getData()  # a test (or code) that looks gets the real plot, drawn
    assert chart.holder.built and list(xs) == [0, 1, 2] and chart.best_point() == (2.0, ys[2])


def test_a_holder_asks_for_the_room_its_plot_would(qtbot):
    """A holder with a QWidget's empty hints made the Evaluate page's splitter give ROC/PR 210 px at 1600 px (434 with the plots)."""
    holder = LazyPlot(lambda: pg.PlotWidget())
    qtbot.addWidget(holder)
    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    assert holder.sizeHint() == plot.sizeHint() and holder.minimumSizeHint() == plot.minimumSizeHint()


def test_the_run_comparisons_two_plots_share_the_width_equally_though_built_one_after_the_other(qtbot):
    """Seen in a grab of a reopened project: the accuracy plot, built a turn before the loss plot, kept 297 px of 860
    (a PlotWidget's size hint follows its size) and its title was cut."""
    from ui.widgets.run_comparison import RunComparison

    comparison = RunComparison()
    qtbot.addWidget(comparison)
    comparison.resize(860, 400)
    comparison.show()
    qtbot.waitUntil(lambda: all(h.built for h in comparison.holders.values()))
    qtbot.wait(50)
    widths = [comparison.acc_plot.width(), comparison.loss_plot.width()]
    assert abs(widths[0] - widths[1]) <= 2, widths


def test_a_run_fed_to_the_training_plots_while_hidden_is_drawn_whole_when_they_are_shown(qtbot):
    """Training goes on while the user looks at another page: the Train page's plots, built when it is shown, draw
    every point so far, the phase-2 marker and the run's x range."""
    from tests.support.plots import feed_demo_run
    from ui.widgets.plots import TrainingPlots

    plots = TrainingPlots()
    qtbot.addWidget(plots)
    feed_demo_run(plots)
    assert not any(h.built for h in plots.holders.values())
    plots.resize(600, 500)
    plots.show()
    qtbot.waitUntil(lambda: all(h.built for h in plots.holders.values()))
    x, y = plots._curves["acc_val"].getOriginalDataset()
    assert list(x) == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0] and len(y) == 6
    assert len(plots.series["loss_batch"]) == len(plots._curves["loss_batch"].getOriginalDataset()[0]) > 40  # with the break at phase 2
    assert all(line.isVisible() and line.value() == 4.0 for line in plots.phase_lines)
    assert plots.phase_lines[-1].label.toPlainText() == "fine-tune · LR 1e-4"
    low, high = plots.loss_widget.getPlotItem().viewRange()[0]
    assert low <= 0.0 and 6.0 <= high < 7.0
