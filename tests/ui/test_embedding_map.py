"""The embedding map: 10,000 points on one scatter item, colour modes, click reports the path, real 'embed' job."""

from __future__ import annotations

import pytest

import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from tlstudio.api.audit import AuditResult, DuplicateGroup, Imbalance, LabelIssue, Outlier
from tlstudio.api.embed import EmbedResult
from ui.state import AppState
from ui.panels.embedding_map import FLAG_COLOURS, EmbeddingMap


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
    assert items == [widget.scatter, widget.highlight]  # the points and the selection rings: no per-point items
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


@pytest.mark.engine
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


# ---------------------------------------------------------------- lasso


def test_points_in_polygon_even_odd():
    from ui.widgets.lasso import points_in_polygon

    square = np.array([[0, 0], [2, 0], [2, 2], [0, 2]], float)
    pts = np.array([[1, 1], [3, 1], [-0.5, 1], [1, 2.5], [1.9, 0.1]], float)
    assert points_in_polygon(pts, square).tolist() == [True, False, False, False, True]
    triangle = np.array([[0, 0], [4, 0], [0, 4]], float)
    assert points_in_polygon(np.array([[1, 1], [3, 3], [0.5, 3.0]]), triangle).tolist() == [True, False, True]
    bow_tie = np.array([[0, 0], [2, 2], [2, 0], [0, 2]], float)  # self-crossing: two lobes, even-odd
    assert points_in_polygon(np.array([[1.8, 1.0], [0.2, 1.0], [1.0, 0.2]]), bow_tie).tolist() == [True, True, False]
    assert not points_in_polygon(pts, square[:2]).any()  # fewer than 3 vertices selects nothing
    try:
        points_in_polygon(np.zeros((3, 3)), square)
    except ValueError as exc:
        assert "Received: shape (3, 3)" in str(exc)
    else:
        raise AssertionError("a [N, 3] array must be refused")


def _drag(widget, view_points, modifiers=Qt.KeyboardModifier.NoModifier):
    """Press, move through and release at ``view_points`` (view coordinates) on the plot's viewport."""
    from PySide6.QtCore import QEvent, QPointF
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    vb = widget.view_box
    viewport = widget.plot.viewport()

    def at(x, y):
        return QPointF(widget.plot.mapFromScene(vb.mapViewToScene(pg.Point(x, y))))

    def send(kind, pos, buttons):
        button = Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseMove else Qt.MouseButton.NoButton
        event = QMouseEvent(kind, pos, viewport.mapToGlobal(pos), button, buttons, modifiers)
        QApplication.sendEvent(viewport, event)

    first = at(*view_points[0])
    send(QEvent.Type.MouseButtonPress, first, Qt.MouseButton.LeftButton)
    for x, y in view_points[1:]:
        time.sleep(0.012)  # pyqtgraph drops moves faster than its mouseRateLimit (100 Hz)
        send(QEvent.Type.MouseMove, at(x, y), Qt.MouseButton.LeftButton)
    send(QEvent.Type.MouseButtonRelease, at(*view_points[-1]), Qt.MouseButton.NoButton)


def _circle(cx, cy, r, n=48):
    t = np.linspace(0, 2 * np.pi, n)
    return [(cx + r * np.cos(a), cy + r * np.sin(a)) for a in t]


def test_lasso_selects_the_points_inside_at_ten_thousand(qtbot):
    from ui.widgets.lasso import points_in_polygon

    widget = _map(qtbot)
    result = _result(10_000)
    widget.show_result(result)
    widget.plot.setXRange(-1, 1, padding=0)
    widget.plot.setYRange(-1, 1, padding=0)
    qtbot.wait(50)
    widget.lasso_button.setChecked(True)
    with qtbot.waitSignal(widget.images_selected, timeout=3000) as blocker:
        _drag(widget, _circle(0.1, -0.1, 0.3))
    coords = np.asarray(result.coords, np.float64)
    inside = np.hypot(coords[:, 0] - 0.1, coords[:, 1] + 0.1) < 0.29
    outside = np.hypot(coords[:, 0] - 0.1, coords[:, 1] + 0.1) > 0.31
    chosen = set(blocker.args[0])
    assert 500 < len(chosen) < 5000
    assert {result.paths[i] for i in np.flatnonzero(inside)} <= chosen  # everything well inside is selected
    assert not chosen & {result.paths[i] for i in np.flatnonzero(outside)}  # nothing well outside is
    assert len(widget.highlight.data) == len(chosen) == len(widget.selected)
    assert f"{len(chosen)} images in the lasso" in widget.selection_label.text()
    assert not widget.view_box.lassoing() and widget.view_box.outline.path().isEmpty()
    # the same test on the polygon directly agrees with the mouse-drawn one
    direct = points_in_polygon(coords, np.array(_circle(0.1, -0.1, 0.3)))
    assert abs(int(direct.sum()) - len(chosen)) < 0.02 * len(chosen)
    widget.clear_selection()
    assert len(widget.highlight.data) == 0 and not widget.clear_button.isEnabled()
    widget.shutdown()


def test_shift_drag_lassos_and_plain_drag_pans(qtbot):
    widget = _map(qtbot)
    widget.show_result(_result(2_000))
    widget.plot.setXRange(-1, 1, padding=0)
    widget.plot.setYRange(-1, 1, padding=0)
    qtbot.wait(50)
    def centre():  # the selection line appearing resizes the plot; only a pan moves the centre
        return [round((lo + hi) / 2, 6) for lo, hi in widget.view_box.viewRange()]

    before = centre()
    with qtbot.waitSignal(widget.images_selected, timeout=3000):
        _drag(widget, _circle(0, 0, 0.4), Qt.KeyboardModifier.ShiftModifier)
    assert len(widget.selected) > 0
    qtbot.wait(20)
    assert centre() == before  # a lasso does not pan
    _drag(widget, [(0, 0), (0.1, 0), (0.2, 0), (0.3, 0)])
    assert centre()[0] < before[0] - 0.1  # without Shift or the toggle, a drag pans (the view follows the mouse)
    assert len(widget.selected) > 0  # and keeps the selection
    widget.shutdown()


# ---------------------------------------------------------------- stale predictions (issue 24)


def _predicted_by(result: EmbedResult, model_path: str, root: str = "/data") -> EmbedResult:
    import dataclasses

    return dataclasses.replace(result, model_path=model_path, root=root)


def test_a_new_model_drops_the_maps_old_predictions_and_says_so(qtbot):
    widget = _map(qtbot)
    widget.state.update_data_config(root="/data")
    widget.state.set_model_path("/runs/old/model.keras")
    widget.show_result(_predicted_by(_result(200), "/runs/old/model.keras"))
    widget.colour_combo.setCurrentText("Correct / wrong")
    assert "wrong (" in widget.legend.text()
    widget.state.set_model_path("/runs/new/model.keras")  # trained again: the old model's verdicts go
    assert "wrong (" not in widget.legend.text() and "no prediction (200)" in widget.legend.text()
    assert "/runs/old" in widget.legend.text()  # and the legend says whose they were
    widget.shutdown()


def test_the_evaluations_predictions_belong_to_their_model(qtbot):
    from ui.map_link import Prediction, map_link

    widget = _map(qtbot)
    widget.state.update_data_config(root="/data")
    widget.state.set_model_path("/runs/a/model.keras")
    result = _result(50, with_predictions=False)
    widget.show_result(result)
    link = map_link(widget.state)
    link.set_predictions({p: Prediction("ants", "bees") for p in result.paths})
    widget.colour_combo.setCurrentText("Correct / wrong")
    assert "wrong (50)" in widget.legend.text()
    widget.state.set_model_path("/runs/b/model.keras")  # another model: the evaluation of the old one is gone
    assert link.predictions == {} and "wrong (" not in widget.legend.text()
    widget.shutdown()


def test_a_model_of_other_classes_leaves_the_map_without_predictions_and_says_why(qtbot):
    import dataclasses

    widget = _map(qtbot)
    note = "the model's classes (circle, square, triangle) are not this dataset's (ants, bees, wasps)"
    widget.show_result(dataclasses.replace(_result(30, with_predictions=False), prediction_note=note))
    widget.colour_combo.setCurrentText("Predicted class")
    assert "no prediction (30)" in widget.legend.text() and "circle, square, triangle" in widget.legend.text()
    assert "triangle (" not in widget.legend.text()
    widget.shutdown()


def test_another_dataset_clears_the_map(qtbot, tiny_dataset):
    widget = _map(qtbot)
    widget.state.update_data_config(root="/data")
    widget.show_result(_predicted_by(_result(40), ""))
    widget.state.update_data_config(root=str(tiny_dataset))
    widget.state.set_prepared_data(None)
    assert widget.result is None and len(widget.scatter.data) == 0
    assert "/data" in widget.controls.status.text() and "Compute map" in widget.controls.status.text()
    widget.shutdown()


def test_a_map_built_before_the_project_controller_still_follows_the_project(qtbot):
    """The walk of issue 24: the Map tab is built before the controller exists, and kept the old project's map."""
    from ui.project_controller import project_controller

    widget = _map(qtbot)
    controller = project_controller(widget.state)  # made after the map, as in the app
    try:
        widget.show_result(_result(20))
        controller.new_project()
        assert widget.result is None and len(widget.scatter.data) == 0
    finally:
        controller.discard_own_autosave()
