"""Cancellation flag shared between a long-running function and its caller."""

from __future__ import annotations

import threading


class CancelToken:
    """A thread-safe flag that a caller sets to ask long work to stop.

    Long-running engine functions take a ``cancel`` argument and check
    ``cancel.cancelled`` at safe points (between batches, between files).
    They never raise because of it; they stop early and report ``cancelled``.
    """

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the work to stop at its next safe point."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """Whether cancellation was requested."""
        return self._event.is_set()

    def __bool__(self) -> bool:
        return self.cancelled


def ensure_token(cancel: CancelToken | None) -> CancelToken:
    """Return ``cancel``, or a fresh token nobody will cancel when it is None."""
    return cancel if cancel is not None else CancelToken()
