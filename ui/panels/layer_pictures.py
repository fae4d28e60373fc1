"""The Inspect page's tabs beside the layer table: Details, Blocks, Filters, Activations and Grad-CAM.

* **Details**: the selected layer's formulas with the numbers substituted.
* **Blocks**: the layers grouped by stage or residual block.
* **Filters**: the selected convolution's kernels (RGB for the first layer,
  one input channel or the channel mean deeper down).
* **Activations**: the selected layer's feature maps for the chosen image,
  sorted by mean activation, with per-map statistics.
* **Grad-CAM**: where the model looks for a class, for the same image.

The panel draws what the page's jobs return; it asks for work with its signals.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from tlstudio.shapes import formulas as fm
from tlstudio.shapes.formulas import LayerTable
from tlstudio.api.inspect import FILTER_MODES, ActivationsResult, FiltersResult, GradCamResult
from ui.widgets.images import PathLabel, image_label, wrapping_label
from ui.widgets.layer_table_model import shape_text

NO_IMAGE = "No image yet"
"""What the image line says before an image is picked (short: at 1024 px the longer text was cut)."""


class LayerPictures(QTabWidget):
    """The five tabs about the selected layer and the chosen image.

    Signals:
        refresh_requested(): a choice changed; the open tab's picture should follow.
        gradcam_requested(): Compute Grad-CAM was pressed.
        dataset_image_requested(): use a random dataset image.
        browse_requested(): ask for an image file.
        block_chosen(str): a block was double-clicked; show its layers.
    """

    refresh_requested = Signal()
    gradcam_requested = Signal()
    dataset_image_requested = Signal()
    browse_requested = Signal()
    block_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.table: LayerTable | None = None
        self.details = QTextBrowser()
        self.details.setHtml("<p>Select a layer to see its formulas.</p>")
        self.addTab(self.details, "Details")
        self.addTab(self._blocks_tab(), "Blocks")
        self.addTab(self._filters_tab(), "Filters")
        self.addTab(self._activations_tab(), "Activations")
        self.addTab(self._gradcam_tab(), "Grad-CAM")
        # five titles fit beside the table from 1024 px up; never hide one behind arrows
        self.setUsesScrollButtons(False)
        self.tab_index = {self.tabText(i): i for i in range(self.count())}

    def current_kind(self) -> str:
        """``"filters"``, ``"activations"`` or ``"gradcam"`` for the open picture tab, else ""."""
        current = self.currentWidget()
        for kind, title in (("filters", "Filters"), ("activations", "Activations"), ("gradcam", "Grad-CAM")):
            if current is self.widget(self.tab_index[title]):
                return kind
        return ""

    def _blocks_tab(self) -> QWidget:
        w = QWidget()
        self.block_level = QComboBox()
        self.block_level.addItem("Stages (conv2_x, block1…)", "group")
        self.block_level.addItem("Residual blocks (conv2_block1…)", "block")
        self.block_level.currentIndexChanged.connect(lambda _: self.fill_blocks())
        self.blocks = QTableWidget(0, 7)
        self.blocks.setHorizontalHeaderLabels(["Block", "Layers", "Params", "Trainable", "Activations", "Output", "RF / jump"])
        self.blocks.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.blocks.verticalHeader().setVisible(False)
        self.blocks.horizontalHeader().setStretchLastSection(True)
        self.blocks.setToolTip("Double-click a block to show its layers in the table")
        self.blocks.cellDoubleClicked.connect(lambda r, _c: self.block_chosen.emit(self.blocks.item(r, 0).text()))
        top = QHBoxLayout()
        top.addWidget(QLabel("Group by:"))
        top.addWidget(self.block_level)
        top.addStretch(1)
        layout = QVBoxLayout(w)
        layout.addLayout(top)
        layout.addWidget(self.blocks, 1)
        return w

    def _filters_tab(self) -> QWidget:
        w = QWidget()
        self.filter_mode = QComboBox()
        self.filter_mode.addItems(list(FILTER_MODES))
        self.filter_mode.setToolTip("auto: RGB for a first layer, the mean over input channels deeper down")
        self.filter_channel = QSpinBox()
        self.filter_channel.setRange(0, 4095)
        self.filter_channel.setPrefix("input channel ")
        self.filter_channel.setEnabled(False)
        self.filter_mode.currentTextChanged.connect(lambda mode: self.filter_channel.setEnabled(mode == "channel"))
        self.filter_mode.currentTextChanged.connect(lambda _: self.refresh_requested.emit())
        self.filter_channel.valueChanged.connect(lambda _: self.refresh_requested.emit() if self.filter_mode.currentText() == "channel" else None)
        self.filter_info = wrapping_label("Select a convolution layer.")
        self.filter_area, self.filter_image = image_label()
        top = QHBoxLayout()
        top.addWidget(QLabel("Show:"))
        top.addWidget(self.filter_mode)
        top.addWidget(self.filter_channel)
        top.addStretch(1)
        layout = QVBoxLayout(w)
        layout.addLayout(top)
        layout.addWidget(self.filter_info)
        layout.addWidget(self.filter_area, 1)
        return w

    def _image_buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        dataset = QPushButton("Dataset image")
        dataset.setToolTip("A random image of the loaded dataset (validation split first); the Activations and Grad-CAM tabs share it")
        dataset.clicked.connect(self.dataset_image_requested)
        browse = QPushButton("Open image…")
        browse.setToolTip("Use an image file for the activations and Grad-CAM")
        browse.clicked.connect(self.browse_requested)
        row.addWidget(dataset)
        row.addWidget(browse)
        return row

    def _activations_tab(self) -> QWidget:
        w = QWidget()
        self.act_image_label = PathLabel(NO_IMAGE)
        self.act_info = wrapping_label("")
        self.act_info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.act_area, self.act_image = image_label()
        top = self._image_buttons()
        top.addWidget(self.act_image_label, 1)
        layout = QVBoxLayout(w)
        layout.addLayout(top)
        layout.addWidget(self.act_area, 1)
        layout.addWidget(self.act_info)
        return w

    def _gradcam_tab(self) -> QWidget:
        w = QWidget()
        self.cam_class = QComboBox()
        self.cam_layer = QComboBox()
        self.cam_layer.addItem("Last convolution", "")
        self.cam_layer.addItem("Selected layer", "selected")
        self.cam_button = QPushButton("Compute Grad-CAM")
        self.cam_button.setToolTip("Colour the regions of the image that drove the chosen class")
        self.cam_button.clicked.connect(self.gradcam_requested)
        self.cam_info = wrapping_label(
            "Pick an image (a dataset image or a file), then compute Grad-CAM. It needs a classifier: "
            "inspect the Current model, not a bare backbone."
        )
        self.cam_area, self.cam_image = image_label()
        self.cam_image_label = PathLabel(NO_IMAGE)
        self.cam_class.currentIndexChanged.connect(lambda _: self.refresh_requested.emit())
        self.cam_layer.currentIndexChanged.connect(lambda _: self.refresh_requested.emit())
        buttons = self._image_buttons()
        buttons.addWidget(self.cam_image_label, 1)
        grid = QGridLayout()
        grid.addLayout(buttons, 0, 0, 1, 2)
        grid.addWidget(QLabel("Class"), 1, 0)
        grid.addWidget(self.cam_class, 1, 1)
        grid.addWidget(QLabel("Layer"), 2, 0)
        grid.addWidget(self.cam_layer, 2, 1)
        grid.addWidget(self.cam_button, 3, 1)
        grid.setColumnStretch(1, 1)
        layout = QVBoxLayout(w)
        layout.addLayout(grid)
        layout.addWidget(self.cam_info)
        layout.addWidget(self.cam_area, 1)
        return w

    def set_table(self, table: LayerTable) -> None:
        """A new model: its blocks, and no pictures of the previous one."""
        self.table = table
        self.fill_blocks()
        for picture in (self.filter_image, self.act_image, self.cam_image):
            picture.clear()
        self.filter_info.setText("Select a convolution layer to see its filters.")
        self.act_info.setText("")

    def fill_classes(self, table: LayerTable, class_names: list[str] | tuple[str, ...], classifier: bool,
                     preview: np.ndarray | None) -> None:
        """List the classes Grad-CAM can explain; only a classifier (not a bare backbone) has them."""
        self.cam_class.blockSignals(True)  # one Grad-CAM for the new model, not one per class added
        self.cam_class.clear()
        self.cam_class.addItem("Predicted class", None)
        names = class_names
        out = table.rows[-1].output_shape if table.rows else None
        n = out[-1] if out and len(out) == 1 else 0
        for i in range(n if n <= 1000 else 0):
            self.cam_class.addItem(f"{i}: {names[i]}" if i < len(names) else str(i), i)
        self.cam_class.blockSignals(False)
        self.cam_button.setEnabled(classifier)
        self.cam_info.setText(
            "Pick an image (a dataset image or a file), then compute Grad-CAM."
            if classifier
            else "Grad-CAM needs a classifier (one score per class): inspect the Current model, not a bare backbone."
        )
        if classifier and preview is not None:
            self.cam_image.set_picture(preview)

    def fill_blocks(self) -> None:
        """Fill the Blocks tab with the table's stages or residual blocks."""
        if self.table is None:
            self.blocks.setRowCount(0)
            return
        groups = self.table.groups(self.block_level.currentData())
        self.blocks.setRowCount(len(groups))
        for r, g in enumerate(groups):
            cells = (
                g.name, str(g.layers), f"{g.params:,}", f"{g.trainable_params:,}", fm.human_bytes(g.act_elements * 4),
                shape_text(g.output_shape), f"{g.rf} / {g.jump}" if g.rf is not None else "",
            )
            for c, text in enumerate(cells):
                self.blocks.setItem(r, c, QTableWidgetItem(text))
        self.blocks.resizeColumnsToContents()

    def info(self, kind: str) -> QLabel:
        """The status line of the ``kind`` tab."""
        return {"filters": self.filter_info, "activations": self.act_info, "gradcam": self.cam_info}[kind]

    def say_image(self, message: str) -> None:
        """Show ``message`` where the image is used: the Activations and Grad-CAM tabs."""
        self.act_info.setText(message)
        self.cam_info.setText(message)

    def show_filters(self, g: FiltersResult) -> None:
        """Show a convolution's kernels."""
        self.filter_image.set_picture(g.image, crisp=True)
        fh, fw, d_in, k = g.kernel_shape
        what = {"rgb": "RGB kernels", "channel": f"input channel {g.channel}", "mean": f"mean over {d_in} input channels"}[g.mode]
        self.filter_info.setText(
            f"{g.layer}: {k} filters of {fh}×{fw}×{d_in}, showing {g.shown} ({what}); "
            + ("1×1 kernels: one weight each, all on one scale." if fh * fw == 1 else "each filter scaled to its own range.")
        )

    def show_activations(self, maps: ActivationsResult) -> None:
        """Show a layer's feature maps and their statistics."""
        self.act_image.set_picture(maps.image)
        dead = sum(1 for s in maps.stats if s.max == 0)
        lines = [f"{maps.layer}: output {shape_text(maps.shape)}; maps sorted by mean activation, brightest first."]
        lines.append("Top maps: " + ", ".join(f"#{s.channel} mean {s.mean:.3g} max {s.max:.3g} zero {s.frac_zero:.0%}" for s in maps.stats[:8]))
        if dead:
            lines.append(f"{dead} of {len(maps.stats)} maps are zero everywhere for this image.")
        self.act_info.setText("\n".join(lines))

    def show_gradcam(self, cam: GradCamResult, class_names: list[str] | tuple[str, ...]) -> None:
        """Show a Grad-CAM overlay and what it explains."""
        self.cam_image.set_picture(cam.overlay)
        names = class_names
        cls = names[cam.class_index] if cam.class_index < len(names) else str(cam.class_index)
        self.cam_info.setText(f"Class {cls} (p = {cam.probability:.1%}) at layer {cam.layer}.")

