"""The whole workflow through the main window, the way a user drives it.

Open a folder, pick a model and freeze a block, train with live plots, cancel
a second run mid-epoch, and hit the error paths. Every model job,
training included, runs in the engine process (the session's engine client). Real training on a tiny
generated dataset (3 classes x 12 images of 32 px) with VGG16 at 32 px and
random weights, so it stays a few seconds per run on a CPU.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from tlstudio.config import FreezeConfig
from tlstudio.events import BatchEnd

pytestmark = pytest.mark.engine  # the real engine process: jobs with results from TensorFlow

RUN_TIMEOUT_MS = 300_000
STEP_TIMEOUT_MS = 120_000


@pytest.fixture
def shapes(tmp_path) -> Path:
    from tlstudio.data import generate_sample_dataset

    return generate_sample_dataset(tmp_path / "shapes", per_class=12, size=32)


def _open_data(qtbot, window, folder: Path) -> None:
    state = window.state
    with qtbot.waitSignal(state.data_changed, timeout=STEP_TIMEOUT_MS):
        window.open_folder(folder)
    assert state.dataset_root == str(folder)
    assert state.class_names == ("circle", "square", "triangle")


def _pick_model(qtbot, window) -> None:
    page = window.pages["model"]
    page.backbone_combo.setCurrentIndex(page.backbone_combo.findData("vgg16"))
    page.weights_combo.setCurrentIndex(page.weights_combo.findData("none"))
    page.size_spin.setValue(32)
    with qtbot.waitSignal(page.layout_ready, timeout=STEP_TIMEOUT_MS, check_params_cb=lambda layout: layout.image_size == 32):
        window.show_page("model")
    # freeze one block: start from "fine-tune all", then tick block1's box
    qtbot.mouseClick(page.preset_buttons["none"], Qt.MouseButton.LeftButton)
    page.block_item("block1").setCheckState(0, Qt.CheckState.Checked)
    config = window.state.model_config
    assert (config.backbone, config.weights, config.image_size) == ("vgg16", "none", 32)
    assert config.freeze == FreezeConfig(mode="blocks", blocks=("block1",))
    assert "Fine-tuning" in page.counts_label.text()


def _set_training(window, epochs: int, fine_tune_epochs: int, batch_size: int) -> None:
    page = window.pages["train"]
    window.show_page("train")
    page.epochs_spin.setValue(epochs)
    page.fine_epochs_spin.setValue(fine_tune_epochs)
    page.batch_spin.setValue(batch_size)


def _curve_len(page, key: str) -> int:
    x, _y = page.plots.curves[key].getOriginalDataset()
    return 0 if x is None else len(x)


def _assert_idle(window) -> None:
    page = window.pages["train"]
    assert page.start_button.isEnabled()
    assert not page.cancel_button.isEnabled()
    assert not page.is_running()
    assert not window.state.busy
    assert not window.state.is_running


@pytest.mark.slow
def test_open_pick_freeze_train_then_cancel(qtbot, main_window, shapes):
    window = main_window
    state = window.state
    _open_data(qtbot, window, shapes)
    _pick_model(qtbot, window)
    # VGG16 cut at block3_pool for the runs (the same code path; 7 MB checkpoints instead of 58 MB); block1 stays frozen
    state.update_model_config(cut="block3_pool")
    _set_training(window, epochs=1, fine_tune_epochs=1, batch_size=8)
    page = window.pages["train"]

    # --- a full run
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
        assert page.is_running() and not page.start_button.isEnabled() and page.cancel_button.isEnabled()
        assert state.run_state == "running"
    result = finished.args[0]
    assert result is not None and result.error is None, getattr(result, "error_details", "")
    assert not result.cancelled and result.epochs_completed == 2
    assert state.run_state == "finished"
    assert state.model_path == result.model_path and Path(result.model_path).is_file()
    saved = json.loads((Path(result.run_dir) / "run_config.json").read_text())
    assert saved["model"]["freeze"]["mode"] == "blocks" and saved["model"]["freeze"]["blocks"] == ["block1"]
    assert saved["model"]["cut"] == "block3_pool"
    # the plots hold what the run reported
    for key in ("loss_batch", "loss_smooth", "acc_batch", "lr"):
        assert _curve_len(page, key) > 0, key
    for key in ("loss_train", "loss_val", "acc_train", "acc_val"):
        assert _curve_len(page, key) == 2, key
    assert page.plots.phase2_epoch == 1.0
    assert "Run finished after 2 epochs" in page.summary_label.text()
    assert page.progress.format() == "Finished"
    _assert_idle(window)
    assert page.resume_button.isEnabled()  # the run left a checkpoint

    # --- resume it: the plan is complete, so the page's epochs come on top
    _set_training(window, epochs=0, fine_tune_epochs=1, batch_size=8)
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.mouseClick(page.resume_button, Qt.MouseButton.LeftButton)
    resumed = finished.args[0]
    assert resumed.error is None, resumed.error_details
    assert resumed.run_dir == result.run_dir and resumed.epochs_completed == 3
    # the plots kept the first session and continued after it
    assert _curve_len(page, "loss_val") == 3
    assert page.plots.curves["loss_val"].getOriginalDataset()[0][-1] == 3.0

    # --- a second, longer run, cancelled inside its first epoch
    _set_training(window, epochs=3, fine_tune_epochs=2, batch_size=2)
    state.update_train_config(feature_cache="off")  # image batches: many small steps per epoch
    batches: list[BatchEnd] = []

    def cancel_on_first_batch(event):
        if isinstance(event, BatchEnd) and not batches:
            batches.append(event)
            qtbot.mouseClick(page.cancel_button, Qt.MouseButton.LeftButton)

    page.runner.event.connect(cancel_on_first_batch)
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    page.runner.event.disconnect(cancel_on_first_batch)
    result = finished.args[0]
    assert batches and batches[0].steps > 2
    assert result.cancelled and result.error is None
    assert result.epochs_completed == 0  # stopped mid-epoch
    assert state.run_state == "cancelled"
    assert page.progress.format() == "Cancelled"
    assert "Run cancelled" in page.summary_label.text()
    _assert_idle(window)
    assert page.cancel_button.text() == "Cancel"


@pytest.mark.slow
def test_error_paths_show_readable_messages(qtbot, main_window, shapes, no_class_folder):
    window = main_window
    state = window.state
    page = window.pages["train"]

    # a folder without class sub-folders is refused in place on the Data page, in words, and nothing can train
    data = window.pages["data"]
    with qtbot.waitSignal(data.runner.finished, timeout=STEP_TIMEOUT_MS):
        window.open_folder(no_class_folder)
    assert state.prepared_data is None and state.dataset_refused
    assert "no class folders" in data.status_label.text() and "Traceback" not in data.status_label.text()

    # training on a folder that broke after it was opened: the run fails, the dialog explains
    _open_data(qtbot, window, shapes)
    for sub in shapes.iterdir():
        shutil.rmtree(sub)
    state.update_model_config(backbone="vgg16", weights="none", image_size=32)
    _set_training(window, epochs=1, fine_tune_epochs=0, batch_size=8)
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    result = finished.args[0]
    assert result is not None and result.error
    dialog = window.last_error_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.message.startswith("Training failed: ") and "Traceback" not in dialog.message
    assert "Traceback" in dialog.details
    assert state.run_state == "failed"
    assert page.progress.format() == "Failed"
    _assert_idle(window)
