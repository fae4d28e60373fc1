"""The Evaluate page: how good is the model, and where does it fail?

* **Results**: validation (and test) accuracy, top-k, calibration error and a
  per-class table of the best model; a heat-coloured confusion matrix whose
  cells open the images behind them (true class, predicted class and
  probability, most confident first) and rings them on the Data page's
  embedding map ("Show on map" goes there; :mod:`ui.map_link`);
  "Show the most confident mistakes".
* **Test images**: pick a file, drop one or paste from the clipboard to see the
  top-k probabilities and a Grad-CAM overlay; test a whole folder and save the
  predictions as CSV.
* **Runs**: the project's run history and run comparison.

"Open exported model…" evaluates any exported model file the same way,
without the project. Every evaluation and prediction is a job of the engine
process (``evaluate``, ``predict``, see :mod:`tlstudio.jobs.evaluate`): the
page keeps only the model's path, the engine keeps the loaded model in its
cache, and the page receives plain results. It never imports TensorFlow.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication, QImage, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from tlstudio.data.scan import IMAGE_EXTENSIONS
from tlstudio.api.evaluate import write_predictions_csv
from tlstudio.events import Progress
from tlstudio.api.evaluate import EvaluateConfig, PredictConfig, PredictResult
from tlstudio.api.model_ref import ModelRef
from tlstudio.run_folders import MODEL, RUN_CONFIG
from ui.engine import engine
from ui.map_link import Prediction, map_link
from ui.project_actions import project_controller
from ui.widgets.confusion_matrix import ConfusionMatrixView
from ui.widgets.run_history import RunHistoryWidget

PROGRESS_VERBS = {"evaluate": "Evaluating", "predict": "Predicting", "load": "Loading", "validate": "Checking", "scan": "Scanning"}
"""Progress stage -> the word the progress bar starts with."""

PROGRESS_SAMPLE = "Evaluating 12,345/12,345 images"
"""The longest progress text the bar is sized for."""
from ui.widgets.thumbnails import ThumbnailModel, ThumbnailView

TOP_K = 5
SPLIT_TITLES = {"val": "Validation", "test": "Test", "train": "Training", "all": "All images"}


def _qimage(array: Any) -> QImage:
    import numpy as np

    arr = np.ascontiguousarray(array, dtype=np.uint8)
    h, w = arr.shape[:2]
    return QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def readable_reason(reason: str) -> str:
    """Why a file could not be read, for people: no exception class names."""
    head, sep, rest = str(reason).partition(": ")
    if sep and head.isidentifier() and head[:1].isupper() and head.endswith(("Error", "Exception")):
        if head == "UnidentifiedImageError":
            return "not an image, or an image format that cannot be read."
        return rest
    return str(reason)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


# --------------------------------------------------------------------------- widgets


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

    def __init__(self, page: "EvaluatePage"):
        super().__init__("Drop an image here, pick a file, or paste (Ctrl+V)")
        self.page = page
        self.setObjectName("DropArea")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(QSize(220, 220))
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setWordWrap(True)
        self.setAcceptDrops(True)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        if _dropped_file(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt API
        path = _dropped_file(event.mimeData())
        if path:
            event.acceptProposedAction()
            self.page.test_image(path)


def _dropped_file(mime: Any) -> str | None:
    if mime is None or not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile() and Path(url.toLocalFile()).is_file():
            return url.toLocalFile()
    return None


# --------------------------------------------------------------------------- page


class EvaluatePage(QWidget):
    """Metrics, confusion matrix, image tests and run history of the current model."""

    def __init__(self, state: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("EvaluatePage")
        self.state = state
        self.controller = project_controller(state)
        self.model_path = ""
        self.data: Any = None
        self.splits: tuple[str, ...] = ("val", "test")
        self.results: dict[str, Any] = {}
        self.current_split = "val"
        self.shown_images: list[Any] = []
        self.test_rows: list[Any] = []
        self.test_class_names: tuple[str, ...] = ()
        self._stale = False
        self._temp_dir = tempfile.TemporaryDirectory(prefix="tlstudio-paste-")
        self.runner = engine().task(self)
        self.runner.progress.connect(self._on_progress)
        self.runner.error.connect(self._on_error)
        self.runner.running_changed.connect(self._on_running)
        self.runner.result.connect(lambda value: self._on_result(value))
        self._on_result: Any = lambda value: None

        # ---- header
        self.source_label = QLabel("No model yet: train one, or open an exported model.")
        self.source_label.setObjectName("ModelSource")
        self.source_label.setWordWrap(True)
        self.source_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.evaluate_button = QPushButton("Evaluate")
        self.evaluate_button.setToolTip("Predict the validation (and test) images with the current model")
        self.evaluate_button.clicked.connect(self.evaluate)
        self.open_button = QPushButton("Open exported model…")
        self.open_button.setToolTip("Evaluate any exported .keras / .tflite file or SavedModel folder on a dataset")
        self.open_button.clicked.connect(self.choose_exported_model)
        self.progress = QProgressBar()
        self.progress.setObjectName("EvaluateProgress")
        # wide enough for its longest text: "Evaluating 12,345/12,345 images" is never clipped
        self.progress.setMinimumWidth(self.progress.fontMetrics().horizontalAdvance(PROGRESS_SAMPLE) + 40)
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the evaluation or prediction in progress (Esc)")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.runner.cancel)
        header = QHBoxLayout()
        header.addWidget(self.source_label, 1)
        header.addWidget(self.progress)
        header.addWidget(self.cancel_button)
        header.addWidget(self.evaluate_button)
        header.addWidget(self.open_button)
        self.summary = QLabel("")
        self.summary.setObjectName("EvaluationSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setVisible(False)  # shown with the first text: no empty gap above the tabs

        # ---- results tab
        self.split_combo = QComboBox()
        self.split_combo.setAccessibleName("Split")
        self.split_combo.currentIndexChanged.connect(self._on_split_changed)
        self.class_table = QTableWidget(0, 5)
        self.class_table.setObjectName("ClassTable")
        self.class_table.setHorizontalHeaderLabels(["class", "precision", "recall", "F1", "support"])
        self.class_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.class_table.verticalHeader().setVisible(False)
        self.class_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        import pyqtgraph as pg

        self.reliability = pg.PlotWidget(background="w")
        self.reliability.setObjectName("ReliabilityPlot")
        self.reliability.setMinimumHeight(160)
        self.reliability.setLabel("bottom", "confidence")
        self.reliability.setLabel("left", "accuracy")
        self.reliability.setXRange(0, 1, padding=0.02)
        self.reliability.setYRange(0, 1, padding=0.02)
        self.reliability.setMouseEnabled(x=False, y=False)
        self.reliability.setToolTip(
            "Reliability curve: accuracy of the images in each confidence bin. A calibrated model follows the diagonal; "
            "ECE is the image-weighted mean gap."
        )
        self.matrix = ConfusionMatrixView()
        self.matrix.cell_activated.connect(self.show_cell)
        self.mistakes_button = QPushButton("Show the most confident mistakes")
        self.mistakes_button.setToolTip("Wrongly classified images of the split, the most confident first")
        self.mistakes_button.clicked.connect(lambda: self.show_mistakes())
        self.map_button = QPushButton("Show on map")
        self.map_button.setToolTip("Show these images ringed on the Data page's embedding map (Map tab)")
        self.map_button.clicked.connect(lambda: map_link(self.state).request_show())
        self.map_button.setEnabled(False)
        self.images_label = QLabel("Click a confusion-matrix cell to see its images.")
        self.images_label.setObjectName("ImagesLabel")
        self.thumbs = ThumbnailModel(thumb_size=96, parent=self)
        self.thumb_view = ThumbnailView()
        self.thumb_view.setModel(self.thumbs)
        self.thumb_view.setAccessibleName("Images behind the selected cell")
        self.thumb_view.setMinimumHeight(96 + 50)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        split_row = QHBoxLayout()
        split_row.addWidget(QLabel("Split:"))
        split_row.addWidget(self.split_combo, 1)
        left_layout.addLayout(split_row)
        left_layout.addWidget(self.class_table)
        left_layout.addWidget(self.reliability, 1)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(QLabel("Confusion matrix (rows: true class, columns: predicted; % of the row)"))
        right_layout.addWidget(self.matrix)
        top_split = QSplitter(Qt.Orientation.Horizontal)
        top_split.addWidget(left)
        top_split.addWidget(right)
        top_split.setStretchFactor(0, 2)
        top_split.setStretchFactor(1, 3)
        images = QWidget()
        images_layout = QVBoxLayout(images)
        images_layout.setContentsMargins(0, 0, 0, 0)
        images_row = QHBoxLayout()
        images_row.addWidget(self.images_label, 1)
        images_row.addWidget(self.map_button)
        images_row.addWidget(self.mistakes_button)
        images_layout.addLayout(images_row)
        images_layout.addWidget(self.thumb_view)
        results_split = QSplitter(Qt.Orientation.Vertical)
        results_split.addWidget(top_split)
        results_split.addWidget(images)
        results_split.setStretchFactor(0, 3)
        results_split.setStretchFactor(1, 2)

        # ---- test images tab
        self.drop_area = _DropArea(self)
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
        self.paste_button.clicked.connect(self.paste_image)
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
        test_tab = QWidget()
        test_layout = QVBoxLayout(test_tab)
        test_layout.addLayout(buttons)
        test_layout.addLayout(single, 3)
        self.folder_label = QLabel("Folder results")
        self.folder_label.setObjectName("FolderLabel")
        test_layout.addWidget(self.folder_label)
        test_layout.addWidget(self.folder_table, 2)

        # ---- runs tab
        self.history = RunHistoryWidget(self.controller)

        self.tabs = QTabWidget()
        self.tabs.addTab(results_split, "Results")
        self.tabs.addTab(test_tab, "Test images")
        self.tabs.addTab(self.history, "Runs")
        title = QLabel("Evaluate")
        title.setObjectName("PageTitle")
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addLayout(header)
        layout.addWidget(self.summary)
        layout.addWidget(self.tabs, 1)

        paste = QShortcut(QKeySequence.StandardKey.Paste, self)
        paste.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        paste.activated.connect(self.paste_image)

        state.model_path_changed.connect(self._on_model_path)
        if state.model_path:
            self._on_model_path(state.model_path)
        self._update_buttons()

    # ------------------------------------------------------------- model source

    def _on_model_path(self, path: str) -> None:
        if not path:
            return
        p = Path(path)
        run_dir = p.parent if p.name == MODEL and (p.parent / RUN_CONFIG).is_file() else None
        self.set_model(str(run_dir or p), None)

    def set_model(self, path: str, data: Any = None, splits: tuple[str, ...] = ("val", "test")) -> None:
        """Make ``path`` (run folder or exported model) the model to evaluate; results become stale.

        Args:
            path: Run folder or exported model.
            data: Dataset folder (None: the run's own dataset).
            splits: Splits to evaluate.
        """
        self.model_path = str(path)
        self.data = data
        self.splits = tuple(splits)
        self._stale = True
        kind = "run" if (Path(path) / RUN_CONFIG).is_file() else "exported model"
        self.source_label.setText(f"<b>Model</b> ({kind}): {path}")
        if self.isVisible():
            self.evaluate()
        self._update_buttons()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if self._stale and self.model_path and not self.runner.is_running():
            self.evaluate()

    def choose_exported_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open exported model", str(Path.home()), "Models (*.keras *.tflite saved_model.pb);;All files (*)"
        )
        if not path:
            return
        if path.endswith("saved_model.pb"):
            path = str(Path(path).parent)
        if self.state.dataset_root:
            # The current data settings, so the validation split is the one the app trains with.
            self.open_exported_model(path, self.state.data_config)
            return
        folder = QFileDialog.getExistingDirectory(self, "Labelled dataset to evaluate on", str(Path.home()))
        if folder:
            self.open_exported_model(path, folder, all_images=True)

    def open_exported_model(self, model_path: str, data: Any, all_images: bool = False) -> None:
        """Evaluate an exported model on a labelled dataset, without the project.

        Args:
            model_path: Exported ``.keras`` / ``.tflite`` file or SavedModel folder.
            data: Dataset folder or :class:`~tlstudio.config.DataConfig`.
            all_images: Evaluate every image instead of the validation and test splits.
        """
        self.set_model(model_path, data, ("all",) if all_images else ("val", "test"))
        if not self.isVisible():
            self.evaluate()

    # ------------------------------------------------------------- evaluation

    def evaluate(self) -> bool:
        if not self.model_path or self.runner.is_running():
            return False
        self._stale = False
        self.summary.setText("Evaluating…")
        self.summary.setVisible(True)
        self._on_result = self._on_evaluated
        self.state.begin_busy("evaluate")
        self.runner.finished.connect(self._end_busy)
        self.runner.start("evaluate", EvaluateConfig(self.model_ref(), self.data, self.splits))
        return True

    def _end_busy(self) -> None:
        self.runner.finished.disconnect(self._end_busy)
        self.state.end_busy("evaluate")

    def _on_evaluated(self, results: dict[str, Any]) -> None:
        self.results = dict(results)
        self.split_combo.blockSignals(True)
        self.split_combo.clear()
        for split in self.results:
            self.split_combo.addItem(SPLIT_TITLES.get(split, split), split)
        self.split_combo.blockSignals(False)
        parts = []
        for split, result in self.results.items():
            m = result.metrics
            extra = "".join(f" · top-{k} {_pct(v)}" for k, v in m.top_k.items() if k > 1)
            ece = f" · ECE {m.calibration.ece:.3f}" if m.calibration else ""
            parts.append(f"<b>{SPLIT_TITLES.get(split, split)}</b>: accuracy <b>{_pct(m.accuracy)}</b> on {m.num_images} images{extra}{ece}")
            if result.skipped:
                parts.append(f"{len(result.skipped)} unreadable image(s) skipped")
            if result.cancelled:
                parts.append("cancelled: partial results")
        self.summary.setText("<br>".join(parts))
        self.summary.setVisible(True)
        self._share_predictions()
        if self.results:
            self.show_split(next(iter(self.results)))
        self._update_buttons()

    def _on_split_changed(self, index: int) -> None:
        split = self.split_combo.itemData(index)
        if split:
            self.show_split(split)

    def show_split(self, split: str) -> None:
        """Show the per-class table and confusion matrix of ``split``."""
        result = self.results[split]
        self.current_split = split
        idx = self.split_combo.findData(split)
        if idx >= 0 and idx != self.split_combo.currentIndex():
            self.split_combo.blockSignals(True)
            self.split_combo.setCurrentIndex(idx)
            self.split_combo.blockSignals(False)
        m = result.metrics
        self.class_table.setRowCount(len(m.per_class))
        for row, r in enumerate(m.per_class):
            values = [r.name, f"{r.precision:.3f}", f"{r.recall:.3f}", f"{r.f1:.3f}", str(r.support)]
            for col, text in enumerate(values):
                item = QTableWidgetItem(text)
                if col:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if col == 1 and r.predicted == 0:
                    item.setToolTip("never predicted: precision is 0 by convention")
                self.class_table.setItem(row, col, item)
        table = self.class_table
        fit = table.horizontalHeader().height() + sum(table.rowHeight(r) for r in range(table.rowCount())) + 2 * table.frameWidth() + 2
        table.setMaximumHeight(max(80, min(fit, 320)))
        self.matrix.set_matrix(m.confusion, m.class_names)
        self._plot_reliability(m.calibration)
        self._show_images([], "Click a confusion-matrix cell to see its images and ring them on the map.")
        self.map_button.setEnabled(False)

    def _plot_reliability(self, cal: Any) -> None:
        import pyqtgraph as pg

        plot = self.reliability
        plot.clear()
        plot.plot([0, 1], [0, 1], pen=pg.mkPen("#888", width=1, style=Qt.PenStyle.DashLine))
        if cal is None:
            return
        used = [b for b in cal.bins if b.count]
        if used:
            width = (cal.bins[0].upper - cal.bins[0].lower) * 0.9
            bars = pg.BarGraphItem(
                x=[(b.lower + b.upper) / 2 for b in used], height=[b.accuracy for b in used], width=width,
                brush=pg.mkBrush(33, 113, 181, 170), pen=pg.mkPen("#215f9a"),
            )
            plot.addItem(bars)
            plot.plot([b.confidence for b in used], [b.accuracy for b in used], pen=None, symbol="o", symbolSize=5, symbolBrush="#d62728")
        plot.setTitle(f"Reliability · ECE {cal.ece:.3f}", color="#333", size="9pt")

    @property
    def result(self) -> Any:
        """The :class:`~tlstudio.api.evaluate.EvaluationResult` on display, or None."""
        return self.results.get(self.current_split)

    def show_cell(self, true_class: int, pred_class: int) -> None:
        """List the images of true ``true_class`` predicted as ``pred_class``, most confident first."""
        result = self.result
        if result is None:
            return
        rows = result.cell(true_class, pred_class)
        names = result.class_names
        self._show_images(rows, f"True <b>{names[true_class]}</b>, predicted <b>{names[pred_class]}</b>: {len(rows)} image(s), most confident first")
        map_link(self.state).highlight([r.path for r in rows], f"true {names[true_class]} → predicted {names[pred_class]}")
        self.map_button.setEnabled(bool(rows))

    def _share_predictions(self) -> None:
        """Give the embedding map every evaluated image's true and predicted class (its colour modes use them)."""
        predictions: dict[str, Prediction] = {}
        for split, result in self.results.items():
            names = result.class_names
            for path, true, pred in zip(result.paths, result.y_true.tolist(), result.y_pred.tolist()):
                if 0 <= true < len(names) and 0 <= pred < len(names):
                    predictions[path] = Prediction(names[true], names[pred], split)
        map_link(self.state).set_predictions(predictions)

    def show_mistakes(self, limit: int = 200) -> None:
        result = self.result
        if result is None:
            return
        rows = result.mistakes(limit)
        self._show_images(rows, f"The {len(rows)} most confident mistakes across all classes")
        map_link(self.state).highlight([r.path for r in rows], "the most confident mistakes")
        self.map_button.setEnabled(bool(rows))

    def _show_images(self, rows: list[Any], text: str) -> None:
        self.shown_images = list(rows)
        names = self.result.class_names if self.result is not None else ()
        labels = [f"{r.confidence:.0%} {names[r.pred]}" for r in rows]
        tips = [f"{r.path}\ntrue: {names[r.true]}\npredicted: {names[r.pred]} ({r.confidence:.1%})" for r in rows]
        self.thumbs.set_paths([r.path for r in rows], labels, tips)
        self.images_label.setText(text)

    # ------------------------------------------------------------- image tests

    def model_ref(self) -> ModelRef:
        """The model every job of this page works on (the engine keeps it loaded between jobs)."""
        return ModelRef(path=self.model_path)

    def choose_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Test an image", str(Path.home()), "Images (" + " ".join(f"*{s}" for s in sorted(IMAGE_EXTENSIONS)) + ")")
        if path:
            self.test_image(path)

    def paste_image(self) -> bool:
        """Test the image on the clipboard (saved to a temporary PNG so it takes the usual read path)."""
        clipboard = QGuiApplication.clipboard()
        mime = clipboard.mimeData()
        path = _dropped_file(mime)
        if path:
            return self.test_image(path)
        image = clipboard.image()
        if image.isNull():
            self.state.show_status("The clipboard holds no image")
            return False
        target = Path(self._temp_dir.name) / f"clipboard-{os.getpid()}-{id(image)}.png"
        image.save(str(target), "PNG")
        return self.test_image(str(target))

    def test_image(self, path: str) -> bool:
        """Predict one image: preview, top-k bars and (for Keras models) Grad-CAM."""
        if not self.model_path:
            self.state.show_status("Train a model or open an exported one first")
            return False
        if self.runner.is_running():
            self.state.show_status("Wait for the current evaluation to finish")
            return False
        self.tabs.setCurrentIndex(1)
        pix = QPixmap(path)
        if not pix.isNull():
            self.drop_area.setPixmap(pix.scaled(self.drop_area.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))
        else:  # never leave the previous picture next to this file's result
            self.drop_area.clear()
            self.drop_area.setText(Path(path).name)
        self.bars.set_values([])
        self.prediction_label.setText("Predicting…")
        self._start_predict([path], self.gradcam_box.isChecked(), self._on_single)
        return True

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Test every image in a folder", str(Path.home()))
        if folder:
            self.test_folder(folder)

    def test_folder(self, folder: str) -> bool:
        """Predict every image under ``folder`` (recursively) into the folder table."""
        if not self.model_path or self.runner.is_running():
            return False
        paths = sorted(str(p) for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        if not paths:
            self.state.show_status(f"No images in {folder}")
            return False
        self.tabs.setCurrentIndex(1)
        self._start_predict(paths, False, self._on_folder)
        return True

    def _start_predict(self, paths: list[str], gradcam: bool, slot) -> None:
        self._on_result = slot
        self.runner.start("predict", PredictConfig(self.model_ref(), tuple(paths), gradcam))

    def _on_single(self, out: PredictResult) -> None:
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
            img = _qimage(out.overlay)
            self.drop_area.setPixmap(QPixmap.fromImage(img).scaled(self.drop_area.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))
            text += "<br>Grad-CAM: red areas drove the prediction"
        elif out.gradcam_error:
            text += f"<br>Grad-CAM unavailable: {out.gradcam_error}"
        self.prediction_label.setText(text)

    def _on_folder(self, out: PredictResult) -> None:
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
        self._update_buttons()

    def choose_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save predictions", str(Path.home() / "predictions.csv"), "CSV (*.csv)")
        if path:
            self.save_csv(path)

    def save_csv(self, path: str) -> None:
        """Write the folder-test predictions to ``path``."""
        try:
            write_predictions_csv(path, self.test_rows, self.test_class_names)
        except OSError as exc:
            self.state.report_error(f"Could not write {path}: {exc.strerror or exc}.", "")
            return
        self.state.show_status(f"Saved {len(self.test_rows)} predictions to {path}")

    # ------------------------------------------------------------- plumbing

    def _on_progress(self, event: Progress) -> None:
        self.progress.setToolTip(event.message)
        if not event.total:  # e.g. loading the model: no count yet
            self.progress.setRange(0, 0)
            return
        self.progress.setRange(0, event.total)
        self.progress.setValue(event.done)
        self.progress.setFormat(f"{PROGRESS_VERBS.get(event.stage, event.stage.capitalize())} %v/%m images")

    def _on_error(self, message: str, details: str) -> None:
        self.summary.setText(f"<span style='color:#b00020'>{message}</span>")
        self.summary.setVisible(True)
        self.prediction_label.setText("")
        self.state.report_error(message, details)

    def _on_running(self, running: bool) -> None:
        self.progress.setVisible(running)
        self.cancel_button.setVisible(running)
        if running:
            self.progress.setRange(0, 0)
        # an empty matrix says what is happening, not "No results yet" while it is being computed
        evaluating = running and getattr(self.runner, "job", "") == "evaluate"
        self.matrix.set_empty_text(self.matrix.BUSY_TEXT if evaluating else self.matrix.EMPTY_TEXT)
        self._update_buttons()

    def _update_buttons(self) -> None:
        running = self.runner.is_running()
        has_model = bool(self.model_path)
        self.evaluate_button.setEnabled(has_model and not running)
        self.open_button.setEnabled(not running)
        for b in (self.pick_button, self.paste_button, self.folder_button):
            b.setEnabled(has_model and not running)
        self.mistakes_button.setEnabled(self.result is not None)
        self.csv_button.setEnabled(bool(self.test_rows) and not running)

    def shutdown(self) -> None:
        """Called by the main window when it closes."""
        self.runner.cancel()
        self.runner.wait()
        self.thumbs.shutdown()
        self.controller.autosave()
        self._temp_dir.cleanup()
