"""The Model page's "Head" box: pooling, up to three hidden dense layers and the final dropout.

The box reads and writes the ``head`` of the :class:`~tlstudio.config.ModelConfig`
for the page's :class:`~ui.forms.FormBinder`, and shows the head's parameter
count and whether the Train page's automatic choice of cut and head overrides it.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from tlstudio.config import DenseSpec, HeadConfig, TrainConfig
from ui.forms import described, field_row, fill_choices
from ui.panels.backbone_form import MIN_COMBO_CHARS

POOLING_LABELS = {  # what the user reads for each of HeadConfig.pooling's choices
    "avg": "Global average",
    "max": "Global max",
    "flatten": "Flatten (keeps position, many parameters)",
}

MAX_DENSE = 3
"""Hidden dense layers the designer offers."""

AUTO_STYLE = "background: #fff4e0; border: 1px solid #e0b060; border-radius: 3px; padding: 3px;"

WIDGETS = ("pooling_combo", "dense_count", "dense_rows", "final_dropout", "head_summary", "auto_note")
"""The widgets of the box the Model page shows under the same names."""


class DenseRow(QWidget):
    """Units, activation and dropout of one hidden dense layer of the head."""

    changed = Signal()

    def __init__(self, index: int, parent: QWidget | None = None):
        super().__init__(parent)
        units, activation, dropout = (described(DenseSpec, name) for name in ("units", "activation", "dropout"))
        self.units = QSpinBox()
        self.units.setRange(1, 8192)
        self.units.setValue(units.default)
        self.units.setToolTip(units.tooltip)
        self.activation = QComboBox()
        fill_choices(self.activation, DenseSpec, "activation")
        self.activation.setToolTip(activation.tooltip)
        self.dropout = QDoubleSpinBox()
        self.dropout.setRange(0.0, 0.9)
        self.dropout.setSingleStep(0.1)
        self.dropout.setDecimals(2)
        self.dropout.setToolTip(dropout.tooltip)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel(f"Dense {index}:"))
        layout.addWidget(self.units)
        layout.addWidget(QLabel(units.label.lower()))
        layout.addWidget(self.activation)
        layout.addWidget(QLabel(dropout.label.lower()))
        layout.addWidget(self.dropout)
        layout.addStretch(1)
        self.units.valueChanged.connect(self.changed)
        self.activation.currentIndexChanged.connect(self.changed)
        self.dropout.valueChanged.connect(self.changed)

    def spec(self) -> DenseSpec:
        return DenseSpec(units=self.units.value(), activation=self.activation.currentData(), dropout=round(self.dropout.value(), 4))

    def set_spec(self, spec: DenseSpec) -> None:
        self.units.setValue(spec.units)
        self.activation.setCurrentIndex(self.activation.findData(spec.activation))
        self.dropout.setValue(spec.dropout)


class HeadDesigner(QGroupBox):
    """The new classifier on top of the backbone.

    Args:
        parent: Parent widget.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Head (the new classifier)", parent)
        self.pooling_combo = QComboBox()
        self.pooling_combo.setObjectName("PoolingCombo")
        fill_choices(self.pooling_combo, HeadConfig, "pooling", POOLING_LABELS)
        self.dense_count = QSpinBox()
        self.dense_count.setObjectName("DenseCount")
        self.dense_count.setRange(0, MAX_DENSE)
        self.dense_rows = [DenseRow(i + 1) for i in range(MAX_DENSE)]
        self.final_dropout = QDoubleSpinBox()
        self.final_dropout.setObjectName("FinalDropout")
        self.final_dropout.setRange(0.0, 0.9)
        self.final_dropout.setSingleStep(0.1)
        self.final_dropout.setDecimals(2)
        self.pooling_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.pooling_combo.setMinimumContentsLength(MIN_COMBO_CHARS)
        head_layout = QVBoxLayout(self)
        head_form = QFormLayout()
        head_layout.addLayout(head_form)
        field_row(head_form, HeadConfig, "pooling", self.pooling_combo)
        field_row(head_form, HeadConfig, "dense", self.dense_count)
        for row in self.dense_rows:
            head_form.addRow(row)
        field_row(head_form, HeadConfig, "dropout", self.final_dropout)
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
        self.auto_note.setStyleSheet(AUTO_STYLE)
        self.auto_note.setVisible(False)
        head_layout.addWidget(self.auto_note)
        self.dense_count.valueChanged.connect(self.update_rows)

    def widgets(self) -> list[QWidget]:
        """The input widgets, in tab order."""
        order: list[QWidget] = [self.pooling_combo, self.dense_count]
        for row in self.dense_rows:
            order += [row.units, row.activation, row.dropout]
        return [*order, self.final_dropout]

    def read_dense(self) -> tuple[DenseSpec, ...]:
        return tuple(row.spec() for row in self.dense_rows[: self.dense_count.value()])

    def write_dense(self, dense: tuple[DenseSpec, ...]) -> None:
        self.dense_count.setValue(len(dense))
        for row, spec in zip(self.dense_rows, dense):
            row.set_spec(spec)

    def update_rows(self) -> None:
        """Show as many dense rows as the count asks for."""
        for i, row in enumerate(self.dense_rows):
            row.setVisible(i < self.dense_count.value())

    def show_auto(self, train: TrainConfig) -> None:
        """Say so when the Train page's Auto choice overrides this box's cut and head."""
        self.auto_note.setVisible(bool(train.auto_head))
