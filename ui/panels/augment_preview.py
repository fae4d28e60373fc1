"""The Data page's Augmentation tab: the augmentation settings and a preview drawn by the engine.

The preview is the engine job ``"augment_preview"``
(:func:`ui.jobs.data_jobs.augment_preview_config`), which runs the real Keras
augmentation layers on a few training images and sends back a uint8 array:
one row per image, the original then :data:`PREVIEW_VARIANTS` random draws.
The tiles shrink with the tab's width down to :data:`MIN_PREVIEW_TILE`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from tlstudio.config import AugmentConfig
from ui.engine import engine
from ui.forms import field_check, field_row, fill_choices
from ui.jobs.data_jobs import PREVIEW_SIZE, PREVIEW_VARIANTS, augment_preview_config
from ui.panels.class_split import percent_spin
from ui.widgets.images import to_pixmap

AMOUNTS = ("rotation", "zoom", "contrast", "translation")
"""The fields of :class:`~tlstudio.config.AugmentConfig` set by a check box and an amount."""
FIRST_AMOUNT = 10.0
"""The amount (%) a box shows before it is first ticked (the field itself is 0, off, until then)."""
FLIP_LABELS = {  # what the user reads for each of AugmentConfig.flip's choices
    "none": "No flip",
    "horizontal": "Left–right",
    "vertical": "Up–down",
    "horizontal_and_vertical": "Both",
}
MIN_PREVIEW_TILE = 48
"""Smallest side a preview tile shrinks to before the preview scrolls sideways."""


class AugmentPreviewPanel(QWidget):
    """Flip, rotation, zoom, contrast and shift settings above a grid of augmented images.

    The page binds the settings to its data config and says which images to
    preview; the panel runs the preview job and shows the result.

    Args:
        images: Returns the image paths to preview (none: no preview).
        augment: Returns the augmentation the settings show.
        seed: Returns the data config's seed.
        parent: Parent widget.
    """

    def __init__(self, images: Callable[[], list[str]], augment: Callable[[], AugmentConfig], seed: Callable[[], int],
                 parent: QWidget | None = None):
        super().__init__(parent)
        self._images, self._augment, self._seed = images, augment, seed
        self.previewed: AugmentConfig | None = None

        self.preview_runner = engine().task(self, background=True)
        self.preview_runner.result.connect(self._on_preview)
        self.preview_runner.error.connect(self._on_preview_error)
        self.preview_runner.finished.connect(self._on_preview_finished)
        self._preview_again = False
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(400)
        self._preview_timer.timeout.connect(self.refresh_preview)
        self._build()

    def _build(self) -> None:
        self.flip_combo = QComboBox()
        fill_choices(self.flip_combo, AugmentConfig, "flip", FLIP_LABELS)
        self.flip_combo.setMaximumWidth(220)
        self.aug_checks: dict[str, QCheckBox] = {}
        self.aug_spins: dict[str, QDoubleSpinBox] = {}
        form = QFormLayout()
        field_row(form, AugmentConfig, "flip", self.flip_combo)
        for key in AMOUNTS:
            check = field_check(AugmentConfig, key)
            spin = percent_spin(maximum=100.0)
            spin.setToolTip(check.toolTip())
            spin.setMaximumWidth(140)
            spin.setValue(FIRST_AMOUNT)
            self.aug_checks[key], self.aug_spins[key] = check, spin
            form.addRow(check, spin)

        note = QLabel("Augmentation runs inside the model during training only; validation, "
                      "evaluation and prediction see the original images.")
        note.setWordWrap(True)
        note.setObjectName("Hint")

        self.preview_button = QPushButton("New preview")
        self.preview_button.setToolTip("Draw new random augmentations of the preview images")
        self.preview_button.clicked.connect(self._new_preview)
        self.preview_status = QLabel("Open a dataset to preview augmentation.")
        self.preview_status.setObjectName("Hint")
        self.preview_status.setWordWrap(True)
        self.preview_grid = QGridLayout()
        self.preview_grid.setSpacing(6)
        grid_holder = QWidget()
        grid_holder.setLayout(self.preview_grid)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(grid_holder)
        scroll.installEventFilter(self)  # tiles shrink to the width, see _fit_preview
        self.preview_scroll = scroll
        self._preview_pixmaps: list[QPixmap] = []
        self.preview_labels: list[QLabel] = []
        self._preview_seed = 0

        preview_row = QHBoxLayout()
        preview_row.addWidget(self.preview_status, 1)
        preview_row.addWidget(self.preview_button)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addLayout(preview_row)
        layout.addWidget(scroll, 1)

    def is_stale(self, augment: AugmentConfig) -> bool:
        """Whether the preview shown is missing or of another augmentation than ``augment``."""
        return not self.preview_labels or self.previewed != augment

    def schedule(self) -> None:
        """Refresh the preview shortly (edits in a row cause one refresh)."""
        self._preview_timer.start()

    def _new_preview(self) -> None:
        self._preview_seed += 1
        self.refresh_preview()

    def refresh_preview(self) -> None:
        """Ask the engine for the augmentation preview of a few images."""
        paths = self._images()
        if not paths:
            return
        if self.preview_runner.is_running():
            self._preview_again = True
            return
        augment = self._augment()
        self.preview_button.setEnabled(False)
        self.preview_status.setText("Computing the preview with the Keras augmentation layers…")
        seed = self._seed() + 1000 * self._preview_seed
        self.previewed = augment
        self.preview_runner.start("augment_preview", augment_preview_config(paths, augment, seed))

    def _on_preview(self, grid: np.ndarray) -> None:
        while self.preview_grid.count():
            widget = self.preview_grid.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        self.preview_labels = []
        self._preview_pixmaps = []
        headers = ["original"] + [f"augmented {i}" for i in range(1, grid.shape[1])]
        for col, text in enumerate(headers):
            head = QLabel(text)
            head.setAlignment(Qt.AlignmentFlag.AlignCenter)
            head.setObjectName("Hint")
            self.preview_grid.addWidget(head, 0, col)
        for row in range(grid.shape[0]):
            for col in range(grid.shape[1]):
                label = QLabel()
                self._preview_pixmaps.append(to_pixmap(grid[row, col]))
                label.setAlignment(Qt.AlignmentFlag.AlignCenter)
                label.setToolTip("Original image" if col == 0 else "One random draw of the augmentation")
                self.preview_grid.addWidget(label, row + 1, col)
                self.preview_labels.append(label)
        for r in range(self.preview_grid.rowCount()):
            self.preview_grid.setRowStretch(r, 0)
        for c in range(self.preview_grid.columnCount()):
            self.preview_grid.setColumnStretch(c, 0)
        self.preview_grid.setRowStretch(grid.shape[0] + 1, 1)
        self.preview_grid.setColumnStretch(grid.shape[1], 1)
        self._fit_preview()
        aug = self.previewed
        self.preview_status.setText(
            "Random draws of the training augmentation." if aug.enabled else "Augmentation is off: training sees the images as they are."
        )

    def preview_tile_side(self) -> int:
        """Side of a preview tile: as large as the images, or as four columns fit in the tab's width."""
        columns = 1 + PREVIEW_VARIANTS
        scroll = self.preview_scroll
        margins = self.preview_grid.contentsMargins()
        width = (
            scroll.width() - 2 * scroll.frameWidth() - scroll.verticalScrollBar().sizeHint().width()
            - margins.left() - margins.right() - self.preview_grid.horizontalSpacing() * (columns - 1)
        )
        return max(MIN_PREVIEW_TILE, min(PREVIEW_SIZE, width // columns))

    def _fit_preview(self) -> None:
        side = self.preview_tile_side()
        for label, pixmap in zip(self.preview_labels, self._preview_pixmaps):
            if label.pixmap().width() != side:
                label.setPixmap(pixmap.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt API
        if watched is self.preview_scroll and event.type() == QEvent.Type.Resize and self.preview_labels:
            self._fit_preview()
        return super().eventFilter(watched, event)

    def _on_preview_error(self, message: str, details: str) -> None:
        self.preview_status.setText(f"Preview failed: {message}")

    def _on_preview_finished(self) -> None:
        self.preview_button.setEnabled(True)
        if self._preview_again:
            self._preview_again = False
            QTimer.singleShot(0, self.refresh_preview)

    def shutdown(self) -> None:
        """Stop the preview job."""
        self.preview_runner.cancel()
