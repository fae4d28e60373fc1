"""The Data page's Validation report tab: how many files were usable, and every skipped file with its reason."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from tlstudio.api.dataset import PreparedData, ValidationReport


class ValidationReportPanel(QWidget):
    """A summary line, the table of skipped files, the scan's notes and a Copy button.

    Args:
        parent: Parent widget.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
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
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.copy_report_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.report_summary)
        layout.addWidget(self.report_table, 1)
        layout.addWidget(self.warnings_label)
        layout.addLayout(buttons)

    def fill(self, report: ValidationReport | None) -> None:
        """Show ``report`` (None: no dataset loaded)."""
        if report is None:
            self.report_summary.setText("No dataset loaded.")
            self.report_table.setRowCount(0)
            self.warnings_label.setText("")
            self.copy_report_button.setEnabled(False)
            return
        skipped = list(report.skipped)
        classes = list(report.skipped_classes)
        self.report_summary.setText(
            f"{report.num_files} files looked at: {report.num_valid} usable, {len(skipped)} skipped."
            + (f" {skipped_classes_text(report)}." if classes else "")
            + (f" {report.cache_hits} results came from the cache." if report.cache_hits else "")
        )
        # the class's folder is in the first column: the reason says the rest (the tooltip has it whole)
        rows = [(c.name, c.folder, "class skipped: " + c.reason.replace(f" in {c.folder}", "")) for c in classes]
        root = report.root.rstrip("/\\")
        rows += [(item.path[len(root) + 1:] if item.path.startswith(root) else item.path, item.path, item.reason)
                 for item in skipped]
        self.report_table.setRowCount(len(rows))
        for row, (shown, full, reason) in enumerate(rows):
            path_item = QTableWidgetItem(shown)
            path_item.setToolTip(full)
            self.report_table.setItem(row, 0, path_item)
            reason_item = QTableWidgetItem(reason)
            reason_item.setToolTip(reason)
            self.report_table.setItem(row, 1, reason_item)
        self.warnings_label.setText("\n".join(f"Note: {w}" for w in report.scan.warnings))
        self.copy_report_button.setEnabled(True)

    def report_text(self, prepared: PreparedData | None) -> str:
        """``prepared``'s validation report as plain text (what Copy puts on the clipboard)."""
        if prepared is None:
            return ""
        report = prepared.report
        lines = [f"Dataset: {report.root}", self.report_summary.text()]
        for split, per_class in prepared.counts.items():
            if any(per_class.values()):
                lines.append(f"{split}: " + ", ".join(f"{k} {v}" for k, v in per_class.items()))
        if report.skipped_classes:
            lines.append("")
            lines.append("Skipped classes:")
            lines.extend(f"{c.name}\t{c.reason}" for c in report.skipped_classes)
        if report.skipped:
            lines.append("")
            lines.append("Skipped files:")
            lines.extend(f"{s.path}\t{s.reason}" for s in report.skipped)
        for w in report.scan.warnings:
            lines.append(f"Note: {w}")
        return "\n".join(lines)


def skipped_classes_text(report: ValidationReport) -> str:
    """``"1 class folder skipped (birds)"``, or "" when none was."""
    classes = report.skipped_classes
    if not classes:
        return ""
    n = len(classes)
    return f"{n} class folder{'s' if n != 1 else ''} skipped ({', '.join(c.name for c in classes)})"
