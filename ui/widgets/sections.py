"""Parts of a page built after the page itself, one part per background turn.

Making a page and placing it in the window were two background steps
(:mod:`ui.main_window`), and the largest page still made one step of 40-70 ms
of GUI time on a loaded machine (Inspect: its calculator alone is about a
third of it). A page puts a :class:`Section` where such a part goes, and the
part is built:

* in the background, once the page is in its window (:func:`build_later`,
  which the main window calls after placing a page), in two turns of the
  background builders (:mod:`ui.widgets.turns`): the part is made, then
  placed in its section (styling it for the window's sheet is about half
  the work, as for a page);
* at once when the section is first shown (a click on its tab before its
  turn came);
* at once when code looks at something the part makes (the owner's
  ``__getattr__`` calls :func:`build_on_look`, the one of :mod:`ui.widgets.lazy_plot`).

A part is built inside its section (the section's only child), so a section
can be a tab's page, a splitter's pane or a layout item alike.
"""

from __future__ import annotations

from collections.abc import Callable

import shiboken6
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from ui.widgets import turns
from ui.widgets.lazy_plot import build_on_look

__all__ = ["EAGER", "Section", "build_later", "build_on_look", "section_queue"]

EAGER = False
"""True builds every part in its section's constructor (the old way; the stalls benchmark's baseline)."""


class Section(QWidget):
    """Holds the place of the widget ``build()`` returns, and builds it on its turn, when shown or when looked at.

    Args:
        build: Makes the part; called once.
        parent: Parent widget.

    Signals:
        built_now(object): the part was just built.
    """

    built_now = Signal(object)

    def __init__(self, build: Callable[[], QWidget], parent: QWidget | None = None):
        super().__init__(parent)
        self._build = build
        self._widget: QWidget | None = None
        self._placed = False
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        if EAGER:
            self.widget()

    @property
    def built(self) -> bool:
        """The part is made and in its place."""
        return self._placed

    @property
    def made(self) -> bool:
        return self._widget is not None

    def make(self) -> QWidget:
        """The part, made now if it was not yet, but not yet in its place (the first of its two background steps).

        Made outside the window, the part is not styled twice: styling it for the window's sheet is the second step.
        """
        if self._widget is None:
            self._widget = self._build()
        return self._widget

    def widget(self) -> QWidget:
        """The part, made now if it was not yet, and in its place."""
        widget = self.make()
        if not self._placed:
            self._placed = True
            self._layout.addWidget(widget)
            if self.isVisible():
                widget.show()  # at once, not on the next turn: no empty frame is painted first
            self.built_now.emit(widget)
        return widget

    def drop(self) -> None:
        """The section was deleted before its part was placed: the part, made outside any window, goes too."""
        widget, self._widget = self._widget, None
        if widget is not None and not self._placed and shiboken6.isValid(widget):
            widget.deleteLater()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        if not self._placed:  # shown before its turn: the user wants it now
            self.widget()
        super().showEvent(event)


class _SectionQueue(QObject):
    """Sections waiting for their turn: each is made on one turn of the background builders and placed on the next."""

    def __init__(self) -> None:
        super().__init__()
        self._waiting: list[Section] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._build_one)

    def add(self, section: Section) -> None:
        if section not in self._waiting:
            self._waiting.append(section)
        if not self._timer.isActive():
            self._timer.start(0)

    def pending(self) -> int:
        """Sections still waiting (built or deleted ones are dropped at their turn)."""
        return len(self._waiting)

    def _build_one(self) -> None:
        wait = turns.wait_ms()
        if wait:  # another builder's step has just ended
            self._timer.start(wait)
            return
        while self._waiting:
            section = self._waiting.pop(0)
            if not shiboken6.isValid(section):  # deleted with its page
                section.drop()
                continue
            if not section.built:
                with turns.step():
                    if section.made:
                        section.widget()  # into its place, styled for the window
                    else:
                        section.make()
                        self._waiting.insert(0, section)  # placed on the next turn
                break
        if self._waiting:
            self._timer.start(0)

    def flush(self) -> None:
        """Build every waiting section now (tests, screenshots)."""
        while self._waiting:
            section = self._waiting.pop(0)
            if shiboken6.isValid(section):
                section.widget()
            else:
                section.drop()


_QUEUE: _SectionQueue | None = None


def section_queue() -> _SectionQueue:
    """The one queue of the GUI thread."""
    global _QUEUE
    if _QUEUE is None:
        _QUEUE = _SectionQueue()
    return _QUEUE


def build_later(root: QWidget) -> int:
    """Queue every section of ``root`` not built yet, to be built one per background turn; returns how many."""
    waiting = [s for s in root.findChildren(Section) if not s.built]
    for section in waiting:
        section_queue().add(section)
    return len(waiting)
