"""The CNN calculator: edit a plain network and watch shapes, parameters and receptive fields update.

Every keystroke recomputes with :mod:`tlstudio.shapes.calculator` (pure
arithmetic, no TensorFlow). "Check with Keras" builds the same network in the
engine process (the ``cross_check`` job) and compares every row.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from tlstudio.shapes import formulas as fm
from tlstudio.shapes.calculator import (
    LAYER_KINDS,
    CalcLayer,
    CalcSpec,
    CalculatorError,
    CrossCheck,
    calculate,
    example_spec,
)
from tlstudio.api.inspect import CrossCheckConfig
from ui.engine import engine
from ui.widgets.layer_table_model import shape_text


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
        self._checking: CalcSpec | None = None
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
        self.check_runner = engine().task(self, background=True)
        self.check_runner.result.connect(self._on_checked)
        self.check_runner.error.connect(self._on_check_error)
        self.check_runner.running_changed.connect(lambda running: self.check_button.setEnabled(not running))
        self.check_label = QLabel("")
        self.check_label.setWordWrap(True)
        self.strict_box = QCheckBox("Strict")
        self.strict_box.setObjectName("CalculatorStrict")
        self.strict_box.setToolTip(
            "Refuse a layer whose output size (W−F+2P)/S+1 is not a whole number, for teaching.\n"
            "Unticked, the size is floored as Keras does and the row says so, with a fix."
        )
        self.strict_box.toggled.connect(self.recompute)
        top.addStretch(1)
        top.addWidget(self.strict_box)
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
        # the formulas wrap in a column that takes the remaining width, one formula
        # a line, instead of running off the right edge
        header = self.results.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(self.RESULT_COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.results.setWordWrap(True)
        self.results.verticalHeader().setVisible(False)
        self.results.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
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
        """A row's new kind: the fields that do not apply are emptied, those that do keep their value or get a default.

        F, S and P apply to conv and pool rows, K to conv and dense rows, the
        last column is max/avg for pooling and an activation for conv and dense.
        """
        kind = combo.currentText()
        default = CalcLayer(kind=kind)
        spatial, filters = kind in ("conv", "pool"), kind in ("conv", "dense")
        for r in range(self.editor.rowCount()):
            if self.editor.cellWidget(r, 0) is not combo:
                continue
            old = [self._text(r, c) for c in range(1, 6)]
            last = old[4].lower()
            if kind == "pool":
                last = last if last in ("max", "avg") else default.pool
            elif kind == "flatten":
                last = ""
            else:
                last = last if last and last not in ("max", "avg") else default.activation
            f, st = (2, 2) if kind == "pool" else (default.f, default.s)  # a usual window for each kind
            values = (
                (old[0] or f) if spatial else "",
                (old[1] or st) if spatial else "",
                (old[2] or default.p) if spatial else "",
                (old[3] or (10 if kind == "dense" else 16)) if filters else "",
                last,
            )
            self._loading = True
            for c, value in enumerate(values, start=1):
                self.editor.setItem(r, c, QTableWidgetItem(str(value)))
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
        """Show ``spec`` in the editor and recompute."""
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
        """Remove the selected row, or the last one when none is selected."""
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
        """Cross-check the current spec against Keras in the engine process (the ``cross_check`` job)."""
        if self.check_runner.is_running():
            return
        if self.table is None:
            self.check_label.setText(f"Fix the network first: {self.error}")
            self.check_label.setStyleSheet("color: #c0392b;")
            return
        self._checking = self.spec()
        self.check_label.setText("Building the network in Keras…")
        self.check_label.setStyleSheet("")
        self.check_runner.start("cross_check", CrossCheckConfig(self._checking, strict=self.strict_box.isChecked()))

    def _still_shown(self) -> bool:
        """True when the editor still shows the spec being checked (an edit meanwhile makes the answer stale)."""
        try:
            return self.spec() == self._checking
        except CalculatorError:
            return False

    def _on_check_error(self, message: str, _details: str) -> None:
        if self._still_shown():
            self.check_label.setText(f"Keras could not build it: {message}")
            self.check_label.setStyleSheet("color: #c0392b;")

    def _on_checked(self, check: CrossCheck | None) -> None:
        if check is None or not self._still_shown():  # cancelled, or the network was edited meanwhile
            return
        if check.ok:
            self.check_label.setText(f"Keras agrees with all {len(check.rows)} rows: same output shapes and parameter counts.")
            self.check_label.setStyleSheet("color: #2e7d32;")
        else:
            self.check_label.setText("Keras differs:\n" + "\n".join(check.mismatches()))
            self.check_label.setStyleSheet("color: #c0392b;")

    def recompute(self, *_: Any) -> None:
        """Recompute the table from the editor; an impossible network is explained in :attr:`message`."""
        if self._loading:
            return
        self.check_label.setText("")
        try:
            table = calculate(self.spec(), strict=self.strict_box.isChecked())
        except CalculatorError as exc:
            self.error = str(exc)
            self.table = None
            self.message.setText(self.error)
            self.message.setStyleSheet("color: #c0392b;")
            self.totals.setText("")  # the totals of the last valid network are not this one's
            self.results.setEnabled(False)
            self.computed.emit(None)
            return
        self.error = ""
        self.table = table
        floored = [row for row in table.rows if row.floored]
        if floored:
            self.message.setText(
                "Keras accepts this network, flooring "
                + "; ".join(f"{row.name}: {shape_text(row.exact_output_shape)} → {shape_text(row.output_shape)}" for row in floored)
                + f". To get whole sizes: {floored[0].fix}."
            )
            self.message.setStyleSheet("color: #b26a00;")
        else:
            self.message.setText("Every output size is a whole number: the network is valid.")
            self.message.setStyleSheet("color: #2e7d32;")
        self.results.setEnabled(True)
        self.results.setRowCount(len(table.rows))
        for r, row in enumerate(table.rows):
            cells = (row.name, shape_text(row.output_shape), f"{row.params:,}", str(row.rf), str(row.jump),
                     "\n".join(f.text for f in row.formulas))
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(row.formula_text() or text)
                if row.floored:
                    item.setBackground(QColor("#fff3cd"))
                    item.setToolTip(f"{row.note}\n{row.formula_text()}".strip())
                self.results.setItem(r, c, item)
        t = table.totals
        self.totals.setText(
            f"Parameters: {t.total_params:,}   ·   activations per image: {t.activation_elements:,} values "
            f"({fm.human_bytes(t.activation_bytes)})"
        )
        self.computed.emit(table)
