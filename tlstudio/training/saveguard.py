"""Let a save in progress finish before an abort (a second Ctrl-C) takes effect.

A file written through :mod:`tlstudio.io.atomic` is never left half-written,
but a ``KeyboardInterrupt`` raised between two related writes (the weights,
then the history that describes them) would still stop the run between them.
Code that saves wraps the writes in :func:`saving`; a signal handler calls
:func:`interrupt` instead of raising: outside a save it raises at once, inside
one it is remembered and raised when the outermost save ends.

Example:

```python
with saveguard.saving():
    save_weights(model, last)
    write_json(history_path, history)
```
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

_lock = threading.Lock()
_depth = 0
_pending: BaseException | None = None


def in_progress() -> bool:
    """True while any thread is inside :func:`saving`."""
    return _depth > 0


@contextlib.contextmanager
def saving() -> Iterator[None]:
    """Mark a save; an :func:`interrupt` that arrives meanwhile is raised when the save ends."""
    global _depth, _pending
    with _lock:
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            pending = _pending if _depth == 0 else None
            if pending is not None:
                _pending = None
        if pending is not None:
            raise pending


def interrupt(exc: BaseException | None = None) -> bool:
    """Raise ``exc`` (default ``KeyboardInterrupt``) now, or after the save in progress.

    Returns:
        False when the interrupt was deferred because a save is in progress
        (it never returns otherwise: it raises).
    """
    global _pending
    exc = exc if exc is not None else KeyboardInterrupt()
    with _lock:
        if _depth > 0:
            _pending = exc
            return False
    raise exc
