"""ui.map_link: what the Evaluate page tells the Data page's embedding map, kept for a map built later."""

from __future__ import annotations

import os

import numpy as np

from tlstudio.api.embed import EmbedResult
from ui.map_link import Prediction, map_link
from ui.state import AppState
from ui.panels.embedding_map import EmbeddingMap


def _result(root) -> EmbedResult:
    paths = tuple(str(root / c / f"{i}.jpg") for c in ("ants", "bees") for i in range(3))
    return EmbedResult(coords=np.arange(12, dtype=np.float32).reshape(6, 2) / 12, labels=np.array([0, 0, 0, 1, 1, 1]),
                       paths=paths, splits=("train",) * 6, class_names=("ants", "bees"))


def test_one_link_per_state_and_a_highlight_before_the_map_is_drawn(qtbot, tmp_path):
    state = AppState()
    assert map_link(state) is map_link(state) and map_link(AppState()) is not map_link(state)
    result = _result(tmp_path)
    # given through a symlinked folder: matched by the resolved path
    os.symlink(tmp_path, tmp_path.parent / (tmp_path.name + "-link"))
    linked = str(tmp_path.parent / (tmp_path.name + "-link") / "bees" / "1.jpg")
    map_link(state).highlight([result.paths[0], linked, "/elsewhere/x.jpg"], "true ants → predicted bees")
    widget = EmbeddingMap(state)
    widget.open_images = False
    qtbot.addWidget(widget)
    assert "Compute the map to see the 3 images" in widget.selection_label.text()
    widget.show_result(result)
    assert widget.selected.tolist() == [0, 4]
    assert widget.selection_label.text() == "2 images of true ants → predicted bees (1 not on the map)"
    map_link(state).clear_highlight()
    assert not len(widget.selected)
    map_link(state).set_predictions({result.paths[0]: Prediction("ants", "bees", "val")})
    widget.colour_combo.setCurrentText("Predicted class")
    assert "bees (1)" in widget.legend.text() and "no prediction (5)" in widget.legend.text()
    widget.shutdown()


def test_show_on_map_shows_the_data_pages_map_tab(qtbot):
    from ui.pages.data_page import DataPage

    state = AppState()
    page = DataPage(state)
    qtbot.addWidget(page)
    asked = []
    state.page_requested.connect(asked.append)
    page.tabs.setCurrentIndex(0)
    map_link(state).request_show()
    assert asked == ["data"] and page.tabs.currentWidget() is page.embedding_map
    page.shutdown()
    from ui.project_controller import project_controller

    project_controller(state)._autosave_timer.stop()  # the Audit tab reads the project: leave no autosave behind
    project_controller(state).discard_own_autosave()


def test_the_legend_says_how_to_get_predictions_and_audit_flags(qtbot, tmp_path):
    widget = EmbeddingMap(AppState())
    widget.open_images = False
    qtbot.addWidget(widget)
    widget.show_result(_result(tmp_path))
    widget.colour_combo.setCurrentText("Correct / wrong")
    assert "no prediction (6)" in widget.legend.text() and "evaluate a trained model on the Evaluate page" in widget.legend.text()
    widget.colour_combo.setCurrentText("Audit flag")
    assert "no audit yet" in widget.legend.text()
    widget.colour_combo.setCurrentText("Class")
    assert "—" not in widget.legend.text()
    widget.shutdown()
