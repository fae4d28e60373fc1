"""The Export page's int8 and certificate settings, bound to :class:`~tlstudio.config.ExportConfig`.

int8: calibration images (from the run's training split, stratified, the
run's exclusions honoured), input/output type, float fallback ops,
channel equalization, and the head kept in float32.
Certificate: on/off, the images (the run's validation split, or a folder
of ``<class>/<image>`` files) and the timed calls per format. Labels,
ranges, choices and tooltips come from the config's option schema.
"""

from __future__ import annotations

import dataclasses

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from tlstudio.config import INT8_IO_CHOICES, ExportConfig
from ui.forms import FormBinder, field_label

IO_TEXT = {"uint8": "uint8 (raw pixels, exact)", "int8": "int8", "float": "float32 (int8 inside)"}


class ExportOptions(QWidget):
    """Two boxes of settings; :meth:`config_fields` gives the values for an :class:`ExportConfig`."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        base = ExportConfig()
        self.form = FormBinder(base, parent=self)
        self.calibration = QSpinBox()
        self.calibration.setObjectName("CalibrationImages")
        self.calibration.setRange(1, 100000)
        self.int8_io = QComboBox()
        self.int8_io.setObjectName("Int8IO")
        for choice in INT8_IO_CHOICES:
            self.int8_io.addItem(IO_TEXT[choice], choice)
        self.int8_io.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)  # "uint8 (raw pixe" at 1024 px
        self.float_fallback = QCheckBox(field_label(base, "float_fallback").rstrip(":"))
        self.int8_equalize = QCheckBox(field_label(base, "int8_equalize").rstrip(":"))
        self.int8_equalize.setObjectName("Int8Equalize")
        self.int8_float_head = QCheckBox(field_label(base, "int8_float_head").rstrip(":"))
        self.int8_float_head.setObjectName("Int8FloatHead")
        self.certify = QCheckBox("Measure a certificate for every file")
        self.certify.setObjectName("CertifyCheck")
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("the run's validation split")
        self.folder_button = QPushButton("Folder…")
        self.folder_button.setToolTip("Certify on a folder of <class>/<image> files instead of the run's validation split")
        self.folder_button.clicked.connect(self.choose_folder)
        self.latency_runs = QSpinBox()
        self.latency_runs.setRange(1, 100000)
        for path, widget in (("calibration", self.calibration), ("int8_io", self.int8_io), ("float_fallback", self.float_fallback),
                             ("int8_equalize", self.int8_equalize), ("int8_float_head", self.int8_float_head),
                             ("certify", self.certify), ("certify_folder", self.folder), ("latency_runs", self.latency_runs)):
            self.form.bind(path, widget)
        self.form.set_config(base, force=True)
        self.certify.toggled.connect(self._update)

        int8_box = QGroupBox("int8 (TFLite full-integer)")
        int8_grid = QGridLayout(int8_box)
        int8_grid.addWidget(QLabel(field_label(base, "calibration")), 0, 0)
        int8_grid.addWidget(self.calibration, 0, 1)
        int8_grid.addWidget(QLabel("I/O:"), 0, 2)
        int8_grid.addWidget(self.int8_io, 0, 3)
        int8_grid.addWidget(self.float_fallback, 1, 0, 1, 4)
        int8_grid.addWidget(self.int8_equalize, 2, 0, 1, 4)
        int8_grid.addWidget(self.int8_float_head, 3, 0, 1, 4)
        cert_box = QGroupBox("Certificate")
        cert_grid = QGridLayout(cert_box)
        # the check has a row of its own: beside "Latency calls" it read "Measure a certificate for e" at 1024 px
        cert_grid.addWidget(self.certify, 0, 0, 1, 4)
        cert_grid.addWidget(QLabel("Images:"), 1, 0)
        cert_grid.addWidget(self.folder, 1, 1, 1, 2)
        cert_grid.addWidget(self.folder_button, 1, 3)
        latency = QHBoxLayout()
        latency.addWidget(QLabel(field_label(base, "latency_runs")))
        latency.addWidget(self.latency_runs)
        latency.addStretch(1)
        cert_grid.addLayout(latency, 2, 0, 1, 4)
        cert_grid.setColumnStretch(1, 1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(int8_box)
        layout.addWidget(cert_box, 1)
        self._update()

    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Certify on images in class folders", self.folder.text())
        if path:
            self.folder.setText(path)

    def config_fields(self) -> dict:
        """The int8 and certificate fields the widgets show (raises ConfigError for values the config refuses)."""
        config = self.form.read()
        names = ("calibration", "int8_io", "float_fallback", "int8_equalize", "int8_float_head", "certify", "certify_folder", "latency_runs")
        return {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name in names}

    def setEnabled(self, enabled: bool) -> None:  # noqa: N802 - Qt API
        super().setEnabled(enabled)
        self._update()

    def _update(self, *_args) -> None:
        on = self.certify.isChecked()
        for widget in (self.folder, self.folder_button, self.latency_runs):
            widget.setEnabled(on)
