"""The Evaluate page's Results tab: per-class figures, reliability, confusion matrix, ROC and PR curves, and the images behind a cell.

The panel shows the :class:`~tlstudio.evaluation.runner.EvaluationResult` of
each evaluated split. A confusion-matrix cell lists its images (true class,
predicted class and probability, most confident first) and rings them on the
Data page's embedding map (:mod:`ui.map_link`); "Show the most confident
mistakes" lists the worst errors of the split. Beside the matrix, the
one-vs-rest ROC and precision-recall curves with their areas (ROC AUC and AP
also in the per-class table) are the evaluation's own numbers, the ones the
run report shows.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from tlstudio.api.metrics import Calibration
from tlstudio.api.evaluate import EvaluationResult, ImagePrediction
from ui.map_link import Prediction, map_link
from ui.state import AppState
from ui.widgets.confusion_matrix import ConfusionMatrixView
from ui.widgets.lazy_plot import LazyPlot, settle
from ui.widgets.roc_pr_plot import RocPrPlots
from ui.widgets.thumbnails import ThumbnailModel, ThumbnailView

SPLIT_TITLES = {"val": "Validation", "test": "Test", "train": "Training", "all": "All images"}


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def summary_html(results: dict[str, EvaluationResult], fast_asked: bool = False) -> str:
    """One line per split: accuracy, top-k, calibration error, skipped images, cancelled; and the precision
    when the user opted in to a fast one (``fast_asked``)."""
    parts = []
    for split, result in results.items():
        m = result.metrics
        extra = "".join(f" · top-{k} {_pct(v)}" for k, v in m.top_k.items() if k > 1)
        ece = f" · ECE {m.calibration.ece:.3f}" if m.calibration else ""
        parts.append(f"<b>{SPLIT_TITLES.get(split, split)}</b>: accuracy <b>{_pct(m.accuracy)}</b> on {m.num_images} images{extra}{ece}")
        if result.skipped:
            parts.append(f"{len(result.skipped)} unreadable image(s) skipped")
        if result.cancelled:
            parts.append("cancelled: partial results")
    used = {r.precision for r in results.values()}
    if used - {"float32"}:
        parts.append(f"<i>Computed in {', '.join(sorted(used))} (fast precision, opted in): exported files compute "
                     "in float32, so their numbers may differ slightly.</i>")
    elif fast_asked and results:
        parts.append("<i>Fast precision asked for: this machine and model compute in float32 (no faster precision "
                     "measured here), the exported files' numbers.</i>")
    return "<br>".join(parts)


class EvaluationResults(QWidget):
    """Split chooser, per-class table and reliability plot beside the confusion matrix, the cell's images below.

    Args:
        state: The shared application state (the map link lives on it).
        parent: Parent widget.
    """

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.results: dict[str, EvaluationResult] = {}
        self.current_split = "val"
        self.shown_images: list[ImagePrediction] = []
        self.split_combo = QComboBox()
        self.split_combo.setAccessibleName("Split")
        self.split_combo.currentIndexChanged.connect(self._on_split_changed)
        self.class_table = QTableWidget(0, 7)
        self.class_table.setObjectName("ClassTable")
        self.class_table.setHorizontalHeaderLabels(["class", "prec.", "recall", "F1", "n", "AUC", "AP"])
        for col, tip in enumerate(("Class", "Precision: correct predictions of the class / all predictions of it",
                                   "Recall: correct predictions of the class / its images", "F1: harmonic mean of precision and recall",
                                   "Support: images of the class in the split",
                                   "ROC AUC: area under the one-vs-rest ROC curve (1 perfect, 0.5 chance)",
                                   "AP (average precision): area under the one-vs-rest precision-recall curve")):
            self.class_table.horizontalHeaderItem(col).setToolTip(tip)
        self.class_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.class_table.verticalHeader().setVisible(False)
        self.class_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.class_table.horizontalHeader().setStretchLastSection(False)
        self.reliability_holder = LazyPlot(_reliability_plot)  # built when first shown
        self.reliability_holder.setMinimumHeight(160)
        settle([self.reliability_holder])
        self.curves = RocPrPlots()
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
        self.images_label.setWordWrap(True)  # at 1024 px it read "…ring them on the m"
        self.images_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
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
        left_layout.addWidget(self.reliability_holder, 1)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        matrix_title = QLabel("Confusion matrix (rows: true class, columns: predicted; % of the row)")
        matrix_title.setWordWrap(True)  # a narrow window wraps it instead of cutting it
        matrix_title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        right_layout.addWidget(matrix_title)
        right_layout.addWidget(self.matrix)
        top_split = QSplitter(Qt.Orientation.Horizontal)
        top_split.addWidget(left)
        top_split.addWidget(right)
        self.curves.setMinimumWidth(210)  # the ROC and precision-recall plots stay readable beside the table and matrix
        top_split.addWidget(self.curves)
        top_split.setChildrenCollapsible(False)
        top_split.setStretchFactor(0, 1)
        top_split.setStretchFactor(1, 3)  # the matrix first: its class names are its column headers
        top_split.setStretchFactor(2, 1)
        images = QWidget()
        images_layout = QVBoxLayout(images)
        images_layout.setContentsMargins(0, 0, 0, 0)
        images_row = QHBoxLayout()
        images_row.addWidget(self.images_label, 1)
        images_row.addWidget(self.map_button)
        images_row.addWidget(self.mistakes_button)
        images_layout.addLayout(images_row)
        images_layout.addWidget(self.thumb_view)
        results_split = QSplitter(Qt.Orientation.Vertical, self)
        results_split.addWidget(top_split)
        results_split.addWidget(images)
        results_split.setStretchFactor(0, 3)
        results_split.setStretchFactor(1, 2)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(results_split)

    def set_results(self, results: dict[str, EvaluationResult]) -> None:
        """Show a new evaluation (the split chooser lists its splits) and share its predictions with the map."""
        self.results = dict(results)
        self.split_combo.blockSignals(True)
        self.split_combo.clear()
        for split in self.results:
            self.split_combo.addItem(SPLIT_TITLES.get(split, split), split)
        self.split_combo.blockSignals(False)
        self._share_predictions()
        if self.results:
            self.show_split(next(iter(self.results)))
        else:  # another model: nothing of the last evaluation stays on screen
            self.current_split = ""
            self.class_table.setRowCount(0)
            self.matrix.set_matrix(np.zeros((0, 0), np.int64), [])
            self._plot_reliability(None)
            self._show_images([], "")
            self.map_button.setEnabled(False)

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
        areas = {c.name: c for c in m.curves}
        for row, r in enumerate(m.per_class):
            c = areas.get(r.name)
            auc = "—" if c is None or c.roc_auc is None else f"{c.roc_auc:.3f}"
            ap = "—" if c is None or c.average_precision is None else f"{c.average_precision:.3f}"
            values = [r.name, f"{r.precision:.3f}", f"{r.recall:.3f}", f"{r.f1:.3f}", str(r.support), auc, ap]
            for col, text in enumerate(values):
                item = QTableWidgetItem(text)
                if col:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if col == 1 and r.predicted == 0:
                    item.setToolTip("never predicted: precision is 0 by convention")
                self.class_table.setItem(row, col, item)
        table = self.class_table
        fit = table.horizontalHeader().height() + sum(table.rowHeight(r) for r in range(table.rowCount())) + 2 * table.frameWidth() + 2
        fit += table.horizontalScrollBar().sizeHint().height()  # a narrow window scrolls the columns sideways
        table.setMaximumHeight(max(80, min(fit, 320)))
        table.setMinimumHeight(min(fit, 200))  # every class of a small dataset in view (at 1024x680 it showed one and a half)
        # every column in view: at 1024 px the class column took the whole width and the metrics were scrolled away
        table.resizeColumnsToContents()
        header = table.horizontalHeader()
        wide = header.length() + 2 * table.frameWidth() + (table.verticalScrollBar().sizeHint().width() if fit > 200 else 0) + 2
        table.setMinimumWidth(min(wide, 420))
        self.matrix.set_matrix(m.confusion, m.class_names)
        self._plot_reliability(m.calibration)
        self.curves.set_curves(m.curves)
        self._show_images([], "Click a confusion-matrix cell to see its images and ring them on the map.")
        self.map_button.setEnabled(False)

    @property
    def reliability(self):
        """The reliability plot (built now if it was not shown yet)."""
        return self.reliability_holder.widget()

    def _plot_reliability(self, cal: Calibration | None) -> None:
        self.reliability_holder.render(lambda plot: _draw_reliability(plot, cal))

    @property
    def result(self) -> EvaluationResult | None:
        """The :class:`~tlstudio.evaluation.EvaluationResult` on display, or None."""
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
        """List the split's wrongly classified images, the most confident first."""
        result = self.result
        if result is None:
            return
        rows = result.mistakes(limit)
        self._show_images(rows, f"The {len(rows)} most confident mistakes across all classes")
        map_link(self.state).highlight([r.path for r in rows], "the most confident mistakes")
        self.map_button.setEnabled(bool(rows))

    def _show_images(self, rows: list[ImagePrediction], text: str) -> None:
        self.shown_images = list(rows)
        names = self.result.class_names if self.result is not None else ()
        labels = [f"{r.confidence:.0%} {names[r.pred]}" for r in rows]
        tips = [f"{r.path}\ntrue: {names[r.true]}\npredicted: {names[r.pred]} ({r.confidence:.1%})" for r in rows]
        self.thumbs.set_paths([r.path for r in rows], labels, tips)
        self.images_label.setText(text)


def _reliability_plot():
    import pyqtgraph as pg

    plot = pg.PlotWidget(background="w")
    plot.setObjectName("ReliabilityPlot")
    plot.setMinimumHeight(160)
    plot.setLabel("bottom", "confidence")
    plot.setLabel("left", "accuracy")
    plot.setXRange(0, 1, padding=0.02)
    plot.setYRange(0, 1, padding=0.02)
    plot.setMouseEnabled(x=False, y=False)
    plot.setToolTip(
        "Reliability curve: accuracy of the images in each confidence bin. A calibrated model follows the diagonal; "
        "ECE is the image-weighted mean gap."
    )
    return plot


def _draw_reliability(plot, cal) -> None:
    """The diagonal, and the bins of ``cal`` (None: the diagonal only)."""
    import pyqtgraph as pg

    plot.clear()
    plot.plot([0, 1], [0, 1], pen=pg.mkPen("#888", width=1, style=Qt.PenStyle.DashLine))
    if cal is None:
        plot.setTitle(None)
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
