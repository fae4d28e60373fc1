"""Numpy pictures from the engine as Qt pixmaps, and a scrollable label to show them."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel, QScrollArea, QWidget


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


def fit_pixmap(array: Any, area: QWidget, crisp: bool = False) -> QPixmap:
    """``array`` as a pixmap scaled to fit ``area``, up or down.

    Args:
        array: A uint8 picture (see :func:`to_pixmap`).
        area: The widget the picture must fit in.
        crisp: Enlarge by a whole-number zoom without smoothing (kernels, small maps).
    """
    pix = to_pixmap(array)
    w, h = max(200, area.width() - 12), max(200, area.height() - 12)
    if crisp:
        zoom = min(w // max(1, pix.width()), h // max(1, pix.height()))
        if zoom >= 2:
            return pix.scaled(pix.width() * zoom, pix.height() * zoom, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)
    if pix.width() > w or pix.height() > h or not crisp:
        return pix.scaled(w, h, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    return pix


def image_label(min_side: int = 160) -> tuple[QScrollArea, QLabel]:
    """A centred picture label inside a scroll area: ``(area, label)``."""
    label = QLabel("")
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setMinimumSize(min_side, min_side)
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setWidget(label)
    return area, label
