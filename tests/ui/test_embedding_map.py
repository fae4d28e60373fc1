"""The embedding map: 10,000 points on one scatter item, colour modes, click reports the path, real 'embed' job."""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from tlstudio.jobs.audit import AuditResult, DuplicateGroup, Imbalance, LabelIssue, Outlier
from tlstudio.jobs.embed import EmbedResult
from ui.state import AppState
from ui.widgets.embedding_map import FLAG_COLOURS, EmbeddingMap


def _result(n: int, with_predictions: bool = True) -> EmbedResult:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, n)
    predicted = np.where(rng.random(n) < 0.8, labels, (labels + 1) % 3) if with_predictions else np.zeros(0, np.int64)
    names = ("ants", "bees", "wasps")
    return EmbedResult(
        coords=rng.normal(0, 0.3, (n, 2)).astype(np.float32), labels=labels,
        paths=tuple(f"/data/{names[l]}/{i:05d}.jpg" for i, l in enumerate(labels)),
        splits=tuple("val" if i % 5 == 0 else "train" for i in range(n)), class_names=names,
        predicted=predicted, predicted_names=tuple(names[p] for p in predicted) if with_predictions else (),
        method="tsne", cut="block5_pool",
    )


def _map(qtbot) -> EmbeddingMap:
    widget = EmbeddingMap(AppState())
    widget.open_images = False
    qtbot.addWidget(widget)
    widget.resize(1024, 680)
    widget.show()
    return widget


def test_ten_thousand_points_are_one_scatter_item(qtbot):
    widget = _map(qtbot)
    result = _result(10_000)
    start = time.perf_counter()
    widget.show_result(result)
    widget.plot.repaint()
    seconds = time.perf_counter() - start
    items = [i for i in widget.plot.getPlotItem().items if isinstance(i, pg.GraphicsObject)]
    assert items == [widget.scatter]  # no per-point items
    assert len(widget.scatter.data) == 10_000
    assert widget.scatter.childItems() == []
    assert seconds < 5.0, seconds  # generous for a shared 2-core machine; typically well under a second
    widget.shutdown()


def test_colour_modes_change_brushes(qtbot):
    widget = _map(qtbot)
    result = _result(300)
    widget.show_result(result)
    by_class = widget.brush_colours()
    assert len(set(by_class)) == 3
    assert by_class[0] == by_class[next(i for i in range(1, 300) if result.labels[i] == result.labels[0])]
    widget.colour_combo.setCurrentText("Predicted class")
    by_prediction = widget.brush_colours()
    assert by_prediction != by_class and len(set(by_prediction)) == 3
    widget.colour_combo.setCurrentText("Correct / wrong")
    correct = widget.brush_colours()
    wrong = result.predicted != result.labels
    assert len({correct[i] for i in np.flatnonzero(wrong)}) == 1 and len({correct[i] for i in np.flatnonzero(~wrong)}) == 1
    assert correct[int(np.flatnonzero(wrong)[0])] != correct[int(np.flatnonzero(~wrong)[0])]
    assert "wrong (" in widget.legend.text()
    audit = AuditResult(
        duplicates=(DuplicateGroup("exact", (result.paths[1], result.paths[2]), ("train", "val"), True, 1.0),),
        label_issues=(LabelIssue(result.paths[3], "ants", "bees", 0.9),), outliers=(Outlier(result.paths[4], 0.7),),
        imbalance=Imbalance({}, 1.0, ""),
    )
    widget.set_audit(audit)
    widget.colour_combo.setCurrentText("Audit flag")
    flags = widget.brush_colours()
    assert flags[1] == flags[2] == FLAG_COLOURS["leak"]
    assert flags[3] == FLAG_COLOURS["label issue"] and flags[4] == FLAG_COLOURS["outlier"] and flags[5] == FLAG_COLOURS["none"]
    widget.shutdown()


def test_click_on_a_point_reports_its_path(qtbot):
    widget = _map(qtbot)
    result = _result(50)
    widget.show_result(result)
    qtbot.wait(50)
    target = 17
    view = widget.plot.getPlotItem().vb
    # Make sure no other point sits on top of it.
    widget.scatter.setData(pos=np.where(np.arange(50)[:, None] == target, result.coords, result.coords + 5.0), data=np.arange(50))
    widget.plot.setXRange(-2, 2, padding=0)
    widget.plot.setYRange(-2, 2, padding=0)
    qtbot.wait(50)
    scene_pos = view.mapViewToScene(pg.Point(*result.coords[target].astype(float)))
    widget_pos = widget.plot.mapFromScene(scene_pos)
    with qtbot.waitSignal(widget.point_clicked, timeout=3000) as blocker:
        qtbot.mouseClick(widget.plot.viewport(), Qt.MouseButton.LeftButton, pos=widget_pos)
    assert blocker.args == [result.paths[target]]
    widget.shutdown()


def test_map_tab_runs_the_real_embed_job(qtbot, tiny_dataset):
    from dataclasses import replace

    from tlstudio.config import ModelConfig

    state = AppState()
    state.update_data_config(root=str(tiny_dataset.resolve()))
    state.set_model_config(replace(ModelConfig(), backbone="vgg16", weights="none", image_size=32))
    widget = EmbeddingMap(state)
    widget.open_images = False
    qtbot.addWidget(widget)
    assert widget.compute()
    qtbot.waitUntil(lambda: widget.result is not None, timeout=300_000)
    assert len(widget.result.paths) == 24 and len(widget.scatter.data) == 24
    assert "24 images" in widget.controls.status.text()
    widget.shutdown()
