"""Export page on the real engine process: formats, destination, overwrite question, export, parity table.

The tiny trained run is written by another Python process (the session's shared
one, :mod:`tests.support.tiny_run`), so this (GUI) test process never imports Keras.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from ui.pages.export_page import ExportPage


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """The session's run folder around a tiny trained model (tests.support.tiny_model.make_run_dir).

    Made once per session by whichever worker asks first; when that is this
    process, another Python process trains it, so this (GUI) process never imports Keras.
    """
    from tests.support.tiny_run import tiny_run as shared_tiny_run

    return shared_tiny_run(tmp_path_factory, keras_free=True)


@pytest.fixture
def page(qtbot, app_state):
    widget = ExportPage(app_state)
    qtbot.addWidget(widget)
    widget.resize(1200, 800)
    yield widget
    widget.runner.wait(60_000)
    widget.probe_runner.wait(60_000)


def _wait_done(qtbot, page, timeout=180_000):
    qtbot.waitUntil(lambda: not page.runner.is_running(), timeout=timeout)
    qtbot.wait(50)


@pytest.mark.engine
def test_export_runs_in_the_engine_and_shows_parity(qtbot, page, app_state, tiny_run, tmp_path, monkeypatch):
    app_state.set_model_path(str(tiny_run / "model.keras"))
    assert page.source_edit.text() == str(tiny_run / "model.keras")
    assert page.out_edit.text() == str(tiny_run / "export")  # default: next to the run
    page.out_edit.setText(str(tmp_path / "out"))
    page.name_edit.setText("ants")
    for fmt, check in page.format_checks.items():
        check.setChecked(fmt in ("keras", "tflite"))
    assert page.selected_formats() == ("keras", "tflite")
    assert page.export_button.isEnabled()

    with qtbot.waitSignal(page.runner.finished, timeout=180_000):
        assert page.start_export()
        assert not page.export_button.isEnabled() and page.cancel_button.isEnabled()
    qtbot.wait(50)
    result = page.last_result
    assert result is not None and not result.cancelled
    assert set(result.files) == {"keras", "tflite"}
    table = page.results_table
    cells = [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]
    assert [row[0] for row in cells] == ["Keras (.keras)", "TFLite float32", "Labels", "Metadata"]
    assert cells[0][1] == str(tmp_path / "out" / "ants.keras")
    assert float(cells[0][2]) <= 1e-5 and cells[0][3] == "1e-05"
    assert float(cells[1][2]) <= 1e-3 and cells[1][3] == "0.001"
    assert "checked in a fresh process" in page.status_label.text()
    assert json.loads((tmp_path / "out" / "model.json").read_text())["class_names"] == ["ants", "bees", "wasps"]
    assert page.export_button.isEnabled() and not page.cancel_button.isEnabled()
    assert page.progress.format() == "Done" and not page.state.busy
    page.show()
    qtbot.waitExposed(page)
    shot = page.grab()
    shot.save(str(tmp_path / "export_page.png"))
    assert (shot.width(), shot.height()) == (1200, 800)

    # Same destination again: the page asks first; "No" keeps the files and starts nothing.
    before = (tmp_path / "out" / "ants.keras").stat().st_mtime_ns
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.No)
    assert not page.start_export()
    assert asked and "ants.keras" in asked[0] and "labels.txt" in asked[0]
    assert not page.runner.is_running()
    assert (tmp_path / "out" / "ants.keras").stat().st_mtime_ns == before
    assert "kept" in page.status_label.text()

    # "Yes" replaces them (verification off to keep the test short).
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    page.verify_check.setChecked(False)
    with qtbot.waitSignal(page.runner.finished, timeout=180_000):
        assert page.start_export()
    qtbot.wait(50)
    assert page.last_result.files and not page.last_result.verified
    assert (tmp_path / "out" / "ants.keras").stat().st_mtime_ns != before
    assert page.results_table.item(0, 2).text() == "not checked"


def test_unavailable_format_is_disabled_with_reason(qtbot, page):
    page.set_availability({"keras": None, "savedmodel": None, "tflite": None, "tflite_dynamic": None, "onnx": "tf2onnx is not installed."})
    onnx = page.format_checks["onnx"]
    assert not onnx.isEnabled() and not onnx.isChecked()
    assert onnx.toolTip() == "Not available: tf2onnx is not installed."
    assert "not available" in onnx.text()
    assert "onnx" not in page.selected_formats()
    page.set_availability({f: None for f in page.format_checks})
    assert onnx.isEnabled() and onnx.toolTip().startswith("ONNX for onnxruntime")


@pytest.mark.engine
def test_probe_fills_availability_from_engine(qtbot, page):
    page.show()
    qtbot.waitUntil(lambda: bool(page.availability), timeout=120_000)
    assert set(page.availability) == set(page.format_checks)
    assert page.availability["keras"] is None and page.format_checks["keras"].isEnabled()
    onnx_reason = page.availability["onnx"]
    assert page.format_checks["onnx"].isEnabled() == (onnx_reason is None)


def test_export_button_explains_missing_inputs(qtbot, page, tmp_path, app_state):
    assert not page.export_button.isEnabled()
    assert "Choose a trained model" in page.export_button.toolTip()
    model = tmp_path / "m.keras"
    model.write_bytes(b"x")
    page.set_model_path(str(model))
    for check in page.format_checks.values():
        check.setChecked(False)
    assert "at least one format" in page.export_button.toolTip()
    page.format_checks["keras"].setChecked(True)
    page.name_edit.setText("")
    assert "name" in page.export_button.toolTip()


@pytest.mark.engine
def test_engine_error_reaches_the_error_dialog(qtbot, page, app_state, tmp_path):
    bad = tmp_path / "broken.keras"
    bad.write_bytes(b"not a zip")
    page.set_model_path(str(bad))
    page.format_checks["keras"].setChecked(True)
    errors = []
    app_state.error_reported.connect(lambda m, d: errors.append((m, d)))
    with qtbot.waitSignal(page.runner.finished, timeout=120_000):
        assert page.start_export()
    qtbot.wait(50)
    assert errors and "Cannot load" in errors[0][0] and "broken.keras" in errors[0][0]
    assert page.status_label.text().startswith("Export failed:")
    assert not app_state.busy


def test_the_confirmation_lists_another_models_files_with_their_full_paths(qtbot, tmp_path, monkeypatch):
    """Issue 24: exporting one run's .keras into a folder of another run's formats left those and described them."""
    import json

    from ui.pages.export_page import ExportPage
    from ui.state import AppState

    out = tmp_path / "out"
    out.mkdir()
    (out / "model.tflite").write_bytes(b"tflite")
    (out / "model.json").write_text(json.dumps({
        "format": "tlstudio-export", "class_names": ["a", "b"], "files": {"tflite": "model.tflite"},
        "file_details": {"tflite": {"file": "model.tflite", "source_model": "/runs/old/model.keras"}}}))
    run = tmp_path / "runs" / "new"
    run.mkdir(parents=True)
    (run / "model.keras").write_bytes(b"model")
    page = ExportPage(AppState())
    qtbot.addWidget(page)
    page.source_edit.setText(str(run))
    page.out_edit.setText(str(out))
    for fmt, check in page.format_checks.items():
        check.setChecked(fmt == "keras")
    assert page.existing_targets()[-1] == out / "model.tflite"
    asked = []
    monkeypatch.setattr("ui.pages.export_page.QMessageBox.question", lambda *a, **k: asked.append(a[2]) or 0)
    assert page.start_export() is False  # not confirmed: nothing starts, nothing is removed
    assert str(out / "model.tflite") in asked[0] and "from another model: removed" in asked[0]
    assert (out / "model.tflite").exists()


def test_the_format_boxes_are_locked_while_an_export_runs(qtbot, monkeypatch):
    from ui.pages.export_page import ExportPage
    from ui.state import AppState

    page = ExportPage(AppState())
    qtbot.addWidget(page)
    page.set_availability({"keras": None, "savedmodel": None, "tflite": None, "tflite_dynamic": None, "onnx": "no tf2onnx"})
    for fmt, check in page.format_checks.items():
        check.setChecked(fmt == "keras")
    monkeypatch.setattr(page.runner, "is_running", lambda: True)
    page._update_buttons()
    assert not any(check.isEnabled() for check in page.format_checks.values())
    assert page.selected_formats() == ("keras",)  # what the running export uses is still what it shows
    monkeypatch.setattr(page.runner, "is_running", lambda: False)
    page._update_buttons()
    assert page.format_checks["keras"].isEnabled() and not page.format_checks["onnx"].isEnabled()
