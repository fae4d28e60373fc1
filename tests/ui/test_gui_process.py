"""The GUI process never loads TensorFlow; the engine process never loads Qt.

A fresh GUI process (the app's MainWindow, offscreen) is driven through a
whole workflow: open a dataset, list the Model page's layers, train a short
run, evaluate it, test one image with Grad-CAM, inspect the model with
filters and Grad-CAM, export it with verification, and label one batch of an
unsorted folder on the Label page (suggest, keys, apply, refit). Afterwards
``tensorflow`` and ``keras`` must be absent from the GUI's ``sys.modules``
and no TensorFlow library mapped in its memory; and no Qt library may be
mapped in the engine process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.engine  # the real engine process: jobs with results from TensorFlow

ROOT = Path(__file__).resolve().parents[2]

WORKFLOW = r"""
import json, os, sys, time
from pathlib import Path
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

work = Path(sys.argv[1])
QSettings.setDefaultFormat(QSettings.Format.IniFormat)
QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(work / "settings"))
app = QApplication([])
app.setOrganizationName("tlstudio-gui-process-test")

from tlstudio.data import generate_sample_dataset
from ui import worker
from ui.app import install_exception_hook, start_warmup
from ui.main_window import MainWindow

errors = []
worker.install_gui_thread_gc()
window = MainWindow(restore=False)
install_exception_hook(window)
window.state.error_reported.connect(lambda message, details: errors.append(message))
window.resize(1200, 800)
window.show()
# The app's engine client at the test workers' priority (the app's CHILD_NICENESS starves the engine
# beside a busy test worker); start_warmup starts it as the app does.
from tlstudio.procrun import EngineProcess
from ui.engine import EngineClient, set_engine
set_engine(EngineClient(EngineProcess(niceness=0), parent=app))
client = start_warmup(window)
steps = {}


def wait(condition, what, timeout=300):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not happen within {timeout} s; errors: {errors}")
        app.processEvents()
        time.sleep(0.01)
    app.processEvents()


def idle(runner):
    return lambda: not runner.is_running()


wait(lambda: client.state == "ready", "engine ready")
data = generate_sample_dataset(work / "shapes", per_class=10, size=32, seed=2)

# Data page: scan, validate, split
window.open_folder(data)
wait(lambda: window.state.prepared_data is not None, "dataset loaded")

# Model page: list the backbone's layers
model_page = window.pages["model"]
model_page.backbone_combo.setCurrentIndex(model_page.backbone_combo.findData("vgg16"))
model_page.weights_combo.setCurrentIndex(model_page.weights_combo.findData("none"))
model_page.size_spin.setValue(32)
window.show_page("model")
wait(lambda: model_page.layout_info is not None and model_page.layout_info.image_size == 32, "layer tree")
steps["model_layers"] = len(model_page.layout_info.layers)

# Train page: a short run in the engine
train = window.pages["train"]
window.show_page("train")
train.epochs_spin.setValue(1)
train.fine_epochs_spin.setValue(0)
train.batch_spin.setValue(8)
train.start()
wait(lambda: train.runner.is_running(), "training started")
wait(idle(train.runner), "training finished")
steps["model_path"] = window.state.model_path

# Evaluate page: the run's validation split, then one image with Grad-CAM
evaluate = window.pages["evaluate"]
window.show_page("evaluate")
evaluate.evaluate_button.click()
wait(lambda: evaluate.result is not None and not evaluate.runner.is_running(), "evaluation")
image = str(next((data / "circle").glob("*.png")))
evaluate.test_image(image)
wait(idle(evaluate.runner), "single-image test")
steps["evaluate_overlay"] = evaluate.drop_area.pixmap() is not None and not evaluate.drop_area.pixmap().isNull()

# Inspect page: the trained model's table, its filters and Grad-CAM
inspect = window.pages["inspect"]
window.show_page("inspect")
inspect.load()
wait(idle(inspect.build_runner), "layer table")
wait(lambda: inspect.table is not None, "layer table shown")
inspect.select_layer("backbone/block1_conv1")
inspect.tabs.setCurrentIndex(inspect._tab_index["Filters"])
wait(idle(inspect.visual_runner), "filters")
inspect.set_image(image)
inspect.tabs.setCurrentIndex(inspect._tab_index["Grad-CAM"])
inspect.cam_button.click()
wait(idle(inspect.visual_runner), "Grad-CAM")
steps["inspect_rows"] = len(inspect.table.rows)
steps["inspect_gradcam"] = not inspect.cam_image.pixmap().isNull()

# Export page: .keras with verification in a fresh process
export = window.pages["export"]
window.show_page("export")
export.out_edit.setText(str(work / "export"))
for fmt, check in export.format_checks.items():
    check.setChecked(fmt == "keras")
export.verify_check.setChecked(True)
export.options.certify.setChecked(False)  # the certificate's own processes are not the GUI's; nothing here reads it
export.start_export()
wait(idle(export.runner), "export")
steps["exported"] = sorted(export.last_result.files) if export.last_result is not None else None

# Label page: an unsorted folder, one batch labelled with the keys, filed and refitted
from PySide6.QtTest import QTest
pool = generate_sample_dataset(work / "pool", per_class=3, size=32, seed=9)
label = window.pages["label"]
window.show_page("label")
label.source.pool_edit.setText(str(pool))
label.source.run_combo.setCurrentText(os.path.dirname(window.state.model_path))
label.source.batch_spin.setValue(4)
label.suggest()
wait(lambda: len(label.grid.cards) == 4 and idle(label.runner)(), "labelling batch")
label.grid.setFocus()
for card in label.grid.cards:
    QTest.keyClick(label.grid, "1")
label.apply_batch()
wait(lambda: len(label.record.curve()) == 2 and idle(label.runner)(), "refit after the batch")
wait(idle(label.runner), "the next batch")
steps["label_curve"] = len(label.record.curve())
steps["label_filed"] = all(os.path.isfile(p.target) for p in label.record.rounds[0].batch.placed)

engine_pid = client.server.pid
with open("/proc/self/maps", encoding="utf-8") as fh:
    gui_maps = fh.read()
with open(f"/proc/{engine_pid}/maps", encoding="utf-8") as fh:
    engine_maps = fh.read()
report = {
    "steps": steps,
    "errors": errors,
    "gui_modules": sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras")),
    "gui_maps_tensorflow": "libtensorflow" in gui_maps,
    "engine_pid": engine_pid,
    "engine_maps_qt": any(lib in engine_maps for lib in ("libQt6Core", "libpyside6", "QtCore.abi3")),
    "engine_maps_tensorflow": "libtensorflow" in engine_maps,
}
worker.wait_all(60_000)
client.shutdown(60)
window.close()
print(json.dumps(report))
"""


@pytest.mark.slow
def test_a_whole_workflow_keeps_tensorflow_out_of_the_gui_and_qt_out_of_the_engine(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(WORKFLOW), str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    steps = report["steps"]
    assert report["errors"] == [], report
    assert steps["model_layers"] > 10 and steps["model_path"].endswith("model.keras")
    assert steps["evaluate_overlay"] and steps["inspect_gradcam"] and steps["inspect_rows"] > 20, steps
    assert steps["exported"] == ["keras"], steps
    assert steps["label_curve"] == 2 and steps["label_filed"], steps
    assert report["engine_maps_tensorflow"], "the engine process did not do the TensorFlow work"
    assert report["gui_modules"] == [], f"TensorFlow/Keras modules in the GUI process: {report['gui_modules'][:10]}"
    assert not report["gui_maps_tensorflow"], "a TensorFlow library is mapped in the GUI process"
    assert not report["engine_maps_qt"], "a Qt library is mapped in the engine process"
