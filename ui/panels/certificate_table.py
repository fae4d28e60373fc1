"""The export certificate as a table: one row per exported format, a red cell for a class that dropped.

Columns: agreement with the app, accuracy and its change, max/mean |Δ|
probability, size, latency (median/p90 ms) with 1 thread and with all
threads, then one column per class with its accuracy change in points. A
class whose accuracy dropped by more than the threshold (spin box, default
1 point) is red; changing the threshold recolours at once.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from tlstudio.api.certificate import ExportCertificate, FormatCertificate
from tlstudio.config import ExportConfig
from tlstudio.export.formats import FORMAT_LABELS
from tlstudio.options import option_of

DROP_COLOUR = "#f4c7c3"
DROP_TEXT = "#8c1d18"
FIXED_COLUMNS = ["Format", "Agreement", "Accuracy (Δ)", "max |Δp|", "mean |Δp|", "Size", "1 thread ms", "all threads ms"]


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024.0
    return str(n)


def _latency(cert: FormatCertificate, threads: int) -> str:
    lat = cert.latency_for(threads)
    return f"{lat.median_ms:.2f} / {lat.p90_ms:.2f}" if lat else "–"


class CertificateTable(QWidget):
    """Shows an :class:`ExportCertificate`; ``format_selected(str)`` when a row is clicked."""

    format_selected = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.certificate: ExportCertificate | None = None
        opt = option_of(ExportConfig, "drop_threshold")
        self.threshold = QDoubleSpinBox()
        self.threshold.setObjectName("DropThreshold")
        self.threshold.setRange(opt.min or 0.0, opt.max or 100.0)
        self.threshold.setDecimals(1)
        self.threshold.setSingleStep(0.5)
        self.threshold.setSuffix(" points")
        self.threshold.setValue(float(opt.default))
        self.threshold.setToolTip(opt.tooltip or opt.help)
        self.threshold.valueChanged.connect(self._recolour)
        self.summary = QLabel("Export with the certificate on to see how each file compares with the app.")
        self.summary.setObjectName("Hint")
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, len(FIXED_COLUMNS))
        self.table.setObjectName("CertificateTable")
        self.table.setHorizontalHeaderLabels(FIXED_COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # The Format column takes the width left after the numbers, which stay whole; its notes elide
        # (whole in the tooltip) instead of pushing the class columns out of a 1024 px window.
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setStretchLastSection(False)
        self.table.itemSelectionChanged.connect(self._on_selection)
        row = QHBoxLayout()
        row.addWidget(QLabel(opt.label + ":"))
        row.addWidget(self.threshold)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addLayout(row)
        layout.addWidget(self.table, 1)

    def set_threshold(self, points: float) -> None:
        self.threshold.setValue(points)

    def clear(self, message: str = "") -> None:
        self.certificate = None
        self.table.setRowCount(0)
        self.table.setColumnCount(len(FIXED_COLUMNS))
        self.table.setHorizontalHeaderLabels(FIXED_COLUMNS)
        if message:
            self.summary.setText(message)

    def set_certificate(self, certificate: ExportCertificate | None, note: str = "") -> None:
        """Fill one row per format (``note`` says why there is none)."""
        if certificate is None:
            self.clear(f"No certificate: {note}" if note else "No certificate.")
            return
        self.certificate = certificate
        names = list(certificate.class_names)
        self.table.clearContents()
        self.table.setColumnCount(len(FIXED_COLUMNS) + len(names))
        self.table.setHorizontalHeaderLabels(FIXED_COLUMNS + [f"{n} Δ" for n in names])
        header = self.table.horizontalHeaderItem(len(FIXED_COLUMNS) - 1)
        header.setText(f"{certificate.threads_all} threads ms")
        self.table.setRowCount(len(certificate.formats))
        for r, cert in enumerate(certificate.formats):
            cells = [
                FORMAT_LABELS.get(cert.format, cert.format),
                f"{100 * cert.agreement:.1f}%",
                f"{100 * cert.accuracy:.1f}% ({cert.accuracy_change_points:+.1f})",
                f"{cert.max_abs_diff:.3g}",
                f"{cert.mean_abs_diff:.3g}",
                _size(cert.size_bytes),
                _latency(cert, 1),
                _latency(cert, certificate.threads_all),
            ]
            tips = [cert.file, f"{len(cert.disagreements)} of {cert.images} image(s) disagree with the app",
                    f"the app: {100 * cert.app_accuracy:.1f}%", "", "", f"{cert.size_bytes:,} bytes",
                    f"median / p90 of {certificate.latency_runs} single-image calls, {cert.runtime}",
                    f"median / p90 with {certificate.threads_all} threads, {cert.runtime}"]
            if cert.float_ops:
                tips[0] += f"\nkept in float32: {', '.join(cert.float_ops)}"
            notes = (["equalized"] if cert.graph_changes else []) + (
                [f"{len(cert.float_ops)} layer{'s' if len(cert.float_ops) > 1 else ''} float32"] if cert.float_ops else [])
            if notes:
                cells[0] += f" ({', '.join(notes)})"
            tips[0] = f"{cells[0]}\n{tips[0]}"
            if cert.graph_changes:
                tips[0] += "\nconverted from a copy of the model with these changes:\n" + "\n".join(f"• {line}" for line in cert.graph_changes)
            for c, (text, tip) in enumerate(zip(cells, tips)):
                item = QTableWidgetItem(text)
                item.setToolTip(tip or text)
                item.setData(Qt.ItemDataRole.UserRole, cert.format)
                self.table.setItem(r, c, item)
            for i, cls in enumerate(cert.classes):
                item = QTableWidgetItem(f"{cls.change_points:+.1f}")
                item.setToolTip(f"{cls.name}: {cls.images} image(s); accuracy {100 * cls.app_accuracy:.1f}% in the app, "
                                f"{100 * cls.accuracy:.1f}% here; agreement {100 * cls.agreement:.1f}%")
                self.table.setItem(r, len(FIXED_COLUMNS) + i, item)
        failed = "".join(f"  {fmt} not certified: {why}." for fmt, why in certificate.failed.items())
        hashed = f", split manifest {certificate.split_manifest_hash[:10]}…" if certificate.split_manifest_hash else ""
        self.summary.setText(f"{certificate.images} image(s) of the {certificate.source}{hashed}; agreement is with the app's "
                             f"own predictions, accuracy with the labels. Click a row to see its disagreeing images.{failed}")
        self._recolour()

    def dropped_cells(self) -> list[tuple[str, str]]:
        """``(format, class)`` of the cells shown red."""
        if self.certificate is None:
            return []
        return [(c.format, k.name) for c in self.certificate.formats for k in c.class_drops(self.threshold.value())]

    def _recolour(self, *_args) -> None:
        if self.certificate is None:
            return
        for r, cert in enumerate(self.certificate.formats):
            dropped = {c.name for c in cert.class_drops(self.threshold.value())}
            for i, cls in enumerate(cert.classes):
                item = self.table.item(r, len(FIXED_COLUMNS) + i)
                red = cls.name in dropped
                item.setText(f"{'▼ ' if red else ''}{cls.change_points:+.1f}")  # seen on a selected row too
                item.setBackground(QBrush(QColor(DROP_COLOUR)) if red else QBrush())
                item.setForeground(QBrush(QColor(DROP_TEXT)) if red else QBrush())

    def _on_selection(self) -> None:
        items = self.table.selectedItems()
        if items and items[0].data(Qt.ItemDataRole.UserRole):
            self.format_selected.emit(str(items[0].data(Qt.ItemDataRole.UserRole)))
