"""The GUI's background builders take turns: one step, then a short spacing before any other builder's step.

Pages built after launch (:mod:`ui.main_window`), plots built when first shown
(:mod:`ui.widgets.lazy_plot`) and audit cards built in chunks
(:mod:`ui.panels.audit_builder`) each work in short steps from their own
timers. When several were due at once, Qt ran them in the same pass of the
event loop, one after the other, and their steps added up to one long freeze
(opening a project right after launch: a 16 ms card chunk, then a 40 ms page,
then the paint, in one 111 ms gap). A builder asks :func:`wait_ms` before a
step: 0 means go; more means another builder's step has just ended, and it
tries again after that many milliseconds, so the window paints and answers
input between any two steps. Each step runs inside :func:`step`.
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Iterator

SPACING_MS = 12
"""Milliseconds after one background step before the next may start (the heartbeat and input run in between)."""

_last_end = -math.inf


def wait_ms() -> int:
    """0 when a background step may start now; otherwise the milliseconds left of the spacing after the last one."""
    left = SPACING_MS - (time.monotonic() - _last_end) * 1000.0
    return math.ceil(left) if left > 0 else 0


@contextlib.contextmanager
def step() -> Iterator[None]:
    """Run one background step; the spacing counts from its end."""
    global _last_end
    try:
        yield
    finally:
        _last_end = time.monotonic()
