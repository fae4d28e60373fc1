"""The GUI's background builders take turns: one step, the pass that lays it out and paints it, then a short spacing.

Pages built after launch (:mod:`ui.main_window`), plots built when first shown
(:mod:`ui.widgets.lazy_plot`) and audit cards built in chunks
(:mod:`ui.panels.audit_builder`) each work in short steps from their own
timers. When several were due at once, Qt ran them in the same pass of the
event loop, one after the other, and their steps added up to one long freeze
(opening a project right after launch: a 16 ms card chunk, then a 40 ms page,
then the paint, in one 111 ms gap). A builder asks :func:`wait_ms` before a
step: 0 means go; more means another builder's step has just ended, or the
pass of the event loop that lays it out and paints it has not run yet, and it
tries again after that many milliseconds, so the window paints and answers
input between any two steps. Each step runs inside :func:`step`; so does
other long GUI work the builders should not follow at once (opening a
project).
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Iterator

from PySide6.QtCore import QCoreApplication, QTimer

SPACING_MS = 12
"""Milliseconds after one background step's aftermath before the next may start (the heartbeat and input run in between)."""

_last_end = -math.inf
_settled = True
"""False from a step's end until the event loop has run the pass after it (its layout, paint and posted calls)."""


def wait_ms() -> int:
    """0 when a background step may start now; otherwise the milliseconds to wait.

    A step's work goes on after it returns: the layout, the paint and the calls it posted run in the next pass of
    the event loop, 20-40 ms on a busy machine. The spacing counts from the end of that pass, so a builder whose
    timer was due early never runs its step right behind another step's paint, in the same freeze.
    """
    if not _settled:
        return 1
    left = SPACING_MS - (time.monotonic() - _last_end) * 1000.0
    return math.ceil(left) if left > 0 else 0


def _settle() -> None:
    global _settled, _last_end
    _settled = True
    _last_end = time.monotonic()


@contextlib.contextmanager
def step() -> Iterator[None]:
    """Run one background step (or other long GUI work, such as opening a project); the spacing counts from the end of
    the event loop's pass after it."""
    global _last_end, _settled
    try:
        yield
    finally:
        _last_end = time.monotonic()
        if QCoreApplication.instance() is not None:
            _settled = False
            QTimer.singleShot(1, _settle)  # a timer: it fires after the next pass's posted events (layout, paint)
