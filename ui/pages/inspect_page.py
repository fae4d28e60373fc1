"""The Inspect page: what every layer does, with the arithmetic shown.

Three sections: **Layers**, **Calculator** and **Memory**.

* A sortable **layer table** of the current model (or a backbone chosen in the
  combo box). It shows #, layer, output and parameters; F/S/P, filters,
  activation memory, receptive field, frozen state and the rest are in the
  **Details** tab and in the header's column menu (remembered in QSettings).
  Each row's tooltip holds its formulas with the numbers substituted.
* **Filters**: the selected convolution's kernels (RGB for the first layer,
  one input channel or the channel mean deeper down).
* **Activations**: the selected layer's feature maps for an image from the
  dataset or a file, sorted by mean activation, with per-map statistics.
* **Grad-CAM**: where the model looks for a class, for the same image as the
  Activations tab; shown as soon as the image is chosen, computed when the
  tab is open.
* **Calculator** (:mod:`ui.panels.calculator`) and **Memory**
  (:mod:`ui.widgets.memory_panel`): pure arithmetic, no engine needed.

Every model-bound computation is an engine job (:mod:`tlstudio.jobs.inspect`)
run through :func:`ui.engine.engine`. The page never holds a Keras model: it
keeps the :class:`~tlstudio.jobs.models.ModelRef` of the inspected model and
sends it with each job; the engine's model cache keeps the model loaded.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QByteArray, QEvent, QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from tlstudio.backbones import BACKBONES, WEIGHTS_DESCRIPTIONS, WEIGHTS_LABELS, get_spec, weights_status
from tlstudio.data.scan import IMAGE_EXTENSIONS
from tlstudio.imaging import load_rgb
from tlstudio.inspection import formulas as fm
from tlstudio.inspection.report import to_csv, to_markdown
from tlstudio.io.atomic import atomic_write_text
from tlstudio.jobs.inspect import FILTER_MODES, ActivationsConfig, FiltersConfig, GradCamConfig, InspectTableConfig
from tlstudio.jobs.models import ModelRef
from ui.engine import engine
from ui.panels.calculator import CalculatorWidget
from ui.widgets.column_chooser import ColumnChooser
from ui.widgets.images import PathLabel, breakable, image_label, wrapping_label
from ui.widgets.layer_table_model import (
    DEFAULT_COLUMNS,
    FIXED_COLUMNS,
    HEADER_TIPS,
    LayerFilterProxy,
    LayerTableModel,
    detail_html,
    shape_text,
)
from ui.widgets.memory_panel import MemoryPanel

CURRENT = "__current__"
"""The source combo's value for the current model (trained, or the Model page's choice)."""

INSPECT_WEIGHTS = tuple(key for key in WEIGHTS_LABELS if key != "file")
"""Weights sources offered for a backbone here: the registry's, except a file (it needs a path)."""

DEFAULT_WEIGHTS = "none"
"""A backbone is inspected untrained unless asked: the table needs only the architecture, and nothing downloads."""

VISUAL_JOBS = ("filters", "activations", "gradcam")
"""Engine jobs that draw a picture of the inspected model."""

MIN_COMBO_CHARS = 16
"""Characters the weights box shows closed (its open list shows every name whole)."""

LAYER_COLUMN_MIN = 110
"""Narrowest the Layer column gets when the view is short of room (names elide; the tooltip keeps them)."""

COLUMNS_KEY = "inspect/layer_columns"
"""QSettings key of the layer table's shown columns."""

SPLITTER_KEY = "inspect/splitter"
"""QSettings key of the table/detail splitter's state."""

PREVIEW_SIDE = 512
"""Longest side of the chosen image's preview on the Grad-CAM tab."""


class InspectPage(QWidget):
    """Layer table, filters, activations, Grad-CAM, calculator and memory panel.

    Signals:
        table_ready(object): a new LayerTable is shown.
    """

    table_ready = Signal(object)

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state = state
        self.model_ref: ModelRef | None = None
        """The model the shown table describes; every picture job is sent with it."""
        self.table: Any = None
        self.image_path = ""
        self._preview: Any = None
        """The chosen image, small, shown on the Grad-CAM tab until its Grad-CAM arrives."""
        self._stale = True
        self._load_again = False
        self._building: ModelRef | None = None
        self.auto_load = True
        """Inspect the current model as soon as the page is shown (tests switch it off)."""
        self._pending: dict[str, Any] = {}
        self._visual: tuple[str, ModelRef | None] = ("", None)
        self._cam_key: Any = None
        """The Grad-CAM config last requested: switching tabs does not compute the same picture twice."""
        # Short reads of the model the user did not have to confirm: closing the
        # window waits for them instead of asking (background=True).
        self.build_runner = engine().task(self, background=True)
        self.visual_runner = engine().task(self, background=True)
        self.build_runner.result.connect(self._on_built)
        self.build_runner.error.connect(self._on_error)
        self.build_runner.running_changed.connect(self._on_build_running)
        self.visual_runner.result.connect(self._on_visual)
        self.visual_runner.error.connect(self._on_visual_error)
        self.visual_runner.finished.connect(self._next_visual)

        title = QLabel("Inspect")
        title.setObjectName("PageTitle")
        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.addWidget(self._table_panel())
        self.split.addWidget(self._tabs())
        self.split.setChildrenCollapsible(False)
        self.split.setStretchFactor(0, 1)
        self.split.setStretchFactor(1, 1)
        self.split.setSizes([480, 480])
        self._restore_splitter()
        self.split.splitterMoved.connect(self._store_splitter)
        # The calculator and the memory estimate are sections of their own: as
        # side tabs, seven titles did not fit and hid behind scroll arrows.
        self.sections = QTabWidget()
        self.sections.setObjectName("InspectSections")
        self.sections.setDocumentMode(True)
        self.sections.addTab(self.split, "Layers")
        self.sections.setTabToolTip(0, "The inspected model's layers, filters, activations and Grad-CAM")
        self.sections.addTab(self._calculator_section(), "Calculator")
        self.sections.setTabToolTip(1, "Edit a plain CNN and watch its shapes, parameters and receptive fields")
        self.sections.addTab(self._memory_section(), "Memory")
        self.sections.setTabToolTip(2, "Training memory of the inspected model by batch size")
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addLayout(self._source_bar())
        layout.addWidget(self.sections, 1)

        state.model_path_changed.connect(self._mark_stale)
        state.model_config_changed.connect(self._mark_stale)

    # ---------------------------------------------------------------- layout

    def _source_bar(self) -> QHBoxLayout:
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
        self.load_button.clicked.connect(self.load)
        self.status = wrapping_label("The current model is inspected when this page opens; or choose a backbone.")
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Model:"))
        bar.addWidget(self.source)
        bar.addWidget(self.size)
        bar.addWidget(self.weights)
        bar.addWidget(self.load_button)
        bar.addWidget(self.status, 1)
        self.source.currentIndexChanged.connect(self._on_source_changed)
        self._on_source_changed()
        return bar

    def _table_panel(self) -> QWidget:
        self.table_model = LayerTableModel(self)
        self.proxy = LayerFilterProxy(self)
        self.proxy.setSourceModel(self.table_model)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setAlternatingRowColors(True)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(22)
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        # the Layer column, not the last one, takes the width left over (_fit_columns)
        self.view.horizontalHeader().setStretchLastSection(False)
        self.view.horizontalHeader().setResizeContentsPrecision(0)  # size columns from the visible rows: ResNet152 has 500+ rows
        self.view.selectionModel().currentRowChanged.connect(self._on_row_changed)
        self.view.setMinimumWidth(300)
        self.view.viewport().installEventFilter(self)
        self.columns = ColumnChooser(
            self.view, LayerTableModel.COLUMNS, DEFAULT_COLUMNS, FIXED_COLUMNS, COLUMNS_KEY,
            tips={key: HEADER_TIPS[title] for title, key in LayerTableModel.COLUMNS if title in HEADER_TIPS},
        )
        self.columns_button = QToolButton()
        self.columns_button.setText("Columns")
        self.columns_button.setToolTip(
            "Show or hide columns (also a right-click on the header); every value is in the Details tab"
        )
        self.columns.changed.connect(self._size_columns)
        self.columns_button.clicked.connect(
            lambda: self.columns.menu(self).exec(self.columns_button.mapToGlobal(self.columns_button.rect().bottomLeft()))
        )
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter layers: name, type or group (e.g. conv3_x, Conv2D)")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.set_text)
        self.totals_label = wrapping_label("")
        self.save_button = QPushButton("Save table…")
        self.save_button.setToolTip("Write the layer table with its formulas as Markdown (.md) or CSV (.csv)")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self._ask_save_table)
        filter_row = QHBoxLayout()
        filter_row.addWidget(self.filter_edit, 1)
        filter_row.addWidget(self.columns_button)
        filter_row.addWidget(self.save_button)
        panel = QWidget()
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(filter_row)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.totals_label)
        return panel

    def _tabs(self) -> QTabWidget:
        self.tabs = QTabWidget()
        self.details = QTextBrowser()
        self.details.setHtml("<p>Select a layer to see its formulas.</p>")
        self.tabs.addTab(self.details, "Details")
        self.tabs.addTab(self._blocks_tab(), "Blocks")
        self.tabs.addTab(self._filters_tab(), "Filters")
        self.tabs.addTab(self._activations_tab(), "Activations")
        self.tabs.addTab(self._gradcam_tab(), "Grad-CAM")
        # five titles fit beside the table from 1024 px up; never hide one behind arrows
        self.tabs.setUsesScrollButtons(False)
        self._tab_index = {self.tabs.tabText(i): i for i in range(self.tabs.count())}
        self.tabs.currentChanged.connect(lambda _: self._refresh_visual())
        return self.tabs

    def _size_columns(self) -> None:
        """Size the columns from their contents; the Layer column takes what is left (see :meth:`_fit_columns`)."""
        self.view.resizeColumnsToContents()
        self._fit_columns()

    def _fit_columns(self) -> None:
        """Give the Layer column the width the other shown columns leave, at least :data:`LAYER_COLUMN_MIN`.

        Below that, names elide (the tooltip keeps them) and the view scrolls sideways.
        """
        shown = [i for i in range(self.table_model.columnCount()) if not self.view.isColumnHidden(i)]
        if 1 not in shown:
            return
        others = sum(self.view.columnWidth(i) for i in shown if i != 1)
        self.view.setColumnWidth(1, max(LAYER_COLUMN_MIN, self.view.viewport().width() - others))

    def eventFilter(self, watched, event) -> bool:  # noqa: N802
        """Keep the shown columns inside the table when its viewport narrows."""
        if watched is self.view.viewport() and event.type() == QEvent.Type.Resize:
            self._fit_columns()
        return super().eventFilter(watched, event)

    def _calculator_section(self) -> QWidget:
        self.calculator = CalculatorWidget()
        # scrolls on a short window instead of squeezing the editor and results
        area = QScrollArea()
        area.setWidgetResizable(True)
        area.setFrameShape(QFrame.Shape.NoFrame)
        area.setWidget(self.calculator)
        return area

    def _memory_section(self) -> QWidget:
        self.memory = MemoryPanel()
        self.memory.setMaximumWidth(760)  # a slider across 1500 px reads badly
        holder = QWidget()
        row = QHBoxLayout(holder)
        row.addWidget(self.memory, 1)
        row.addStretch(0)
        return holder

    def _restore_splitter(self) -> None:
        state = QSettings().value(SPLITTER_KEY)
        if isinstance(state, QByteArray) and not self.split.restoreState(state):
            logging.getLogger(__name__).warning("ignoring an unreadable %s setting", SPLITTER_KEY)

    def _store_splitter(self, *_: Any) -> None:
        QSettings().setValue(SPLITTER_KEY, self.split.saveState())

    def _blocks_tab(self) -> QWidget:
        w = QWidget()
        self.block_level = QComboBox()
        self.block_level.addItem("Stages (conv2_x, block1…)", "group")
        self.block_level.addItem("Residual blocks (conv2_block1…)", "block")
        self.block_level.currentIndexChanged.connect(lambda _: self._fill_blocks())
        self.blocks = QTableWidget(0, 7)
        self.blocks.setHorizontalHeaderLabels(["Block", "Layers", "Params", "Trainable", "Activations", "Output", "RF / jump"])
        self.blocks.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.blocks.verticalHeader().setVisible(False)
        self.blocks.horizontalHeader().setStretchLastSection(True)
        self.blocks.setToolTip("Double-click a block to show its layers in the table")
        self.blocks.cellDoubleClicked.connect(lambda r, _c: self.filter_edit.setText(self.blocks.item(r, 0).text()))
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
        self.filter_mode.currentTextChanged.connect(lambda _: self._refresh_visual())
        self.filter_channel.valueChanged.connect(lambda _: self._refresh_visual() if self.filter_mode.currentText() == "channel" else None)
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
        dataset.clicked.connect(self.pick_dataset_image)
        browse = QPushButton("Open image…")
        browse.setToolTip("Use an image file for the activations and Grad-CAM")
        browse.clicked.connect(self.browse_image)
        row.addWidget(dataset)
        row.addWidget(browse)
        return row

    def _activations_tab(self) -> QWidget:
        w = QWidget()
        self.act_image_label = PathLabel("No image: pick one from the dataset or a file.")
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
        self.cam_button.clicked.connect(lambda: self._request("gradcam"))
        self.cam_info = wrapping_label(
            "Pick an image (a dataset image or a file), then compute Grad-CAM. It needs a classifier: "
            "inspect the Current model, not a bare backbone."
        )
        self.cam_area, self.cam_image = image_label()
        self.cam_image_label = PathLabel("No image: pick one from the dataset or a file.")
        self.cam_class.currentIndexChanged.connect(lambda _: self._refresh_visual())
        self.cam_layer.currentIndexChanged.connect(lambda _: self._refresh_visual())
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

    # ---------------------------------------------------------------- source

    def _on_source_changed(self, *_: Any) -> None:
        key = self.source.currentData()
        backbone = key != CURRENT
        # the current model has its own size and weights: hide these rather than
        # show a greyed-out "224 px, untrained" that contradicts it
        self.size.setVisible(backbone)
        self.weights.setVisible(backbone)
        if backbone:
            self.size.setMinimum(get_spec(key).min_size)

    def _mark_stale(self, *_: Any) -> None:
        self._stale = True
        if self.source.currentData() == CURRENT and self.isVisible() and self.auto_load:
            self.load()

    def showEvent(self, event) -> None:  # noqa: N802
        """Inspect the current model when the page is first shown or the model changed meanwhile."""
        super().showEvent(event)
        if self.auto_load and self._stale and self.source.currentData() == CURRENT:
            self.load()

    def select_source(self, key: str, image_size: int = 0) -> None:
        """Choose ``key`` (a backbone key or CURRENT) in the combo box and inspect it.

        Raises:
            ValueError: ``key`` is neither CURRENT nor a registry backbone.
        """
        index = self.source.findData(key)
        if index < 0:
            raise ValueError(f"the model source must be {CURRENT!r} or one of {', '.join(BACKBONES)}. Received: {key!r}")
        self.source.setCurrentIndex(index)
        if image_size:
            self.size.setValue(image_size)
        self.load()

    def chosen_ref(self) -> ModelRef:
        """The :class:`ModelRef` of the source bar's current choice."""
        key = self.source.currentData()
        if key != CURRENT:
            return ModelRef(backbone=key, image_size=self.size.value(), weights=self.weights.currentData())
        if self.state.model_path:
            return ModelRef(path=self.state.model_path)
        return ModelRef(model_config=self.state.model_config, num_classes=len(self.state.class_names) or 2)

    def load(self) -> None:
        """Ask the engine for the chosen model's layer table; the table follows."""
        ref = self.chosen_ref()
        if ref.backbone and ref.weights != "none":
            status = weights_status(ref.backbone, ref.weights, ref.image_size)
            if not status.available and status.source != "download":
                self.status.setText(status.message)
                return
        if self.build_runner.is_running():
            self._load_again = True  # the newest choice wins once the current build ends
            return
        self._load_again = False
        self._stale = False
        self._building = ref
        self.status.setText(f"Building {breakable(ref.label)}…")
        self.build_runner.start("inspect_table", InspectTableConfig(ref))

    def _on_build_running(self, running: bool) -> None:
        (self.state.begin_busy if running else self.state.end_busy)("inspect")
        if not running and self._load_again:
            self.load()

    def _on_built(self, table: Any) -> None:
        if table is None:  # cancelled
            self.status.setText("Inspection cancelled.")
            return
        self.model_ref = self._building
        self.set_table(table, self.model_ref.label if self.model_ref is not None else "")

    def set_table(self, table: Any, label: str = "") -> None:
        """Show ``table`` (a LayerTable) of :attr:`model_ref`, and clear the pictures of the previous model."""
        self.table = table
        # The rows arrive in model order, which is the default sort (# ascending):
        # replace them unsorted and sort only when the user chose another column.
        # Sorting 515 ResNet152 rows through the proxy costs ~35 ms of GUI time.
        header = self.view.horizontalHeader()
        column, order = header.sortIndicatorSection(), header.sortIndicatorOrder()
        self.proxy.sort(-1)
        self.table_model.set_table(table)
        if (column, order) != (0, Qt.SortOrder.AscendingOrder):
            self.proxy.sort(column, order)
        self._size_columns()
        t = table.totals
        self.totals_label.setText(
            f"<b>{len(table.rows)} layers</b> · parameters {t.total_params:,} "
            f"(trainable {t.trainable_params:,}, non-trainable {t.frozen_params:,}) · "
            f"activations {fm.human_bytes(t.activation_bytes)} per image"
        )
        self.status.setText(f"{table.name}: {breakable(label)}" if label else table.name)
        self.memory.set_totals(t)
        self.save_button.setEnabled(True)
        self._fill_blocks()
        self._pending.clear()
        for picture in (self.filter_image, self.act_image, self.cam_image):
            picture.clear()
        self._cam_key = None
        self.filter_info.setText("Select a convolution layer to see its filters.")
        self.act_info.setText("")
        self._fill_classes(table)
        self.table_ready.emit(table)

    def _fill_classes(self, table: Any) -> None:
        self.cam_class.blockSignals(True)  # one Grad-CAM for the new model, not one per class added
        self.cam_class.clear()
        self.cam_class.addItem("Predicted class", None)
        names = self.state.class_names
        out = table.rows[-1].output_shape if table.rows else None
        n = out[-1] if out and len(out) == 1 else 0
        for i in range(n if n <= 1000 else 0):
            self.cam_class.addItem(f"{i}: {names[i]}" if i < len(names) else str(i), i)
        self.cam_class.blockSignals(False)
        classifier = self.model_ref is None or not self.model_ref.backbone
        self.cam_button.setEnabled(classifier)
        self.cam_info.setText(
            "Pick an image (a dataset image or a file), then compute Grad-CAM."
            if classifier
            else "Grad-CAM needs a classifier (one score per class): inspect the Current model, not a bare backbone."
        )
        if classifier and self._preview is not None:
            self.cam_image.set_picture(self._preview)

    def _fill_blocks(self) -> None:
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

    def _ask_save_table(self) -> None:
        if self.table is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Save layer table", f"{self.table.name}_layers.md", "Markdown (*.md);;CSV (*.csv)"
        )
        if path:
            self.save_table(path)

    def save_table(self, path: str) -> str:
        """Write the shown table as CSV (``.csv``) or Markdown (anything else), atomically; returns the path ("" on failure)."""
        target = Path(path)
        if target.suffix.lower() == ".csv":
            text = to_csv(self.table)
        else:
            memory = fm.training_memory(self.table.totals, self.memory.slider.value(), self.memory.optimizer.currentText())
            text = to_markdown(self.table, memory)
        try:
            atomic_write_text(target, text)
        except OSError as exc:
            self.state.report_error(f"Could not write the layer table to {target}: {exc.strerror or exc}. Received: {path!r}", "")
            return ""
        self.state.show_status(f"Saved the layer table to {target}")
        return str(target)

    def _on_error(self, message: str, details: str) -> None:
        self.status.setText(f"Could not inspect: {breakable(message)}")
        self.state.report_error(message, details)

    # ------------------------------------------------------------- selection

    def selected_row(self) -> Any:
        """The LayerRow selected in the table, or None."""
        index = self.view.currentIndex()
        if not index.isValid() or self.table is None:
            return None
        return self.table_model.rows[self.proxy.mapToSource(index).row()]

    def select_layer(self, name: str) -> None:
        """Select the row of layer ``name`` (or path).

        Raises:
            KeyError: the table has no such layer.
        """
        for r, row in enumerate(self.table_model.rows):
            if row.name == name or row.path == name:
                index = self.proxy.mapFromSource(self.table_model.index(r, 0))
                self.view.setCurrentIndex(index)
                self.view.scrollTo(index)
                return
        raise KeyError(f"the shown table has no layer called {name!r}. Received: {name!r}")

    def _on_row_changed(self, *_: Any) -> None:
        row = self.selected_row()
        if row is not None:
            self.details.setHtml(detail_html(row))
            if row.type == "Conv2D" and row.input_shape:
                self.filter_channel.setMaximum(max(0, row.input_shape[-1] - 1))
        self._refresh_visual()

    # --------------------------------------------------------------- images

    def pick_dataset_image(self) -> None:
        """Use a random image of the loaded dataset (validation split first), or say on the tab why not."""
        prepared = self.state.prepared_data
        items = []
        if prepared is not None:
            items = list(getattr(prepared, "val", ()) or ()) or list(getattr(prepared, "train", ()) or ())
        if not items:
            message = "No dataset loaded: open a dataset on the Data page, or open an image file."
            self._say_image(message)
            self.state.show_status(message)
            return
        split = "validation" if list(getattr(prepared, "val", ()) or ()) else "training"
        others = [item for item in items if str(item.path) != self.image_path] or items
        item = random.choice(others)
        label = getattr(item, "label", None)
        names = self.state.class_names
        cls = names[label] if isinstance(label, int) and 0 <= label < len(names) else ""
        self.set_image(str(item.path), f"{split}{' · ' + cls if cls else ''}: ")

    def browse_image(self) -> None:
        """Ask for an image file to use."""
        patterns = " ".join(f"*{ext}" for ext in sorted(IMAGE_EXTENSIONS))
        path, _ = QFileDialog.getOpenFileName(self, "Open image", "", f"Images ({patterns})")
        if path:
            self.set_image(path)

    def _say_image(self, message: str) -> None:
        """Show ``message`` where the image is used: the Activations and Grad-CAM tabs."""
        self.act_info.setText(message)
        self.cam_info.setText(message)

    def set_image(self, path: str, prefix: str = "") -> bool:
        """Use the image at ``path`` for the activations and Grad-CAM; False (and said on both tabs) when unreadable.

        The image is read at once: the Grad-CAM tab shows it before any job
        runs, and the tab that is open computes its picture.

        Args:
            path: An image file.
            prefix: Shown before the path, e.g. ``"validation · cats: "``.
        """
        try:
            image = load_rgb(path)
            image.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
            preview = np.asarray(image, dtype=np.uint8)
        except (OSError, ValueError) as exc:  # PIL.UnidentifiedImageError is an OSError
            suffixes = ", ".join(sorted(IMAGE_EXTENSIONS))
            self._say_image(
                f"Could not read the image {breakable(str(path))}: expected an image file ({suffixes}). "
                f"Received: {type(exc).__name__}: {exc}"
            )
            return False
        self.image_path = str(path)
        self._preview = preview
        for label in (self.act_image_label, self.cam_image_label):
            label.set_path(self.image_path, prefix)
        self.act_image.clear()
        self.act_info.setText("")
        self._cam_key = None
        if self.cam_button.isEnabled():
            self.cam_image.set_picture(preview)
            self.cam_info.setText(
                f"{breakable(Path(self.image_path).name)}, {preview.shape[1]}×{preview.shape[0]} shown"
                + ("" if max(preview.shape[:2]) < PREVIEW_SIDE else " reduced")
                + ": Grad-CAM is computed when this tab is open (or press Compute)."
            )
        self._refresh_visual()
        return True

    # ------------------------------------------------------------- visuals

    def _refresh_visual(self) -> None:
        current = self.tabs.currentWidget()
        if current is self.tabs.widget(self._tab_index["Filters"]):
            self._request("filters")
        elif current is self.tabs.widget(self._tab_index["Activations"]):
            self._request("activations")
        elif current is self.tabs.widget(self._tab_index["Grad-CAM"]) and self.image_path and self.cam_button.isEnabled():
            config = self._visual_config("gradcam")
            if config is not None and config != self._cam_key:
                self._request("gradcam")

    def _visual_config(self, kind: str) -> Any:
        """The job config for ``kind`` and the current selection, or None after saying what is missing."""
        ref, row = self.model_ref, self.selected_row()
        if kind == "filters":
            if row is None or row.type not in ("Conv2D", "DepthwiseConv2D"):
                self.filter_info.setText("Select a convolution layer to see its filters.")
                self.filter_image.clear()
                return None
            mode = self.filter_mode.currentText()
            if mode == "rgb" and (row.input_shape or (0,))[-1] != 3:
                self.filter_info.setText(f"{row.name} has {row.input_shape[-1]} input channels: RGB needs 3. Showing the mean.")
                mode = "mean"
            return FiltersConfig(ref, row.path, mode, self.filter_channel.value())
        if kind == "activations":
            if row is None or row.type == "InputLayer":
                self.act_info.setText("Select a layer to see its activation maps.")
                return None
            if not self.image_path:
                self.act_info.setText("Pick an image: a dataset image or a file.")
                return None
            return ActivationsConfig(ref, self.image_path, row.path)
        if not self.image_path:
            self.cam_info.setText("Pick an image first: a dataset image or a file.")
            return None
        layer = row.path if self.cam_layer.currentData() == "selected" and row is not None else ""
        return GradCamConfig(ref, self.image_path, self.cam_class.currentData(), layer)

    def _info(self, kind: str) -> QLabel:
        return {"filters": self.filter_info, "activations": self.act_info, "gradcam": self.cam_info}[kind]

    def _request(self, kind: str) -> None:
        """Queue a filters/activations/gradcam job for the current selection (the newest request of a kind wins)."""
        if self.model_ref is None:
            return
        config = self._visual_config(kind)
        if config is None:
            return
        if kind == "gradcam":
            self._cam_key = config
        target = getattr(config, "layer", "") or "the last convolution"
        self._info(kind).setText(f"Computing {kind.replace('gradcam', 'Grad-CAM')} of {target}…")
        self._pending[kind] = config
        self._next_visual()

    def _next_visual(self) -> None:
        if self.visual_runner.is_running() or not self._pending:
            return
        kind = next(iter(self._pending))
        config = self._pending.pop(kind)
        self._visual = (kind, config.model)
        self.visual_runner.start(kind, config)

    def _on_visual(self, result: Any) -> None:
        kind, ref = self._visual
        if result is None or ref != self.model_ref:  # cancelled, or another model is shown now
            return
        if kind == "filters":
            self._show_filters(result)
        elif kind == "activations":
            self._show_activations(result)
        elif kind == "gradcam":
            self._show_gradcam(result)

    def _show_filters(self, g: Any) -> None:
        self.filter_image.set_picture(g.image, crisp=True)
        fh, fw, d_in, k = g.kernel_shape
        what = {"rgb": "RGB kernels", "channel": f"input channel {g.channel}", "mean": f"mean over {d_in} input channels"}[g.mode]
        self.filter_info.setText(
            f"{g.layer}: {k} filters of {fh}×{fw}×{d_in}, showing {g.shown} ({what}); "
            + ("1×1 kernels: one weight each, all on one scale." if fh * fw == 1 else "each filter scaled to its own range.")
        )

    def _show_activations(self, maps: Any) -> None:
        self.act_image.set_picture(maps.image)
        dead = sum(1 for s in maps.stats if s.max == 0)
        lines = [f"{maps.layer}: output {shape_text(maps.shape)}; maps sorted by mean activation, brightest first."]
        lines.append("Top maps: " + ", ".join(f"#{s.channel} mean {s.mean:.3g} max {s.max:.3g} zero {s.frac_zero:.0%}" for s in maps.stats[:8]))
        if dead:
            lines.append(f"{dead} of {len(maps.stats)} maps are zero everywhere for this image.")
        self.act_info.setText("\n".join(lines))

    def _show_gradcam(self, cam: Any) -> None:
        self.cam_image.set_picture(cam.overlay)
        names = self.state.class_names
        cls = names[cam.class_index] if cam.class_index < len(names) else str(cam.class_index)
        self.cam_info.setText(f"Class {cls} (p = {cam.probability:.1%}) at layer {cam.layer}.")

    def _on_visual_error(self, message: str, details: str) -> None:
        kind, ref = self._visual
        if kind in VISUAL_JOBS and ref == self.model_ref:
            self._info(kind).setText(f"Could not compute {kind.replace('gradcam', 'Grad-CAM')}: {message}")
