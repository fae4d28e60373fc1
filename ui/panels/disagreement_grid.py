"""The images where an exported file's top-1 differs from the app's, and both top-3 side by side.

A format picker (every certified format), a thumbnail grid of that format's
disagreeing images (caption: the app's class → the file's class), and, for
the clicked image, a larger picture with the app's top-3 next to the file's.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from tlstudio.api.certificate import Disagreement, ExportCertificate
from tlstudio.export.formats import FORMAT_LABELS
from ui.widgets.thumbnails import ThumbnailModel, ThumbnailView, preview_pixmap

PREVIEW_SIDE = 128


def _top3_text(title: str, top: tuple[tuple[str, float], ...]) -> str:
    rows = "".join(f"<tr><td>{i + 1}.&nbsp;</td><td>{name}</td><td align='right'>&nbsp;{100 * p:.1f}%</td></tr>"
                   for i, (name, p) in enumerate(top))
    return f"<b>{title}</b><table>{rows}</table>"


class DisagreementGrid(QWidget):
    """Shows the disagreements of one format of an :class:`ExportCertificate`."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.certificate: ExportCertificate | None = None
        self.current: tuple[Disagreement, ...] = ()
        self.format_combo = QComboBox()
        self.format_combo.setObjectName("DisagreementFormat")
        self.format_combo.currentIndexChanged.connect(self._show_format)
        self.count_label = QLabel("")
        self.count_label.setObjectName("Hint")
        self.thumbs = ThumbnailModel(thumb_size=88, parent=self)
        self.view = ThumbnailView()
        self.view.setObjectName("DisagreementView")
        self.view.setModel(self.thumbs)
        self.view.setSelectionMode(ThumbnailView.SelectionMode.SingleSelection)
        self.view.clicked.connect(self.show_index)
        self.picture = QLabel()
        self.picture.setFixedSize(PREVIEW_SIDE, PREVIEW_SIDE)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.path_label = QLabel("Click an image to compare the predictions.")
        self.path_label.setWordWrap(True)
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.app_top = QLabel()
        self.app_top.setObjectName("AppTop3")
        self.file_top = QLabel()
        self.file_top.setObjectName("FormatTop3")
        for label in (self.app_top, self.file_top):
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)

        side = QWidget()
        grid = QGridLayout(side)
        grid.addWidget(self.picture, 0, 0)
        grid.addWidget(self.app_top, 0, 1)
        grid.addWidget(self.file_top, 0, 2)
        grid.addWidget(self.path_label, 1, 0, 1, 3)
        grid.setRowStretch(2, 1)
        splitter = QSplitter()
        splitter.addWidget(self.view)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        top = QHBoxLayout()
        top.addWidget(QLabel("Format:"))
        top.addWidget(self.format_combo)
        top.addWidget(self.count_label, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)

    def set_certificate(self, certificate: ExportCertificate | None) -> None:
        self.certificate = certificate
        self.format_combo.blockSignals(True)
        self.format_combo.clear()
        for cert in certificate.formats if certificate else ():
            self.format_combo.addItem(f"{FORMAT_LABELS.get(cert.format, cert.format)} ({len(cert.disagreements)})", cert.format)
        self.format_combo.blockSignals(False)
        self._show_format()

    def select_format(self, fmt: str) -> None:
        index = self.format_combo.findData(fmt)
        if index >= 0:
            self.format_combo.setCurrentIndex(index)

    def _show_format(self, *_args) -> None:
        fmt = self.format_combo.currentData()
        cert = self.certificate.get(fmt) if self.certificate is not None and fmt else None
        self.current = cert.disagreements if cert else ()
        captions = [f"{d.app_top3[0][0]} → {d.format_top3[0][0]}" for d in self.current]
        tips = [f"{d.path}\nlabel: {d.label or '?'}" for d in self.current]
        self.thumbs.set_paths([d.path for d in self.current], captions, tips)
        if cert is None:
            self.count_label.setText("No certificate yet.")
        elif not self.current:
            self.count_label.setText(f"Every one of the {cert.images} image(s) has the app's top-1 class.")
        else:
            self.count_label.setText(f"{len(self.current)} of {cert.images} image(s) get another top-1 class than in the app.")
        self.picture.clear()
        self.app_top.clear()
        self.file_top.clear()
        self.path_label.setText("Click an image to compare the predictions." if self.current else "")

    def show_index(self, index: QModelIndex) -> None:
        if index.isValid() and index.row() < len(self.current):
            self.show_disagreement(self.current[index.row()])

    def show_disagreement(self, item: Disagreement) -> None:
        """The image, then the app's top-3 beside the file's."""
        fmt = self.format_combo.currentData() or ""
        pixmap = preview_pixmap(item.path)
        if not pixmap.isNull():
            pixmap = pixmap.scaled(PREVIEW_SIDE, PREVIEW_SIDE, Qt.AspectRatioMode.KeepAspectRatio,
                                   Qt.TransformationMode.SmoothTransformation)
        self.picture.setPixmap(pixmap)
        self.path_label.setText(f"{item.path}\nlabel: {item.label or 'unknown'}")
        self.app_top.setText(_top3_text("The app", item.app_top3))
        self.file_top.setText(_top3_text(FORMAT_LABELS.get(fmt, fmt), item.format_top3))

    def shutdown(self) -> None:
        self.thumbs.shutdown()
