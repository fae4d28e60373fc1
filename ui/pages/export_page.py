"""Export page: write the trained model as deployable files and show how exact they are.

The user picks the formats (an unavailable one is disabled, its tooltip says
why), the destination folder and a base name. Existing files are only
replaced after a question. The export is the engine's ``export`` job
(:mod:`tlstudio.jobs.export`, which reloads every file in a fresh
TensorFlow-only process); which formats work here is its ``export_formats``
job. The page then lists each written file with its max |Δ| of probabilities
against the app's model and the bound it had to meet, the certificate of
every file (:mod:`ui.panels.certificate_table`: one row per format, a red
cell for a class that dropped more than the threshold) and the images where
a file disagrees with the app (:mod:`ui.panels.disagreement_grid`). The int8
and certificate settings are :mod:`ui.panels.export_options`.

The page never imports TensorFlow: it imports the light
:mod:`tlstudio.export.formats` (file names, labels, tolerances) and the job's
config, and receives a plain :class:`~tlstudio.api.export.ExportResult`.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from tlstudio.config import EXPORT_FORMATS, ExportConfig
from tlstudio.errors import ConfigError
from tlstudio.events import LogMessage, Progress
from tlstudio.export.formats import FORMAT_LABELS, FORMAT_TOLERANCES, other_model_files, source_of, target_paths
from tlstudio.api.export import ExportResult
from tlstudio.api.export import ExportJobConfig
from ui.engine import engine
from ui.panels.certificate_table import CertificateTable
from ui.panels.disagreement_grid import DisagreementGrid
from ui.panels.export_options import ExportOptions
from ui.state import AppState
from ui.widgets.scroll_areas import FormScroll

FORMAT_HINTS = {
    "keras": "Keras 3 native file with the preprocessing inside; load with keras.saving.load_model",
    "savedmodel": "TensorFlow SavedModel folder for TF Serving / tf.saved_model.load; signature input 'image'",
    "tflite": "TensorFlow Lite, float32: mobile and edge devices, same numbers as the app",
    "tflite_dynamic": "TensorFlow Lite with int8 weights (about 4x smaller); probabilities may shift slightly",
    "tflite_float16": "TensorFlow Lite with float16 weights (about 2x smaller), float32 input and output",
    "tflite_int8": "TensorFlow Lite computing in integers (about 4x smaller, for NPUs and microcontrollers), calibrated on "
                   "the run's training images; its certificate shows what it costs per class",
    "onnx": "ONNX for onnxruntime and other runtimes",
}
DEFAULT_FORMATS = ("keras", "savedmodel", "tflite")
CHECKING = "Checking whether this format works here…"


def default_out_dir(model_path: str) -> str:
    """``<run folder>/export`` for a run's model, else ``export`` next to the file."""
    if not model_path:
        return ""
    path = Path(model_path)
    folder = path if path.is_dir() else path.parent
    return str(folder / "export")


RESULTS_MIN_HEIGHT = 150
"""Least height of the results tabs: the certificate's header and two rows."""

RESULTS_ROOM = 260
"""Height the results get once there are some (about six certificate rows), when the window has it."""


class _SettingsScroll(FormScroll):
    """The export settings: as tall as they are when there is room, scrolling when the window is short.

    Sideways too, when a window narrower than the settings leaves no room for
    the scroll bar: scrolled, never cut.
    """

    def __init__(self, form: QWidget, parent: QWidget | None = None):
        super().__init__(form, parent)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        form = self.widget()
        return QSize(super().sizeHint().width(), form.sizeHint().height() if form is not None else 0)


class ExportPage(QWidget):
    """Choose formats, destination and name; export with verification; show parity."""

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("ExportPage")
        self.state = state
        self.availability: dict[str, str | None] = {}
        self.last_result: ExportResult | None = None
        self._out_dir_edited = False
        self._build_ui()

        self.runner = engine().task(self)
        self.runner.event.connect(self.handle_event)
        self.runner.result.connect(self._on_result)
        self.runner.error.connect(self._on_error)
        self.runner.finished.connect(self._on_finished)
        self.probe_runner = engine().task(self, background=True)
        self.probe_runner.result.connect(self.set_availability)
        self.probe_runner.error.connect(self._on_probe_error)

        state.model_path_changed.connect(self.set_model_path)
        self.set_model_path(state.model_path)
        self._update_buttons()

    # ------------------------------------------------------------------ UI

    def _build_ui(self) -> None:
        title = QLabel("Export")
        title.setObjectName("PageTitle")
        intro = QLabel(
            "Save the trained model for use outside the app. Every file takes raw RGB pixels (0..255) and is "
            "checked in a separate TensorFlow process against the app's predictions before it gets its name."
        )
        intro.setObjectName("Hint")
        intro.setWordWrap(True)

        # --- source
        self.source_edit = QLineEdit()
        self.source_edit.setPlaceholderText("Train a model, or choose a run folder's model.keras")
        self.source_edit.setToolTip("The model to export: a run's model.keras (its run folder supplies the metadata)")
        self.source_edit.textChanged.connect(self._on_source_changed)
        self.source_button = QPushButton("Choose…")
        self.source_button.setToolTip("Pick a .keras model file")
        self.source_button.clicked.connect(self.choose_source)
        source_row = QHBoxLayout()
        source_row.addWidget(self.source_edit, 1)
        source_row.addWidget(self.source_button)

        # --- formats
        formats_box = QGroupBox("Formats")
        formats_layout = QGridLayout(formats_box)  # two columns: the page fits 1024x680
        self.format_checks: dict[str, QCheckBox] = {}
        for fmt in EXPORT_FORMATS:
            check = QCheckBox(FORMAT_LABELS[fmt])
            check.setObjectName(f"format_{fmt}")
            check.setChecked(fmt in DEFAULT_FORMATS)
            check.setToolTip(FORMAT_HINTS[fmt])
            check.toggled.connect(self._update_buttons)
            check.setMinimumWidth(check.sizeHint().width())  # whole at 1024 px ("TFLite dynamic-range quantize" was cut)
            formats_layout.addWidget(check, len(self.format_checks) % 4, len(self.format_checks) // 4)
            self.format_checks[fmt] = check
        onnx = self.format_checks["onnx"]
        onnx.setEnabled(False)
        onnx.setToolTip(CHECKING)

        # --- destination
        self.out_edit = QLineEdit()
        self.out_edit.setPlaceholderText("Folder for the exported files")
        self.out_edit.setToolTip("Destination folder; created when missing")
        self.out_edit.textEdited.connect(self._on_out_edited)
        self.out_edit.textChanged.connect(self._update_buttons)
        self.out_button = QPushButton("Browse…")
        self.out_button.setToolTip("Pick the destination folder")
        self.out_button.clicked.connect(self.choose_out_dir)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out_edit, 1)
        out_row.addWidget(self.out_button)
        self.name_edit = QLineEdit("model")
        self.name_edit.setToolTip("Base file name: model.keras, model_savedmodel/, model.tflite, model_dynamic.tflite, model.onnx")
        self.name_edit.textChanged.connect(self._update_buttons)
        self.verify_check = QCheckBox("Check every file in a fresh process")
        self.verify_check.setChecked(True)
        self.verify_check.setToolTip(
            "Reload each file without tlstudio, predict the same images and compare the probabilities. "
            "A file that differs by more than its limit is not written."
        )

        dest_box = QGroupBox("Destination")
        form = QFormLayout(dest_box)
        form.addRow("Model:", source_row)
        form.addRow("Folder:", out_row)
        form.addRow("Name:", self.name_edit)
        form.addRow("", self.verify_check)

        # --- actions
        self.export_button = QPushButton("Export")
        self.export_button.setObjectName("PrimaryButton")
        self.export_button.setToolTip("Write and verify the chosen formats")
        self.export_button.clicked.connect(self.start_export)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after the current step: nothing is written, or, while the certificate "
                                      "is measured, the files are kept without one")
        self.cancel_button.clicked.connect(self.runner_cancel)
        self.open_button = QPushButton("Open folder")
        self.open_button.setToolTip("Show the exported files in the file manager")
        self.open_button.clicked.connect(self.open_out_dir)
        buttons = QHBoxLayout()
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        buttons.addWidget(self.open_button)

        self.progress = QProgressBar()
        self.progress.setObjectName("ExportProgress")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("Idle")
        self.status_label = QLabel("")
        self.status_label.setObjectName("ExportStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        # --- results
        self.results_table = QTableWidget(0, 4)
        self.results_table.setObjectName("ExportResults")
        self.results_table.setHorizontalHeaderLabels(["Format", "File", "max |Δ| probability", "Limit"])
        self.results_table.verticalHeader().setVisible(False)
        self.results_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.results_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.results_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        self.results_table.setToolTip(
            "Largest difference between a file's probabilities and the app's, on the same images, in a fresh process"
        )
        self.certificate_table = CertificateTable()
        self.disagreements = DisagreementGrid()
        self.certificate_table.format_selected.connect(self.disagreements.select_format)
        self.results_tabs = QTabWidget()
        self.results_tabs.setObjectName("ExportResultTabs")
        self.results_tabs.addTab(self.results_table, "Written files")
        self.results_tabs.addTab(self.certificate_table, "Certificate")
        self.results_tabs.addTab(self.disagreements, "Disagreements")
        self.options = ExportOptions()

        settings = QWidget()
        settings_layout = QVBoxLayout(settings)
        settings_layout.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(formats_box)
        top.addWidget(dest_box, 1)
        settings_layout.addLayout(top)
        settings_layout.addWidget(self.options)
        self.settings_scroll = _SettingsScroll(settings)
        upper = QWidget()
        upper_layout = QVBoxLayout(upper)
        upper_layout.setContentsMargins(0, 0, 0, 0)
        upper_layout.addWidget(self.settings_scroll, 1)
        upper_layout.addLayout(buttons)
        upper_layout.addWidget(self.progress)
        upper_layout.addWidget(self.status_label)
        # The settings scroll in a short window, so the certificate keeps room for its rows; the
        # handle between them moves either way.
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("ExportSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(upper)
        self.splitter.addWidget(self.results_tabs)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.results_tabs.setMinimumHeight(RESULTS_MIN_HEIGHT)

        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addWidget(self.splitter, 1)

    # ------------------------------------------------------------ inputs

    def set_model_path(self, path: str) -> None:
        """Use ``path`` as the model to export (follows the state's trained model)."""
        self.source_edit.setText(str(path or ""))

    def _on_source_changed(self, text: str) -> None:
        if not self._out_dir_edited:
            self.out_edit.setText(default_out_dir(text.strip()))
        self._update_buttons()

    def _on_out_edited(self, _text: str) -> None:
        self._out_dir_edited = True

    def choose_source(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Model to export", self.source_edit.text(), "Keras models (*.keras)")
        if path:
            self.source_edit.setText(path)

    def choose_out_dir(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Export to folder", self.out_edit.text())
        if path:
            self._out_dir_edited = True
            self.out_edit.setText(path)

    def open_out_dir(self) -> None:
        folder = self.out_edit.text().strip()
        if folder and Path(folder).is_dir():
            QDesktopServices.openUrl(QUrl.fromLocalFile(folder))

    def selected_formats(self) -> tuple[str, ...]:
        """The checked formats that are available, in the canonical order."""
        return tuple(f for f in EXPORT_FORMATS if self.format_checks[f].isChecked() and self._format_usable(f))

    def _format_usable(self, fmt: str) -> bool:
        """Available here (ONNX only once the engine has checked it)."""
        availability = getattr(self, "availability", None) or {}
        if fmt == "onnx" and "onnx" not in availability:
            return False
        return availability.get(fmt) is None

    def export_config(self, overwrite: bool = False) -> ExportConfig:
        """The :class:`ExportConfig` the widgets describe.

        Raises:
            ConfigError: a setting out of its range (the message names it).
        """
        return dataclasses.replace(
            ExportConfig(**self.options.config_fields()),
            formats=self.selected_formats(),
            out_dir=self.out_edit.text().strip(),
            name=self.name_edit.text().strip(),
            overwrite=overwrite,
            verify=self.verify_check.isChecked(),
            drop_threshold=self.certificate_table.threshold.value(),
        )

    # ------------------------------------------------------- availability

    def showEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().showEvent(event)
        self.probe_formats()

    def probe_formats(self) -> None:
        """Ask the engine which formats work (its ``export_formats`` job); runs once."""
        if self.availability or self.probe_runner.is_running():
            return
        self.probe_runner.start("export_formats")

    def set_availability(self, reasons: dict[str, str | None]) -> None:
        """Enable each format checkbox, or disable it with the reason as its tooltip."""
        self.availability = dict(reasons)
        for fmt, check in self.format_checks.items():
            reason = reasons.get(fmt)
            check.setEnabled(reason is None)
            if reason is None:
                check.setToolTip(FORMAT_HINTS[fmt])
                check.setText(FORMAT_LABELS[fmt])
            else:
                check.setChecked(False)
                check.setToolTip(f"Not available: {reason}")
                check.setText(f"{FORMAT_LABELS[fmt]} (not available)")
        self._update_buttons()

    def _on_probe_error(self, message: str, _details: str) -> None:
        self.set_availability({**{f: None for f in EXPORT_FORMATS}, "onnx": f"The ONNX check failed: {message}"})

    # --------------------------------------------------------------- run

    def _missing_input(self) -> str | None:
        if not self.source_edit.text().strip():
            return "Choose a trained model first (train one, or pick a .keras file)."
        if not Path(self.source_edit.text().strip()).exists():
            return f"The model {self.source_edit.text().strip()} does not exist."
        if not self.selected_formats():
            return "Choose at least one format."
        if not self.out_edit.text().strip():
            return "Choose a destination folder."
        if not self.name_edit.text().strip():
            return "Give the files a name."
        return None

    def _update_buttons(self, *_args) -> None:
        running = hasattr(self, "runner") and self.runner.is_running()
        problem = self._missing_input()
        self.export_button.setEnabled(not running and problem is None)
        self.export_button.setToolTip(problem or "Write and verify the chosen formats")
        self.cancel_button.setEnabled(running)
        for widget in (self.source_edit, self.source_button, self.out_edit, self.out_button, self.name_edit, self.verify_check,
                       self.options):
            widget.setEnabled(not running)
        for fmt, check in getattr(self, "format_checks", {}).items():  # nothing the export uses changes during it
            check.setEnabled(not running and self._format_usable(fmt))
        folder = self.out_edit.text().strip()
        self.open_button.setEnabled(bool(folder) and Path(folder).is_dir())

    def existing_targets(self) -> list[Path]:
        """Files and folders the export would replace, then those of another model it would remove."""
        cfg = self.export_config()
        replaced = [p for p in target_paths(cfg.out_dir, cfg.name, cfg.formats).values() if p.exists()]
        source = self.source_edit.text().strip()
        others = other_model_files(cfg.out_dir, cfg.name, cfg.formats, source_of(source)) if source else []
        return replaced + [p for p in others if p not in replaced]

    def confirm_overwrite(self, existing: list[Path]) -> bool:
        """Ask before replacing or removing files, naming each with its full path; True when the user agrees."""
        cfg = self.export_config()
        replaced = set(target_paths(cfg.out_dir, cfg.name, cfg.formats).values())
        lines = "\n".join(f"  {p}" + ("" if p in replaced else "  (from another model: removed)") for p in existing)
        answer = QMessageBox.question(
            self,
            "Replace existing files?",
            f"The export replaces or removes:\n{lines}\n\nlabels.txt and model.json then describe the new model only. Go on?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def start_export(self) -> bool:
        """Validate the inputs, ask about overwriting, then run the engine's ``export`` job.

        Returns:
            True when the export started.
        """
        if self.runner.is_running():
            return False
        problem = self._missing_input()
        if problem:
            self.status_label.setText(problem)
            return False
        existing = self.existing_targets()
        if existing and not self.confirm_overwrite(existing):
            self.status_label.setText("Export not started: the existing files were kept.")
            return False
        try:
            config = ExportJobConfig(self.source_edit.text().strip(), self.export_config(overwrite=bool(existing)))
        except ConfigError as exc:
            self.status_label.setText(str(exc))
            return False
        self.last_result = None
        self.results_table.setRowCount(0)
        self.certificate_table.clear("Exporting…")
        self.disagreements.set_certificate(None)
        self.progress.setRange(0, 0)
        self.progress.setFormat("Starting…")
        self.status_label.setText(f"Exporting {', '.join(FORMAT_LABELS[f] for f in config.config.formats)}…")
        self.state.begin_busy("export")
        self.runner.start("export", config)
        self._update_buttons()
        return True

    def runner_cancel(self) -> None:
        self.runner.cancel()
        self.status_label.setText("Cancelling: stopping after the current step…")

    def handle_event(self, event: object) -> None:
        if isinstance(event, Progress):
            if event.total:
                self.progress.setRange(0, event.total)
                self.progress.setValue(event.done)
            self.progress.setFormat(event.message or "%p%")
        elif isinstance(event, LogMessage):
            self.status_label.setText(event.message)

    def _on_result(self, result: ExportResult) -> None:
        self.last_result = result
        if result.cancelled:
            self.status_label.setText("Export cancelled; nothing was written.")
            return
        self.show_result(result)
        # The status bar shares its width with the permanent labels: the folder's name, not its whole path
        # (the path is in the Folder box and the table above).
        folder = Path(self.out_edit.text().strip()).name or self.out_edit.text().strip()
        self.state.show_status(f"Exported {len(result.files)} file(s) to …/{folder}")

    def show_result(self, result: ExportResult) -> None:
        """Fill the table with one row per written file and its parity."""
        rows: list[tuple[str, str, str, str]] = []
        for fmt, path in result.files.items():
            if fmt in result.parity:
                delta = f"{result.parity[fmt]:.2g}"
                if fmt.startswith("tflite_"):
                    delta += f"  (top-1 agrees {result.top1_agreement.get(fmt, 0):.0%})"
            else:
                delta = "not checked"
            rows.append((FORMAT_LABELS[fmt], str(path), delta, f"{FORMAT_TOLERANCES[fmt]:g}"))
        for fmt, why in result.failed.items():
            rows.append((FORMAT_LABELS[fmt], "not written", export_error_text(why), ""))
        if result.certificate_path:
            rows.append(("Certificate", str(result.certificate_path), "", ""))
        if result.labels_path:
            rows.append(("Labels", str(result.labels_path), "", ""))
        if result.metadata_path:
            rows.append(("Metadata", str(result.metadata_path), "", ""))
        self.results_table.setRowCount(len(rows))
        for r, cells in enumerate(rows):
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.results_table.setItem(r, c, item)
        checked = "checked in a fresh process" if result.verified else "not checked"
        failed = f" Not written: {', '.join(FORMAT_LABELS[f] for f in result.failed)} (see the table)." if result.failed else ""
        self.status_label.setText(
            f"Wrote {len(result.files)} model file(s), labels.txt and model.json in {result.seconds:.1f} s ({checked}).{failed}"
        )
        self.certificate_table.set_certificate(result.certificate, result.certificate_note)
        self.disagreements.set_certificate(result.certificate)
        if result.certificate is not None:
            self.results_tabs.setCurrentWidget(self.certificate_table)
        self._make_room_for_results()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        """A window made shorter takes the height from the settings first, not from the results."""
        super().resizeEvent(event)
        if self.results_table.rowCount() or self.certificate_table.table.rowCount():
            self._make_room_for_results()

    def _make_room_for_results(self) -> None:
        """Results get :data:`RESULTS_ROOM`; the settings get the rest, up to all they need (else they scroll)."""
        upper, results = self.splitter.sizes()
        total = upper + results
        settings = self.splitter.widget(0)
        upper_new = max(settings.minimumSizeHint().height(), min(settings.sizeHint().height(), total - RESULTS_ROOM))
        if upper_new != upper:
            self.splitter.setSizes([upper_new, total - upper_new])

    def _on_error(self, message: str, details: str) -> None:
        shown = export_error_text(message)
        if shown != message:
            details = f"{message}\n\n{details}" if details else message  # the full engine message stays in the details
        self.status_label.setText(f"Export failed: {shown}")
        self.state.report_error(shown, details)

    def _on_finished(self) -> None:
        self.state.end_busy("export")
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if self.last_result is not None and not self.last_result.cancelled else 0)
        self.progress.setFormat("Done" if self.progress.value() else "Idle")
        self._update_buttons()


_FORMAT_RECEIVED = re.compile(r"\s*Received: format=(['\"])[\w-]+\1\.?\s*$")


def export_error_text(message: str) -> str:
    """An export error as the GUI shows it: without a trailing ``Received: format='…'``.

    The engine's message already names the format in words (``SavedModel``,
    the file name); the repeated internal key helps the CLI's users, not a GUI
    user, and stays in the dialog's details.
    """
    return _FORMAT_RECEIVED.sub("", message)
