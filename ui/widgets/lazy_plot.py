"""A stand-in for a pyqtgraph plot that builds the plot when it is first shown.

A ``pg.PlotWidget`` costs 30-65 ms of GUI-thread time to construct (its
view box, axes, context menus and their forms), and a main window holds
about a dozen. Built with their pages right after launch they were one long
event-loop turn each page (the window froze up to 0.6 s while a project
opened). A :class:`LazyPlot` sits in the layout instead and builds its plot
only when it is first shown, one plot per event-loop turn
(:func:`build_queue`), or at once when code asks for :meth:`LazyPlot.widget`.

The owner keeps its data in plain Python and draws it with a render function:
:meth:`LazyPlot.render` calls it now when the plot exists, and otherwise keeps
the latest one and calls it right after the plot is built. So data given
before the page is shown appears when it is shown, and once built, updates go
to the live curves (``setData``), never to a new plot.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QSize, QTimer, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QSizePolicy, QSplitter, QVBoxLayout, QWidget

from ui.widgets import turns

EAGER = False
"""True builds every plot in its holder's constructor (the old way; the stalls benchmark's baseline)."""


PLOT_SIZE_HINT = QSize(600, 480)
PLOT_MINIMUM_SIZE_HINT = QSize(68, 68)
"""pyqtgraph's ``PlotWidget`` size hints (0.14), which a holder reports until its plot is built."""


class _BuildQueue(QObject):
    """Holders waiting to build, built one per event-loop turn so no turn holds more than one plot's work."""

    def __init__(self) -> None:
        super().__init__()
        self._waiting: list[LazyPlot] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._build_one)

    def add(self, holder: LazyPlot) -> None:
        if holder not in self._waiting:
            self._waiting.append(holder)
        if not self._timer.isActive():
            self._timer.start(0)

    def pending(self) -> int:
        """Holders still waiting (a holder hidden again before its turn waits until it is shown)."""
        return len(self._waiting)

    def _build_one(self) -> None:
        wait = turns.wait_ms()
        if wait:  # another builder's step has just ended
            self._timer.start(wait)
            return
        while self._waiting:
            holder = self._waiting.pop(0)
            try:
                wanted = not holder.built and holder.isVisible()
            except RuntimeError:  # deleted with its page
                continue
            if wanted:
                with turns.step():
                    holder.widget()
                break
        if self._waiting:
            self._timer.start(0)

    def flush(self) -> None:
        """Build every waiting holder now (tests, screenshots)."""
        while self._waiting:
            holder = self._waiting.pop(0)
            try:
                holder.widget()
            except RuntimeError:
                continue


_QUEUE: _BuildQueue | None = None


def build_queue() -> _BuildQueue:
    """The one queue of the GUI thread."""
    global _QUEUE
    if _QUEUE is None:
        _QUEUE = _BuildQueue()
    return _QUEUE


def build_on_look(owner: object, name: str, items: dict[str, str]) -> Any:
    """For an owner's ``__getattr__``: ``name`` is made by a holder's build: build it now and return it.

    ``items`` maps the names a build sets on its owner to the attribute that holds their holder (a
    :class:`LazyPlot`, or a :class:`ui.widgets.sections.Section`: anything whose ``widget()`` builds).
    Code and tests that look at a plot's curves get real ones, drawn with the data given so far.
    """
    holder_name = items.get(name)
    holder = owner.__dict__.get(holder_name) if holder_name else None
    if holder is None:
        raise AttributeError(f"{type(owner).__name__!r} object has no attribute {name!r}")
    holder.widget()
    return object.__getattribute__(owner, name)


def settle(holders) -> None:
    """Called by an owner at the end of its constructor: with :data:`EAGER`, build its plots now (the old way)."""
    if EAGER:
        for holder in holders:
            holder.widget()


class LazyPlot(QWidget):
    """Holds the place of the widget ``build()`` returns, and builds it when first shown.

    Args:
        build: Makes the plot (a ``pg.PlotWidget`` or any widget holding plots); called once.
        parent: Parent widget.

    Signals:
        built_now(object): the plot was just built (after its pending render ran).
    """

    built_now = Signal(object)

    def __init__(self, build: Callable[[], QWidget], parent: QWidget | None = None):
        super().__init__(parent)
        self._build = build
        self._widget: QWidget | None = None
        self._render: Callable[[Any], None] | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    @property
    def built(self) -> bool:
        return self._widget is not None

    def widget(self) -> QWidget:
        """The plot, built now if it was not yet (then its pending render runs)."""
        if self._widget is None:
            widget = self._build()
            self._widget = widget
            self._take_place(widget)
            render, self._render = self._render, None
            if render is not None:
                render(widget)
            self.built_now.emit(widget)
        return self._widget

    def _take_place(self, widget: QWidget) -> None:
        """Put ``widget`` where this holder is (same layout item, stretch and parent), or inside it when it has no place yet."""
        parent = self.parentWidget()
        if isinstance(parent, QSplitter):
            parent.replaceWidget(parent.indexOf(self), widget)
        elif parent is not None and parent.layout() is not None and parent.layout().replaceWidget(self, widget) is not None:
            widget.setVisible(self.isVisibleTo(parent))
        else:
            self._layout.addWidget(widget)
            return
        self.hide()

    def render(self, draw: Callable[[Any], None]) -> None:
        """Call ``draw(plot)`` now if the plot is built; otherwise right after it is (only the last ``draw`` given)."""
        if self._widget is not None:
            draw(self._widget)
        else:
            self._render = draw

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if self._widget is None:
            build_queue().add(self)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        """A PlotWidget's own hint: layouts and splitters share the room as they did with the plot in place."""
        return QSize(PLOT_SIZE_HINT) if self._widget is None else self._widget.sizeHint()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(PLOT_MINIMUM_SIZE_HINT) if self._widget is None else self._widget.minimumSizeHint()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self._widget is None:  # the plot's white until it is built: no grey flash
            QPainter(self).fillRect(self.rect(), QColor("white"))
        super().paintEvent(event)
