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


def test_a_step_never_runs_right_behind_the_paint_of_the_one_before(qtbot):
    """The spacing counts from the pass after a step (its layout and paint), not from the step's end.

    A builder whose timer was due before the heartbeat ran its step right behind another step's paint, in the same
    freeze (a card chunk after the paint of an opened project), when the paint outlasted the spacing.
    """
    import time

    from PySide6.QtCore import QObject, Qt, Signal

    class Poster(QObject):
        paint = Signal()

    log: list[str] = []
    beat = QTimer()
    beat.setTimerType(Qt.TimerType.PreciseTimer)
    beat.setInterval(10)
    beat.timeout.connect(lambda: log.append("beat"))
    poster = Poster()
    poster.paint.connect(lambda: (time.sleep(0.03), log.append("paint")), Qt.ConnectionType.QueuedConnection)

    def builder() -> None:
        wait = turns.wait_ms()
        if wait:
            QTimer.singleShot(wait, builder)
            return
        with turns.step():
            log.append("step B")

    def step_a() -> None:
        with turns.step():
            time.sleep(0.02)
            log.append("step A")
            poster.paint.emit()  # the layout and paint after it, in the next pass: longer than the spacing

    def right_after_a_beat() -> None:
        beat.timeout.disconnect(right_after_a_beat)
        QTimer.singleShot(1, step_a)
        QTimer.singleShot(2, builder)  # due before the next beat: it fires as soon as step A and its paint are over

    beat.timeout.connect(right_after_a_beat)
    beat.start()
    qtbot.waitUntil(lambda: "step B" in log, timeout=5_000)
    beat.stop()
    after_paint = log[log.index("paint") + 1:]
    assert after_paint[0] == "beat", log[-12:]  # the heartbeat ran between the paint and the next step


def test_opening_a_project_is_a_step_the_builders_wait_behind(qtbot, isolated_settings, fake_engine, tmp_path):
    """The pages take an opened project's configs in the open call; a card chunk ran right behind its paint."""
    from tlstudio.config import DataConfig, ModelConfig, TrainConfig
    from tlstudio.project import Project
    from ui.project_controller import ProjectController
    from ui.state import AppState

    path = Project.new("demo", data=DataConfig(root=str(tmp_path / "no-data")), model=ModelConfig(weights="none"),
                       train=TrainConfig(epochs=3)).save(tmp_path / "demo.tlsproj")
    controller = ProjectController(AppState())
    qtbot.waitUntil(lambda: turns.wait_ms() == 0)  # no step lately
    controller.open_project(path)
    assert turns.wait_ms() > 0
    qtbot.waitUntil(lambda: turns.wait_ms() == 0)
