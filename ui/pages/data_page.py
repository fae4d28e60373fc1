"""The Data page: open a folder, check it, split it, and set augmentation.

Scanning and validating run in the engine process (the light job
``"prepare_data"``, no TensorFlow) with progress and Cancel; changing the
split only re-splits the validated files (cheap, on the GUI thread);
thumbnails load lazily off the GUI thread; the augmentation preview is the
engine job ``"augment_preview"``, which runs the real Keras augmentation
layers and sends back a uint8 array. The split and augmentation widgets are
bound to the :class:`~tlstudio.config.DataConfig` by one :class:`~ui.forms.FormBinder`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QGuiApplication, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from tlstudio.config import AugmentConfig, DataConfig
from tlstudio.data import split_items  # light: no TensorFlow
from tlstudio.data.decisions import apply_decisions  # light: no TensorFlow
from tlstudio.errors import ConfigError, TlStudioError
from tlstudio.events import LogMessage, Progress
from tlstudio.jobs.data import AugmentPreviewConfig, PrepareDataConfig  # config dataclasses only: no TensorFlow
from ui import settings as app_settings
from ui.engine import engine
from ui.forms import FormBinder
from ui.state import AppState
from ui.widgets.thumbnails import ThumbnailModel, ThumbnailView

FLIP_LABELS = {
    "none": "No flip",
    "horizontal": "Left–right",
    "vertical": "Up–down",
    "horizontal_and_vertical": "Both",
}
PREVIEW_IMAGES = 2
PREVIEW_VARIANTS = 3
PREVIEW_SIZE = 128
"""Side of the preview images the engine draws, in pixels: the largest a tile is shown."""
MIN_PREVIEW_TILE = 48
"""Smallest side a preview tile shrinks to before the preview scrolls sideways."""


MIN_TRAIN_SHARE = 0.05
"""The page refuses a split that leaves less than this share of each class to train on."""


def leave_enough_to_train(config: DataConfig) -> None:
    """The page's rule for a split, beyond :class:`DataConfig`'s own: keep at least 5 % to train on.

    Raises:
        ConfigError: validation plus test take 95 % or more.
    """
    held_out = config.val_fraction + config.test_fraction
    if held_out >= 1.0 - MIN_TRAIN_SHARE:
        raise ConfigError(
            f"Validation + test = {held_out:.0%} leaves too little to train on; keep them under {1 - MIN_TRAIN_SHARE:.0%}. "
            f"Received: {config.val_fraction:.0%} + {config.test_fraction:.0%}"
        )


def _array_to_pixmap(arr: np.ndarray) -> QPixmap:
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    h, w, _ = arr.shape
    image = QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(image)


def _percent_spin(tip: str, maximum: float = 90.0) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(0.0, maximum)
    spin.setDecimals(0)
    spin.setSingleStep(5.0)
    spin.setSuffix(" %")
    spin.setToolTip(tip)
    return spin


class DataPage(QWidget):
    """Choose a dataset folder, see what is in it, split it, set augmentation.

    Args:
        state: The shared application state.
        parent: Parent widget.
    """

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("DataPage")
        self.state = state
        self.prepared: Any = None
        self._split_key_of_prepared: tuple | None = None
        self._pending: tuple[str, str] | None = None  # ("folder", path) / ("sample", "") queued behind a running load
        self._previewed: AugmentConfig | None = None

        self.runner = engine().task(self)
        self.runner.event.connect(self._on_event)
        self.runner.result.connect(self._on_loaded)
        self.runner.error.connect(self._on_load_error)
        self.runner.finished.connect(self._on_load_finished)

        self.preview_runner = engine().task(self, background=True)
        self.preview_runner.result.connect(self._on_preview)
        self.preview_runner.error.connect(self._on_preview_error)
        self.preview_runner.finished.connect(self._on_preview_finished)
        self._preview_again = False
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(400)
        self._preview_timer.timeout.connect(self.refresh_preview)

        self._build_ui()
        self.form = self._bind_form(state.data_config)
        self.form.set_config(state.data_config)
        self._show_prepared(None)

        state.open_folder_requested.connect(self.open_folder)
        state.open_sample_requested.connect(self.open_sample)
        state.data_config_changed.connect(self._on_state_config)

    # ------------------------------------------------------------------ UI

    def _build_ui(self) -> None:
        title = QLabel("Data")
        title.setObjectName("PageTitle")

        self.open_button = QPushButton("Open folder…")
        self.open_button.setObjectName("PrimaryButton")
        self.open_button.setToolTip("Choose a folder with one sub-folder of images per class (Ctrl+O)")
        self.open_button.clicked.connect(self.choose_folder)
        self.sample_button = QPushButton("Open sample dataset")
        self.sample_button.setToolTip("A small generated dataset of shapes, to try the app (Ctrl+Shift+O)")
        self.sample_button.clicked.connect(self.open_sample)
        self.recent_button = QToolButton()
        self.recent_button.setText("Recent")
        self.recent_button.setToolTip("Reopen a recently used dataset folder")
        self.recent_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.recent_menu = QMenu(self.recent_button)
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self.recent_button.setMenu(self.recent_menu)

        self.folder_label = QLabel()
        self.folder_label.setObjectName("Hint")
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.folder_label.setWordWrap(True)

        self.progress = QProgressBar()
        self.progress.setToolTip("Checking every image file")
        self.progress.setMaximumWidth(260)
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop checking the folder (Esc)")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setVisible(False)
        self.status_label = QLabel()
        self.status_label.setObjectName("DataStatus")
        self.status_label.setWordWrap(True)

        top = QHBoxLayout()
        top.addWidget(title)
        top.addSpacing(12)
        top.addWidget(self.open_button)
        top.addWidget(self.sample_button)
        top.addWidget(self.recent_button)
        top.addStretch(1)
        top.addWidget(self.progress)
        top.addWidget(self.cancel_button)

        # Left column: classes, chart, split.
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
        self.class_table.itemSelectionChanged.connect(self._on_class_selected)

        # The chart (pyqtgraph) is created with the first counts: keeps start-up fast.
        self.chart = None
        self.chart_holder = QWidget()
        self.chart_holder.setMinimumHeight(160)
        QVBoxLayout(self.chart_holder).setContentsMargins(0, 0, 0, 0)

        classes_box = QGroupBox("Classes")
        classes_layout = QVBoxLayout(classes_box)
        classes_layout.addWidget(self.class_table, 1)
        classes_layout.addWidget(self.chart_holder, 1)

        self.val_spin = _percent_spin("Share of each class held out to validate after every epoch")
        self.test_spin = _percent_spin("Share of each class kept aside for a final test (0 = no test split)")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setToolTip("Seed of the split and the augmentation: the same seed gives the same split")
        self.split_label = QLabel()
        self.split_label.setObjectName("SplitCounts")
        self.split_label.setWordWrap(True)
        for spin in (self.val_spin, self.test_spin, self.seed_spin):
            spin.setMaximumWidth(160)
        split_box = QGroupBox("Split")
        split_form = QFormLayout(split_box)
        split_form.addRow("Validation:", self.val_spin)
        split_form.addRow("Test:", self.test_spin)
        split_form.addRow("Seed:", self.seed_spin)
        split_form.addRow(self.split_label)
        self.split_reason = QLabel()
        self.split_reason.setObjectName("SplitDisabledReason")
        self.split_reason.setWordWrap(True)
        self.split_reason.setVisible(False)
        split_form.addRow(self.split_reason)
        self._split_tips = {spin: spin.toolTip() for spin in (self.val_spin, self.test_spin, self.seed_spin)}

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(classes_box, 1)
        left_layout.addWidget(split_box)

        # Right: tabs.
        self.tabs = QTabWidget()
        self.tabs.setObjectName("DataTabs")
        self.tabs.addTab(self._build_images_tab(), "Images")
        self.tabs.addTab(self._build_report_tab(), "Validation report")
        self.tabs.addTab(self._build_augment_tab(), "Augmentation")
        self.tabs.addTab(self._build_audit_tab(), "Audit")
        self.tabs.addTab(self._build_map_tab(), "Map")
        self.tabs.currentChanged.connect(self._on_tab_changed)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([420, 640])

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.folder_label)
        layout.addWidget(self.status_label)
        layout.addWidget(splitter, 1)

        QWidget.setTabOrder(self.open_button, self.sample_button)
        QWidget.setTabOrder(self.sample_button, self.recent_button)
        QWidget.setTabOrder(self.recent_button, self.class_table)

    def _build_images_tab(self) -> QWidget:
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("Show the images of one class, or of all classes")
        self.class_combo.currentIndexChanged.connect(self._show_thumbnails)
        self.images_label = QLabel()
        self.images_label.setObjectName("Hint")
        self.thumb_model = ThumbnailModel(parent=self)
        self.thumb_view = ThumbnailView()
        self.thumb_view.setModel(self.thumb_model)
        self.thumb_view.setToolTip("Thumbnails load as they scroll into view")
        row = QHBoxLayout()
        row.addWidget(QLabel("Class:"))
        row.addWidget(self.class_combo, 1)
        row.addWidget(self.images_label)
        tab = QWidget()
        layout = QVBoxLayout(tab)
        layout.addLayout(row)
        layout.addWidget(self.thumb_view, 1)
        return tab

    def _build_report_tab(self) -> QWidget:
        self.report_summary = QLabel("No dataset loaded.")
        self.report_summary.setObjectName("ReportSummary")
        self.report_summary.setWordWrap(True)
        self.report_table = QTableWidget(0, 2)
        self.report_table.setObjectName("SkippedTable")
        self.report_table.setHorizontalHeaderLabels(["Skipped file", "Reason"])
        self.report_table.setToolTip("Every file that will not be used, and why")
        self.report_table.verticalHeader().setVisible(False)
        self.report_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.report_table.setWordWrap(False)
        self.report_table.setTextElideMode(Qt.TextElideMode.ElideLeft)
        header = self.report_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.warnings_label = QLabel()
        self.warnings_label.setWordWrap(True)
        self.warnings_label.setObjectName("Hint")
        self.copy_report_button = QPushButton("Copy report")
        self.copy_report_button.setToolTip("Copy the summary and every skipped file with its reason")
        self.copy_report_button.clicked.connect(self.copy_report)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.copy_report_button)
        tab = QWidget()
        layout = QVBoxLayout(tab)
        layout.addWidget(self.report_summary)
        layout.addWidget(self.report_table, 1)
        layout.addWidget(self.warnings_label)
        layout.addLayout(buttons)
        return tab

    def _build_augment_tab(self) -> QWidget:
        self.flip_combo = QComboBox()
        for key, label in FLIP_LABELS.items():
            self.flip_combo.addItem(label, key)
        self.flip_combo.setMaximumWidth(220)
        self.flip_combo.setToolTip("Random mirror images; use left–right for most photos, not for text or digits")
        self.aug_checks: dict[str, QCheckBox] = {}
        self.aug_spins: dict[str, QDoubleSpinBox] = {}
        tips = {
            "rotation": ("Rotation", "Random rotation up to this share of a full turn (10 % = ±36°)", 10.0),
            "zoom": ("Zoom", "Random zoom in or out by up to this share", 10.0),
            "contrast": ("Contrast", "Random contrast change by up to this share", 10.0),
            "translation": ("Shift", "Random shift by up to this share of the width and height", 10.0),
        }
        form = QFormLayout()
        form.addRow("Flip:", self.flip_combo)
        for key, (label, tip, default) in tips.items():
            check = QCheckBox(label)
            check.setToolTip(tip)
            spin = _percent_spin(tip, maximum=100.0)
            spin.setMaximumWidth(140)
            spin.setValue(default)
            self.aug_checks[key], self.aug_spins[key] = check, spin
            form.addRow(check, spin)

        note = QLabel("Augmentation runs inside the model during training only; validation, "
                      "evaluation and prediction see the original images.")
        note.setWordWrap(True)
        note.setObjectName("Hint")

        self.preview_button = QPushButton("New preview")
        self.preview_button.setToolTip("Draw new random augmentations of the preview images")
        self.preview_button.clicked.connect(self._new_preview)
        self.preview_status = QLabel("Open a dataset to preview augmentation.")
        self.preview_status.setObjectName("Hint")
        self.preview_status.setWordWrap(True)
        self.preview_grid = QGridLayout()
        self.preview_grid.setSpacing(6)
        grid_holder = QWidget()
        grid_holder.setLayout(self.preview_grid)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(grid_holder)
        scroll.installEventFilter(self)  # tiles shrink to the width, see _fit_preview
        self.preview_scroll = scroll
        self._preview_pixmaps: list[QPixmap] = []
        self.preview_labels: list[QLabel] = []
        self._preview_seed = 0

        preview_row = QHBoxLayout()
        preview_row.addWidget(self.preview_status, 1)
        preview_row.addWidget(self.preview_button)

        tab = QWidget()
        layout = QVBoxLayout(tab)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addLayout(preview_row)
        layout.addWidget(scroll, 1)
        return tab

    # ------------------------------------------------------------- loading

    def choose_folder(self) -> None:
        """Ask for a folder with a dialog and open it."""
        start = self.state.dataset_root or (app_settings.recent_folders() or [str(Path.home())])[0]
        folder = QFileDialog.getExistingDirectory(self, "Open a dataset folder (one sub-folder per class)", start)
        if folder:
            app_settings.add_recent_folder(folder)
            self.open_folder(folder)

    def open_folder(self, folder: str) -> None:
        """Scan and validate ``folder`` in the worker."""
        self._start(("folder", str(folder)))

    def open_sample(self) -> None:
        """Generate (first time) and load the bundled sample dataset in the worker."""
        self._start(("sample", ""))

    def cancel(self) -> None:
        """Stop the running scan at its next file."""
        self._pending = None
        self.runner.cancel()
        self.status_label.setText("Cancelling…")

    def is_loading(self) -> bool:
        return self.runner.is_running()

    def _start(self, request: tuple[str, str]) -> None:
        if self.runner.is_running():
            self._pending = request  # start it when the current load has wound down
            self.runner.cancel()
            return
        kind, folder = request
        config = self.state.data_config
        job = PrepareDataConfig(config, sample=True) if kind == "sample" else PrepareDataConfig(dataclasses.replace(config, root=folder))
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.open_button.setEnabled(False)
        self.sample_button.setEnabled(False)
        self.state.begin_busy("data")
        if kind == "sample":
            self.status_label.setText("Preparing the sample dataset…")
        else:
            self.status_label.setText(f"Checking {folder}…")
            self.folder_label.setText(folder)
        self.runner.start("prepare_data", job)

    def _on_event(self, event: object) -> None:
        if isinstance(event, Progress):
            if event.total:
                self.progress.setRange(0, event.total)
                self.progress.setValue(event.done)
                self.progress.setFormat("%v / %m files")
            if event.message:
                self.status_label.setText(event.message)
        elif isinstance(event, LogMessage) and event.level != "info":
            self.state.show_status(event.message, 6000)

    def _on_loaded(self, prepared: Any) -> None:
        if prepared is None:
            return
        if getattr(prepared, "cancelled", False):
            self.status_label.setText("Cancelled. The previous dataset is still loaded." if self.prepared else "Cancelled.")
            return
        root = str(prepared.root)
        app_settings.add_recent_folder(root)
        self.state.update_data_config(root=root)
        self._set_prepared(prepared)
        report = prepared.report
        skipped = f", {report.num_skipped} skipped" if report.num_skipped else ""
        self.status_label.setText(
            f"{report.num_valid} usable images in {len(prepared.class_names)} classes{skipped} "
            f"(checked in {report.seconds:.1f} s)."
        )

    def _on_load_error(self, message: str, details: str) -> None:
        self.status_label.setText(f"Could not open the dataset: {message}")
        self.state.report_error(message, details)

    def _on_load_finished(self) -> None:
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self.open_button.setEnabled(True)
        self.sample_button.setEnabled(True)
        self.state.end_busy("data")
        if self._pending is not None:
            request, self._pending = self._pending, None
            QTimer.singleShot(0, lambda: self._start(request))

    # ------------------------------------------------------------- display

    def _set_prepared(self, prepared: Any) -> None:
        self.prepared = prepared
        self._split_key_of_prepared = self._split_key(self.state.data_config)
        self._show_prepared(prepared)
        self.state.set_prepared_data(prepared)
        self._schedule_preview()

    def _show_prepared(self, prepared: Any) -> None:
        if prepared is None:
            self.folder_label.setText(self.state.dataset_root or "No dataset open. Open a folder, drop one on the window, or try the sample dataset.")
            self.class_table.setRowCount(0)
            if self.chart is not None:
                self.chart.set_counts({}, ())
            self.split_label.setText("")
            self._update_split_controls(None)
            self._fill_report(None)
            self.class_combo.blockSignals(True)
            self.class_combo.clear()
            self.class_combo.blockSignals(False)
            self.thumb_model.set_paths([])
            return
        self.folder_label.setText(f"{prepared.root}  ({'train/val folders' if prepared.layout == 'presplit' else 'one folder per class'})")
        self._fill_counts(prepared)
        self._fill_report(prepared.report)
        current = self.class_combo.currentData()
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        self.class_combo.addItem("All classes", None)
        for name in prepared.class_names:
            self.class_combo.addItem(name, name)
        index = self.class_combo.findData(current) if current else 0
        self.class_combo.setCurrentIndex(max(index, 0))
        self.class_combo.blockSignals(False)
        self._show_thumbnails()

    def _fill_counts(self, prepared: Any) -> None:
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
        if totals.get("test", 0) or self.state.data_config.test_fraction > 0:
            text += f" · Test {totals.get('test', 0)}"
        if prepared.layout == "presplit":
            text += "  (from the dataset's own train/val folders)"
        self.split_label.setText(text)
        self.split_label.setProperty("error", False)
        self._update_split_controls(prepared)

    def _update_split_controls(self, prepared: Any) -> None:
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
            valid = getattr(prepared.report, "valid", {}) or {}
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

    def _fill_report(self, report: Any) -> None:
        if report is None:
            self.report_summary.setText("No dataset loaded.")
            self.report_table.setRowCount(0)
            self.warnings_label.setText("")
            self.copy_report_button.setEnabled(False)
            return
        skipped = list(report.skipped)
        self.report_summary.setText(
            f"{report.num_files} files looked at: {report.num_valid} usable, {len(skipped)} skipped."
            + (f" {report.cache_hits} results came from the cache." if report.cache_hits else "")
        )
        self.report_table.setRowCount(len(skipped))
        root = report.root.rstrip("/\\")
        for row, item in enumerate(skipped):
            shown = item.path[len(root) + 1:] if item.path.startswith(root) else item.path
            path_item = QTableWidgetItem(shown)
            path_item.setToolTip(item.path)
            self.report_table.setItem(row, 0, path_item)
            self.report_table.setItem(row, 1, QTableWidgetItem(item.reason))
        warnings = list(getattr(report.scan, "warnings", ()))
        self.warnings_label.setText("\n".join(f"Note: {w}" for w in warnings))
        self.copy_report_button.setEnabled(True)
        self.tabs.setTabText(1, f"Validation report ({len(skipped)} skipped)" if skipped else "Validation report")

    def report_text(self) -> str:
        """The validation report as plain text (what Copy puts on the clipboard)."""
        if self.prepared is None:
            return ""
        report = self.prepared.report
        lines = [f"Dataset: {report.root}", self.report_summary.text()]
        for split, per_class in self.prepared.counts.items():
            if any(per_class.values()):
                lines.append(f"{split}: " + ", ".join(f"{k} {v}" for k, v in per_class.items()))
        if report.skipped:
            lines.append("")
            lines.append("Skipped files:")
            lines.extend(f"{s.path}\t{s.reason}" for s in report.skipped)
        for w in getattr(report.scan, "warnings", ()):
            lines.append(f"Note: {w}")
        return "\n".join(lines)

    def copy_report(self) -> None:
        QGuiApplication.clipboard().setText(self.report_text())
        self.state.show_status("Validation report copied to the clipboard.", 3000)

    def _show_thumbnails(self, *_args) -> None:
        prepared = self.prepared
        if prepared is None:
            self.thumb_model.set_paths([])
            self.images_label.setText("")
            return
        wanted = self.class_combo.currentData()
        paths, labels, tips = [], [], []
        for split, items in (("train", prepared.train), ("val", prepared.val), ("test", prepared.test)):
            for item in items:
                name = prepared.class_names[item.label]
                if wanted is not None and name != wanted:
                    continue
                paths.append(item.path)
                labels.append(Path(item.path).name)
                tips.append(f"{item.path}\nclass: {name} · split: {split}")
        order = sorted(range(len(paths)), key=lambda i: paths[i])
        self.thumb_model.set_paths([paths[i] for i in order], [labels[i] for i in order], [tips[i] for i in order])
        self.images_label.setText(f"{len(paths)} images")

    def _on_class_selected(self) -> None:
        rows = self.class_table.selectionModel().selectedRows()
        if rows and self.prepared is not None:
            name = self.prepared.class_names[rows[0].row()]
            self.class_combo.setCurrentIndex(max(self.class_combo.findData(name), 0))
            self.tabs.setCurrentIndex(0)

    # --------------------------------------------------------------- split

    def _bind_form(self, config: DataConfig) -> FormBinder:
        """Bind the split and augmentation widgets to their fields of the data config."""
        form = FormBinder(config, parent=self, check=leave_enough_to_train)
        form.bind("val_fraction", self.val_spin, scale=100)
        form.bind("test_fraction", self.test_spin, scale=100)
        form.bind("seed", self.seed_spin)
        form.bind("augment.flip", self.flip_combo)
        for key, check in self.aug_checks.items():
            form.bind_toggle(f"augment.{key}", check, self.aug_spins[key], scale=100, off=0.0)
        form.edited.connect(self._on_form_edited)
        form.invalid.connect(self._split_problem)
        return form

    def _on_form_edited(self, config: DataConfig) -> None:
        if self.split_label.property("error"):  # valid again: the counts replace the message
            self._set_split_error(False)
            if self.prepared is not None:
                self._fill_counts(self.prepared)
            else:
                self.split_label.setText("")
        self.state.set_data_config(config)

    def _on_state_config(self, config: DataConfig) -> None:
        """Show a data config, whoever set it (this page's form, settings, a project file)."""
        self.form.set_config(config)
        if self.prepared is not None and self._split_key(config) != self._split_key_of_prepared:
            self.resplit(config)
        if config.augment != self._previewed:
            self._schedule_preview()

    @staticmethod
    def _split_key(config: DataConfig) -> tuple:
        return (config.val_fraction, config.test_fraction, config.seed, config.exclude, config.relabel)

    def resplit(self, config: DataConfig | None = None) -> None:
        """Split the validated files again with the current fractions and seed (cheap)."""
        prepared = self.prepared
        if prepared is None:
            return
        config = config or self.state.data_config
        try:
            config = dataclasses.replace(config, root=prepared.root)
            result = split_items(apply_decisions(prepared.report, config)[0], config)  # the Audit tab's exclusions and relabels
        except TlStudioError as exc:
            self._split_problem(str(exc))
            return
        updated = dataclasses.replace(
            prepared,
            train=result.train,
            val=result.val,
            test=result.test,
            counts={split: dict(per) for split, per in result.counts.items()},
            class_weights=dict(result.class_weights),
            seed=config.seed,
        )
        self.prepared = updated
        self._split_key_of_prepared = self._split_key(config)
        self._fill_counts(updated)
        self._show_thumbnails()
        self.state.set_prepared_data(updated)

    def _split_problem(self, message: str) -> None:
        self.split_label.setText(message)
        self._set_split_error(True)

    def _set_split_error(self, error: bool) -> None:
        self.split_label.setProperty("error", error)
        self.split_label.style().unpolish(self.split_label)
        self.split_label.style().polish(self.split_label)

    # -------------------------------------------------------- augmentation

    def augment_config(self) -> AugmentConfig:
        """The augmentation the toggles show."""
        return self.form.config.augment

    def _on_tab_changed(self, index: int) -> None:
        if index == 2 and (not self.preview_labels or self._previewed != self.state.data_config.augment):
            self._schedule_preview()

    def _schedule_preview(self) -> None:
        if self.prepared is not None and self.tabs.currentIndex() == 2:
            self._preview_timer.start()

    def _new_preview(self) -> None:
        self._preview_seed += 1
        self.refresh_preview()

    def preview_paths(self) -> list[str]:
        """A few training images, one per class first, for the preview."""
        prepared = self.prepared
        if prepared is None:
            return []
        seen: dict[int, str] = {}
        for item in prepared.train:
            seen.setdefault(item.label, item.path)
        return list(seen.values())[:PREVIEW_IMAGES]

    def refresh_preview(self) -> None:
        """Ask the engine for the augmentation preview of a few training images."""
        paths = self.preview_paths()
        if not paths:
            return
        if self.preview_runner.is_running():
            self._preview_again = True
            return
        augment = self.augment_config()
        self.preview_button.setEnabled(False)
        self.preview_status.setText("Computing the preview with the Keras augmentation layers…")
        seed = self.state.data_config.seed + 1000 * self._preview_seed
        self._previewed = augment
        self.preview_runner.start("augment_preview", AugmentPreviewConfig(tuple(paths), augment, seed, PREVIEW_VARIANTS, PREVIEW_SIZE))

    def _on_preview(self, grid: np.ndarray) -> None:
        while self.preview_grid.count():
            widget = self.preview_grid.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        self.preview_labels = []
        self._preview_pixmaps = []
        headers = ["original"] + [f"augmented {i}" for i in range(1, grid.shape[1])]
        for col, text in enumerate(headers):
            head = QLabel(text)
            head.setAlignment(Qt.AlignmentFlag.AlignCenter)
            head.setObjectName("Hint")
            self.preview_grid.addWidget(head, 0, col)
        for row in range(grid.shape[0]):
            for col in range(grid.shape[1]):
                label = QLabel()
                self._preview_pixmaps.append(_array_to_pixmap(grid[row, col]))
                label.setAlignment(Qt.AlignmentFlag.AlignCenter)
                label.setToolTip("Original image" if col == 0 else "One random draw of the augmentation")
                self.preview_grid.addWidget(label, row + 1, col)
                self.preview_labels.append(label)
        for r in range(self.preview_grid.rowCount()):
            self.preview_grid.setRowStretch(r, 0)
        for c in range(self.preview_grid.columnCount()):
            self.preview_grid.setColumnStretch(c, 0)
        self.preview_grid.setRowStretch(grid.shape[0] + 1, 1)
        self.preview_grid.setColumnStretch(grid.shape[1], 1)
        self._fit_preview()
        aug = self._previewed
        self.preview_status.setText(
            "Random draws of the training augmentation." if aug.enabled else "Augmentation is off: training sees the images as they are."
        )

    def preview_tile_side(self) -> int:
        """Side of a preview tile: as large as the images, or as four columns fit in the tab's width."""
        columns = 1 + PREVIEW_VARIANTS
        scroll = self.preview_scroll
        margins = self.preview_grid.contentsMargins()
        width = (
            scroll.width() - 2 * scroll.frameWidth() - scroll.verticalScrollBar().sizeHint().width()
            - margins.left() - margins.right() - self.preview_grid.horizontalSpacing() * (columns - 1)
        )
        return max(MIN_PREVIEW_TILE, min(PREVIEW_SIZE, width // columns))

    def _fit_preview(self) -> None:
        side = self.preview_tile_side()
        for label, pixmap in zip(self.preview_labels, self._preview_pixmaps):
            if label.pixmap().width() != side:
                label.setPixmap(pixmap.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt API
        if watched is self.preview_scroll and event.type() == QEvent.Type.Resize and self.preview_labels:
            self._fit_preview()
        return super().eventFilter(watched, event)

    def _on_preview_error(self, message: str, details: str) -> None:
        self.preview_status.setText(f"Preview failed: {message}")

    def _on_preview_finished(self) -> None:
        self.preview_button.setEnabled(True)
        if self._preview_again:
            self._preview_again = False
            QTimer.singleShot(0, self.refresh_preview)

    # ------------------------------------------------------ audit (issue 13)

    def _build_audit_tab(self) -> QWidget:
        """The Audit tab (:mod:`ui.panels.audit_view`): runs the "audit" job; a moved file rescans the folder."""
        from ui.panels.audit_view import AuditView

        self.audit_view = AuditView(self.state)
        self.audit_view.actions.dataset_changed.connect(lambda: self.state.dataset_root and self.open_folder(self.state.dataset_root))
        return self.audit_view

    def _run_requested_audit(self) -> None:
        """Show the Audit tab and start the audit (asked by the Train page's audit offer)."""
        self.state.page_requested.emit("data")
        self.tabs.setCurrentWidget(self.audit_view)
        if not self.audit_view.is_current():  # none yet, another folder, or the files changed since
            self.audit_view.run_audit()

    def _build_map_tab(self) -> QWidget:
        """The embedding map (:mod:`ui.panels.embedding_map`); coloured by the last audit's findings too."""
        from ui.panels.embedding_map import EmbeddingMap

        self.embedding_map = EmbeddingMap(self.state)
        self.audit_view.audited.connect(self.embedding_map.set_audit)
        self.audit_view.audited.connect(lambda result: self.state.record_audit(self.state.data_config.root, result))
        if self.audit_view.result is not None:  # the project's last audit, shown before these were connected
            self.embedding_map.set_audit(self.audit_view.result)
            self.state.record_audit(self.state.data_config.root, self.audit_view.result)
        self.state.audit_requested.connect(self._run_requested_audit)
        from ui.map_link import map_link

        # "Show on map" on the Evaluate page: the main window shows this page, this shows the Map tab.
        map_link(self.state).show_requested.connect(lambda: self.tabs.setCurrentWidget(self.embedding_map))
        return self.embedding_map

    # ---------------------------------------------------------------- misc

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        folders = app_settings.recent_folders()
        for folder in folders:
            action = self.recent_menu.addAction(folder)
            action.triggered.connect(lambda _=False, f=folder: self.open_folder(f))
        if not folders:
            self.recent_menu.addAction("(no recent folders)").setEnabled(False)

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Stop thumbnail loading and background work (called when the window closes)."""
        self.runner.cancel()
        self.preview_runner.cancel()
        self.audit_view.shutdown(timeout_ms)
        self.embedding_map.shutdown(timeout_ms)
        self.thumb_model.shutdown(timeout_ms)
