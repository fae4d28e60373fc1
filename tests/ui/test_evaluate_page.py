"""The Evaluate page on the real engine process, with a tiny hand-weighted Keras model (red vs blue images).

The model is written by a separate Python process, so this (GUI) test process
never imports Keras: every prediction crosses to the engine and back.
"""

from __future__ import annotations

import csv
import os

import pytest
from PIL import Image

from tests.support.red_blue_model import tiny_model

TIMEOUT = 60_000
RUNS_TAB = 2
"""The Evaluate page's Runs tab (its page is the section holding ``page.history``)."""


def _image(path, rgb):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (20, 20), rgb).save(path)
    return str(path)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("evalpage")
    (root / "model").mkdir()
    tiny_model(root / "model" / "model.keras")
    (root / "model" / "labels.txt").write_text("red\nblue\n")
    for i, rgb in enumerate([(250, 0, 0), (200, 20, 10), (180, 0, 60), (90, 0, 160)]):
        _image(root / "data" / "red" / f"r{i}.png", rgb)
    for i, rgb in enumerate([(0, 0, 250), (10, 30, 200), (40, 0, 120)]):
        _image(root / "data" / "blue" / f"b{i}.png", rgb)
    return root


@pytest.fixture
def page(qtbot):
    from ui.pages.evaluate_page import EvaluatePage
    from ui.state import AppState

    state = AppState()
    widget = EvaluatePage(state)
    qtbot.addWidget(widget)
    widget.resize(1200, 800)
    yield widget
    widget.shutdown()


def _evaluated(qtbot, page, exported):
    with qtbot.waitSignal(page.runner.finished, timeout=TIMEOUT):
        page.open_exported_model(str(exported / "model" / "model.keras"), str(exported / "data"), all_images=True)
    assert page.results, page.summary.text()
    return page.result


def _click_cell(qtbot, page, row, col):
    from PySide6.QtCore import Qt

    view = page.matrix
    rect = view.visualItemRect(view.item(row, col))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


@pytest.mark.engine
def test_clicking_a_confusion_cell_shows_its_images(qtbot, page, exported):
    page.show()
    assert not page.summary.isVisible()  # nothing to say yet: no empty gap above the tabs
    result = _evaluated(qtbot, page, exported)
    assert page.summary.isVisible()
    assert result.metrics.confusion.tolist() == [[3, 1], [0, 3]]
    assert "85.7%" in page.summary.text()
    assert page.matrix.item(0, 1).text() == "1\n25%"
    assert page.class_table.item(0, 0).text() == "red" and page.class_table.item(0, 4).text() == "4"

    _click_cell(qtbot, page, 0, 1)  # true red, predicted blue
    assert [os.path.basename(p) for p in page.thumbs.paths()] == ["r3.png"]
    assert "predicted <b>blue</b>" in page.images_label.text()

    _click_cell(qtbot, page, 0, 0)  # correct reds, most confident first
    assert [os.path.basename(p) for p in page.thumbs.paths()] == ["r0.png", "r1.png", "r2.png"]
    probs = [r.confidence for r in page.shown_images]
    assert probs == sorted(probs, reverse=True)

    _click_cell(qtbot, page, 1, 0)  # empty cell
    assert page.thumbs.paths() == []

    page.mistakes_button.click()
    assert [os.path.basename(p) for p in page.thumbs.paths()] == ["r3.png"]


@pytest.mark.engine
def test_results_screenshot(qtbot, page, exported, tmp_path):
    """After an evaluation and a single-image test, both tabs have their content (looked at by eye too)."""
    page.show()
    _evaluated(qtbot, page, exported)
    page.mistakes_button.click()
    qtbot.waitUntil(lambda: page.thumbs.loaded_count() == 1, timeout=TIMEOUT)
    shot = page.grab()
    shot.save(str(tmp_path / "evaluate_results.png"))
    assert (shot.width(), shot.height()) == (1200, 800)
    with qtbot.waitSignal(page.runner.finished, timeout=TIMEOUT):
        assert page.test_image(str(exported / "data" / "blue" / "b1.png"))
    with qtbot.waitSignal(page.runner.finished, timeout=TIMEOUT):
        assert page.test_folder(str(exported / "data"))
    page.tabs.setCurrentIndex(1)
    qtbot.wait(50)
    page.grab().save(str(tmp_path / "evaluate_test_images.png"))
    assert page.drop_area.pixmap() is not None and not page.drop_area.pixmap().isNull()
    assert page.folder_table.rowCount() == 7 and page.bars.values()[0][0] == "blue"


@pytest.mark.engine
def test_single_image_test_shows_top_k_bars_and_grad_cam(qtbot, page, exported):
    page.set_model(str(exported / "model" / "model.keras"))
    with qtbot.waitSignal(page.runner.finished, timeout=TIMEOUT):
        assert page.test_image(str(exported / "data" / "blue" / "b1.png"))
    values = page.bars.values()
    assert [name for name, _ in values] == ["blue", "red"]
    assert values[0][1] > 0.5 and sum(p for _, p in values) == pytest.approx(1.0, abs=1e-5)
    assert "<b>blue</b>" in page.prediction_label.text()
    assert "Grad-CAM: red areas" in page.prediction_label.text()
    overlay = page.drop_area.pixmap().toImage()
    centre = overlay.pixelColor(overlay.width() // 2, overlay.height() // 2)
    b1 = (10, 30, 200)  # the image's own colour: the heatmap is blended over it
    assert abs(centre.red() - b1[0]) + abs(centre.green() - b1[1]) + abs(centre.blue() - b1[2]) > 40
    assert not hasattr(page, "loaded_model")  # the page keeps a path; the engine keeps the model


@pytest.mark.engine
def test_grad_cam_can_be_turned_off(qtbot, page, exported):
    page.set_model(str(exported / "model" / "model.keras"))
    page.gradcam_box.setChecked(False)
    with qtbot.waitSignal(page.runner.finished, timeout=TIMEOUT):
        assert page.test_image(str(exported / "data" / "red" / "r0.png"))
    assert page.bars.values()[0][0] == "red"
    assert "Grad-CAM" not in page.prediction_label.text()


@pytest.mark.engine
def test_paste_from_clipboard(qtbot, page, exported):
    from PySide6.QtGui import QColor, QGuiApplication, QImage

    page.set_model(str(exported / "model" / "model.keras"))
    image = QImage(24, 24, QImage.Format.Format_RGB32)
    image.fill(QColor(240, 10, 10))
    QGuiApplication.clipboard().setImage(image)
    with qtbot.waitSignal(page.runner.finished, timeout=TIMEOUT):
        assert page.paste_image()
    assert page.bars.values()[0][0] == "red"


@pytest.mark.engine
def test_folder_test_and_csv(qtbot, page, exported, tmp_path):
    page.set_model(str(exported / "model" / "model.keras"))
    with qtbot.waitSignal(page.runner.finished, timeout=TIMEOUT):
        assert page.test_folder(str(exported / "data"))
    assert page.folder_table.rowCount() == 7
    assert page.folder_label.text() == "Folder results: 7 images tested"
    assert page.prediction_label.text() == ""  # the single-image result is not overwritten
    assert page.csv_button.isEnabled()
    out = tmp_path / "preds.csv"
    page.save_csv(str(out))
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 7
    by_name = {os.path.basename(r["path"]): r["predicted"] for r in rows}
    assert by_name["r0.png"] == "red" and by_name["b0.png"] == "blue" and by_name["r3.png"] == "blue"


@pytest.mark.engine
def test_bad_model_reports_a_readable_error(qtbot, page, tmp_path):
    bad = tmp_path / "m.keras"
    bad.write_bytes(b"not a model")
    (tmp_path / "labels.txt").write_text("a\nb\n")
    errors = []
    page.state.error_reported.connect(lambda m, d: errors.append(m))
    with qtbot.waitSignal(page.runner.finished, timeout=TIMEOUT):
        page.open_exported_model(str(bad), str(tmp_path))
    assert errors and "m.keras" in errors[0]


@pytest.mark.engine
def test_dropping_an_image_file_tests_it(qtbot, page, exported):
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    page.set_model(str(exported / "model" / "model.keras"))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(exported / "data" / "red" / "r1.png"))])
    event = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(page.runner.finished, timeout=TIMEOUT):
        page.drop_area.dropEvent(event)
    assert page.bars.values()[0][0] == "red"
    assert "r1.png" in page.prediction_label.text()


@pytest.mark.engine
def test_unreadable_image_clears_the_last_picture_and_says_why(qtbot, page, exported, tmp_path):
    page.set_model(str(exported / "model" / "model.keras"))
    with qtbot.waitSignal(page.runner.finished, timeout=TIMEOUT):
        assert page.test_image(str(exported / "data" / "blue" / "b1.png"))
    assert page.drop_area.pixmap() is not None and not page.drop_area.pixmap().isNull()
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a picture")
    with qtbot.waitSignal(page.runner.finished, timeout=TIMEOUT):
        assert page.test_image(str(bad))
    text = page.prediction_label.text()
    assert text.startswith("Cannot read notes.jpg: ") and "Error" not in text
    assert page.bars.values() == []
    assert page.drop_area.pixmap().isNull() and page.drop_area.text() == "notes.jpg"


@pytest.mark.engine
def test_csv_to_an_unwritable_place_reports_a_readable_error(qtbot, page, exported, tmp_path):
    page.set_model(str(exported / "model" / "model.keras"))
    with qtbot.waitSignal(page.runner.finished, timeout=TIMEOUT):
        assert page.test_folder(str(exported / "data" / "red"))
    errors = []
    page.state.error_reported.connect(lambda m, d: errors.append(m))
    page.save_csv(str(tmp_path / "missing-folder" / "preds.csv"))
    assert errors and errors[0].startswith("Could not write ") and "preds.csv" in errors[0]


@pytest.mark.parametrize(
    ("reason", "text"),
    [
        ("UnidentifiedImageError: cannot identify image file 'x'", "not an image, or an image format that cannot be read."),
        ("OSError: image file is truncated", "image file is truncated"),
        ("file is empty", "file is empty"),
    ],
)
def test_readable_reason(reason, text):
    from ui.panels.image_test import readable_reason

    assert readable_reason(reason) == text


def test_confusion_matrix_cells_open_from_the_keyboard(qtbot):
    from PySide6.QtCore import Qt

    from ui.widgets.confusion_matrix import ConfusionMatrixView

    view = ConfusionMatrixView()
    qtbot.addWidget(view)
    view.set_matrix([[3, 1], [0, 2]], ["a", "b"])
    view.show()
    view.setFocus()
    view.setCurrentCell(0, 0)
    seen = []
    view.cell_activated.connect(lambda r, c: seen.append((r, c)))
    qtbot.keyClick(view, Qt.Key.Key_Right)
    qtbot.keyClick(view, Qt.Key.Key_Down)
    qtbot.keyClick(view, Qt.Key.Key_Return)
    qtbot.keyClick(view, Qt.Key.Key_Down)  # already on the last row: nothing new
    assert seen == [(0, 1), (1, 1), (1, 1)]


def test_a_selected_mistake_stays_red_and_a_selected_hit_stays_blue(qtbot):
    from ui.widgets.confusion_matrix import ConfusionMatrixView

    view = ConfusionMatrixView()
    qtbot.addWidget(view)
    view.resize(300, 240)
    view.set_matrix([[3, 3], [0, 2]], ["a", "b"])
    view.show()
    qtbot.waitExposed(view)

    def colour(row, col):
        rect = view.visualItemRect(view.item(row, col))
        image = view.viewport().grab().toImage()
        return image.pixelColor(rect.left() + 8, rect.top() + 8)  # inside the frame, clear of the text

    for row, col in ((0, 1), (0, 0)):
        before = colour(row, col)
        view.setCurrentCell(row, col)
        view.item(row, col).setSelected(True)
        after = colour(row, col)
        assert (after.red(), after.green(), after.blue()) == (before.red(), before.green(), before.blue())
    mistake, hit = colour(0, 1), colour(0, 0)
    assert mistake.red() > mistake.blue() + 40  # red: a mistake
    assert hit.blue() > hit.red() + 40  # blue: correct


@pytest.mark.engine
def test_the_empty_matrix_says_evaluating_while_it_runs_and_the_progress_is_readable(qtbot, page, exported):
    from tlstudio.events import Progress

    texts = []
    page.runner.running_changed.connect(lambda running: texts.append((running, page.matrix.empty_text())))
    _evaluated(qtbot, page, exported)
    assert texts[0] == (True, page.matrix.BUSY_TEXT) and texts[-1] == (False, page.matrix.EMPTY_TEXT)
    page._on_progress(Progress("evaluate", 16, 153, "predicted 16/153 images"))
    assert page.progress.text() == "Evaluating 16/153 images"
    page._on_progress(Progress("validate", 0, 180, "checking images"))
    assert page.progress.text() == "Checking 0/180 images"
    needed = page.progress.fontMetrics().horizontalAdvance("Evaluating 12,345/12,345 images")
    assert page.progress.minimumWidth() > needed


def test_the_empty_config_diff_has_a_named_column(qtbot, page):
    header = page.history.diff_table.horizontalHeaderItem(0)
    assert header is not None and header.text() == "setting"


def test_a_run_record_is_created_when_the_run_started(tmp_path):
    import json

    from tlstudio.project import RunRecord
    from tlstudio.api.train import RunResult
    from tlstudio.run_folders import RUN_MARKER

    run = tmp_path / "run"
    run.mkdir()
    (run / RUN_MARKER).write_text(json.dumps({"created": "2025-03-01T09:30:00Z"}), encoding="utf-8")
    record = RunRecord.from_result(RunResult(run_dir=str(run), cancelled=True))
    assert record.created == "2025-03-01T09:30:00Z"  # the start, not the time the run was cancelled
    from ui.widgets.run_history import _fmt

    assert _fmt("created", record.created).startswith("2025-03-01")


# ------------------------------------------------------------ the Runs tab at both window sizes


def _add_run(page, root, name, **train):
    """Record a finished run called ``name`` (its folder under ``root``) with ``train`` overrides."""
    from dataclasses import replace

    from tlstudio.config import DataConfig, ModelConfig, RunConfig, TrainConfig, to_json
    from tlstudio.api.train import RunResult

    config = RunConfig(data=DataConfig(root=str(root / "no-data")), model=ModelConfig(weights="none"), train=TrainConfig(epochs=4))
    config = replace(config, train=replace(config.train, **train))
    run_dir = root / "runs" / name
    (run_dir / "logs").mkdir(parents=True)
    (run_dir / "run_config.json").write_text(to_json(config))
    history = tuple({"epoch": i, "phase": 1, "loss": 1.0 - a, "accuracy": a, "val_loss": 1.1 - a, "val_accuracy": a - 0.05,
                     "lr": 1e-3, "seconds": 1.0} for i, a in enumerate((0.3, 0.5, 0.7)))
    page.controller.add_run(RunResult(run_dir=str(run_dir), best_metrics=dict(history[-1]), history=history,
                                      class_names=("a", "b"), epochs_completed=3), config)
    return str(run_dir)


def _fully_visible(table, row, col) -> bool:
    return table.viewport().rect().contains(table.visualRect(table.model().index(row, col)))


@pytest.mark.parametrize("size", [(856, 610), (1432, 930)])  # the page's share of a 1024x680 and a 1600x1000 window
def test_runs_table_fits_without_a_horizontal_scrollbar_and_every_difference_shows(qtbot, page, tmp_path, size):
    from PySide6.QtCore import Qt

    from ui.widgets.run_history import COLUMNS, NOTES_COLUMN, RUN_MIN_WIDTH

    _add_run(page, tmp_path, "20261130-010330-vgg16", fine_tune_epochs=2)
    long_dir = _add_run(page, tmp_path, "20261130-010441-resnet50-augmented-long-name", epochs=3, fine_tune_epochs=1,
                        learning_rate=3e-4)
    history = page.history
    page.resize(*size)
    page.show()
    page.tabs.setCurrentIndex(RUNS_TAB)  # the tab holds the section the history was built in
    qtbot.waitExposed(page)
    history.select_runs([r.id for r in page.controller.project.runs])
    qtbot.wait(50)
    table, header = history.table, history.table.horizontalHeader()
    assert not table.horizontalScrollBar().isVisible()
    assert header.length() <= table.viewport().width()
    for col in range(1, NOTES_COLUMN):  # every column after Run shows its whole contents and title
        assert header.sectionSize(col) >= max(table.sizeHintForColumn(col), header.sectionSizeHint(col)), COLUMNS[col]
    assert header.sectionSize(NOTES_COLUMN) >= header.sectionSizeHint(NOTES_COLUMN)  # "Notes" is not cut
    for row in range(table.rowCount()):
        for col in range(len(COLUMNS)):
            assert _fully_visible(table, row, col), (row, COLUMNS[col])
    # a long run name is elided in the middle when it must be; hovering it gives the run folder
    row = [table.item(r, 0).text() for r in range(table.rowCount())].index("20261130-010441-resnet50-augmented-long-name")
    assert table.textElideMode() == Qt.TextElideMode.ElideMiddle
    assert long_dir in table.item(row, 0).toolTip()
    assert header.sectionSize(0) >= RUN_MIN_WIDTH
    if size[0] > 1200:  # room enough: the whole name shows
        assert header.sectionSize(0) >= table.sizeHintForColumn(0)
    # every config difference is visible, none behind a scrollbar
    diff = history.diff_table
    assert history.diff_rows()[0][0] == "train.epochs" and len(history.diff_rows()) == 3
    assert history.diff_label.text() == "Config differences (3)"
    assert diff.verticalScrollBar().maximum() == 0
    for row in range(diff.rowCount()):
        assert _fully_visible(diff, row, 0), history.diff_rows()[row]
    # notes make the Notes column keep its minimum, still without a horizontal scrollbar
    table.item(0, NOTES_COLUMN).setText("baseline")
    history.fit_columns()
    qtbot.wait(20)
    assert not table.horizontalScrollBar().isVisible() and header.length() <= table.viewport().width()


def test_many_differences_scroll_and_the_title_says_so(qtbot, page, tmp_path):
    from ui.widgets.run_comparison import DIFF_ROWS_SHOWN

    _add_run(page, tmp_path, "run-a")
    _add_run(page, tmp_path, "run-b", epochs=3, fine_tune_epochs=1, learning_rate=3e-4, batch_size=8, seed=7,
             fine_tune_learning_rate=2e-5, patience=5, optimizer="sgd")
    history = page.history
    page.resize(856, 610)
    page.show()
    page.tabs.setCurrentIndex(RUNS_TAB)  # the tab holds the section the history was built in
    qtbot.waitExposed(page)
    history.select_runs(["run-a", "run-b"])
    qtbot.wait(50)
    rows = len(history.diff_rows())
    assert rows > DIFF_ROWS_SHOWN
    assert f"({rows}; scroll the table for the other {rows - DIFF_ROWS_SHOWN})" in history.diff_label.text()
    diff = history.diff_table
    assert diff.verticalScrollBar().isVisible() and diff.verticalScrollBar().maximum() > 0
    assert all(_fully_visible(diff, r, 0) for r in range(DIFF_ROWS_SHOWN))


@pytest.mark.engine
def test_a_confusion_cell_rings_its_images_on_the_embedding_map(qtbot, page, exported):
    """The Evaluate page and the Data page's map meet only through ui.map_link: a cell rings its points there,
    the evaluation colours the map by predicted class and correct/wrong, and "Show on map" asks for the Data page."""
    import numpy as np

    from tlstudio.api.embed import EmbedResult
    from ui.map_link import map_link
    from ui.panels.embedding_map import CORRECT_COLOURS, EmbeddingMap

    paths = tuple(sorted(str(p) for p in (exported / "data").rglob("*.png")))
    labels = np.array([0 if "/red/" in p else 1 for p in paths])
    unevaluated = str(exported / "data" / "red" / "not-evaluated.png")  # a point the evaluation never saw
    result = EmbedResult(coords=np.linspace(-1, 1, 2 * (len(paths) + 1)).reshape(-1, 2).astype(np.float32),
                         labels=np.append(labels, 0), paths=paths + (unevaluated,), splits=("val",) * (len(paths) + 1),
                         class_names=("red", "blue"))  # computed without a model: no predictions of its own
    embedding = EmbeddingMap(page.state)
    embedding.open_images = False
    qtbot.addWidget(embedding)
    embedding.show_result(result)

    page.show()
    _evaluated(qtbot, page, exported)
    assert not page.map_button.isEnabled()
    _click_cell(qtbot, page, 0, 1)  # true red, predicted blue: r3.png
    assert embedding.selected_paths() == [p for p in paths if p.endswith("r3.png")]
    assert "of true red → predicted blue" in embedding.selection_label.text()
    assert len(embedding.highlight.data) == 1 and page.map_button.isEnabled()
    _click_cell(qtbot, page, 0, 0)
    assert sorted(os.path.basename(p) for p in embedding.selected_paths()) == ["r0.png", "r1.png", "r2.png"]

    embedding.colour_combo.setCurrentText("Correct / wrong")
    colours = embedding.brush_colours()
    by_name = dict(zip((os.path.basename(p) for p in result.paths), colours))
    assert by_name["r3.png"] == CORRECT_COLOURS["wrong"] and by_name["r0.png"] == by_name["b0.png"] == CORRECT_COLOURS["correct"]
    assert by_name["not-evaluated.png"] == CORRECT_COLOURS["no prediction"]
    embedding.colour_combo.setCurrentText("Predicted class")
    assert "blue (4)" in embedding.legend.text() and "red (3)" in embedding.legend.text()

    asked = []
    page.state.page_requested.connect(asked.append)
    with qtbot.waitSignal(map_link(page.state).show_requested, timeout=1000):
        page.map_button.click()
    assert asked == ["data"]
    embedding.shutdown()


def test_the_runs_table_shows_five_runs_at_1024_by_680(qtbot, tmp_path):
    """Issue 24: at 1024×680 the Runs table showed 3 rows."""
    from ui.project_controller import project_controller
    from ui.state import AppState
    from ui.widgets.run_comparison import rows_height
    from ui.widgets.run_history import RunHistoryWidget

    state = AppState()
    controller = project_controller(state)
    try:
        history = RunHistoryWidget(controller)
        qtbot.addWidget(history)
        history.resize(1024 - 200, 680 - 190)  # the Runs tab's room in a 1024×680 window
        history.show()
        qtbot.wait(20)
        assert history.table.height() >= rows_height(history.table, 5)
    finally:
        controller.discard_own_autosave()
