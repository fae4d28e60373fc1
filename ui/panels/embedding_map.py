"""The embedding map: every image as one point of a 2D projection of its backbone features.

The engine's ``"embed"`` job (:mod:`tlstudio.jobs.embed`) returns the
coordinates; this widget draws them with **one** pyqtgraph
``ScatterPlotItem`` (arrays in, no Python object per point), so 10,000
points pan and zoom smoothly. A combo colours the points by class, by
predicted class, by correct/wrong (needs the trained model of the last run)
or by audit flag (needs an audit result: label issue, duplicate, leak,
outlier). Hovering a point shows its thumbnail and path.

**Selecting.** Clicking a point selects it; the "Lasso" toggle (or Shift with
a left drag) draws a free-hand polygon and selects every point inside it
(:mod:`ui.widgets.lasso`: a NumPy point-in-polygon test, milliseconds at
10,000 points). The selection is ringed in black on a second scatter item
and :attr:`EmbeddingMap.images_selected` carries its paths; Esc or "Clear"
drops it; "Show images" opens the selection with its Grad-CAM.

**From the Evaluate page** (through :func:`ui.map_link.map_link`, never by
importing the page): clicking a confusion-matrix cell rings that cell's
images here, and the evaluation's predictions colour the map by predicted
class and by correct/wrong when the map was computed without a model.
"""

from __future__ import annotations

import html
import logging
import os
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, QUrl, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QToolButton, QToolTip, QVBoxLayout, QWidget

from tlstudio.api.audit import AuditResult  # dataclasses only
from tlstudio.api.embed import EmbedConfig, EmbedResult  # config dataclasses only: no TensorFlow
from ui.engine import engine
from ui.map_link import map_link
from ui.state import AppState
from ui.widgets.job_controls import JobControls
from ui.widgets.lazy_plot import LazyPlot, build_on_look, settle
from ui.widgets.lasso import LassoViewBox, points_in_polygon

logger = logging.getLogger(__name__)

BUSY_KEY = "embed"
COLOUR_MODES = ("Class", "Predicted class", "Correct / wrong", "Audit flag")
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")
UNKNOWN = "#9a9a9a"
FLAG_COLOURS = {"none": "#c8c8c8", "label issue": "#e15759", "duplicate": "#f28e2b", "leak": "#b000b0", "outlier": "#4e79a7"}
CORRECT_COLOURS = {"correct": "#59a14f", "wrong": "#e15759", "no prediction": UNKNOWN}
SELECTION_COLOUR = "#1b1f23"


def _same_folder(a: str, b: str) -> bool:
    return bool(a) and bool(b) and os.path.realpath(a) == os.path.realpath(b)


def audit_flags(paths: tuple[str, ...], audit: AuditResult | None) -> list[str]:
    """The audit flag of every path: ``"leak"`` > ``"label issue"`` > ``"duplicate"`` > ``"outlier"`` > ``"none"``."""
    flags: dict[str, str] = {}
    if audit is not None:
        for o in audit.outliers:
            flags[o.path] = "outlier"
        for g in audit.duplicates:
            for p in g.paths:
                flags[p] = "duplicate"
        for i in audit.label_issues:
            flags[i.path] = "label issue"
        for g in audit.duplicates:
            if g.cross_split:
                for p in g.paths:
                    flags[p] = "leak"
    return [flags.get(p, "none") for p in paths]


class EmbeddingMap(QWidget):
    """A "Compute map" control, a colour-mode combo, a legend line and the scatter plot.

    Args:
        state: The shared :class:`~ui.state.AppState`.
        parent: Parent widget.

    Attributes:
        result: The last :class:`~tlstudio.jobs.embed.EmbedResult` shown.
        audit: The last audit result (for the "Audit flag" colours), or None.
        open_images: Show a new selection in the Grad-CAM gallery (tests turn it off).
        selected: Indices of the selected points.

    Signals:
        point_clicked(str): the path of a clicked point.
        images_selected(list): the paths of a new selection (a clicked point or a finished lasso).
    """

    point_clicked = Signal(str)
    images_selected = Signal(list)

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.result: EmbedResult | None = None
        self.audit: AuditResult | None = None
        self.open_images = True
        self._brush_index = np.zeros(0, np.int64)
        self._brush_table: list[QBrush] = []
        self.selected = np.zeros(0, np.int64)
        self._gallery = None

        self.controls = JobControls("Compute map", "Project every image's backbone features to 2D (PCA, then t-SNE); "
                                    "uses the Model page's backbone and the last run's model for predictions")
        self.colour_combo = QComboBox()
        self.colour_combo.addItems(COLOUR_MODES)
        self.colour_combo.setToolTip("Colour the points by class, by the model's prediction, by correct/wrong, or by audit finding")
        self.colour_combo.currentIndexChanged.connect(lambda _i: self.recolour())
        self.legend = QLabel("")
        self.legend.setObjectName("Hint")
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        self.lasso_button = QToolButton()
        self.lasso_button.setText("Lasso")
        self.lasso_button.setCheckable(True)
        self.lasso_button.setToolTip("Draw around points with the mouse to select them (Shift-drag does the same "
                                     "without this toggle); the selected images open with their Grad-CAM")
        self.selection_label = QLabel("")
        self.selection_label.setObjectName("MapSelection")
        self.selection_label.setWordWrap(True)
        self.selection_label.setVisible(False)  # shown with a selection's text
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Clear the selection (Esc)")
        self.clear_button.clicked.connect(self.clear_selection)
        self.clear_button.setEnabled(False)
        self.open_button = QPushButton("Show images")
        self.open_button.setToolTip("Show the selected images with their Grad-CAM")
        self.open_button.clicked.connect(self.open_selection)
        self.open_button.setEnabled(False)
        row = QHBoxLayout()
        row.addWidget(QLabel("Colour by"))
        row.addWidget(self.colour_combo)
        row.addWidget(self.lasso_button)
        row.addWidget(self.open_button)
        row.addWidget(self.clear_button)
        row.addStretch(1)

        self.lasso_button.toggled.connect(self._on_lasso_toggled)
        self.holder = LazyPlot(self._make_plot)  # built when the Map tab is first shown

        layout = QVBoxLayout(self)
        layout.addWidget(self.controls)
        layout.addLayout(row)
        layout.addWidget(self.selection_label)
        layout.addWidget(self.legend)
        layout.addWidget(self.holder, 1)
        settle([self.holder])

        self.link = map_link(state)
        self.link.highlight_changed.connect(self._on_highlight)
        self.link.predictions_changed.connect(self._on_predictions)
        self._index: dict[str, int] = {}
        if self.link.current is not None:
            self._on_highlight(self.link.current)

        state.model_path_changed.connect(self._on_model_path)
        state.data_changed.connect(self._on_data_changed)
        self._dropped_from = ""  # the model whose predictions were dropped from the map (said in the legend)
        self._running: EmbedConfig | None = None
        from ui.project_controller import follow_project

        controller = follow_project(state, self.show_project)

        self.runner = engine().task(self)
        self.controls.attach(self.runner)
        self.controls.run_button.clicked.connect(self.compute)
        self.runner.result.connect(self._on_result)
        self.runner.error.connect(self._on_error)
        self.runner.finished.connect(lambda: self.state.end_busy(BUSY_KEY))
        if controller is not None and controller.project.map is not None:  # built after the project opened
            self.show_project(controller.project)

    def _make_plot(self) -> pg.PlotWidget:
        """The map's plot, with the points, colours and selection known so far."""
        self.view_box = LassoViewBox()
        self.view_box.lasso_mode = self.lasso_button.isChecked()
        self.view_box.sigLassoFinished.connect(self.select_polygon)
        plot = pg.PlotWidget(viewBox=self.view_box)
        plot.setBackground("w")
        plot.hideAxis("left")
        plot.hideAxis("bottom")
        plot.setAspectLocked(True)
        self.scatter = pg.ScatterPlotItem(size=7, pen=None, hoverable=True, hoverSize=11, tip=None)
        self.scatter.setToolTip("")
        plot.addItem(self.scatter)
        self.scatter.sigClicked.connect(self._on_clicked)
        self.scatter.sigHovered.connect(self._on_hovered)
        # The selection: rings over the selected points, on an item of its own that takes no mouse events.
        self.highlight = pg.ScatterPlotItem(size=12, pen=pg.mkPen(SELECTION_COLOUR, width=2), brush=None)
        self.highlight.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.highlight.setAcceptHoverEvents(False)
        self.highlight.setZValue(10)
        plot.addItem(self.highlight)
        if self.lasso_button.isChecked():
            plot.setCursor(Qt.CursorShape.CrossCursor)
        return plot

    def _render_all(self, plot: pg.PlotWidget) -> None:
        """Draw the current map (points, colours, selection) on the just-built plot."""
        r = self.result
        if r is None:
            self.scatter.setData(pos=np.zeros((0, 2)))
        else:
            self.scatter.setData(pos=np.asarray(r.coords, np.float64), data=np.arange(len(r.paths)))
            if len(self._brush_index) == len(r.paths) and self._brush_table:
                self.scatter.setBrush([self._brush_table[i] for i in self._brush_index])
        self._draw_selection()
        if r is not None:
            plot.autoRange()

    @property
    def plot(self) -> pg.PlotWidget:
        return self.holder.widget()

    def __getattr__(self, name: str):  # the plot's items: looking at one builds the plot
        return build_on_look(self, name, dict.fromkeys(("scatter", "highlight", "view_box"), "holder"))

    # ------------------------------------------------------------------ API

    def embed_config(self) -> EmbedConfig:
        """The map of the current dataset with the Model page's backbone; the last run's model predicts."""
        model_path = self.state.model_path or ""
        return EmbedConfig(data=self.state.data_config, model=self.state.model_config, model_path=model_path,
                           precision=self.state.train_config.precision)

    def compute(self) -> bool:
        """Submit the ``"embed"`` job; False (and a status line saying why) when it cannot start."""
        if self.runner.is_running():
            return False
        config = self.embed_config()
        if not config.data.root:
            self.controls.status.setText("Open a dataset folder first: the map shows its images. Received: no dataset folder")
            return False
        self.controls.status.setText(f"Mapping {config.data.root} with {config.model.backbone} features…")
        self._running = config
        self.state.begin_busy(BUSY_KEY)
        self.runner.start("embed", config)
        return True

    def set_audit(self, audit: AuditResult | None) -> None:
        """Keep the audit result for the "Audit flag" colours."""
        self.audit = audit
        if self.result is not None and self.colour_combo.currentText() == "Audit flag":
            self.recolour()

    def show_result(self, result: EmbedResult) -> None:
        """Draw ``result``: one ``setData`` call on one scatter item."""
        self.result = result
        self._dropped_from = ""
        if self.holder.built:
            self.scatter.setData(pos=np.asarray(result.coords, np.float64), data=np.arange(len(result.paths)))
        else:
            self.holder.render(self._render_all)
        self._index = {p: i for i, p in enumerate(result.paths)}
        self.clear_selection()
        if self.link.current is not None:
            self._on_highlight(self.link.current)
        self.recolour()
        if self.holder.built:
            self.plot.autoRange()
        method = {"tsne": "t-SNE", "pca": "PCA"}.get(result.method, result.method)
        self.controls.status.setText(
            f"{len(result.paths)} images, {method} of the {result.cut} features"
            + (f", {result.seconds:.1f} s" if result.seconds else "")
            + ". Hover a point for its image; click one, or lasso several, to see them with their Grad-CAM."
            + (" No predictions: the model was trained on other classes (the legend of the prediction colours says which)."
               if result.prediction_note else "")
        )

    def colour_keys(self) -> list[str]:
        """The colour group of every point under the current mode (what the legend names)."""
        r = self.result
        if r is None:
            return []
        mode = self.colour_combo.currentText()
        names = r.class_names
        if mode == "Class":
            return [names[int(i)] for i in r.labels]
        evaluated = self.link.predictions
        if mode == "Predicted class":
            if not len(r.predicted_names):
                found = [evaluated.get(p) for p in r.paths]
                return [e.predicted if e is not None else "no prediction" for e in found]
            return [n or "no prediction" for n in r.predicted_names]
        if mode == "Correct / wrong":
            if not len(r.predicted):
                found = [evaluated.get(p) for p in r.paths]
                return ["no prediction" if e is None else ("correct" if e.correct else "wrong") for e in found]
            return ["no prediction" if p < 0 and not n else ("correct" if p == t else "wrong")
                    for p, t, n in zip(r.predicted.tolist(), r.labels.tolist(), r.predicted_names)]
        return audit_flags(r.paths, self.audit)

    def recolour(self) -> None:
        """Set the brushes of every point for the current mode (one brush per group, shared)."""
        keys = self.colour_keys()
        if not keys:
            return
        mode = self.colour_combo.currentText()
        order = self._groups(mode, keys)
        colours = {key: self._colour(mode, key, i) for i, key in enumerate(order)}
        brushes = {key: QBrush(QColor(colour)) for key, colour in colours.items()}
        index = {key: i for i, key in enumerate(order)}
        self._brush_index = np.array([index[k] for k in keys], np.int64)
        self._brush_table = [brushes[k] for k in order]
        if self.holder.built:
            self.scatter.setBrush([self._brush_table[i] for i in self._brush_index])
        if len(self.selected):
            self._draw_selection()
        counts = {k: int((self._brush_index == index[k]).sum()) for k in order}
        text = " ".join(f"<span style='color:{colours[k]}'>●</span> {html.escape(k)} ({counts[k]})" for k in order if counts[k])
        if mode in ("Predicted class", "Correct / wrong") and counts.get("no prediction") == len(keys):
            text += " — " + html.escape(self._why_no_predictions())
        elif mode == "Audit flag" and self.audit is None:
            text += " — no audit yet: run it on the Audit tab."
        self.legend.setText(text)

    # ------------------------------------------------------------ selection

    def select_polygon(self, polygon: np.ndarray) -> np.ndarray:
        """Select the points inside ``polygon`` (view coordinates) and emit their paths; returns their indices."""
        if self.result is None:
            return np.zeros(0, np.int64)
        inside = np.flatnonzero(points_in_polygon(np.asarray(self.result.coords, np.float64), polygon))
        self.select(inside, "in the lasso")
        if len(inside):
            self._opened(inside, f"{len(inside)} image{'s' if len(inside) != 1 else ''} in the lasso")
        return inside

    def select(self, indices, how: str = "selected") -> None:
        """Ring the points ``indices`` and say how many there are (``how``: "in the lasso", a cell's name…)."""
        if self.result is None:
            return
        idx = np.unique(np.asarray(indices, np.int64).reshape(-1))
        self.selected = idx
        self._draw_selection()
        n = len(idx)
        self._say_selection(f"{n} image{'s' if n != 1 else ''} {how}" if n or how != "selected" else "")
        self.clear_button.setEnabled(bool(n))
        self.open_button.setEnabled(bool(n))

    def _say_selection(self, text: str) -> None:
        self.selection_label.setText(text)
        self.selection_label.setVisible(bool(text))

    def selected_paths(self) -> list[str]:
        """The paths of the selected points."""
        if self.result is None:
            return []
        return [self.result.paths[int(i)] for i in self.selected]

    def clear_selection(self) -> None:
        """Drop the selection (the rings go)."""
        self.selected = np.zeros(0, np.int64)
        self._draw_selection()
        self._say_selection("")
        self.clear_button.setEnabled(False)
        self.open_button.setEnabled(False)

    def open_selection(self) -> None:
        """Show the selected images with their Grad-CAM."""
        if self.result is not None and len(self.selected):
            n = len(self.selected)
            self.gallery().show_images([self.result.paths[int(i)] for i in self.selected],
                                       [self.caption(int(i)) for i in self.selected], self.selection_label.text() or f"{n} images")

    def indices_of(self, paths) -> tuple[np.ndarray, int]:
        """The map indices of ``paths`` and how many of them are not on the map (matched as given, then resolved)."""
        found, missing, resolved = [], 0, None
        for p in paths:
            i = self._index.get(p)
            if i is None:
                if resolved is None:
                    resolved = {os.path.realpath(q): j for q, j in self._index.items()}
                i = resolved.get(os.path.realpath(p))
            if i is None:
                missing += 1
            else:
                found.append(i)
        return np.asarray(found, np.int64), missing

    def _on_highlight(self, highlight) -> None:
        if highlight is None:
            self.clear_selection()
            return
        if self.result is None:  # applied when a map is drawn
            self._say_selection(f"Compute the map to see the {len(highlight.paths)} images of {highlight.title}")
            return
        indices, missing = self.indices_of(highlight.paths)
        self.select(indices, f"of {highlight.title}" + (f" ({missing} not on the map)" if missing else ""))
        if not len(indices) and highlight.paths:
            self._say_selection(f"None of the {len(highlight.paths)} images of {highlight.title} is on the map")

    def _why_no_predictions(self) -> str:
        r = self.result
        if r is not None and r.prediction_note:
            return r.prediction_note[:1].upper() + r.prediction_note[1:] + "."
        if self._dropped_from:
            return (f"The predictions of {self._dropped_from} were dropped: the current model is another one. "
                    "Evaluate it, or compute the map again.")
        return "No predictions yet: evaluate a trained model on the Evaluate page, or compute the map again after training."

    def _on_model_path(self, path: str) -> None:
        """Another model is current: predictions the map got from an earlier one are no longer shown."""
        r = self.result
        if r is None or not r.model_path or r.model_path == path:
            return
        import dataclasses

        self.result = dataclasses.replace(r, predicted=np.zeros(0, np.int64), predicted_names=(), model_path="")
        self._dropped_from = r.model_path
        self.recolour()

    def _on_data_changed(self, prepared) -> None:
        """Another dataset (or none) is open: a map of the previous one is cleared, saying so."""
        r = self.result
        if r is None:
            return
        root = getattr(prepared, "root", "") or self.state.data_config.root
        if prepared is not None and _same_folder(root, r.root or root):
            return
        if prepared is None and r.root and _same_folder(self.state.data_config.root, r.root) and not self.state.dataset_refused:
            return
        self.clear_map(f"The map showed {r.root or 'another dataset'}; press Compute map to map "
                       f"{self.state.data_config.root or 'the dataset open now'}.")

    def clear_map(self, message: str = "") -> None:
        """Remove every point (the map of another dataset) and show ``message`` on the status line."""
        self.result = None
        self._index = {}
        self.clear_selection()
        if self.holder.built:
            self.scatter.setData(pos=np.zeros((0, 2)))
        else:
            self.holder.render(self._render_all)
        self.legend.setText("")
        self.controls.status.setText(message)

    def _on_predictions(self, _predictions) -> None:
        if self.result is not None and self.colour_combo.currentText() in ("Predicted class", "Correct / wrong"):
            self.recolour()

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.key() == Qt.Key.Key_Escape and len(self.selected):
            self.clear_selection()
            return
        super().keyPressEvent(event)

    def _draw_selection(self) -> None:
        """Selected points drawn again on top in their colours with a dark ring; the others fade."""
        if not self.holder.built:  # drawn with the points when the plot is built
            return
        idx = self.selected
        if self.result is None or not len(idx):
            self.highlight.setData(pos=np.zeros((0, 2)))
            self.scatter.setOpacity(1.0)
            return
        coords = np.asarray(self.result.coords, np.float64)[idx]
        brushes = self.scatter.data["brush"][idx] if len(self.scatter.data) else None
        few = len(idx) <= 20
        self.highlight.setData(pos=coords, size=12 if few else 8, pen=pg.mkPen(SELECTION_COLOUR, width=2 if few else 0.8),
                               brush=list(brushes) if brushes is not None else None)
        self.scatter.setOpacity(0.3)

    def _on_lasso_toggled(self, on: bool) -> None:
        if not self.holder.built:  # the plot takes the mode when it is built
            return
        self.view_box.lasso_mode = on
        self.plot.setCursor(Qt.CursorShape.CrossCursor if on else Qt.CursorShape.ArrowCursor)

    def brush_colours(self) -> list[str]:
        """The fill colour (``#rrggbb``) of every point, as drawn."""
        return [QColor(b.color()).name() for b in self.scatter.data["brush"]]

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Cancel a running map job and the gallery's Grad-CAM jobs (their threads end when the engine answers)."""
        self.runner.cancel()
        if self._gallery is not None:
            self._gallery.shutdown(timeout_ms)

    # ------------------------------------------------------------ internals

    def _groups(self, mode: str, keys: list[str]) -> list[str]:
        if mode == "Correct / wrong":
            return list(CORRECT_COLOURS)
        if mode == "Audit flag":
            return list(FLAG_COLOURS)
        names = list(self.result.class_names)
        return names + sorted({k for k in keys if k not in names})

    def _colour(self, mode: str, key: str, i: int) -> str:
        if mode == "Correct / wrong":
            return CORRECT_COLOURS[key]
        if mode == "Audit flag":
            return FLAG_COLOURS[key]
        if key in self.result.class_names:
            return PALETTE[self.result.class_names.index(key) % len(PALETTE)]
        return UNKNOWN

    def _on_clicked(self, _item, points, _event=None) -> None:
        if not len(points) or self.result is None:
            return
        index = int(points[0].data())
        path = self.result.paths[index]
        self.select([index], "clicked")
        self.point_clicked.emit(path)
        self._opened([index], Path(path).name)

    def caption(self, i: int) -> str:
        """What the map knows of point ``i``: class, split and the model's prediction."""
        r = self.result
        text = f"{r.class_names[int(r.labels[i])]} · {r.splits[i]}"
        predicted = r.predicted_names[i] if len(r.predicted_names) else ""
        return text + (f" · predicted {predicted}" if predicted else "")

    def gallery(self):
        """The window of selected images with their Grad-CAM (:mod:`ui.panels.gradcam_gallery`), made on first use."""
        if self._gallery is None:
            from ui.panels.gradcam_gallery import GradCamGallery

            self._gallery = GradCamGallery(self.state, self)
        return self._gallery

    def _opened(self, indices, title: str) -> None:
        """A new selection: emit its paths and, unless turned off, show the images with their Grad-CAM."""
        paths = [self.result.paths[int(i)] for i in indices]
        self.images_selected.emit(paths)
        if self.open_images:
            self.gallery().show_images(paths, [self.caption(int(i)) for i in indices], title)

    def _on_hovered(self, _item, points, event=None) -> None:
        if not len(points) or self.result is None:
            QToolTip.hideText()
            return
        i = int(points[0].data())
        r = self.result
        label = r.class_names[int(r.labels[i])]
        predicted = f"<br>predicted {html.escape(r.predicted_names[i])}" if len(r.predicted_names) and r.predicted_names[i] else ""
        text = (f"<img src='{QUrl.fromLocalFile(r.paths[i]).toString()}' width='128'><br>"
                f"<b>{html.escape(label)}</b> · {html.escape(r.splits[i])}{predicted}<br>{html.escape(Path(r.paths[i]).name)}")
        pos = event.screenPos() if event is not None and hasattr(event, "screenPos") else QPointF(0, 0)
        QToolTip.showText(pos.toPoint(), text, self.plot)

    def _on_result(self, result: EmbedResult) -> None:
        if result.cancelled:
            self.controls.status.setText("Cancelled.")
            return
        self.show_result(result)
        if self.controller is not None and self._running is not None:
            self.controller.record_map(self._running, result)

    @property
    def controller(self):
        """The state's project controller, or None (a map on its own)."""
        from ui.project_controller import existing_project_controller

        return existing_project_controller(self.state)

    def show_project(self, project) -> None:
        """Show ``project``'s last map (saying when it is stale), or none: nothing of another project stays."""
        if self.runner.is_running():
            return
        record = getattr(project, "map", None)
        if record is None:
            self.clear_map("")
            return
        self.show_result(record.result)
        self._on_model_path(self.state.model_path)  # predictions of a model that is not the project's current one go
        when = record.ran[:16].replace("T", " ")
        stale = record.stale_reason(self.state.data_config.root, self.controller.dataset_fingerprint() if self.controller else "")
        self.controls.status.setText(
            f"The project's last map ({len(record.result.paths)} images, {when} UTC)"
            + (f"; it may be stale: {stale}. Press Compute map to update it." if stale else ".")
        )

    def _on_error(self, message: str, details: str) -> None:
        self.controls.status.setText(f"The map failed: {message}")
        self.state.report_error(f"The embedding map failed: {message}", details)
