"""Work around a reference-count bug of PySide6 6.12.0 on CPython 3.11.

PySide6 6.12.0 returns ``None`` (and, for some signal arguments, ``True`` and
``False``) from wrapped C++ calls without taking a new reference. On Python
3.12+ those objects are immortal (PEP 683), so nothing happens; on 3.11 every
call of a ``void`` Qt method (``setText``, ``trigger``, ...) drops the
reference count of ``None`` by one, and after a few thousand calls Python
aborts with "Fatal Python error: none_dealloc". PySide6 6.11.x does not have
the bug.

:func:`apply` makes the three singletons effectively immortal, as Python 3.12
does, by adding a huge number to their reference counts. It only acts on the
affected combination and is idempotent.
"""

from __future__ import annotations

import ctypes
import sys

_BOOST = 1 << 40  # far more calls than any session makes
_applied = False


def affected() -> bool:
    """True on CPython < 3.12 with PySide6 6.12.x."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    try:
        import PySide6
    except ImportError:
        return False
    return PySide6.__version__.startswith("6.12.")


def apply() -> bool:
    """Protect ``None``, ``True`` and ``False`` when needed; True if the guard is active."""
    global _applied
    if _applied:
        return True
    if not affected():
        return False
    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += _BOOST
    _applied = True
    return True
