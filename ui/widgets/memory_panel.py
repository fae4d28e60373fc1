"""Training memory of the inspected model against a budget, by batch size (pure arithmetic, no engine)."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel, QProgressBar, QSlider, QVBoxLayout, QWidget

from tlstudio.shapes import formulas as fm

OPTIMIZERS = ("adam", "adamw", "sgd")
"""Optimizers the panel offers (their slot counts are in :data:`tlstudio.shapes.formulas.OPTIMIZER_SLOTS`)."""


class MemoryPanel(QWidget):
    """A batch-size slider, a memory budget and an optimizer, and what training would need.

    Call :meth:`set_totals` with a layer table's totals; the bar, the largest
    batch that fits and the breakdown follow every change.
    """

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
        self.optimizer.addItems(list(OPTIMIZERS))
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
        """Estimate for a model with these totals (None: no model)."""
        self.totals = totals
        self.update_view()

    def update_view(self, *_: Any) -> None:
        """Recompute the bar, the largest batch that fits and the breakdown."""
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
