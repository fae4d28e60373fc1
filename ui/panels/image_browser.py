"""The Data page's Images tab: every usable image of one class, or of all, as lazily loaded thumbnails."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from tlstudio.api.dataset import PreparedData
from ui.widgets.thumbnails import ThumbnailModel, ThumbnailView


class ImageBrowser(QWidget):
    """A class chooser above a thumbnail grid of a prepared dataset's images.

    Args:
        parent: Parent widget.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.prepared: PreparedData | None = None
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("Show the images of one class, or of all classes")
        self.class_combo.currentIndexChanged.connect(self.show_thumbnails)
        self.images_label = QLabel()
        self.images_label.setObjectName("Hint")
        self.thumb_model = ThumbnailModel(parent=self)
        self.thumb_view = ThumbnailView()
        self.thumb_view.setModel(self.thumb_model)
        self.thumb_view.setToolTip("Thumbnails load as they scroll into view")
        row = QHBoxLayout()
        row.addWidget(QLabel("Class:"))
        row.addWidget(self.class_combo, 1)
        row.addWidget(self.images_label)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.thumb_view, 1)

    def set_prepared(self, prepared: PreparedData | None) -> None:
        """Show ``prepared``'s images (None: none), keeping the chosen class when it still exists."""
        self.prepared = prepared
        self.class_combo.blockSignals(True)
        if prepared is None:
            self.class_combo.clear()
            self.class_combo.blockSignals(False)
            self.thumb_model.set_paths([])
            return
        current = self.class_combo.currentData()
        self.class_combo.clear()
        self.class_combo.addItem("All classes", None)
        for name in prepared.class_names:
            self.class_combo.addItem(name, name)
        index = self.class_combo.findData(current) if current else 0
        self.class_combo.setCurrentIndex(max(index, 0))
        self.class_combo.blockSignals(False)
        self.show_thumbnails()

    def set_split(self, prepared: PreparedData) -> None:
        """Show the same dataset split again (the classes are unchanged)."""
        self.prepared = prepared
        self.show_thumbnails()

    def show_class(self, name: str) -> None:
        """Choose class ``name`` (all classes when it is not there)."""
        self.class_combo.setCurrentIndex(max(self.class_combo.findData(name), 0))

    def show_thumbnails(self, *_args) -> None:
        """Fill the grid with the chosen class's images, sorted by path."""
        prepared = self.prepared
        if prepared is None:
            self.thumb_model.set_paths([])
            self.images_label.setText("")
            return
        wanted = self.class_combo.currentData()
        paths, labels, tips = [], [], []
        for split, items in (("train", prepared.train), ("val", prepared.val), ("test", prepared.test)):
            for item in items:
                name = prepared.class_names[item.label]
                if wanted is not None and name != wanted:
                    continue
                paths.append(item.path)
                labels.append(Path(item.path).name)
                tips.append(f"{item.path}\nclass: {name} · split: {split}")
        order = sorted(range(len(paths)), key=lambda i: paths[i])
        self.thumb_model.set_paths([paths[i] for i in order], [labels[i] for i in order], [tips[i] for i in order])
        self.images_label.setText(f"{len(paths)} images")

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Stop loading thumbnails."""
        self.thumb_model.shutdown(timeout_ms)
