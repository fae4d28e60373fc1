"""The Inspect page's source bar: which model to inspect (the current one, or a bare backbone at a size and weights)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QWidget

from tlstudio.backbones import BACKBONES, WEIGHTS_DESCRIPTIONS, WEIGHTS_LABELS, get_spec
from tlstudio.api.model_ref import ModelRef
from ui.state import AppState
from ui.widgets.images import wrapping_label

CURRENT = "__current__"
"""The source combo's value for the current model (trained, or the Model page's choice)."""

INSPECT_WEIGHTS = tuple(key for key in WEIGHTS_LABELS if key != "file")
"""Weights sources offered for a backbone here: the registry's, except a file (it needs a path)."""

DEFAULT_WEIGHTS = "none"
"""A backbone is inspected untrained unless asked: the table needs only the architecture, and nothing downloads."""

MIN_COMBO_CHARS = 16
"""Characters the weights box shows closed (its open list shows every name whole)."""


class ModelSourceBar(QWidget):
    """Model combo, input size, weights, the Inspect button and a status line.

    Args:
        parent: Parent widget.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.source = QComboBox()
        self.source.addItem("Current model", CURRENT)
        for spec in BACKBONES.values():
            self.source.addItem(spec.display_name, spec.key)
            self.source.setItemData(self.source.count() - 1, spec.description, Qt.ItemDataRole.ToolTipRole)
        self.source.setToolTip("The model to inspect: the current model, or a bare backbone")
        self.size = QSpinBox()
        self.size.setRange(32, 1024)
        self.size.setValue(224)
        self.size.setSuffix(" px")
        self.size.setToolTip("Input size for a backbone chosen here")
        self.weights = QComboBox()
        for key in INSPECT_WEIGHTS:
            self.weights.addItem(WEIGHTS_LABELS[key], key)
            self.weights.setItemData(self.weights.count() - 1, WEIGHTS_DESCRIPTIONS[key], Qt.ItemDataRole.ToolTipRole)
        self.weights.setCurrentIndex(self.weights.findData(DEFAULT_WEIGHTS))
        # long choices are elided in the closed box instead of widening the bar
        self.weights.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.weights.setMinimumContentsLength(MIN_COMBO_CHARS)
        self.weights.setToolTip(
            "Weights of a backbone chosen here: untrained shows the architecture; trained weights show real filters "
            "and activations"
        )
        self.load_button = QPushButton("Inspect")
        self.load_button.setToolTip("Build or load the chosen model and list its layers")
        self.status = wrapping_label("The current model is inspected when this page opens; or choose a backbone.")
        bar = QHBoxLayout(self)
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(QLabel("Model:"))
        bar.addWidget(self.source)
        bar.addWidget(self.size)
        bar.addWidget(self.weights)
        bar.addWidget(self.load_button)
        bar.addWidget(self.status, 1)
        self.source.currentIndexChanged.connect(self._on_source_changed)
        self._on_source_changed()

    def _on_source_changed(self, *_: Any) -> None:
        key = self.source.currentData()
        backbone = key != CURRENT
        # the current model has its own size and weights: hide these rather than
        # show a greyed-out "224 px, untrained" that contradicts it
        self.size.setVisible(backbone)
        self.weights.setVisible(backbone)
        if backbone:
            self.size.setMinimum(get_spec(key).min_size)

    def is_current(self) -> bool:
        """Whether the current model (not a bare backbone) is chosen."""
        return self.source.currentData() == CURRENT

    def choose(self, key: str, image_size: int = 0) -> None:
        """Choose ``key`` (a backbone key or CURRENT), and ``image_size`` when given.

        Raises:
            ValueError: ``key`` is neither CURRENT nor a registry backbone.
        """
        index = self.source.findData(key)
        if index < 0:
            raise ValueError(f"the model source must be {CURRENT!r} or one of {', '.join(BACKBONES)}. Received: {key!r}")
        self.source.setCurrentIndex(index)
        if image_size:
            self.size.setValue(image_size)

    def chosen_ref(self, state: AppState) -> ModelRef:
        """The :class:`ModelRef` of the current choice; the current model comes from ``state``."""
        key = self.source.currentData()
        if key != CURRENT:
            return ModelRef(backbone=key, image_size=self.size.value(), weights=self.weights.currentData())
        if state.model_path:
            return ModelRef(path=state.model_path)
        return ModelRef(model_config=state.model_config, num_classes=len(state.class_names) or 2)
