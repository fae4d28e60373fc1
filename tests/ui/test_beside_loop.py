"""Issue 24, item 13: opening a project reads its file on a thread while the window keeps turning.

``Project.load`` (the configs and every run folder checked) was 12-14 ms of
CPU and 20-30 ms on a busy machine inside the open call: most of the longest
freeze when a project was opened right after launch.
"""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import QTimer

from ui.beside_loop import call_beside_the_loop


def test_the_event_loop_turns_while_the_call_runs_and_its_value_comes_back(qtbot):
    ticks = [0]
    ticker = QTimer()
    ticker.setInterval(1)
    ticker.timeout.connect(lambda: ticks.__setitem__(0, ticks[0] + 1))
    ticker.start()
    seen: list[int] = []

    def slow(a: int, b: int) -> int:
        start = ticks[0]
        time.sleep(0.15)
        seen.append(ticks[0] - start)
        return a + b

    assert call_beside_the_loop(slow, 2, 3) == 5
    ticker.stop()
    assert seen[0] >= 3  # the GUI thread's timers ran meanwhile


def test_an_error_in_the_call_is_raised_in_the_caller(qtbot):
    caller = threading.get_ident()
    where: list[int] = []

    def broken() -> None:
        where.append(threading.get_ident())
        raise ValueError("damaged")

    with pytest.raises(ValueError, match="damaged"):
        call_beside_the_loop(broken)
    assert where and where[0] != caller


def test_opening_a_project_reads_it_beside_the_loop(qtbot, isolated_settings, fake_engine, tmp_path, monkeypatch):
    from tlstudio.config import DataConfig, ModelConfig, TrainConfig
    from tlstudio.project import Project
    from ui import project_controller
    from ui.state import AppState

    path = Project.new("demo", data=DataConfig(root=str(tmp_path / "no-data")), model=ModelConfig(weights="none"),
                       train=TrainConfig(epochs=3)).save(tmp_path / "demo.tlsproj")
    ticks = [0]
    ticker = QTimer()
    ticker.setInterval(1)
    ticker.timeout.connect(lambda: ticks.__setitem__(0, ticks[0] + 1))
    load = Project.load
    during: list[tuple[bool, int]] = []

    def slow_load(p):
        start = ticks[0]
        time.sleep(0.1)
        project = load(p)
        during.append((threading.current_thread() is threading.main_thread(), ticks[0] - start))
        return project

    monkeypatch.setattr(Project, "load", staticmethod(slow_load))
    controller = project_controller.ProjectController(AppState())
    ticker.start()
    project = controller.open_project(path)
    ticker.stop()
    assert project.name == "demo" and controller.state.train_config.epochs == 3
    on_gui_thread, ticked = during[0]
    assert not on_gui_thread and ticked >= 2
