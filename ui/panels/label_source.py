"""The Label page's top row: the unsorted folder, the run, the strategy and the batch size.

The strategy's choices, default and tooltip and the batch's range come from
their one description (:class:`tlstudio.api.label.SuggestConfig`'s options).
"""

from __future__ import annotations

import os
from typing import Sequence

from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox, QWidget

from tlstudio.api.label import SuggestConfig  # dataclasses only
from tlstudio.options import option_of
from tlstudio.project.label_record import LabelRecord


class LabelSource(QWidget):
    """Folder, run, strategy and batch size, with Browse buttons; :meth:`problem` says what is missing."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.pool_edit = QLineEdit()
        self.pool_edit.setObjectName("LabelPool")
        self.pool_edit.setPlaceholderText("folder of unsorted images (any sub-folders)")
        pool_button = QPushButton("Browse…")
        pool_button.clicked.connect(self._choose_pool)
        self.run_combo = QComboBox()
        self.run_combo.setObjectName("LabelRun")
        self.run_combo.setEditable(True)
        self.run_combo.setMinimumContentsLength(24)
        self.run_combo.setToolTip("The run whose model scores the images and whose head, cut and settings are refitted")
        run_button = QPushButton("Browse…")
        run_button.clicked.connect(self._choose_run)
        strategy = option_of(SuggestConfig, "strategy")
        self.strategy_combo = QComboBox()
        self.strategy_combo.setObjectName("LabelStrategy")
        self.strategy_combo.addItems([str(c) for c in strategy.choices or ()])
        self.strategy_combo.setCurrentText(str(strategy.default))
        self.strategy_combo.setToolTip(strategy.tooltip or strategy.help)
        batch = option_of(SuggestConfig, "n")
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(int(batch.min or 1), int(batch.max or 1000))
        self.batch_spin.setValue(int(batch.default))
        self.batch_spin.setToolTip(batch.help)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for widget, stretch in ((QLabel("Unsorted"), 0), (self.pool_edit, 2), (pool_button, 0), (QLabel("Run"), 0),
                                (self.run_combo, 2), (run_button, 0), (QLabel("Strategy"), 0), (self.strategy_combo, 0),
                                (QLabel("Batch"), 0), (self.batch_spin, 0)):
            row.addWidget(widget, stretch)

    def pool(self) -> str:
        return self.pool_edit.text().strip()

    def run_dir(self) -> str:
        return self.run_combo.currentText().strip()

    def problem(self) -> str:
        """Why a batch cannot be suggested with these folders ("" when it can), naming what was received."""
        pool, run_dir = self.pool(), self.run_dir()
        if not pool or not os.path.isdir(pool):
            return f"Choose the folder of unsorted images. Received: {pool or 'nothing'!r}"
        if not run_dir or not os.path.isfile(os.path.join(run_dir, "run_config.json")):
            return f"Choose a trained run folder (with run_config.json). Received: {run_dir or 'nothing'!r}"
        return ""

    def offer_runs(self, runs: Sequence[str]) -> None:
        """The run folders the combo lists (the project's runs), keeping what is typed."""
        current = self.run_dir()
        self.run_combo.clear()
        self.run_combo.addItems(list(dict.fromkeys(runs)))
        self.run_combo.setCurrentText(current or (runs[-1] if runs else ""))

    def show_record(self, record: LabelRecord) -> None:
        self.pool_edit.setText(record.pool)
        self.run_combo.setCurrentText(record.run_dir)
        self.strategy_combo.setCurrentText(record.strategy)
        self.batch_spin.setValue(record.n)

    def _choose_pool(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Unsorted images", self.pool())
        if folder:
            self.pool_edit.setText(folder)

    def _choose_run(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Run folder", self.run_dir())
        if folder:
            self.run_combo.setCurrentText(folder)
