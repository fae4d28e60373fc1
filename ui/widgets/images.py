"""Numpy pictures from the engine as Qt pixmaps, a label that fits them to its size, and an eliding path label.

:class:`PictureLabel` keeps the picture it was given and rescales it whenever
its own size changes. It asks the layout for no room of its own (an ignored
size policy), so a large picture arriving never moves a splitter or widens a
panel.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QFrame, QLabel, QSizePolicy, QVBoxLayout, QWidget


def to_pixmap(array: Any, max_side: int = 0) -> QPixmap:
    """A uint8 (H, W) or (H, W, 3) numpy array as a QPixmap, scaled down to ``max_side`` when given.

    Raises:
        ValueError: the array is neither grey (H, W) nor RGB (H, W, 3).
    """
    arr = np.ascontiguousarray(array, dtype=np.uint8)
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise ValueError(f"a picture must be a uint8 array of shape (H, W) or (H, W, 3). Received: shape {arr.shape}")
    h, w = arr.shape[:2]
    if arr.ndim == 2:
        img = QImage(arr.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    else:
        img = QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    pix = QPixmap.fromImage(img)
    if max_side and max(w, h) > max_side:
        pix = pix.scaled(max_side, max_side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    return pix


def scale_to(pix: QPixmap, width: int, height: int, crisp: bool = False) -> QPixmap:
    """``pix`` scaled to fit ``width`` × ``height``, keeping its aspect ratio.

    Args:
        pix: The picture at its own size.
        width: Room available, in pixels.
        height: Room available, in pixels.
        crisp: Enlarge only by a whole-number zoom, without smoothing (kernels,
            small maps); shrink smoothly when it does not fit.
    """
    w, h = max(1, width), max(1, height)
    if crisp:
        zoom = min(w // max(1, pix.width()), h // max(1, pix.height()))
        if zoom >= 2:
            return pix.scaled(pix.width() * zoom, pix.height() * zoom, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)
        if pix.width() <= w and pix.height() <= h:
            return pix
    return pix.scaled(w, h, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)


def fit_pixmap(array: Any, area: QWidget, crisp: bool = False) -> QPixmap:
    """``array`` as a pixmap scaled to fit ``area`` (at least 200 px a side), up or down.

    Args:
        array: A uint8 picture (see :func:`to_pixmap`).
        area: The widget the picture must fit in.
        crisp: Enlarge by a whole-number zoom without smoothing (kernels, small maps).
    """
    return scale_to(to_pixmap(array), max(200, area.width() - 12), max(200, area.height() - 12), crisp)


class PictureLabel(QLabel):
    """A centred picture that always fits the label, rescaled on every resize.

    Args:
        min_side: Smallest width and height the label keeps.
    """

    def __init__(self, min_side: int = 160, parent=None):
        super().__init__(parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(min_side, min_side)
        # the picture never asks for room: the layout gives the label its size
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self._min_side = min_side
        self._source: QPixmap | None = None
        self._crisp = False

    def set_picture(self, array: Any, crisp: bool = False) -> None:
        """Show a uint8 (H, W) or (H, W, 3) array, fitted to the label now and after every resize."""
        self._source = to_pixmap(array)
        self._crisp = crisp
        self._refit()

    def clear(self) -> None:
        """Remove the picture."""
        self._source = None
        super().clear()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(self._min_side, self._min_side)

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(self._min_side, self._min_side)

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._refit()

    def _refit(self) -> None:
        if self._source is not None:
            self.setPixmap(scale_to(self._source, self.width() - 4, self.height() - 4, self._crisp))


class PathLabel(QLabel):
    """A file path elided in the middle to the label's width; the whole path is the tooltip.

    A long path without spaces cannot wrap: shown whole, it widened its panel.
    """

    def __init__(self, empty_text: str = "", parent=None):
        super().__init__(empty_text, parent)
        self.empty_text = empty_text
        self.path = ""
        self._prefix = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(80)

    def set_path(self, path: str, prefix: str = "") -> None:
        """Show ``prefix`` then ``path``, elided to fit ("" shows the empty text)."""
        self.path = str(path)
        self._prefix = prefix
        self.setToolTip(self.path)
        self._elide()

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        if not self.path:  # never cut mid-word: an ellipsis, and the whole text as the tooltip
            room = max(20, self.width() - 4)
            shown = self.fontMetrics().elidedText(self.empty_text, Qt.TextElideMode.ElideRight, room)
            self.setText(shown)
            self.setToolTip(self.empty_text if shown != self.empty_text else "")
            return
        prefix = self._prefix
        room = max(20, self.width() - self.fontMetrics().horizontalAdvance(prefix) - 4)
        self.setText(prefix + self.fontMetrics().elidedText(self.path, Qt.TextElideMode.ElideMiddle, room))


BREAK_AFTER = "/\\_"
"""Characters of a path after which :func:`breakable` lets a line wrap."""


def breakable(text: str) -> str:
    """``text`` with a zero-width space after path separators, so a word-wrapped label can wrap a long path.

    A path has no spaces: a word-wrapped label was as wide as the whole path,
    and widened its panel.
    """
    return "".join(ch + "\u200b" if ch in BREAK_AFTER else ch for ch in text)


def wrapping_label(text: str = "") -> QLabel:
    """A word-wrapped label that never widens its layout: long paths wrap (see :func:`breakable`)."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setMinimumWidth(1)  # the longest unbreakable word must not set the panel's width
    return label


def image_label(min_side: int = 160) -> tuple[QFrame, PictureLabel]:
    """A framed :class:`PictureLabel`: ``(frame, label)``; the frame goes in the layout."""
    label = PictureLabel(min_side)
    frame = QFrame()
    frame.setFrameShape(QFrame.Shape.StyledPanel)
    frame.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
    layout = QVBoxLayout(frame)
    layout.setContentsMargins(2, 2, 2, 2)
    layout.addWidget(label)
    return frame, label
