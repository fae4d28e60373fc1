"""The Audit tab's cards, built a few per event-loop turn so the window keeps answering.

An audit of 398 photos listed 107 label suspects, duplicate groups and 20
outliers: some 150 cards. Built in one call, they froze the window for 769 ms
when the result arrived. :class:`CardBuilder` builds cards for at most
:data:`CHUNK_MS` per turn of the event loop, the call that receives the
result included (at least one card per turn), so that call and the paint
after it stay inside one heartbeat: its first eight cards at once had made
it the worst gap left, 65 ms on the idle machine
(``benchmarks/bench_gui_stalls.py`` measures both ways).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer

from ui.widgets import turns

CHUNKED = True
"""Build a few cards per turn (False: all in one call, the benchmark's baseline)."""
CHUNK_MS = 12.0
"""Build cards for at most this long per turn (at least one card)."""

KINDS = ("label", "duplicate", "outlier")


class CardBuilder(QObject):
    """A queue of findings to turn into widgets, worked off in chunks.

    Args:
        make: ``make(kind, finding) -> widget`` (a card, or a duplicate group's row).
        place: ``place(kind, widgets)`` puts a chunk's widgets on screen, in order.
        parent: Owner.
    """

    def __init__(self, make: Callable[[str, Any], Any], place: Callable[[str, list], None], parent: QObject | None = None):
        super().__init__(parent)
        self._make = make
        self._place = place
        self._queue: list[tuple[str, Any]] = []
        self._timer = QTimer(self)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._some)
        self.after_chunk: Callable[[], None] = lambda: None
        """Called after each chunk is placed (titles, decisions)."""

    def start(self, findings: list[tuple[str, Any]], now: bool = True) -> None:
        """Drop what was queued and build ``findings`` (``(kind, finding)`` in display order): some now, the rest soon.

        ``now=False`` builds none in this call (a restored result, shown while a project opens: that call is long enough).
        """
        self._queue = list(findings)
        if now or not CHUNKED:
            self._some(first=True)
        else:
            self._timer.start(0)

    def extend(self, findings: list[tuple[str, Any]]) -> None:
        """Queue more findings after the ones queued; they are built over the next turns."""
        self._queue += findings
        if self._queue:
            self._timer.start(0)

    def stop(self) -> None:
        self._queue = []
        self._timer.stop()

    def finish(self) -> None:
        """Build everything still queued, now."""
        self._some(everything=True)

    def queued(self, kind: str) -> list[Any]:
        """The findings of ``kind`` not built yet."""
        return [finding for k, finding in self._queue if k == kind]

    def busy(self) -> bool:
        return bool(self._queue)

    def _some(self, first: bool = False, everything: bool = False) -> None:
        if not (first or everything):
            wait = turns.wait_ms()
            if wait:  # another builder's step has just ended
                self._timer.start(wait)
                return
        with turns.step():
            self._chunk(first, everything)

    def _chunk(self, first: bool, everything: bool) -> None:
        start = time.perf_counter()
        built: dict[str, list] = {kind: [] for kind in KINDS}
        count = 0
        while self._queue:
            if CHUNKED and not everything and count and (time.perf_counter() - start) * 1000.0 >= CHUNK_MS:
                break
            kind, finding = self._queue.pop(0)
            built[kind].append(self._make(kind, finding))
            count += 1
        for kind in KINDS:
            if built[kind]:
                self._place(kind, built[kind])
        if self._queue:
            self._timer.start(0)
        else:
            self._timer.stop()
        if count or first:
            self.after_chunk()
