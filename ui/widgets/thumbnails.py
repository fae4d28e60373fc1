"""A lazily loaded thumbnail grid for image files.

:class:`ThumbnailModel` is a list model of image paths. The view asks for an
item's icon only when the item is about to be painted, so the model starts
loading a thumbnail the first time its ``DecorationRole`` is requested, on a
small private ``QThreadPool``, through :func:`tlstudio.imaging.load_rgb` (the
same pixels training sees: EXIF orientation, RGB, first frame). Until it
arrives the item shows a grey placeholder. Scrolling through a folder of
thousands of images therefore decodes only what comes into view.

:class:`ThumbnailLoader` serves the panels that show thumbnails in their own
labels (the audit cards, the Grad-CAM gallery): the same decoding, the same
placeholder and "unreadable" tiles, one cache per loader.

:func:`load_preview` and :func:`preview_pixmap` read one image whole (or
shrunk to a side) for the pictures that show a single chosen image: the
Inspect page's Grad-CAM tab and the Evaluate page's test image.

This is the one place the GUI turns an image file into pixels.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRunnable,
    QSize,
    Qt,
    QThreadPool,
    Signal,
)
from PySide6.QtGui import QColor, QImage, QPixmap
from PySide6.QtWidgets import QLabel, QListView, QWidget

from ui.widgets.images import to_pixmap

THUMB_SIZE = 96
CACHE_LIMIT = 2000
PLACEHOLDER_COLOUR = "#e4e7eb"
UNREADABLE_COLOUR = "#f3d6d2"


def load_thumbnail(path: str, size: int) -> QImage:
    """Decode ``path`` and return a ``size`` x ``size`` QImage, the picture centred (null on failure).

    Safe to call from any thread (QImage, unlike QPixmap, is not tied to the GUI thread).
    """
    from PIL import Image

    from tlstudio.imaging import load_rgb

    try:
        img = load_rgb(path)
    except Exception:  # noqa: BLE001 - a broken file just shows no thumbnail
        return QImage()
    scale = size / max(img.width, img.height)
    if scale != 1.0:  # fit the tile, up or down, keeping the aspect ratio
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.BILINEAR)
    # Centre on a transparent square so every caption sits on the same line.
    tile = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    tile.paste(img, ((size - img.width) // 2, (size - img.height) // 2))
    data = tile.tobytes("raw", "RGBA")
    qimg = QImage(data, size, size, 4 * size, QImage.Format.Format_RGBA8888)
    return qimg.copy()  # own the pixels; `data` goes away with this frame


def placeholder_pixmap(size: int) -> QPixmap:
    """The grey square shown while a thumbnail loads."""
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(PLACEHOLDER_COLOUR))
    return pixmap


def thumbnail_pixmap(image: QImage, size: int) -> QPixmap:
    """``image`` as a pixmap, or a pale red ``size`` square when it could not be read (null)."""
    if image.isNull():
        pixmap = QPixmap(size, size)
        pixmap.fill(QColor(UNREADABLE_COLOUR))  # unreadable or moved away: a pale red tile
        return pixmap
    return QPixmap.fromImage(image)


def load_preview(path: str, max_side: int = 0) -> np.ndarray:
    """``path`` as a uint8 RGB array, as training reads it, shrunk to fit ``max_side`` when given.

    Raises:
        OSError: the file cannot be read or is not an image (PIL.UnidentifiedImageError is an OSError).
        ValueError: the image cannot be decoded.
    """
    from tlstudio.imaging import load_rgb

    image = load_rgb(path)
    if max_side:
        image.thumbnail((max_side, max_side))
    return np.asarray(image, dtype=np.uint8)


def preview_pixmap(path: str) -> QPixmap:
    """``path`` as a pixmap at its own size, read as :func:`load_preview` does (null when it cannot be read)."""
    try:
        return to_pixmap(load_preview(path))
    except (OSError, ValueError):
        return QPixmap()


class _Signals(QObject):
    loaded = Signal(int, object, QImage)  # generation, path, image (object: a file name that is not UTF-8 crosses intact)


class _ThumbnailJob(QRunnable):
    def __init__(self, generation: int, path: str, size: int, signals: _Signals):
        super().__init__()
        self.setAutoDelete(True)
        self._generation = generation
        self._path = path
        self._size = size
        self._signals = signals

    def run(self) -> None:
        image = load_thumbnail(self._path, self._size)
        try:
            self._signals.loaded.emit(self._generation, self._path, image)
        except RuntimeError:  # the model was deleted while we worked
            pass


class ThumbnailModel(QAbstractListModel):
    """Image paths with thumbnails that load on first display.

    Args:
        thumb_size: Longer side of a thumbnail in pixels.
        max_threads: Decoding threads of the model's private pool.
        parent: Owning QObject.

    Signals:
        thumbnail_loaded(str): a thumbnail for this path has arrived.
    """

    thumbnail_loaded = Signal(object)  # the path, as given (object: not UTF-8 names cross intact)
    PathRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, thumb_size: int = THUMB_SIZE, max_threads: int = 2, parent: QObject | None = None):
        super().__init__(parent)
        self._size = thumb_size
        self._paths: list[str] = []
        self._labels: list[str] = []
        self._tips: list[str] = []
        self._row_of: dict[str, int] = {}
        self._cache: OrderedDict[str, QPixmap] = OrderedDict()
        self._requested: set[str] = set()
        self._generation = 0
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        self._signals = _Signals()
        self._signals.loaded.connect(self._on_loaded)
        self._placeholder = placeholder_pixmap(thumb_size)

    # --------------------------------------------------------------- API

    def set_paths(self, paths: list[str], labels: list[str] | None = None, tooltips: list[str] | None = None) -> None:
        """Show ``paths`` (with optional captions and tooltips); pending loads are dropped."""
        self.beginResetModel()
        self._generation += 1
        self._pool.clear()
        self._paths = [str(p) for p in paths]
        self._labels = list(labels) if labels is not None else [Path(p).name for p in self._paths]
        self._tips = list(tooltips) if tooltips is not None else list(self._paths)
        self._row_of = {p: i for i, p in enumerate(self._paths)}
        self._requested = {p for p in self._requested if p in self._cache}
        self.endResetModel()

    def paths(self) -> list[str]:
        return list(self._paths)

    def loaded_count(self) -> int:
        """Thumbnails of the current paths that are in memory."""
        return sum(1 for p in self._paths if p in self._cache)

    def requested_count(self) -> int:
        """Thumbnails of the current paths that were asked for (loaded or loading)."""
        return sum(1 for p in self._paths if p in self._requested)

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Drop queued jobs and wait for the running ones."""
        self._generation += 1
        self._pool.clear()
        self._pool.waitForDone(timeout_ms)

    @property
    def thumb_size(self) -> int:
        return self._size

    # ------------------------------------------------------ model methods

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self._paths)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._paths):
            return None
        path = self._paths[index.row()]
        if role == Qt.ItemDataRole.DecorationRole:
            pixmap = self._cache.get(path)
            if pixmap is not None:
                self._cache.move_to_end(path)
                return pixmap
            self._request(path)
            return self._placeholder
        if role == Qt.ItemDataRole.DisplayRole:
            return self._labels[index.row()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tips[index.row()]
        if role == self.PathRole:
            return path
        if role == Qt.ItemDataRole.SizeHintRole:
            return QSize(self._size + 16, self._size + 30)
        return None

    # ---------------------------------------------------------- internals

    def _request(self, path: str) -> None:
        if path in self._requested:
            return
        self._requested.add(path)
        self._pool.start(_ThumbnailJob(self._generation, path, self._size, self._signals))

    def _on_loaded(self, generation: int, path: str, image: QImage) -> None:
        if generation != self._generation:
            self._requested.discard(path)
            return
        pixmap = thumbnail_pixmap(image, self._size)
        self._cache[path] = pixmap
        while len(self._cache) > CACHE_LIMIT:
            old, _ = self._cache.popitem(last=False)
            self._requested.discard(old)
        row = self._row_of.get(path)
        if row is not None:
            index = self.index(row)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])
        self.thumbnail_loaded.emit(path)


class _Loaded(QObject):
    loaded = Signal(object, QImage)  # object: a path Qt cannot spell (not UTF-8) crosses intact


class _LabelJob(QRunnable):
    def __init__(self, path: str, signals: _Loaded, size: int):
        super().__init__()
        self.path, self.signals, self.size = path, signals, size

    def run(self) -> None:
        image = load_thumbnail(self.path, self.size)
        try:
            self.signals.loaded.emit(self.path, image)
        except RuntimeError:  # the view went away meanwhile
            pass


class ThumbnailLoader(QObject):
    """Loads thumbnails on a private pool and hands each one to the labels waiting for it.

    Args:
        parent: Owner.
        size: Side of the square thumbnails, in pixels.
    """

    def __init__(self, parent: QObject | None = None, size: int = THUMB_SIZE):
        super().__init__(parent)
        self.size = size
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(2)
        self._signals = _Loaded()
        self._signals.loaded.connect(self._on_loaded)
        self._waiting: dict[str, list[QLabel]] = {}
        self._cache: dict[str, QPixmap] = {}

    def request(self, path: str, label: QLabel) -> None:
        """Show ``path``'s thumbnail in ``label`` when it is ready."""
        if path in self._cache:
            label.setPixmap(self._cache[path])
            return
        first = path not in self._waiting
        self._waiting.setdefault(path, []).append(label)
        if first:
            self._pool.start(_LabelJob(path, self._signals, self.size))

    def pending(self) -> int:
        """Paths asked for whose thumbnail has not arrived yet."""
        return len(self._waiting)

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Drop queued loads and wait for the running ones."""
        self._pool.clear()
        self._pool.waitForDone(timeout_ms)

    def _on_loaded(self, path: str, image: QImage) -> None:
        pixmap = thumbnail_pixmap(image, self.size)
        self._cache[path] = pixmap
        for label in self._waiting.pop(path, []):
            try:
                label.setPixmap(pixmap)
            except RuntimeError:  # the card was removed meanwhile
                pass


class ThumbnailView(QListView):
    """A QListView in icon mode, tuned for a :class:`ThumbnailModel`."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("ThumbnailView")
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(200)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setSpacing(6)
        self.setSelectionMode(QListView.SelectionMode.ExtendedSelection)

    def setModel(self, model) -> None:  # noqa: N802 - Qt API
        super().setModel(model)
        if isinstance(model, ThumbnailModel):
            size = model.thumb_size
            self.setIconSize(QSize(size, size))
            self.setGridSize(QSize(size + 24, size + 34))
