"""Icons and the style sheet from the ``resources/`` folder."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
ICONS = RESOURCES / "icons"
STYLES = RESOURCES / "styles"


@lru_cache(maxsize=None)
def icon(name: str) -> QIcon:
    """``resources/icons/<name>.svg`` (or .png) as a QIcon; an empty icon when absent."""
    for ext in (".svg", ".png"):
        path = ICONS / f"{name}{ext}"
        if path.is_file():
            result = QIcon(str(path))
            # Keep the colours on a selected (highlighted) row instead of Qt's tint.
            result.addFile(str(path), QSize(), QIcon.Mode.Selected)
            return result
    return QIcon()


def style_sheet(name: str = "light") -> str:
    """The text of ``resources/styles/<name>.qss`` ("" when absent)."""
    path = STYLES / f"{name}.qss"
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""
