"""The installed Qt binding does not leak references to ``None``.

PySide6 6.12.0 on CPython 3.11 drops a reference to ``None`` on every call of a
Qt method that returns nothing, and the app dies with "none_dealloc" after a
few thousand calls (live plots reach that in minutes). pyproject.toml excludes
that release; this test fails if a broken binding is installed again.
"""

import sys

from PySide6.QtGui import QPen


def test_void_qt_calls_keep_none_alive():
    pen = QPen()
    before = sys.getrefcount(None)
    for _ in range(1000):
        pen.setCosmetic(True)
    after = sys.getrefcount(None)
    assert before - after < 10, f"refcount(None) fell by {before - after} over 1000 Qt calls"
