"""The Evaluate page's Test images tab: predict one image (with Grad-CAM) or a whole folder.

One image comes from a file dialog, a drop on the picture area or the
clipboard; the panel shows the picture, the top-k probabilities and, for
Keras models, the Grad-CAM overlay. A folder's predictions fill a table and
can be saved as CSV. The panel asks for predictions with its signals; the
page runs them (:mod:`ui.jobs.evaluate_jobs`) and hands back the
:class:`~tlstudio.jobs.evaluate.PredictResult`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QSize, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from tlstudio.data.scan import IMAGE_EXTENSIONS
from tlstudio.api.evaluate import write_predictions_csv
from tlstudio.api.evaluate import ImagePrediction
from tlstudio.api.evaluate import PredictResult
from tlstudio.errors import TlStudioError
from ui.state import AppState
from ui.widgets.images import to_pixmap
from ui.widgets.thumbnails import preview_pixmap

TOP_K = 5


def readable_reason(reason: str) -> str:
    """Why a file could not be read, for people: no exception class names."""
    head, sep, rest = str(reason).partition(": ")
    if sep and head.isidentifier() and head[:1].isupper() and head.endswith(("Error", "Exception")):
        if head == "UnidentifiedImageError":
            return "not an image, or an image format that cannot be read."
        return rest
    return str(reason)


def dropped_file(mime: QMimeData | None) -> str | None:
    """The first local file among ``mime``'s URLs, or None."""
    if mime is None or not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile() and Path(url.toLocalFile()).is_file():
            return url.toLocalFile()
    return None


class ProbabilityBars(QWidget):
    """Top-k classes as labelled horizontal bars."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("ProbabilityBars")
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setColumnStretch(1, 1)
        self._rows: list[tuple[str, float]] = []

    def set_values(self, rows: list[tuple[str, float]]) -> None:
        while self._grid.count():
            item = self._grid.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        self._rows = list(rows)
        for r, (name, p) in enumerate(rows):
            label = QLabel(name)
            label.setMinimumWidth(60)
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setValue(int(round(p * 1000)))
            bar.setFormat(f"{p:.1%}")
            bar.setTextVisible(True)
            bar.setAccessibleName(f"{name} probability")
            if r == 0:
                label.setStyleSheet("font-weight: bold")
            self._grid.addWidget(label, r, 0)
            self._grid.addWidget(bar, r, 1)

    def values(self) -> list[tuple[str, float]]:
        return list(self._rows)


class _DropArea(QLabel):
    """Shows the tested image; accepts dropped image files."""

    dropped = Signal(str)

    def __init__(self):
        super().__init__("Drop an image here, pick a file, or paste (Ctrl+V)")
        self.setObjectName("DropArea")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(QSize(220, 220))
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setWordWrap(True)
        self.setAcceptDrops(True)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        if dropped_file(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt API
        path = dropped_file(event.mimeData())
        if path:
            event.acceptProposedAction()
            self.dropped.emit(path)


class ImageTestPanel(QWidget):
    """Buttons to test an image or a folder, the picture with its top-k bars, and the folder's table.

    Args:
        state: The shared application state (status line, error reports).
        parent: Parent widget.

    Signals:
        image_chosen(str): test this image file (picked or dropped).
        paste_requested(): test the image on the clipboard.
        folder_chosen(str): test every image under this folder.
    """

    image_chosen = Signal(str)
    paste_requested = Signal()
    folder_chosen = Signal(str)

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.test_rows: list[ImagePrediction] = []
        self.test_class_names: tuple[str, ...] = ()
        self.drop_area = _DropArea()
        self.drop_area.dropped.connect(self.image_chosen)
        self.bars = ProbabilityBars()
        self.prediction_label = QLabel("")
        self.prediction_label.setObjectName("PredictionLabel")
        self.prediction_label.setWordWrap(True)
        self.gradcam_box = QCheckBox("Grad-CAM overlay")
        self.gradcam_box.setToolTip("Colour the image regions that drove the prediction (Keras models only)")
        self.gradcam_box.setChecked(True)
        self.pick_button = QPushButton("Pick image…")
        self.pick_button.setToolTip("Predict one image file (you can also drop one on the picture area)")
        self.pick_button.clicked.connect(self.choose_image)
        self.paste_button = QPushButton("Paste")
        self.paste_button.setToolTip("Test the image on the clipboard (Ctrl+V)")
        self.paste_button.clicked.connect(self.paste_requested)
        self.folder_button = QPushButton("Test a folder…")
        self.folder_button.setToolTip("Predict every image in a folder and its subfolders")
        self.folder_button.clicked.connect(self.choose_folder)
        self.csv_button = QPushButton("Save CSV…")
        self.csv_button.setEnabled(False)
        self.csv_button.setToolTip("Save the folder results as CSV: path, predicted class and every class probability")
        self.csv_button.clicked.connect(self.choose_csv)
        self.folder_table = QTableWidget(0, 3)
        self.folder_table.setObjectName("FolderResults")
        self.folder_table.setHorizontalHeaderLabels(["image", "predicted", "probability"])
        self.folder_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.folder_table.verticalHeader().setVisible(False)
        self.folder_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        buttons = QHBoxLayout()
        for b in (self.pick_button, self.paste_button, self.folder_button, self.csv_button):
            buttons.addWidget(b)
        buttons.addWidget(self.gradcam_box)
        buttons.addStretch(1)
        single = QHBoxLayout()
        single.addWidget(self.drop_area, 3)
        bars_box = QVBoxLayout()
        bars_box.addWidget(QLabel("Most likely classes"))
        bars_box.addWidget(self.bars)
        bars_box.addWidget(self.prediction_label)
        bars_box.addStretch(1)
        single.addLayout(bars_box, 2)
        test_layout = QVBoxLayout(self)
        test_layout.addLayout(buttons)
        test_layout.addLayout(single, 3)
        self.folder_label = QLabel("Folder results")
        self.folder_label.setObjectName("FolderLabel")
        test_layout.addWidget(self.folder_label)
        test_layout.addWidget(self.folder_table, 2)

    def choose_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Test an image", str(Path.home()), "Images (" + " ".join(f"*{s}" for s in sorted(IMAGE_EXTENSIONS)) + ")")
        if path:
            self.image_chosen.emit(path)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Test every image in a folder", str(Path.home()))
        if folder:
            self.folder_chosen.emit(folder)

    def show_image(self, path: str) -> None:
        """Show ``path`` while it is being predicted (its name when it cannot be drawn)."""
        pix = preview_pixmap(path)
        if not pix.isNull():
            self.drop_area.setPixmap(pix.scaled(self.drop_area.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))
        else:  # never leave the previous picture next to this file's result
            self.drop_area.clear()
            self.drop_area.setText(Path(path).name)
        self.bars.set_values([])
        self.prediction_label.setText("Predicting…")

    def show_single(self, out: PredictResult) -> None:
        """Show one image's prediction: the top-k bars and the Grad-CAM overlay, or why it could not be read."""
        names = out.class_names
        if not out.rows:
            path, reason = out.skipped[0] if out.skipped else ("", "unknown reason")
            self.prediction_label.setText(f"Cannot read {Path(path).name or 'this image'}: {readable_reason(reason)}")
            self.prediction_label.setToolTip(f"{path}\n{reason}")
            self.bars.set_values([])
            return
        self.prediction_label.setToolTip("")
        row = out.rows[0]
        self.bars.set_values([(names[i], p) for i, p in row.top(TOP_K)])
        text = f"<b>{names[row.pred]}</b> ({row.confidence:.1%})<br>{Path(row.path).name}"
        if out.overlay is not None:
            self.drop_area.setPixmap(to_pixmap(out.overlay).scaled(self.drop_area.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))
            text += "<br>Grad-CAM: red areas drove the prediction"
        elif out.gradcam_error:
            text += f"<br>Grad-CAM unavailable: {out.gradcam_error}"
        self.prediction_label.setText(text)

    def show_folder(self, out: PredictResult) -> None:
        """Fill the folder table with every image's predicted class and probability."""
        names = self.test_class_names = out.class_names
        self.test_rows = list(out.rows)
        self.folder_table.setRowCount(len(self.test_rows))
        for r, row in enumerate(self.test_rows):
            self.folder_table.setItem(r, 0, QTableWidgetItem(row.path))
            self.folder_table.setItem(r, 1, QTableWidgetItem(names[row.pred]))
            self.folder_table.setItem(r, 2, QTableWidgetItem(f"{row.confidence:.1%}"))
        skipped = f", {len(out.skipped)} unreadable" if out.skipped else ""
        # its own label: the single-image result above stays about its own image
        self.folder_label.setText(f"Folder results: {len(self.test_rows)} images tested{skipped}")
        self.folder_label.setToolTip("\n".join(f"{p}: {readable_reason(r)}" for p, r in out.skipped[:20]))

    def choose_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save predictions", str(Path.home() / "predictions.csv"), "CSV (*.csv)")
        if path:
            self.save_csv(path)

    def save_csv(self, path: str) -> None:
        """Write the folder-test predictions to ``path``."""
        try:
            write_predictions_csv(path, self.test_rows, self.test_class_names)
        except TlStudioError as exc:  # an image, or one of the tested images: nothing written
            self.state.report_error(f"Not saving the predictions: {exc}", "")
            return
        except OSError as exc:
            self.state.report_error(f"Could not write {path}: {exc.strerror or exc}.", "")
            return
        self.state.show_status(f"Saved {len(self.test_rows)} predictions to {path}")

