"""The Data page's left column: images per class and split, a bar chart, and the split settings.

:class:`ClassSplitPanel` shows a :class:`~tlstudio.api.dataset.PreparedData`'s
counts in a table and a chart, and holds the Validation, Test and Seed boxes.
When the dataset brings its own ``train``/``val`` (and ``test``) folders, the
boxes those folders make void are disabled, each with the reason.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from tlstudio.api.dataset import PreparedData
from tlstudio.config import DataConfig
from ui.forms import field_row


def percent_spin(maximum: float = 90.0) -> QDoubleSpinBox:
    """A 0 to ``maximum`` % box in steps of 5 (its tooltip is its field's, see :func:`ui.forms.field_row`)."""
    spin = QDoubleSpinBox()
    spin.setRange(0.0, maximum)
    spin.setDecimals(0)
    spin.setSingleStep(5.0)
    spin.setSuffix(" %")
    return spin


class ClassSplitPanel(QWidget):
    """The Classes box (table and chart) above the Split box (validation, test, seed).

    Args:
        parent: Parent widget.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.class_table = QTableWidget(0, 5)
        self.class_table.setObjectName("ClassTable")
        self.class_table.setHorizontalHeaderLabels(["Class", "Train", "Val", "Test", "Total"])
        self.class_table.setToolTip("Usable images per class and split")
        self.class_table.verticalHeader().setVisible(False)
        self.class_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.class_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.class_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.class_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, 5):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)

        # The chart (pyqtgraph) is created with the first counts: keeps start-up fast.
        self.chart = None
        self.chart_holder = QWidget()
        self.chart_holder.setMinimumHeight(160)
        QVBoxLayout(self.chart_holder).setContentsMargins(0, 0, 0, 0)

        classes_box = QGroupBox("Classes")
        classes_layout = QVBoxLayout(classes_box)
        classes_layout.addWidget(self.class_table, 1)
        classes_layout.addWidget(self.chart_holder, 1)

        self.val_spin = percent_spin()
        self.test_spin = percent_spin()
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.split_label = QLabel()
        self.split_label.setObjectName("SplitCounts")
        self.split_label.setWordWrap(True)
        for spin in (self.val_spin, self.test_spin, self.seed_spin):
            spin.setMaximumWidth(160)
        split_box = QGroupBox("Split")
        split_form = QFormLayout(split_box)
        field_row(split_form, DataConfig, "val_fraction", self.val_spin, scale=100)
        field_row(split_form, DataConfig, "test_fraction", self.test_spin, scale=100)
        field_row(split_form, DataConfig, "seed", self.seed_spin)
        split_form.addRow(self.split_label)
        self.split_reason = QLabel()
        self.split_reason.setObjectName("SplitDisabledReason")
        self.split_reason.setWordWrap(True)
        self.split_reason.setVisible(False)
        split_form.addRow(self.split_reason)
        self._split_tips = {spin: spin.toolTip() for spin in (self.val_spin, self.test_spin, self.seed_spin)}

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(classes_box, 1)
        layout.addWidget(split_box)

    def clear(self) -> None:
        """Show no dataset."""
        self.class_table.setRowCount(0)
        if self.chart is not None:
            self.chart.set_counts({}, ())
        self.split_label.setText("")
        self.update_split_controls(None)

    def fill_counts(self, prepared: PreparedData, test_fraction: float) -> None:
        """Show ``prepared``'s images per class and split; ``test_fraction`` is the configured Test share."""
        counts = prepared.counts
        names = prepared.class_names
        self.class_table.setRowCount(len(names))
        for row, name in enumerate(names):
            values = [int(counts.get(split, {}).get(name, 0)) for split in ("train", "val", "test")]
            cells = [name, *[str(v) for v in values], str(sum(values))]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.class_table.setItem(row, col, item)
        if self.chart is None:
            from ui.widgets.class_chart import ClassCountChart

            self.chart = ClassCountChart()
            self.chart_holder.layout().addWidget(self.chart)
        self.chart.set_counts(counts, names)
        totals = {split: sum(per.values()) for split, per in counts.items()}
        text = f"Train {totals.get('train', 0)} · Validation {totals.get('val', 0)}"
        if totals.get("test", 0) or test_fraction > 0:
            text += f" · Test {totals.get('test', 0)}"
        if prepared.layout == "presplit":
            text += "  (from the dataset's own train/val folders)"
        self.split_label.setText(text)
        self.split_label.setProperty("error", False)
        self.update_split_controls(prepared)

    def update_split_controls(self, prepared: PreparedData | None) -> None:
        """Disable, with the reason, the split boxes a dataset's own train/val folders make void.

        A folder per class is split by the Validation and Test shares and the
        seed. A dataset with its own ``train``/``val`` (and ``test``) folders
        keeps them: the Test share never applies, and the Validation share and
        the seed only when there is no ``val`` folder (the validation images
        are then taken from ``train``).
        """
        reasons: dict[QWidget, str] = {}
        summary = ""
        if prepared is not None and prepared.layout == "presplit":
            valid = prepared.report.valid
            has_val = any(valid.get("val", {}).values())
            has_test = any(valid.get("test", {}).values())
            reasons[self.test_spin] = (
                "the dataset's own test/ folder is the test split" if has_test
                else "the dataset has train/val folders and no test/ folder, so there is no test split"
            )
            if has_val:
                reasons[self.val_spin] = "the dataset's own val/ folder is the validation split"
                reasons[self.seed_spin] = "the seed shuffles a split the app makes; this dataset's folders set the split"
                folders = "train/, val/ and test/" if has_test else "train/ and val/"
                summary = f"Validation, Test and Seed are off: this dataset brings its own {folders} folders."
            else:
                summary = "Test is off: this dataset brings its own train/ and test/ folders; the Validation share is taken from train/."
        for spin, tip in self._split_tips.items():
            reason = reasons.get(spin)
            spin.setEnabled(reason is None)
            spin.setToolTip(tip if reason is None else f"Not used for this dataset: {reason}.")
        self.split_reason.setText(summary)
        self.split_reason.setToolTip("\n".join(f"• {r[0].upper()}{r[1:]}." for r in reasons.values()))
        self.split_reason.setVisible(bool(reasons))

    def show_problem(self, message: str) -> None:
        """Show why the split settings are refused, in the error style."""
        self.split_label.setText(message)
        self.set_error(True)

    def has_error(self) -> bool:
        """Whether the split label shows a refusal."""
        return bool(self.split_label.property("error"))

    def set_error(self, error: bool) -> None:
        """Switch the split label's error style on or off."""
        self.split_label.setProperty("error", error)
        self.split_label.style().unpolish(self.split_label)
        self.split_label.style().polish(self.split_label)
