"""The images of a map selection, each beside its Grad-CAM.

Clicking a point of the embedding map, or finishing a lasso, opens this
non-modal window: one tile per selected image (up to :data:`MAX_IMAGES`),
with its thumbnail, file name and what the map knows about it (class, split).

When a trained model is available (``state.model_path``: the project's last
run), the first :data:`MAX_GRADCAM` tiles also get the model's prediction
and a Grad-CAM overlay, one engine ``"predict"`` job per image
(``gradcam=True``; the engine keeps the model loaded between them), in the
background and in order. A new selection cancels the rest of the old one.
Without a model the tiles show the images alone and a line says that
Grad-CAM needs a trained model.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Sequence

import numpy as np
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from tlstudio.api.evaluate import PredictConfig, PredictResult  # dataclasses only: no TensorFlow
from tlstudio.api.model_ref import ModelRef
from tlstudio.run_folders import MODEL, RUN_CONFIG
from ui.engine import engine
from ui.state import AppState
from ui.widgets.images import to_pixmap
from ui.widgets.thumbnails import ThumbnailLoader, placeholder_pixmap

TILE = 128
"""Side of a thumbnail and of a Grad-CAM overlay, in pixels."""
MAX_IMAGES = 60
"""At most this many images of a selection are shown."""
MAX_GRADCAM = 12
"""Grad-CAM is computed for the first this-many images shown (one engine job each)."""
COLUMNS = 3
"""Tiles per row with Grad-CAM (an image and its overlay side by side)."""
COLUMNS_WITHOUT_CAM = 5
"""Tiles per row of images alone."""
NO_MODEL_TEXT = ("Grad-CAM needs a trained model: train one on the Train page, or open a project that has a run. "
                 "Received: no trained model")


def _pixmap(array: np.ndarray, side: int) -> QPixmap:
    return to_pixmap(array).scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)


class ImageTile(QFrame):
    """One image: thumbnail, Grad-CAM (when asked for), name, caption, prediction and an Open button.

    Attributes:
        path: The image file.
        image: Its thumbnail.
        cam: Its Grad-CAM overlay (hidden without a model).
        prediction: The model's class and probability, or why Grad-CAM is missing.
    """

    def __init__(self, path: str, caption: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("GalleryTile")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.path = path
        self.image = QLabel()
        self.image.setFixedSize(TILE, TILE)
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setPixmap(placeholder_pixmap(TILE))
        self.cam = QLabel("waiting…")
        self.cam.setObjectName("GradCam")
        self.cam.setFixedSize(TILE, TILE)
        self.cam.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.cam.setWordWrap(True)
        self.cam.setStyleSheet("background: #f4f5f7; color: #5f6368;")
        self.cam.setVisible(False)
        self.name = name = QLabel(self._elided(TILE - 44))
        name.setToolTip(path)
        self.caption = QLabel(caption)
        self.caption.setObjectName("Hint")
        self.caption.setWordWrap(True)
        self.prediction = QLabel("")
        self.prediction.setObjectName("TilePrediction")
        self.prediction.setWordWrap(True)
        self.prediction.setTextFormat(Qt.TextFormat.RichText)
        self.prediction.setVisible(False)
        open_button = QToolButton()
        open_button.setText("Open")
        open_button.setToolTip(f"Open {path} in the system's image viewer")
        open_button.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(path)))
        pictures = QHBoxLayout()
        pictures.setSpacing(4)
        pictures.addWidget(self.image)
        pictures.addWidget(self.cam)
        pictures.addStretch(1)
        name_row = QHBoxLayout()
        name_row.addWidget(name, 1)
        name_row.addWidget(open_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(2)
        layout.addLayout(pictures)
        layout.addLayout(name_row)
        layout.addWidget(self.caption)
        layout.addWidget(self.prediction)
        self.setFixedWidth(TILE + 26)  # widened by expect_gradcam

    def expect_gradcam(self, waiting: bool) -> None:
        """Show the Grad-CAM slot: "waiting…" for one that will come, or a note why none will."""
        self.setFixedWidth(2 * TILE + 30)
        self.name.setText(self._elided(2 * TILE - 40))
        self.cam.setVisible(True)
        self.cam.setText("waiting…" if waiting else f"Grad-CAM for the first {MAX_GRADCAM} images only")

    def _elided(self, width: int) -> str:
        return self.fontMetrics().elidedText(Path(self.path).name, Qt.TextElideMode.ElideMiddle, width)

    def show_prediction(self, out: PredictResult) -> None:
        """Show the model's class, probability and Grad-CAM (or why they are missing)."""
        if not out.rows:
            reason = out.skipped[0][1] if out.skipped else "unknown reason"
            self.cam.setText("unreadable")
            self._say(f"Cannot read this image: {html.escape(reason)}")
            return
        row = out.rows[0]
        text = f"predicted <b>{html.escape(out.class_names[row.pred])}</b> ({row.confidence:.0%})"
        if out.overlay is not None:
            self.cam.setPixmap(_pixmap(out.overlay, TILE))
            self.cam.setToolTip("Grad-CAM: the red areas drove the prediction")
        else:
            self.cam.setText("no Grad-CAM")
            text += f"<br>Grad-CAM unavailable: {html.escape(out.gradcam_error or 'unknown reason')}"
        self._say(text)

    def show_failure(self, message: str) -> None:
        """The prediction job failed: say why on the tile."""
        self.cam.setText("failed")
        self._say(f"<span style='color:#b00020'>{html.escape(message)}</span>")

    def _say(self, text: str) -> None:
        self.prediction.setText(text)
        self.prediction.setVisible(True)


class GradCamGallery(QDialog):
    """A window of the selected images with their Grad-CAM.

    Args:
        state: The shared :class:`~ui.state.AppState` (its ``model_path`` is the trained model).
        parent: The widget it belongs to (the embedding map).

    Attributes:
        tiles: The tiles shown, in selection order.
        note: The line above the tiles (how many, the model, or why there is no Grad-CAM).
        model_path: The model whose Grad-CAM is shown ("" when none).
    """

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("GradCamGallery")
        self.setWindowTitle("Selected images")
        self.setModal(False)
        self.state = state
        self.tiles: list[ImageTile] = []
        self.model_path = ""
        self._queue: list[ImageTile] = []
        self._current: ImageTile | None = None
        self.loader = ThumbnailLoader(self, size=TILE)

        self.title = QLabel("")
        self.title.setObjectName("GalleryTitle")
        self.title.setStyleSheet("font-weight: 600;")
        self.title.setWordWrap(True)
        self.note = QLabel("")
        self.note.setObjectName("Hint")
        self.note.setWordWrap(True)
        self.note.setTextFormat(Qt.TextFormat.RichText)
        self.grid = QGridLayout()
        self.grid.setSpacing(6)
        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.addLayout(self.grid)
        body_layout.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(body)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.note)
        layout.addWidget(self.scroll, 1)
        layout.addLayout(bottom)
        tile_width = 2 * TILE + 26
        self.resize(COLUMNS * (tile_width + 6) + 60, 640)

        self.runner = engine().task(self, background=True)
        self.runner.result.connect(self._on_result)
        self.runner.error.connect(self._on_error)
        self.runner.finished.connect(self._next)

    # ------------------------------------------------------------------ API

    def show_images(self, paths: Sequence[str], captions: Sequence[str] = (), title: str = "") -> None:
        """Show ``paths`` (up to :data:`MAX_IMAGES`), each with its caption, and start their Grad-CAM."""
        self._queue = []
        if self.runner.is_running():
            self.runner.cancel()  # its result is for a tile of the old selection: dropped in _on_result
        for tile in self.tiles:
            self.grid.removeWidget(tile)
            tile.deleteLater()
        paths = list(paths)
        captions = list(captions) + [""] * (len(paths) - len(captions))
        shown = paths[:MAX_IMAGES]
        self.tiles = [ImageTile(p, c) for p, c in zip(shown, captions)]
        self.model_path = self.state.model_path or ""
        columns = COLUMNS if self.model_path else COLUMNS_WITHOUT_CAM
        for i, tile in enumerate(self.tiles):
            self.grid.addWidget(tile, i // columns, i % columns, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
            self.loader.request(tile.path, tile.image)
        for column in range(max(COLUMNS, COLUMNS_WITHOUT_CAM) + 1):
            self.grid.setColumnStretch(column, 1 if column == columns else 0)
        n = len(paths)
        self.title.setText(title or f"{n} selected image{'s' if n != 1 else ''}")
        more = f" The first {len(shown)} of {n} are shown." if n > len(shown) else ""
        if self.model_path:
            cams = min(len(shown), MAX_GRADCAM)
            model = Path(self.model_path)
            name = model.parent.name if model.name == MODEL and (model.parent / RUN_CONFIG).is_file() else model.name
            self.note.setText(html.escape(f"Grad-CAM of {'each image' if cams == len(shown) else f'the first {cams} images'} by "
                                          f"{name}: the red areas drove its prediction.{more}"))
            for i, tile in enumerate(self.tiles):
                tile.expect_gradcam(i < MAX_GRADCAM)
            self._queue = self.tiles[:MAX_GRADCAM]
            if not self.runner.is_running():
                self._next()
        else:
            self.note.setText(html.escape(NO_MODEL_TEXT + "." + more))
        self.show()
        self.raise_()

    def pending(self) -> int:
        """Grad-CAM jobs still to run or running."""
        return len(self._queue) + (1 if self._current is not None else 0)

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Cancel the Grad-CAM jobs and stop loading thumbnails."""
        self._queue = []
        self.runner.cancel()
        self.loader.shutdown(timeout_ms)

    # ------------------------------------------------------------ internals

    def _next(self) -> None:
        self._current = None
        if not self._queue or self.runner.is_running():
            return
        self._current = self._queue.pop(0)
        self.runner.start("predict", PredictConfig(ModelRef(path=self.model_path), (self._current.path,), gradcam=True))

    def _on_result(self, out: PredictResult) -> None:
        tile = self._current
        if tile is not None and tile in self.tiles:
            tile.show_prediction(out)

    def _on_error(self, message: str, details: str) -> None:
        """A failed job (the model cannot load, the engine restarted…): the same would fail for every image, so stop."""
        tile = self._current
        if tile is None or tile not in self.tiles:
            return
        tile.show_failure(message)
        for rest in self._queue:
            rest.cam.setText("not computed")
        self._queue = []
        self.note.setText(f"<span style='color:#b00020'>Grad-CAM stopped: {html.escape(message)}</span>")
