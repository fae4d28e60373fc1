"""The walk of issue 15 as one test: data → model → train → cancel → resume → evaluate →
inspect → export → save → quit → reopen.

It drives the real main window offscreen, with the project actions the app
installs and the session's real engine process, on generated images (3 classes
× 12 images of 32 px) with VGG16 at 32 px and random weights, so each run is a
few seconds on a CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from tlstudio.events import BatchEnd

pytestmark = pytest.mark.engine  # the real engine process: jobs with results from TensorFlow

RUN_TIMEOUT_MS = 300_000
STEP_TIMEOUT_MS = 120_000


@pytest.fixture
def shapes(tmp_path) -> Path:
    from tlstudio.data import generate_sample_dataset

    return generate_sample_dataset(tmp_path / "shapes", per_class=12, size=32)


def _window(qtbot):
    from ui.main_window import MainWindow
    from ui.project_actions import install_project_actions

    window = MainWindow(restore=False)
    qtbot.addWidget(window)
    actions = install_project_actions(window, window.state, offer_recovery=False)
    actions.ask_save = lambda text: pytest.fail(f"asked to save a saved project: {text}")
    window.resize(1200, 800)
    window.show()
    qtbot.waitExposed(window)
    return window, actions


def _curve_x(page, key: str) -> list[float]:
    x, _y = page.plots.curves[key].getOriginalDataset()
    return [] if x is None else [float(v) for v in x]


@pytest.mark.slow
def test_the_whole_walk_from_data_to_a_reopened_project(qtbot, shapes, tmp_path, monkeypatch):
    from tlstudio.project import pending_autosaves
    from ui import worker

    # The GUI's own cache: windows of earlier tests in this process may have left untitled autosaves,
    # which the reopened window would rightly offer to recover. (The engine keeps the session's cache.)
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path / "gui-cache"))
    window, actions = _window(qtbot)
    state = window.state
    errors: list[str] = []
    state.error_reported.connect(lambda message, details: errors.append(message))

    # --- data
    with qtbot.waitSignal(state.data_changed, timeout=STEP_TIMEOUT_MS):
        window.open_folder(shapes)
    assert state.class_names == ("circle", "square", "triangle")

    # --- model: VGG16, random weights, 32 px, the last block fine-tuned
    model = window.pages["model"]
    model.backbone_combo.setCurrentIndex(model.backbone_combo.findData("vgg16"))
    model.weights_combo.setCurrentIndex(model.weights_combo.findData("none"))
    model.size_spin.setValue(32)
    with qtbot.waitSignal(model.layout_ready, timeout=STEP_TIMEOUT_MS, check_params_cb=lambda layout: layout.image_size == 32):
        window.show_page("model")
    qtbot.mouseClick(model.preset_buttons["last"], Qt.MouseButton.LeftButton)
    assert (state.model_config.backbone, state.model_config.weights, state.model_config.image_size) == ("vgg16", "none", 32)

    # --- train, cancelled inside its second epoch
    train = window.pages["train"]
    window.show_page("train")
    train.epochs_spin.setValue(2)
    train.fine_epochs_spin.setValue(1)
    train.batch_spin.setValue(4)
    state.update_train_config(feature_cache="off")  # image batches: several steps per epoch to cancel between
    cancelled_at: list[BatchEnd] = []

    def cancel_in_epoch_two(event):
        if isinstance(event, BatchEnd) and event.epoch == 1 and not cancelled_at:
            cancelled_at.append(event)
            qtbot.mouseClick(train.cancel_button, Qt.MouseButton.LeftButton)

    train.runner.event.connect(cancel_in_epoch_two)
    with qtbot.waitSignal(train.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.mouseClick(train.start_button, Qt.MouseButton.LeftButton)
    train.runner.event.disconnect(cancel_in_epoch_two)
    first = finished.args[0]
    assert first is not None and first.error is None, getattr(first, "error_details", "")
    assert first.cancelled and first.epochs_completed == 1 and cancelled_at
    assert train.progress.format() == "Cancelled" and train.resume_button.isEnabled()

    # --- resume: the epochs it has left, numbered over the whole run
    with qtbot.waitSignal(train.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        qtbot.mouseClick(train.resume_button, Qt.MouseButton.LeftButton)
    resumed = finished.args[0]
    assert resumed.error is None, resumed.error_details
    assert resumed.run_dir == first.run_dir and resumed.epochs_completed == 3 and not resumed.cancelled
    assert _curve_x(train, "loss_val") == [1.0, 2.0, 3.0]  # the cut-short epoch is not drawn twice
    assert "Run finished after 3 epochs" in train.summary_label.text()
    assert "epoch 4" not in train.log.toPlainText()
    run_dir = resumed.run_dir

    # --- evaluate the run's model on its validation split
    evaluate = window.pages["evaluate"]
    window.show_page("evaluate")
    evaluate.evaluate_button.click()  # evaluation runs when asked (issue 24)
    qtbot.waitUntil(lambda: evaluate.result is not None and not evaluate.runner.is_running(), timeout=STEP_TIMEOUT_MS)
    assert evaluate.history.table.rowCount() == 1

    # --- inspect its layers
    inspect = window.pages["inspect"]
    window.show_page("inspect")
    inspect.load()
    qtbot.waitUntil(lambda: inspect.table is not None and not inspect.build_runner.is_running(), timeout=STEP_TIMEOUT_MS)
    assert len(inspect.table.rows) > 20

    # --- export it as .keras
    export = window.pages["export"]
    window.show_page("export")
    export.out_edit.setText(str(tmp_path / "export"))
    for fmt, check in export.format_checks.items():
        check.setChecked(fmt == "keras")
    export.verify_check.setChecked(False)
    # no certificate: it times the file in two more fresh processes, and this walk reads none of it
    # (tests/ui/test_export_certificate.py drives it)
    export.options.certify.setChecked(False)
    export.start_export()
    qtbot.waitUntil(lambda: not export.runner.is_running(), timeout=STEP_TIMEOUT_MS)
    assert export.last_result is not None and sorted(export.last_result.files) == ["keras"]
    described = json.loads((tmp_path / "export" / "model.json").read_text())
    assert "keras" in json.dumps(described)

    # --- save the untitled project as walk.tlsproj
    project_file = tmp_path / "walk.tlsproj"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(project_file), ""))
    assert actions.save()
    assert window.windowTitle() == "walk — Transfer Learning Studio"
    saved = json.loads(project_file.read_text())
    assert saved["name"] == "walk" and [r["epochs_completed"] for r in saved["runs"]] == [3]

    # --- quit: nothing unsaved, no question, no autosave left for the next start
    worker.wait_all(STEP_TIMEOUT_MS)
    assert actions.close_question() is None
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=STEP_TIMEOUT_MS)
    assert pending_autosaves(project_file, own_session=None) == []
    assert errors == []

    # --- reopen: title, configs, run history, and the Train page with its plots and Resume
    again, again_actions = _window(qtbot)
    assert again_actions.controller.pending_recovery() is None
    assert again_actions.open(str(project_file))
    assert again.windowTitle() == "walk — Transfer Learning Studio"
    config = again.state.model_config
    assert (config.backbone, config.weights, config.image_size) == ("vgg16", "none", 32)
    page = again.pages["train"]
    assert _curve_x(page, "loss_val") == [1.0, 2.0, 3.0]
    assert page.plots.phase2_epoch == 2.0
    assert page.summary_label.text().startswith("Run finished after 3 epochs.")
    assert page.resumable_run() == run_dir and page.resume_button.isEnabled()
    assert again.pages["evaluate"].history.table.rowCount() == 1
    assert again.state.model_path == resumed.model_path
