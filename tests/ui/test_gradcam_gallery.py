"""The map's selection window: images alone without a model; with a trained model, each one's prediction and Grad-CAM.

The model is the Evaluate page tests' tiny hand-weighted Keras model (red vs
blue), written by another process: this GUI process never imports Keras.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tlstudio.api.embed import EmbedResult
from ui.state import AppState
from ui.panels.gradcam_gallery import MAX_GRADCAM, NO_MODEL_TEXT, GradCamGallery

from tests.support.red_blue_model import tiny_model as write_tiny_model


def _images(folder, n=4):
    paths = []
    for i in range(n):
        cls = "red" if i % 2 == 0 else "blue"
        path = folder / cls / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (32, 32), (220, 10, 10) if cls == "red" else (10, 10, 220)).save(path)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("gallery") / "model.keras"
    write_tiny_model(path)
    (path.parent / "labels.txt").write_text("red\nblue\n")
    return str(path)


def _loaded(tile) -> bool:
    image = tile.image.pixmap().toImage()
    return image.pixelColor(64, 64).name() != "#e4e7eb"  # not the grey placeholder any more


def test_without_a_model_the_images_show_and_say_why_no_gradcam(qtbot, tmp_path):
    state = AppState()
    gallery = GradCamGallery(state)
    qtbot.addWidget(gallery)
    paths = _images(tmp_path)
    gallery.show_images(paths, ["red · train", "blue · val"], "4 images in the lasso")
    assert gallery.isVisible() and [t.path for t in gallery.tiles] == paths
    assert NO_MODEL_TEXT in gallery.note.text() and "Received: no trained model" in gallery.note.text()
    assert all(t.cam.isHidden() for t in gallery.tiles) and gallery.pending() == 0
    assert gallery.tiles[1].caption.text() == "blue · val" and gallery.title.text() == "4 images in the lasso"
    qtbot.waitUntil(lambda: all(_loaded(t) for t in gallery.tiles), timeout=10_000)
    gallery.shutdown()


@pytest.mark.engine
def test_with_a_model_each_image_gets_its_prediction_and_gradcam(qtbot, tmp_path, tiny_model):
    state = AppState()
    state.set_model_path(tiny_model)
    gallery = GradCamGallery(state)
    qtbot.addWidget(gallery)
    paths = _images(tmp_path, 3)
    gallery.show_images(paths, title="3 images")
    assert "Grad-CAM of each image" in gallery.note.text()
    qtbot.waitUntil(lambda: gallery.pending() == 0 and all(t.prediction.isVisible() for t in gallery.tiles), timeout=60_000)
    for tile, expected in zip(gallery.tiles, ("red", "blue", "red")):
        assert f"predicted <b>{expected}</b>" in tile.prediction.text()
        assert not tile.cam.isHidden()
        if tile.cam.pixmap().isNull():  # Grad-CAM may be refused for this tiny model; then it says why
            assert "Grad-CAM unavailable" in tile.prediction.text()
        else:
            assert tile.cam.pixmap().width() == 128
    gallery.shutdown()


@pytest.mark.engine
def test_a_new_selection_replaces_the_old_and_caps_the_gradcam_jobs(qtbot, tmp_path, tiny_model):
    state = AppState()
    state.set_model_path(tiny_model)
    gallery = GradCamGallery(state)
    qtbot.addWidget(gallery)
    many = _images(tmp_path / "many", MAX_GRADCAM + 3)
    gallery.show_images(many)
    assert gallery.pending() == MAX_GRADCAM
    assert "first 12 images" in gallery.note.text()
    assert f"first {MAX_GRADCAM} images only" in gallery.tiles[-1].cam.text()
    few = _images(tmp_path / "few", 2)
    gallery.show_images(few)  # cancels the rest of the first selection
    assert [t.path for t in gallery.tiles] == few
    qtbot.waitUntil(lambda: gallery.pending() == 0 and all(t.prediction.isVisible() for t in gallery.tiles), timeout=60_000)
    gallery.shutdown()


@pytest.mark.engine
def test_a_model_that_cannot_load_stops_the_gradcam_with_its_reason(qtbot, tmp_path):
    state = AppState()
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a model")
    state.set_model_path(str(broken))
    gallery = GradCamGallery(state)
    qtbot.addWidget(gallery)
    gallery.show_images(_images(tmp_path, 3))
    qtbot.waitUntil(lambda: gallery.pending() == 0 and "Grad-CAM stopped" in gallery.note.text(), timeout=60_000)
    assert str(broken) in gallery.note.text()
    assert gallery.tiles[0].cam.text() == "failed" and gallery.tiles[2].cam.text() == "not computed"
    gallery.shutdown()


def test_map_click_opens_the_gallery(qtbot, tmp_path):
    from ui.panels.embedding_map import EmbeddingMap

    paths = _images(tmp_path, 4)
    result = EmbedResult(coords=np.array([[0, 0], [0.5, 0.5], [-0.5, 0.5], [0.5, -0.5]], np.float32),
                         labels=np.array([0, 1, 0, 1]), paths=tuple(paths), splits=("train", "val", "train", "val"),
                         class_names=("red", "blue"))
    widget = EmbeddingMap(AppState())
    qtbot.addWidget(widget)
    widget.show_result(result)
    widget.select_polygon(np.array([[0.2, 0.2], [0.8, 0.2], [0.8, 0.8], [0.2, 0.8]]))
    gallery = widget.gallery()
    assert [t.path for t in gallery.tiles] == [paths[1]]
    assert gallery.tiles[0].caption.text() == "blue · val" and "1 image in the lasso" in gallery.title.text()
    widget.shutdown()
