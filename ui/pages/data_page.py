"""The Data page: open a folder, check it, split it, and set augmentation.

Scanning and validating run in the engine process (the light job
``"prepare_data"``, no TensorFlow) with progress and Cancel; changing the
split only re-splits the validated files (cheap, on the GUI thread);
thumbnails load lazily off the GUI thread; the augmentation preview is the
engine job ``"augment_preview"``, which runs the real Keras augmentation
layers and sends back a uint8 array. The split and augmentation widgets are
bound to the :class:`~tlstudio.config.DataConfig` by one :class:`~ui.forms.FormBinder`.

The page is built from panels: :class:`~ui.panels.class_split.ClassSplitPanel`
(left), and the tabs :class:`~ui.panels.image_browser.ImageBrowser`,
:class:`~ui.panels.validation_report.ValidationReportPanel`,
:class:`~ui.panels.augment_preview.AugmentPreviewPanel`,
:class:`~ui.panels.audit_view.AuditView` and
:class:`~ui.panels.embedding_map.EmbeddingMap`. The job configs are built in
:mod:`ui.jobs.data_jobs`.
"""

from __future__ import annotations

import contextlib

import html
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from tlstudio.config import AugmentConfig, DataConfig
from tlstudio.api.dataset import PreparedData, ValidationReport
from tlstudio.errors import TlStudioError
from tlstudio.events import LogMessage, Progress
from ui import settings as app_settings
from ui.engine import engine
from ui.forms import FormBinder
from ui.jobs import data_jobs
from ui.panels.augment_preview import AugmentPreviewPanel
from ui.panels.class_split import ClassSplitPanel
from ui.panels.image_browser import ImageBrowser
from ui.panels.validation_report import ValidationReportPanel
from ui.state import AppState

AUGMENT_TAB = 2
"""Index of the Augmentation tab."""


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
        self.prepared: PreparedData | None = None
        self.refused: PreparedData | None = None  # the last folder opened, when it cannot train (its report is shown)
        self._loading = ""  # the folder being opened
        self._split_key_of_prepared: tuple | None = None
        self._pending: tuple[str, str, bool] | None = None  # ("folder", path, by_app) / ("sample", "", by_app) queued behind a running load
        self._by_app = False  # the load running was started by the app (at launch), not by the user

        self.runner = engine().task(self)
        self.runner.event.connect(self._on_event)
        self.runner.result.connect(self._on_loaded)
        self.runner.error.connect(self._on_load_error)
        self.runner.finished.connect(self._on_load_finished)

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
        self.split_panel = ClassSplitPanel()
        self.class_table = self.split_panel.class_table
        self.class_table.itemSelectionChanged.connect(self._on_class_selected)
        self.chart_holder = self.split_panel.chart_holder
        self.val_spin = self.split_panel.val_spin
        self.test_spin = self.split_panel.test_spin
        self.seed_spin = self.split_panel.seed_spin
        self.split_label = self.split_panel.split_label
        self.split_reason = self.split_panel.split_reason

        # Right: tabs.
        self.images = ImageBrowser()
        self.class_combo = self.images.class_combo
        self.images_label = self.images.images_label
        self.thumb_model = self.images.thumb_model
        self.thumb_view = self.images.thumb_view

        self.report = ValidationReportPanel()
        self.report_summary = self.report.report_summary
        self.report_table = self.report.report_table
        self.warnings_label = self.report.warnings_label
        self.copy_report_button = self.report.copy_report_button
        self.copy_report_button.clicked.connect(self.copy_report)

        self.augment = AugmentPreviewPanel(self.preview_paths, self.augment_config, lambda: self.state.data_config.seed)
        self.flip_combo = self.augment.flip_combo
        self.aug_checks = self.augment.aug_checks
        self.aug_spins = self.augment.aug_spins
        self.preview_runner = self.augment.preview_runner
        self.preview_button = self.augment.preview_button
        self.preview_status = self.augment.preview_status
        self.preview_grid = self.augment.preview_grid
        self.preview_scroll = self.augment.preview_scroll

        self.tabs = QTabWidget()
        self.tabs.setObjectName("DataTabs")
        self.tabs.addTab(self.images, "Images")
        self.tabs.addTab(self.report, "Validation report")
        self.tabs.addTab(self.augment, "Augmentation")
        self.tabs.addTab(self._build_audit_tab(), "Audit")
        self.tabs.addTab(self._build_map_tab(), "Map")
        self.tabs.currentChanged.connect(self._on_tab_changed)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.split_panel)
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

    @property
    def chart(self):
        """The class chart (None until the first counts)."""
        return self.split_panel.chart

    @property
    def preview_labels(self) -> list[QLabel]:
        """The tiles of the augmentation preview shown."""
        return self.augment.preview_labels

    # ------------------------------------------------------------- loading

    def choose_folder(self) -> None:
        """Ask for a folder with a dialog and open it."""
        start = self.state.dataset_root or (app_settings.recent_folders() or [str(Path.home())])[0]
        folder = QFileDialog.getExistingDirectory(self, "Open a dataset folder (one sub-folder per class)", start)
        if folder:
            app_settings.add_recent_folder(folder)
            self.open_folder(folder)

    def open_folder(self, folder: str, *, by_app: bool = False) -> None:
        """Scan and validate ``folder`` in the worker.

        Args:
            by_app: The app opens it by itself (the folder on the command line):
                the project records it but gains no unsaved change.
        """
        self._start(("folder", str(folder), by_app))

    def open_sample(self, *, by_app: bool = False) -> None:
        """Generate (first time) and load the bundled sample dataset in the worker (``by_app``: as :meth:`open_folder`)."""
        self._start(("sample", "", by_app))

    def cancel(self) -> None:
        """Stop the running scan at its next file."""
        self._pending = None
        self.runner.cancel()
        self.status_label.setText("Cancelling…")

    def is_loading(self) -> bool:
        return self.runner.is_running()

    def _start(self, request: tuple[str, str, bool]) -> None:
        if self.runner.is_running():
            self._pending = request  # start it when the current load has wound down
            self.runner.cancel()
            return
        kind, folder, self._by_app = request
        self._loading = folder
        job = data_jobs.prepare_data_config(self.state.data_config, None if kind == "sample" else folder)
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

    def _on_loaded(self, prepared: PreparedData | None) -> None:
        if prepared is None:
            return
        if prepared.cancelled:
            self.status_label.setText("Cancelled. The previous dataset is still loaded." if self.prepared else "Cancelled.")
            return
        root = str(prepared.root)
        if prepared.refused:
            self._show_refused(root, prepared.refused, prepared)
            return
        app_settings.add_recent_folder(root)
        self.refused = None
        with self._settled_if_by_app():
            self.state.update_data_config(root=root)
            self._set_prepared(prepared)
        self._say_counts(prepared)

    def _settled_if_by_app(self):
        """A dataset the app opened by itself (``make run``'s sample) is no edit of the user's: no ``*`` in the title."""
        if not self._by_app:
            return contextlib.nullcontext()
        from ui.project_controller import settled_change

        return settled_change(self.state)

    def _say_counts(self, prepared: PreparedData) -> None:
        self.status_label.setText(data_jobs.counts_text(prepared))

    def _on_load_error(self, message: str, details: str) -> None:
        self._show_refused(self._loading, message, None)
        self.status_label.setText(f"Could not open the dataset: {message}")
        self.state.report_error(message, details)

    def _show_refused(self, root: str, reason: str, prepared: PreparedData | None) -> None:
        """The folder opened cannot train: show it and its report; the previous dataset goes, and nothing trains."""
        self.prepared = None
        self.refused = prepared
        self._split_key_of_prepared = None
        if root:
            self.state.refuse_dataset(root, reason)
        self.split_panel.clear()
        self.images.set_prepared(None)
        self._fill_report(prepared.report if prepared is not None else None)
        self.folder_label.setText(f"{root}  (refused)" if root else "No dataset open.")
        self.status_label.setText(f"<span style='color:#b00020'>This folder cannot train a classifier: {html.escape(reason, quote=False)} "
                                  "Nothing trains until a usable folder is open.</span>")
        if prepared is not None:
            self.tabs.setCurrentWidget(self.report)

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

    def _set_prepared(self, prepared: PreparedData) -> None:
        self.prepared = prepared
        self._split_key_of_prepared = self._split_key(self.state.data_config)
        self._show_prepared(prepared)
        self.state.set_prepared_data(prepared)
        self._schedule_preview()

    def _show_prepared(self, prepared: PreparedData | None) -> None:
        if prepared is None:
            self.folder_label.setText(self.state.dataset_root or "No dataset open. Open a folder, drop one on the window, or try the sample dataset.")
            self.split_panel.clear()
            self._fill_report(None)
            self.images.set_prepared(None)
            return
        self.folder_label.setText(f"{prepared.root}  ({'train/val folders' if prepared.layout == 'presplit' else 'one folder per class'})")
        self._fill_counts(prepared)
        self._fill_report(prepared.report)
        self.images.set_prepared(prepared)

    def _fill_counts(self, prepared: PreparedData) -> None:
        self.split_panel.fill_counts(prepared, self.state.data_config.test_fraction)

    def _fill_report(self, report: ValidationReport | None) -> None:
        self.report.fill(report)
        skipped = len(report.skipped) + len(report.skipped_classes) if report is not None else 0
        self.tabs.setTabText(1, f"Validation report ({skipped} skipped)" if skipped else "Validation report")

    def report_text(self) -> str:
        """The validation report as plain text (what Copy puts on the clipboard)."""
        return self.report.report_text(self.prepared or self.refused)

    def copy_report(self) -> None:
        QGuiApplication.clipboard().setText(self.report_text())
        self.state.show_status("Validation report copied to the clipboard.", 3000)

    def _on_class_selected(self) -> None:
        rows = self.class_table.selectionModel().selectedRows()
        if rows and self.prepared is not None:
            self.images.show_class(self.prepared.class_names[rows[0].row()])
            self.tabs.setCurrentIndex(0)

    # --------------------------------------------------------------- split

    def _bind_form(self, config: DataConfig) -> FormBinder:
        """Bind the split and augmentation widgets to their fields of the data config."""
        form = FormBinder(config, parent=self, check=data_jobs.leave_enough_to_train)
        form.bind("val_fraction", self.val_spin, scale=100)
        form.bind("test_fraction", self.test_spin, scale=100)
        form.bind("seed", self.seed_spin)
        form.bind("augment.flip", self.flip_combo)
        for key, check in self.aug_checks.items():
            form.bind_toggle(f"augment.{key}", check, self.aug_spins[key], scale=100, off=0.0)
        form.edited.connect(self._on_form_edited)
        form.invalid.connect(self.split_panel.show_problem)
        return form

    def _on_form_edited(self, config: DataConfig) -> None:
        if self.split_panel.has_error():  # valid again: the counts replace the message
            self.split_panel.set_error(False)
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
        if config.augment != self.augment.previewed:
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
            updated = data_jobs.resplit(prepared, config)  # the Audit tab's exclusions and relabels too
        except TlStudioError as exc:
            self.split_panel.show_problem(str(exc))
            return
        self.prepared = updated
        self._split_key_of_prepared = self._split_key(config)
        self._fill_counts(updated)
        self.images.set_split(updated)
        self.state.set_prepared_data(updated)
        self._say_counts(updated)

    # -------------------------------------------------------- augmentation

    def augment_config(self) -> AugmentConfig:
        """The augmentation the toggles show."""
        return self.form.config.augment

    def _on_tab_changed(self, index: int) -> None:
        if index == AUGMENT_TAB and self.augment.is_stale(self.state.data_config.augment):
            self._schedule_preview()

    def _schedule_preview(self) -> None:
        if self.prepared is not None and self.tabs.currentIndex() == AUGMENT_TAB:
            self.augment.schedule()

    def preview_paths(self) -> list[str]:
        """A few training images, one per class first, for the preview."""
        return data_jobs.preview_paths(self.prepared)

    def refresh_preview(self) -> None:
        """Ask the engine for the augmentation preview of a few training images."""
        self.augment.refresh_preview()

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
        self.augment.shutdown()
        self.audit_view.shutdown(timeout_ms)
        self.embedding_map.shutdown(timeout_ms)
        self.images.shutdown(timeout_ms)
