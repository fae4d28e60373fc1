"""The Model page's "Freezing" box: presets, the backbone's layers by block with a checkbox each, and the counts.

A checked layer is *frozen* during fine-tuning (phase 2). Phase 1 always
trains the head alone, with the whole backbone frozen. The tree shows a
:class:`~tlstudio.layout.BackboneLayout`; which layers are checked is read
and written by the page's form (``ModelConfig.freeze``) through
:meth:`FreezeTree.frozen_layers` and :meth:`FreezeTree.set_frozen`.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from tlstudio.config import ModelConfig
from tlstudio.layout import BackboneLayout
from ui.forms import described

PRESETS: tuple[tuple[str, str, str], ...] = (
    ("all", "Freeze all", "Feature extraction: keep every backbone layer frozen and train only the new head. Fast, needs little data."),
    ("last", "Fine-tune last block", "After training the head, also fine-tune the last backbone block at a low learning rate."),
    ("none", "Fine-tune all", "After training the head, fine-tune every backbone layer at a low learning rate. Needs more data."),
)

WIDGETS = ("preset_buttons", "tree", "expand_button", "tree_status", "counts_label")
"""The widgets of the box the Model page shows under the same names."""


def fmt(n: int) -> str:
    """``1234567`` -> ``"1 234 567"`` (narrow no-break spaces)."""
    return f"{n:,}".replace(",", "\u202f")


class FreezeTree(QGroupBox):
    """What stays fixed while fine-tuning.

    Args:
        parent: Parent widget.

    Signals:
        preset_chosen(str): a preset button was pressed: ``"all"``, ``"last"`` or ``"none"``.
        edited(): the user checked or cleared a layer or block (not sent while the tree is filled or set).
    """

    preset_chosen = Signal(str)
    edited = Signal()

    def __init__(self, parent: QWidget | None = None):
        freeze = described(ModelConfig, "freeze")
        super().__init__(f"{freeze.label} ({freeze.help})", parent)
        self._writing = 0
        self.preset_buttons: dict[str, QPushButton] = {}
        presets_row = QHBoxLayout()
        for key, label, tip in PRESETS:
            button = QPushButton(label)
            button.setToolTip(tip)
            button.setObjectName(f"Preset_{key}")
            button.clicked.connect(lambda _=False, k=key: self.preset_chosen.emit(k))
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

        freeze_layout = QVBoxLayout(self)
        freeze_layout.addLayout(presets_row)
        freeze_layout.addLayout(status_row)
        freeze_layout.addWidget(self.tree, 1)
        freeze_layout.addWidget(self.counts_label)

    def widgets(self) -> list[QWidget]:
        """The input widgets, in tab order."""
        return [*self.preset_buttons.values(), self.expand_button, self.tree]

    def set_presets_enabled(self, enabled: bool) -> None:
        for button in self.preset_buttons.values():
            button.setEnabled(enabled)

    @contextmanager
    def _filling(self) -> Iterator[None]:
        """Check states set inside are not edits."""
        self._writing += 1
        try:
            yield
        finally:
            self._writing -= 1

    def _on_item_changed(self, _item: QTreeWidgetItem, column: int) -> None:
        if column == 0 and not self._writing:
            self.edited.emit()

    def _on_expand(self, expanded: bool) -> None:
        self.expand_button.setText("Collapse all" if expanded else "Expand all")
        if expanded:
            self.tree.expandAll()
        else:
            self.tree.collapseAll()

    # -------------------------------------------------------------- layers

    def fill(self, layout: BackboneLayout) -> None:
        """List the selectable layers of ``layout`` by block, every one checked."""
        with self._filling():
            self.tree.clear()
            for block in layout.blocks:
                members = layout.block_layers(block)
                if not members:
                    continue
                every = layout.block_layers(block, selectable_only=False)
                total = sum(layer.trainable + layer.fixed for layer in every)
                n_bn = len(every) - len(members)
                item = QTreeWidgetItem([block, f"{len(members)} layers", fmt(total)])
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsAutoTristate)
                item.setData(0, Qt.ItemDataRole.UserRole, block)
                tip = f"Check to freeze every layer of {block}"
                if n_bn:
                    tip += f". Its {n_bn} BatchNorm layers are not listed: they always stay frozen (inference mode)"
                item.setToolTip(0, tip)
                item.setTextAlignment(2, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                for layer in members:
                    child = QTreeWidgetItem([layer.name, layer.kind, fmt(layer.trainable + layer.fixed)])
                    child.setFlags(child.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                    child.setData(0, Qt.ItemDataRole.UserRole, layer.name)
                    child.setCheckState(0, Qt.CheckState.Checked)
                    child.setTextAlignment(2, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    tip = f"{layer.name}: {fmt(layer.trainable)} trainable parameters"
                    child.setToolTip(0, tip)
                    item.addChild(child)
                self.tree.addTopLevelItem(item)
            if self.expand_button.isChecked():
                self.tree.expandAll()

    def layer_items(self) -> list[QTreeWidgetItem]:
        """Every layer's item, block after block."""
        items = []
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            items.extend(top.child(j) for j in range(top.childCount()))
        return items

    def block_item(self, block: str) -> QTreeWidgetItem | None:
        """The tree item of ``block``, or None."""
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            if top.data(0, Qt.ItemDataRole.UserRole) == block:
                return top
        return None

    def layer_item(self, name: str) -> QTreeWidgetItem | None:
        """The tree item of layer ``name``, or None."""
        for item in self.layer_items():
            if item.data(0, Qt.ItemDataRole.UserRole) == name:
                return item
        return None

    def frozen_layers(self) -> set[str]:
        """Names of the checked (frozen) layers."""
        return {
            item.data(0, Qt.ItemDataRole.UserRole)
            for item in self.layer_items()
            if item.checkState(0) == Qt.CheckState.Checked
        }

    def set_frozen(self, frozen: set[str]) -> None:
        """Check exactly the layers named in ``frozen`` (not an edit)."""
        with self._filling():
            for item in self.layer_items():
                state = Qt.CheckState.Checked if item.data(0, Qt.ItemDataRole.UserRole) in frozen else Qt.CheckState.Unchecked
                if item.checkState(0) != state:
                    item.setCheckState(0, state)
