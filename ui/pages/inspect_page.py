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
keeps the :class:`~tlstudio.model_cache.ModelRef` of the inspected model and
sends it with each job; the engine's model cache keeps the model loaded.

The page is built from panels: :class:`~ui.panels.model_source.ModelSourceBar`,
:class:`~ui.panels.layer_table.LayerTablePanel` and
:class:`~ui.panels.layer_pictures.LayerPictures`; its engine tasks are in
:class:`~ui.jobs.inspect_jobs.InspectJobs`.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from tlstudio.data.scan import IMAGE_EXTENSIONS
from tlstudio.shapes import formulas as fm
from tlstudio.shapes.formulas import LayerRow, LayerTable
from tlstudio.inspection.report import to_csv, to_markdown
from tlstudio.io.atomic import atomic_write_text
from tlstudio.api.inspect import ActivationsConfig, ActivationsResult, FiltersConfig, FiltersResult, GradCamConfig, GradCamResult
from tlstudio.api.model_ref import ModelRef
from ui.jobs.inspect_jobs import VISUAL_JOBS, InspectJobs, VisualConfig, weights_problem
from ui.panels.calculator import CalculatorWidget
from ui.panels.layer_pictures import LayerPictures
from ui.panels.layer_table import LayerTablePanel
from ui.panels.model_source import ModelSourceBar
from ui.state import AppState
from ui.widgets.images import breakable
from ui.widgets.layer_table_model import detail_html
from ui.widgets.memory_panel import MemoryPanel
from ui.widgets.sections import Section, build_on_look
from ui.widgets.thumbnails import load_preview

SPLITTER_KEY = "inspect/splitter"
"""QSettings key of the table/detail splitter's state."""

SECTION_PARTS = {"calculator": "_calculator_holder", "memory": "_memory_holder"}
"""The page's attributes each part sets -> the attribute holding the part's section."""

PREVIEW_SIDE = 512
"""Longest side of the chosen image's preview on the Grad-CAM tab."""


class InspectPage(QWidget):
    """Layer table, filters, activations, Grad-CAM, calculator and memory panel.

    Signals:
        table_ready(object): a new LayerTable is shown.
    """

    table_ready = Signal(object)

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.model_ref: ModelRef | None = None
        """The model the shown table describes; every picture job is sent with it."""
        self.table: LayerTable | None = None
        self.image_path = ""
        self._preview: np.ndarray | None = None
        """The chosen image, small, shown on the Grad-CAM tab until its Grad-CAM arrives."""
        self._stale = True
        self._load_again = False
        self._building: ModelRef | None = None
        self.auto_load = True
        """Inspect the current model as soon as the page is shown (tests switch it off)."""
        self._cam_key: GradCamConfig | None = None
        """The Grad-CAM config last requested: switching tabs does not compute the same picture twice."""
        self.jobs = InspectJobs(self)
        self.build_runner = self.jobs.build_runner
        self.visual_runner = self.jobs.visual_runner
        self.build_runner.result.connect(self._on_built)
        self.build_runner.error.connect(self._on_error)
        self.build_runner.running_changed.connect(self._on_build_running)
        self.visual_runner.result.connect(self._on_visual)
        self.visual_runner.error.connect(self._on_visual_error)
        self.visual_runner.finished.connect(self.jobs.next_visual)

        title = QLabel("Inspect")
        title.setObjectName("PageTitle")
        self.source_bar = ModelSourceBar()
        self.source_bar.load_button.clicked.connect(self.load)
        for name in ("source", "size", "weights", "load_button", "status"):
            setattr(self, name, getattr(self.source_bar, name))

        self.table_panel = LayerTablePanel()
        self.table_panel.save_button.clicked.connect(self._ask_save_table)
        self.table_panel.view.selectionModel().currentRowChanged.connect(self._on_row_changed)
        for name in ("table_model", "proxy", "view", "columns", "columns_button", "filter_edit", "totals_label", "save_button"):
            setattr(self, name, getattr(self.table_panel, name))

        self.tabs = self.pictures = LayerPictures()
        self.pictures.refresh_requested.connect(self._refresh_visual)
        self.pictures.gradcam_requested.connect(lambda: self._request("gradcam"))
        self.pictures.dataset_image_requested.connect(self.pick_dataset_image)
        self.pictures.browse_requested.connect(self.browse_image)
        self.pictures.block_chosen.connect(self.filter_edit.setText)
        self.pictures.currentChanged.connect(lambda _: self._refresh_visual())
        self._tab_index = self.pictures.tab_index
        for name in ("details", "block_level", "blocks", "filter_mode", "filter_channel", "filter_info", "filter_area",
                     "filter_image", "act_image_label", "act_info", "act_area", "act_image", "cam_class", "cam_layer",
                     "cam_button", "cam_info", "cam_area", "cam_image", "cam_image_label"):
            setattr(self, name, getattr(self.pictures, name))

        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.addWidget(self.table_panel)
        self.split.addWidget(self.pictures)
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
        # Each is a part built on its own background turn after the page (ui.widgets.sections): the calculator
        # alone was a third of the page's build. Looking at page.calculator or page.memory builds it at once.
        self._calculator_holder = Section(self._calculator_section)
        self.sections.addTab(self._calculator_holder, "Calculator")
        self.sections.setTabToolTip(1, "Edit a plain CNN and watch its shapes, parameters and receptive fields")
        self._memory_holder = Section(self._memory_section)
        self.sections.addTab(self._memory_holder, "Memory")
        self.sections.setTabToolTip(2, "Training memory of the inspected model by batch size")
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(self.source_bar)
        layout.addWidget(self.sections, 1)

        state.model_path_changed.connect(self._mark_stale)
        state.model_config_changed.connect(self._mark_stale)

    def __getattr__(self, name: str) -> Any:
        """``calculator`` and ``memory``: their section is built now if its turn has not come yet."""
        return build_on_look(self, name, SECTION_PARTS)

    # ---------------------------------------------------------------- layout

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

    # ---------------------------------------------------------------- source

    def _mark_stale(self, *_: Any) -> None:
        self._stale = True
        if self.source_bar.is_current() and self.isVisible() and self.auto_load:
            self.load()

    def showEvent(self, event) -> None:  # noqa: N802
        """Inspect the current model when the page is first shown or the model changed meanwhile."""
        super().showEvent(event)
        if self.auto_load and self._stale and self.source_bar.is_current():
            self.load()

    def select_source(self, key: str, image_size: int = 0) -> None:
        """Choose ``key`` (a backbone key or CURRENT) in the combo box and inspect it.

        Raises:
            ValueError: ``key`` is neither CURRENT nor a registry backbone.
        """
        self.source_bar.choose(key, image_size)
        self.load()

    def chosen_ref(self) -> ModelRef:
        """The :class:`ModelRef` of the source bar's current choice."""
        return self.source_bar.chosen_ref(self.state)

    def load(self) -> None:
        """Ask the engine for the chosen model's layer table; the table follows."""
        ref = self.chosen_ref()
        problem = weights_problem(ref)
        if problem:
            self.status.setText(problem)
            return
        if self.build_runner.is_running():
            self._load_again = True  # the newest choice wins once the current build ends
            return
        self._load_again = False
        self._stale = False
        self._building = ref
        self.status.setText(f"Building {breakable(ref.label)}…")
        self.jobs.build(ref)

    def _on_build_running(self, running: bool) -> None:
        (self.state.begin_busy if running else self.state.end_busy)("inspect")
        if not running and self._load_again:
            self.load()

    def _on_built(self, table: LayerTable | None) -> None:
        if table is None:  # cancelled
            self.status.setText("Inspection cancelled.")
            return
        self.model_ref = self._building
        self.set_table(table, self.model_ref.label if self.model_ref is not None else "")

    def set_table(self, table: LayerTable, label: str = "") -> None:
        """Show ``table`` (a LayerTable) of :attr:`model_ref`, and clear the pictures of the previous model."""
        self.table = table
        self.table_panel.set_table(table)
        self.status.setText(f"{table.name}: {breakable(label)}" if label else table.name)
        self.memory.set_totals(table.totals)
        self.pictures.set_table(table)
        self.jobs.clear()
        self._cam_key = None
        classifier = self.model_ref is None or not self.model_ref.backbone
        self.pictures.fill_classes(table, self.state.class_names, classifier, self._preview)
        self.table_ready.emit(table)

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

    def selected_row(self) -> LayerRow | None:
        """The LayerRow selected in the table, or None."""
        if self.table is None:
            return None
        return self.table_panel.selected_row()

    def select_layer(self, name: str) -> None:
        """Select the row of layer ``name`` (or path).

        Raises:
            KeyError: the table has no such layer.
        """
        self.table_panel.select_layer(name)

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
            items = list(prepared.val) or list(prepared.train)
        if not items:
            message = "No dataset loaded: open a dataset on the Data page, or open an image file."
            self.pictures.say_image(message)
            self.state.show_status(message)
            return
        split = "validation" if prepared.val else "training"
        others = [item for item in items if str(item.path) != self.image_path] or items
        item = random.choice(others)
        label = item.label
        names = self.state.class_names
        cls = names[label] if isinstance(label, int) and 0 <= label < len(names) else ""
        self.set_image(str(item.path), f"{split}{' · ' + cls if cls else ''}: ")

    def browse_image(self) -> None:
        """Ask for an image file to use."""
        patterns = " ".join(f"*{ext}" for ext in sorted(IMAGE_EXTENSIONS))
        path, _ = QFileDialog.getOpenFileName(self, "Open image", "", f"Images ({patterns})")
        if path:
            self.set_image(path)

    def set_image(self, path: str, prefix: str = "") -> bool:
        """Use the image at ``path`` for the activations and Grad-CAM; False (and said on both tabs) when unreadable.

        The image is read at once: the Grad-CAM tab shows it before any job
        runs, and the tab that is open computes its picture.

        Args:
            path: An image file.
            prefix: Shown before the path, e.g. ``"validation · cats: "``.
        """
        try:
            preview = load_preview(path, PREVIEW_SIDE)
        except (OSError, ValueError) as exc:  # PIL.UnidentifiedImageError is an OSError
            suffixes = ", ".join(sorted(IMAGE_EXTENSIONS))
            self.pictures.say_image(
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
        kind = self.pictures.current_kind()
        if kind in ("filters", "activations"):
            self._request(kind)
        elif kind == "gradcam" and self.image_path and self.cam_button.isEnabled():
            config = self._visual_config("gradcam")
            if config is not None and config != self._cam_key:
                self._request("gradcam")

    def _visual_config(self, kind: str) -> VisualConfig | None:
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

    def _request(self, kind: str) -> None:
        """Queue a filters/activations/gradcam job for the current selection (the newest request of a kind wins)."""
        if self.model_ref is None:
            return
        config = self._visual_config(kind)
        if config is None:
            return
        if isinstance(config, GradCamConfig):
            self._cam_key = config
        target = config.layer or "the last convolution"
        self.pictures.info(kind).setText(f"Computing {kind.replace('gradcam', 'Grad-CAM')} of {target}…")
        self.jobs.queue(kind, config)

    def _on_visual(self, result: FiltersResult | ActivationsResult | GradCamResult | None) -> None:
        kind, ref = self.jobs.visual
        if result is None or ref != self.model_ref:  # cancelled, or another model is shown now
            return
        if kind == "filters":
            self.pictures.show_filters(result)
        elif kind == "activations":
            self.pictures.show_activations(result)
        elif kind == "gradcam":
            self.pictures.show_gradcam(result, self.state.class_names)

    def _on_visual_error(self, message: str, details: str) -> None:
        kind, ref = self.jobs.visual
        if kind in VISUAL_JOBS and ref == self.model_ref:
            self.pictures.info(kind).setText(f"Could not compute {kind.replace('gradcam', 'Grad-CAM')}: {message}")
