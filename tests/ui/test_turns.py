"""Issue 24, item 13: the GUI's background builders take turns, so their steps never add up in one pass.

Opening a project right after launch had a 16 ms audit-card chunk, a 40 ms
page build and the paint run back to back in one 111 ms freeze: each
builder's own timer was due in the same pass of the event loop.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QVBoxLayout, QWidget

from ui.panels.audit_builder import CardBuilder
from ui.widgets import turns
from ui.widgets.lazy_plot import LazyPlot


def test_the_event_loop_runs_between_two_builders_steps(qtbot):
    ticks = [0]
    ticker = QTimer()
    ticker.setInterval(0)
    ticker.timeout.connect(lambda: ticks.__setitem__(0, ticks[0] + 1))
    steps: list[tuple[str, int]] = []

    host = QWidget()
    qtbot.addWidget(host)
    layout = QVBoxLayout(host)

    def make_plot():
        steps.append(("plot", ticks[0]))
        return QWidget()

    holders = [LazyPlot(make_plot) for _ in range(3)]
    for holder in holders:
        layout.addWidget(holder)
    builder = CardBuilder(lambda kind, finding: steps.append(("cards", ticks[0])) or QWidget(),
                           lambda kind, widgets: None)
    ticker.start()
    host.show()  # the plots are now due, one per turn
    builder.start([("label", i) for i in range(40)], now=False)  # and so are the cards, over the same turns
    qtbot.waitUntil(lambda: all(h.built for h in holders) and not builder.busy(), timeout=10_000)
    ticker.stop()

    kinds = [kind for kind, _ in steps]
    assert "plot" in kinds and "cards" in kinds
    # wherever one builder's step follows the other's, the loop ran in between (the ticker fired)
    switches = [(a, b) for a, b in zip(steps, steps[1:]) if a[0] != b[0]]
    assert switches
    for before, after in switches:
        assert after[1] > before[1], steps


def test_a_step_spaces_the_next_one():
    with turns.step():
        pass
    assert 0 < turns.wait_ms() <= turns.SPACING_MS
