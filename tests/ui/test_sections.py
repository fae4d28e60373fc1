"""Issue 24, item 13: a heavy page's parts are built after the page, each on turns of their own.

Making the Inspect page was one background step of 40-70 ms of GUI time on a
loaded machine (its calculator alone a third of it), and a gap over 50 ms
when a project was opened right after launch (``benchmarks/bench_gui_stalls.py``).
"""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QTabWidget

from ui.widgets.sections import Section, build_later, section_queue


def test_the_inspect_pages_calculator_and_memory_are_built_on_turns_after_the_page(qtbot, isolated_settings, fake_engine):
    from ui.main_window import MainWindow

    ticks = [0]
    ticker = QTimer()
    ticker.setInterval(0)
    ticker.timeout.connect(lambda: ticks.__setitem__(0, ticks[0] + 1))
    placed: dict[str, int] = {}
    win = MainWindow(restore=False)
    qtbot.addWidget(win)
    win.page_built.connect(lambda key, page: placed.setdefault(key, ticks[0]))
    win.resize(1024, 680)
    ticker.start()
    win.show()  # the other pages follow in the background
    qtbot.waitUntil(lambda: "inspect" in win.pages, timeout=20_000)
    page = win.pages["inspect"]
    holders = {"calculator": page._calculator_holder, "memory": page._memory_holder}
    assert not any(h.__dict__.get("_placed") for h in holders.values())  # the page was placed without them
    seen: dict[str, list[int]] = {name: [] for name in holders}
    for name, holder in holders.items():
        holder.built_now.connect(lambda _w, name=name: seen[name].append(ticks[0]))
    qtbot.waitUntil(lambda: all(h.built for h in holders.values()), timeout=20_000)
    ticker.stop()

    # each part was placed on a later turn than the page, and the two on different turns
    assert all(len(turns) == 1 and turns[0] > placed["inspect"] for turns in seen.values()), (placed, seen)
    assert seen["calculator"][0] != seen["memory"][0]
    assert page.calculator.isVisibleTo(page.sections) is False  # in its tab, which is not the current one
    assert page.calculator.parentWidget() is not None and page.calculator.window() is win


def test_the_runs_tab_is_built_after_the_evaluate_page_and_keeps_the_windows_resume_handler(qtbot, isolated_settings,
                                                                                          fake_engine):
    from ui.main_window import MainWindow

    win = MainWindow(restore=False)
    qtbot.addWidget(win)
    built: dict[str, bool] = {}
    win.page_built.connect(lambda key, page: built.setdefault(key, page._history_holder.built) if key == "evaluate" else None)
    win.show()
    qtbot.waitUntil(lambda: "evaluate" in built, timeout=20_000)
    assert built["evaluate"] is False  # placed without its Runs tab
    page = win.pages["evaluate"]
    qtbot.waitUntil(lambda: page._history_holder.built, timeout=20_000)
    assert page.history.resume_handler == win.resume_run  # given to the page before the tab was built


def test_a_part_is_made_on_one_turn_and_placed_on_the_next(qtbot):
    ticks = [0]
    ticker = QTimer()
    ticker.setInterval(0)
    ticker.timeout.connect(lambda: ticks.__setitem__(0, ticks[0] + 1))
    made, placed = [], []

    def build():
        made.append(ticks[0])
        return QLabel("part")

    tabs = QTabWidget()
    qtbot.addWidget(tabs)
    tabs.addTab(QLabel("first"), "First")
    section = Section(build)
    section.built_now.connect(lambda _w: placed.append(ticks[0]))
    tabs.addTab(section, "Second")
    tabs.show()
    ticker.start()
    assert build_later(tabs) == 1
    qtbot.waitUntil(lambda: section.built)
    ticker.stop()
    assert len(made) == 1 and len(placed) == 1 and placed[0] > made[0]


def test_showing_a_section_or_looking_at_its_part_builds_it_at_once(qtbot, fake_engine):
    from ui.pages.inspect_page import InspectPage
    from ui.state import AppState

    page = InspectPage(AppState())
    qtbot.addWidget(page)
    page.auto_load = False
    assert not page._calculator_holder.built
    assert page.memory.slider is not None  # looked at: built now
    assert page._memory_holder.built and not page._calculator_holder.built
    page.show()
    page.sections.setCurrentIndex(1)  # a click on the Calculator tab before its turn came
    assert page._calculator_holder.built and page.calculator.isVisible()


def test_a_section_deleted_before_its_turn_drops_its_part(qtbot):
    parts: list[QLabel] = []

    def build():
        parts.append(QLabel("part"))
        return parts[-1]

    tabs = QTabWidget()
    section = Section(build)
    tabs.addTab(section, "Only")
    build_later(tabs)
    section.make()  # made, not yet placed
    tabs.deleteLater()
    qtbot.waitUntil(lambda: section_queue().pending() == 0)
    qtbot.wait(50)  # the part's deferred delete
    import shiboken6

    assert parts and not shiboken6.isValid(parts[0])
