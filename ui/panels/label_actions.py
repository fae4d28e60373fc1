"""The Label page's side column: the keys, accept-all, new class, apply and undo, the learning curve, promotion.

It starts nothing by itself: its buttons emit signals the page acts on, and
the page tells it what to show (the classes and their keys, the count
"Accept all" would take, the batch's decisions, the curve).
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ui.widgets.label_curve import LabelCurve


class LabelActions(QWidget):
    """Buttons and read-outs beside the grid.

    Signals:
        accept_clicked(float): accept every undecided card at or above this probability.
        threshold_changed(float): the threshold moved (the page answers with :meth:`show_accept_count`).
        new_class_clicked(): make a new class.
        apply_clicked(): file the decided images.
        undo_batch_clicked(): reverse the last applied batch.
        promote_clicked(int): train a full run (fine-tuning epochs, 0 for none).
    """

    accept_clicked = Signal(float)
    threshold_changed = Signal(float)
    new_class_clicked = Signal()
    apply_clicked = Signal()
    undo_batch_clicked = Signal()
    promote_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("LabelActions")
        self.keys = QLabel("")
        self.keys.setObjectName("LabelKeys")
        self.keys.setWordWrap(True)
        self.keys.setTextFormat(Qt.TextFormat.RichText)
        self.new_class_button = QPushButton("New class…")
        self.new_class_button.setToolTip("Make a class the dataset does not have yet; it gets the next number key")
        self.new_class_button.clicked.connect(self.new_class_clicked)
        keys_box = QGroupBox("Keys")
        keys_layout = QVBoxLayout(keys_box)
        keys_layout.addWidget(self.keys)
        keys_layout.addWidget(self.new_class_button)

        self.threshold = QDoubleSpinBox()
        self.threshold.setObjectName("LabelThreshold")
        self.threshold.setRange(0.0, 1.0)
        self.threshold.setSingleStep(0.05)
        self.threshold.setDecimals(2)
        self.threshold.setValue(0.90)
        self.threshold.setPrefix("p ≥ ")
        self.threshold.valueChanged.connect(lambda v: self.threshold_changed.emit(float(v)))
        self.accept_button = QPushButton("Accept 0")
        self.accept_button.setObjectName("LabelAcceptAll")
        self.accept_button.setToolTip("Give every undecided image whose suggested class has at least this "
                                      "probability that class (u undoes them one by one)")
        self.accept_button.clicked.connect(lambda: self.accept_clicked.emit(float(self.threshold.value())))
        accept_row = QHBoxLayout()
        accept_row.addWidget(QLabel("Accept all with"))
        accept_row.addWidget(self.threshold)
        accept_row.addWidget(self.accept_button)

        self.move_check = QCheckBox("Move the images (copy when off)")
        self.move_check.setToolTip("Off: the dataset gets a copy and the unsorted folder keeps every image. "
                                   "On: the images are moved out of the unsorted folder (undo moves them back)")
        self.apply_button = QPushButton("Apply batch")
        self.apply_button.setObjectName("PrimaryButton")
        self.apply_button.setToolTip("File the labelled images into the dataset's class folders, then refit the head")
        self.apply_button.clicked.connect(self.apply_clicked)
        self.undo_button = QPushButton("Undo last batch")
        self.undo_button.setObjectName("LabelUndoBatch")
        self.undo_button.setToolTip("Take the last applied batch's images back out of the dataset "
                                    "(a copy is removed only while its original is still in the unsorted folder)")
        self.undo_button.clicked.connect(self.undo_batch_clicked)
        self.batch_text = QLabel("")
        self.batch_text.setObjectName("Hint")
        self.batch_text.setWordWrap(True)
        self.applied_text = QLabel("")
        self.applied_text.setObjectName("LabelApplied")
        self.applied_text.setWordWrap(True)
        self.applied_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        apply_row = QHBoxLayout()
        apply_row.addWidget(self.apply_button)
        apply_row.addWidget(self.undo_button)
        batch_box = QGroupBox("Batch")
        batch_layout = QVBoxLayout(batch_box)
        batch_layout.addLayout(accept_row)
        batch_layout.addWidget(self.move_check)
        batch_layout.addLayout(apply_row)
        batch_layout.addWidget(self.batch_text)
        batch_layout.addWidget(self.applied_text)

        self.curve = LabelCurve()
        self.fine_tune_check = QCheckBox("with fine-tuning,")
        self.fine_tune_check.setToolTip("After the head, unfreeze the run's layers (the last block when all were frozen)")
        self.fine_tune_spin = QSpinBox()
        self.fine_tune_spin.setRange(1, 500)
        self.fine_tune_spin.setValue(5)
        self.fine_tune_spin.setSuffix(" epochs")
        self.promote_button = QPushButton("Train a full run")
        self.promote_button.setObjectName("LabelPromote")
        self.promote_button.setToolTip("Train the run's model on the grown dataset on the Train page "
                                       "(the new images train; validation keeps its files)")
        self.promote_button.clicked.connect(
            lambda: self.promote_clicked.emit(self.fine_tune_spin.value() if self.fine_tune_check.isChecked() else 0))
        promote_row = QHBoxLayout()
        promote_row.addWidget(self.promote_button)
        promote_row.addWidget(self.fine_tune_check)
        promote_row.addWidget(self.fine_tune_spin)
        promote_row.addStretch(1)
        curve_box = QGroupBox("Learning curve")
        curve_layout = QVBoxLayout(curve_box)
        curve_layout.addWidget(self.curve, 1)
        curve_layout.addLayout(promote_row)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(keys_box)
        layout.addWidget(batch_box)
        layout.addWidget(curve_box, 1)

    def show_classes(self, classes: list[str]) -> None:
        """List which number key gives which class."""
        keys = " · ".join(f"<b>{i}</b> {html.escape(c)}" for i, c in enumerate(classes[:9], start=1))
        more = f" ({len(classes) - 9} more classes have no key)" if len(classes) > 9 else ""
        self.keys.setText(f"{keys}{more}<br><b>0</b>/<b>x</b> skip · <b>u</b> undo · <b>g</b> Grad-CAM · arrows move")

    def show_accept_count(self, count: int) -> None:
        """The number of images "Accept all" would take, on its button, before it acts."""
        self.accept_button.setText(f"Accept {count}")
        self.accept_button.setEnabled(count > 0)

    def show_batch(self, labelled: int, skipped: int, undecided: int, rounds: int) -> None:
        self.batch_text.setText(f"{labelled} labelled, {skipped} skipped, {undecided} undecided in this batch · "
                                f"{rounds} batch(es) applied")
        self.apply_button.setEnabled(labelled + skipped > 0)
        self.undo_button.setEnabled(rounds > 0)
        self.promote_button.setEnabled(rounds > 0)

    def show_applied(self, text: str) -> None:
        """What the last Apply or Undo did (where the images went, which were renamed); stays until the next one."""
        self.applied_text.setText(text)
        self.applied_text.setToolTip(text)
