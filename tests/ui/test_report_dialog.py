"""File ▸ Export report…: the model card is kept in the project, the dialog submits a typed ReportConfig."""

from __future__ import annotations

from pathlib import Path

import pytest

from tlstudio.api.report import ModelCard, ReportConfig, ReportResult
from tlstudio.errors import ConfigError


@pytest.fixture
def run_dir(tmp_path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / "run_config.json").write_text("{}", encoding="utf-8")
    return run


@pytest.fixture
def dialog(qtbot, fake_engine, run_dir):
    from ui.panels.report_dialog import ReportDialog
    from ui.state import AppState

    state = AppState()
    state.set_model_path(str(run_dir / "model.keras"))
    widget = ReportDialog(state)
    qtbot.addWidget(widget)
    return widget


def test_the_dialog_starts_on_the_current_run_and_keeps_the_card_in_the_project(dialog, run_dir):
    assert dialog.run_edit.text() == str(run_dir)
    assert [dialog.card_edits[n].placeholderText() != "" for n in ModelCard().to_dict()] == [True] * 4
    dialog.card_edits["intended_use"].setPlainText("Sort field photos")
    dialog.card_edits["authors"].setPlainText("R. Porter")
    project = dialog.controller.project
    assert project.model_card == ModelCard(intended_use="Sort field photos", authors="R. Porter") and project.dirty


def test_export_submits_the_report_job_and_shows_where_it_went(dialog, fake_engine, qtbot, run_dir, tmp_path):
    out = tmp_path / "r.html"
    fake_engine.register(ReportConfig, lambda c: ReportResult(c.out, size=250_000, seconds=3.2, missing=("model.keras is missing.",)))
    dialog.card_edits["limitations"].setPlainText("Not for night photos")
    dialog.export_edit.setText(str(tmp_path))
    with qtbot.waitSignal(dialog.runner.finished, timeout=10_000):
        assert dialog.export_to(str(out))
    (name, config), = [(n, c) for n, c in fake_engine.calls if n == "report"]
    assert config.run_dir == str(run_dir) and config.out == str(out) and config.overwrite  # the save dialog asked
    assert config.model_card.limitations == "Not for night photos" and config.export_dirs == (str(tmp_path),)
    assert "Wrote" in dialog.status.text() and "244 KB" in dialog.status.text() and "model.keras is missing" in dialog.status.text()
    assert not dialog.open_button.isHidden()


def test_an_error_is_one_readable_line(dialog, fake_engine, qtbot, tmp_path):
    fake_engine.register(ReportConfig, ConfigError("the report's output must be a file, not a folder. Received: /x"))
    with qtbot.waitSignal(dialog.runner.finished, timeout=10_000):
        dialog.export_to(str(tmp_path / "r.html"))
    assert dialog.status.text().startswith("The report could not be written: the report's output must be a file")
    assert dialog.open_button.isHidden() and dialog.export_button.isEnabled()


def test_no_run_folder_says_so_without_a_job(dialog, fake_engine, tmp_path):
    dialog.run_edit.setText(str(tmp_path / "gone"))
    assert not dialog.export_to(str(tmp_path / "r.html"))
    assert "Choose a run folder first" in dialog.status.text() and "report" not in fake_engine.jobs_called()


@pytest.mark.parametrize("size", [(1024, 680), (1600, 1000)])
def test_screenshot(dialog, qtbot, tmp_path, size):
    dialog.resize(min(size[0], 720), min(size[1], 560))
    dialog.show()
    qtbot.wait(50)
    assert all(e.height() >= 40 for e in dialog.card_edits.values())
    assert dialog.grab().save(str(tmp_path / f"dialog_{size[0]}.png"))


def test_a_cancelled_report_says_nothing_was_written(dialog, fake_engine, qtbot, tmp_path):
    fake_engine.register(ReportConfig, lambda c: ReportResult(c.out, cancelled=True))
    with qtbot.waitSignal(dialog.runner.finished, timeout=10_000):
        dialog.export_to(str(tmp_path / "r.html"))
    assert dialog.status.text() == "Cancelled: no report was written." and dialog.open_button.isHidden()
    assert dialog.cancel_button.text() == "Close"


def test_the_file_menu_opens_the_report_dialog(qtbot, fake_engine, isolated_settings):
    from ui.main_window import MainWindow

    window = MainWindow(restore=False)
    qtbot.addWidget(window)
    file_menu = window.menuBar().actions()[0].menu()
    assert window.report_action in file_menu.actions() and window.report_action.text() == "Export &report…"
    window.report_action.trigger()
    assert window.report_dialog.isVisible() and window.report_dialog.run_edit.text() == ""
    window.report_dialog.close()
