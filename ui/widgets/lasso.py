"""Free-hand lasso selection on a pyqtgraph plot.

:class:`LassoViewBox` is a ``pg.ViewBox`` that, while its lasso mode is on
(a "Lasso" toggle) or while Shift is held, turns a left-button drag into a
free-hand polygon instead of a pan: the outline is drawn as the mouse moves
and :attr:`LassoViewBox.sigLassoFinished` hands the polygon (view
coordinates, ``[M, 2]``) over when the button is released. Without the
toggle or Shift, dragging pans and the wheel zooms as usual.

:func:`points_in_polygon` selects the points inside with a vectorised
even-odd ray test in NumPy (no matplotlib): one pass over the polygon's
edges, each a vector operation over the points inside the polygon's
bounding box, so 10,000 points and a few hundred vertices take milliseconds.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem

MIN_STEP_PX = 3.0
"""A new vertex is recorded only when the mouse moved at least this far (screen pixels)."""
LASSO_COLOUR = "#1b1f23"


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Which ``points`` lie inside ``polygon`` (even-odd rule: a self-crossing lasso toggles).

    Args:
        points: ``[N, 2]`` x, y.
        polygon: ``[M, 2]`` vertices in order; closed implicitly (last joins first).

    Returns:
        ``[N]`` bool mask; all False when the polygon has fewer than 3 vertices.

    Raises:
        ValueError: either array is not ``[*, 2]``.
    """
    pts = np.asarray(points, np.float64)
    poly = np.asarray(polygon, np.float64)
    for name, arr in (("points", pts), ("polygon", poly)):
        if arr.ndim != 2 or (arr.size and arr.shape[1] != 2):
            raise ValueError(f"{name} must be an [N, 2] array of x, y. Received: shape {arr.shape}")
    inside = np.zeros(len(pts), bool)
    if len(poly) < 3 or not len(pts):
        return inside
    lo, hi = poly.min(axis=0), poly.max(axis=0)
    candidates = np.flatnonzero(np.all((pts >= lo) & (pts <= hi), axis=1))
    if not len(candidates):
        return inside
    x, y = pts[candidates, 0], pts[candidates, 1]
    hit = np.zeros(len(candidates), bool)
    xj, yj = poly[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        for xi, yi in poly:
            crosses = (yi > y) != (yj > y)  # the edge spans the point's height (horizontal edges never do)
            x_at = (xj - xi) * (y - yi) / (yj - yi) + xi
            hit ^= crosses & (x < x_at)
            xj, yj = xi, yi
    inside[candidates] = hit
    return inside


class LassoViewBox(pg.ViewBox):
    """A view box whose left drag draws a lasso while :attr:`lasso_mode` is on or Shift is held.

    Attributes:
        lasso_mode: Drag draws a lasso even without Shift (the map's "Lasso" toggle).
        outline: The drawn outline (a cosmetic-pen path item in view coordinates).

    Signals:
        sigLassoFinished(object): the finished polygon, ``[M, 2]`` float64 in view coordinates.
    """

    sigLassoFinished = Signal(object)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lasso_mode = False
        self._vertices: list[tuple[float, float]] = []
        self._last_screen: QPointF | None = None
        pen = QPen(QColor(LASSO_COLOUR), 1.5, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)  # the same width at every zoom
        self.outline = QGraphicsPathItem()
        self.outline.setPen(pen)
        self.outline.setBrush(QColor(27, 31, 35, 28))
        self.outline.setZValue(1e6)
        self.addItem(self.outline, ignoreBounds=True)

    def lassoing(self) -> bool:
        """True while a lasso is being drawn."""
        return bool(self._vertices)

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802 - pyqtgraph API
        wants = self.lasso_mode or bool(ev.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if ev.button() != Qt.MouseButton.LeftButton or not (wants or self._vertices):
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        if ev.isStart():
            self._vertices = []
            self._last_screen = None
            self._add(ev.buttonDownPos(), ev.buttonDownScreenPos())
        self._add(ev.pos(), ev.screenPos())
        if ev.isFinish():
            self.finish()

    def _add(self, pos, screen) -> None:
        screen = QPointF(screen)
        if self._last_screen is not None:
            d = screen - self._last_screen
            if (d.x() ** 2 + d.y() ** 2) ** 0.5 < MIN_STEP_PX:
                return
        self._last_screen = screen
        p = self.mapToView(pos)
        self._vertices.append((p.x(), p.y()))
        self._draw()

    def _draw(self) -> None:
        path = QPainterPath()
        if self._vertices:
            path.moveTo(*self._vertices[0])
            for v in self._vertices[1:]:
                path.lineTo(*v)
            path.closeSubpath()
        self.outline.setPath(path)

    def finish(self) -> np.ndarray:
        """End the lasso being drawn: emit and return its polygon (``[0, 2]`` when nothing was drawn)."""
        polygon = np.asarray(self._vertices, np.float64).reshape(-1, 2)
        self._vertices = []
        self._last_screen = None
        self._draw()
        if len(polygon) >= 3:
            self.sigLassoFinished.emit(polygon)
        return polygon
