"""The application shell: start-up without TensorFlow, settings, errors, closing during work."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from tlstudio.config import DataConfig, ModelConfig, TrainConfig
from ui import settings as app_settings
from ui import worker
from ui.main_window import MainWindow, load_page
from ui.pages import PAGES
from ui.worker import TaskRunner

ROOT = Path(__file__).resolve().parents[2]


def test_window_shows_then_the_engine_reports_its_device_and_tensorflow_never_loads_here(tmp_path):
    """Run the real entry point in a fresh process: the engine process loads TensorFlow, this one never does."""
    code = textwrap.dedent(
        f"""
        import os, sys, time
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        from PySide6.QtCore import QSettings, QTimer
        from PySide6.QtWidgets import QApplication
        QSettings.setDefaultFormat(QSettings.Format.IniFormat)
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, {str(tmp_path)!r})
        t0 = time.perf_counter()
        app = QApplication([])
        report = {{}}

        def check_shown():
            win = next(w for w in QApplication.topLevelWidgets() if w.objectName() == "MainWindow")
            report["visible"] = win.isVisible()
            report["tf_at_show"] = "tensorflow" in sys.modules
            report["seconds_to_show"] = round(time.perf_counter() - t0, 2)
            report["indicator_at_show"] = win.tf_label.text()
            win.tensorflow_ready_changed.connect(
                lambda ok: (report.update(ready=ok, indicator=win.tf_label.text(), tf_at_ready="tensorflow" in sys.modules), app.quit())
            )

        QTimer.singleShot(0, check_shown)
        QTimer.singleShot(120_000, app.quit)
        # The app's engine client, at the test workers' priority: the app starts its engine at a lower
        # one (CHILD_NICENESS) so the GUI gets a core first, and beside a busy test worker or other load
        # that starved the engine's start-up to a fifth of its speed (55 s instead of 14 s at load 4-6).
        from tlstudio.procrun import EngineProcess
        from ui.engine import EngineClient, set_engine
        set_engine(EngineClient(EngineProcess(niceness=0), parent=app))
        import ui.app
        ui.app.main([])
        print(report)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = eval(proc.stdout.strip().splitlines()[-1])  # noqa: S307 - our own dict literal
    assert report["visible"] is True
    assert report["tf_at_show"] is False, "TensorFlow was imported before the window was shown"
    assert report["indicator_at_show"] == "Engine starting…"
    assert report["ready"] is True and re.fullmatch(r"(CPU: \d+ cores?|GPU: .+), (float32|bfloat16|float16) \(.+\)", report["indicator"]), report
    assert report["tf_at_ready"] is False, "TensorFlow was imported in the GUI process"


def test_every_step_has_a_page_and_a_missing_page_is_an_error(main_window):
    assert [main_window.navigator.item(i).data(Qt.ItemDataRole.UserRole) for i in range(main_window.navigator.count())] == [
        key for key, _t, _d in PAGES
    ]
    assert main_window.stack.count() == len(PAGES)
    assert type(main_window.pages["data"]).__name__ == "DataPage"
    with pytest.raises(ModuleNotFoundError):
        load_page("nonexistent", main_window.state)


def test_ctrl_number_switches_pages(main_window, qtbot):
    main_window.activateWindow()
    qtbot.keyClick(main_window, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
    assert main_window.current_page_key() == "train"
    assert main_window.stack.currentWidget() is main_window.pages["train"]
    main_window.page_actions[0].trigger()
    assert main_window.current_page_key() == "data"


def test_status_bar_follows_state(main_window):
    state = main_window.state
    state.update_model_config(backbone="resnet50", weights="none")
    assert main_window.backbone_label.text() == "Model: resnet50 (none)"
    state.start_run(state.run_config())
    assert main_window.run_label.text() == "Training…"
    state.mark_cancelling()
    assert main_window.run_label.text() == "Cancelling…"
    state.finish_run(None, error="boom")
    assert main_window.run_label.text() == "Run failed" and state.run_state == "failed"


def test_settings_persist_within_the_isolated_scope(qtbot, isolated_settings, tmp_path):
    first = MainWindow()
    qtbot.addWidget(first)
    first.show()
    first.resize(760, 530)
    first.state.update_model_config(backbone="resnet50", image_size=64)
    first.state.update_train_config(epochs=3, batch_size=8)
    first.state.update_data_config(val_fraction=0.3, seed=7)
    first.show_page("model")
    app_settings.add_recent_folder(tmp_path)
    first.close()

    assert app_settings.load_config(ModelConfig).backbone == "resnet50"

    second = MainWindow()
    qtbot.addWidget(second)
    assert second.state.model_config.backbone == "resnet50" and second.state.model_config.image_size == 64
    assert second.state.train_config == TrainConfig(epochs=3, batch_size=8)
    assert second.state.data_config.val_fraction == 0.3 and second.state.data_config.seed == 7
    assert second.state.data_config.root == ""  # folders come back through the recent list
    assert second.current_page_key() == "model"
    assert (second.size().width(), second.size().height()) == (760, 530)
    assert app_settings.recent_folders()[0] == str(tmp_path.resolve())
    second._fill_recent_menu()
    assert any(a.data() == str(tmp_path.resolve()) for a in second.recent_menu.actions())


def test_unreadable_stored_config_falls_back_to_defaults(isolated_settings):
    isolated_settings.setValue("config/data", "{not json")
    assert app_settings.load_config(DataConfig) is None


def test_engine_error_shows_readable_message_with_details(main_window, qtbot):
    main_window.state.report_error("Dataset folder /x is empty: no class folders found.", "Traceback (most recent call last):\n  ...")
    dialog = main_window.last_error_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=5_000)
    assert dialog.message_label.text() == "Dataset folder /x is empty: no class folders found."
    assert not dialog.details_view.isVisible()
    dialog.details_button.click()
    assert dialog.details_view.isVisible()
    qtbot.wait(10)
    details_bottom = dialog.details_view.geometry().bottom()
    buttons_top = dialog.copy_button.mapTo(dialog, QPoint(0, 0)).y()
    assert details_bottom < buttons_top  # the expanded traceback does not hide the buttons
    assert "Traceback" in dialog.details_view.toPlainText()
    dialog.copy_button.click()
    from PySide6.QtGui import QGuiApplication

    assert QGuiApplication.clipboard().text().startswith("Dataset folder /x is empty")
    dialog.close()


def test_dropping_a_folder_opens_it(main_window, qtbot, tiny_dataset):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tiny_dataset))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(main_window.state.open_folder_requested, timeout=5_000) as blocker:
        main_window.dropEvent(event)
    assert blocker.args == [str(tiny_dataset)]
    assert app_settings.recent_folders()[0] == str(tiny_dataset.resolve())
    assert main_window.current_page_key() == "data"
    qtbot.waitUntil(lambda: main_window.state.prepared_data is not None, timeout=30_000)
    assert main_window.state.dataset_root == str(tiny_dataset.resolve())


def test_dropping_a_file_is_refused(main_window, tmp_path):
    f = tmp_path / "note.txt"
    f.write_text("x")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(f))])
    event = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    main_window.dropEvent(event)
    assert not event.isAccepted()


def test_close_during_a_task_asks_then_cancels_and_waits(main_window, qtbot, monkeypatch):
    started = threading.Event()
    saw_cancel = []

    def long_task(*, sink, cancel):
        started.set()
        while not cancel.cancelled:
            time.sleep(0.01)
        time.sleep(0.2)  # winding down takes a moment
        saw_cancel.append(True)
        return "stopped"

    runner = TaskRunner(main_window)
    runner.start(long_task)
    assert started.wait(10)

    answers = []
    monkeypatch.setattr(main_window, "confirm_close_during_run", lambda: answers.append("no") or False)
    main_window.close()
    assert answers == ["no"]
    assert main_window.isVisible() and runner.is_running() and not runner.token.cancelled

    monkeypatch.setattr(main_window, "confirm_close_during_run", lambda: answers.append("yes") or True)
    main_window.close()
    assert answers == ["no", "yes"]
    assert runner.token.cancelled
    assert main_window.isVisible()  # still open until the worker has finished by itself
    qtbot.waitUntil(lambda: not main_window.isVisible(), timeout=10_000)
    assert saw_cancel == [True]
    assert not runner.is_running()
    assert worker.active_runners(include_background=False) == []


def test_close_when_idle_does_not_ask(main_window, monkeypatch):
    monkeypatch.setattr(main_window, "confirm_close_during_run", lambda: (_ for _ in ()).throw(AssertionError("asked")))
    main_window.close()
    assert not main_window.isVisible()


def test_escape_cancels_running_work(main_window, qtbot):
    def until_cancelled(*, sink, cancel):
        while not cancel.cancelled:
            time.sleep(0.01)
        return "cancelled"

    runner = TaskRunner(main_window)
    runner.start(until_cancelled)
    qtbot.waitUntil(main_window.cancel_action.isEnabled, timeout=5_000)
    with qtbot.waitSignal(runner.finished, timeout=10_000):
        main_window.cancel_action.trigger()
    assert runner.token.cancelled


def test_cancelling_message_goes_once_the_work_stopped(main_window, qtbot):
    from ui.main_window import CANCELLING_MESSAGE

    def until_cancelled(*, sink, cancel):
        while not cancel.cancelled:
            time.sleep(0.01)
        return "cancelled"

    state = main_window.state
    runner = TaskRunner(main_window)
    runner.running_changed.connect(lambda running: (state.begin_busy if running else state.end_busy)("test"))
    runner.start(until_cancelled)
    qtbot.waitUntil(main_window.cancel_action.isEnabled, timeout=5_000)
    main_window.cancel_action.trigger()
    assert main_window.statusBar().currentMessage() == CANCELLING_MESSAGE
    qtbot.waitUntil(lambda: not runner.is_running(), timeout=10_000)
    qtbot.waitUntil(lambda: main_window.statusBar().currentMessage() == "", timeout=2_000)


def test_pages_are_built_after_show_or_on_first_lookup(qtbot, isolated_settings):
    window = MainWindow(restore=False)
    qtbot.addWidget(window)
    assert set(window.pages) == {"data"}  # only the visible page before show
    train = window.pages["train"]  # a lookup builds it at once
    assert type(train).__name__ == "TrainPage"
    assert window.stack.indexOf(train) == 2
    window.show()
    qtbot.waitUntil(lambda: len(window.pages) == len(PAGES), timeout=30_000)
    assert [window.stack.widget(i).property("pageKey") for i in range(window.stack.count())] == [k for k, _t, _d in PAGES]
    window.show_page("train")
    assert window.stack.currentWidget() is window.pages["train"]
    worker.wait_all(120_000)  # a page may have started background work when shown
    qtbot.waitUntil(lambda: not worker.active_runners(), timeout=120_000)


def test_status_bar_shows_background_work(main_window):
    state = main_window.state
    state.begin_busy("scan")
    assert main_window.run_label.text() == "Idle · working…"
    state.end_busy("scan")
    assert main_window.run_label.text() == "Idle"


def test_recent_folders_are_newest_first_unique_and_bounded(isolated_settings, tmp_path):
    folders = []
    for i in range(app_settings.MAX_RECENT + 2):
        folder = tmp_path / f"d{i}"
        folder.mkdir()
        folders.append(folder)
        app_settings.add_recent_folder(folder)
    app_settings.add_recent_folder(folders[3])
    recent = app_settings.recent_folders()
    assert len(recent) == app_settings.MAX_RECENT
    assert recent[0] == str(folders[3].resolve())
    assert recent[1] == str(folders[-1].resolve())
    assert len(set(recent)) == len(recent)
    folders[-1].rmdir()
    assert str(folders[-1].resolve()) not in app_settings.recent_folders()  # gone folders drop out


def test_runs_tab_resume_goes_to_the_train_page_when_it_can_resume_a_folder(qtbot, isolated_settings, monkeypatch):
    from ui.pages import train_page

    asked = []

    def resume(self, run_dir: str | None = None) -> bool:
        asked.append(run_dir)
        return True

    monkeypatch.setattr(train_page.TrainPage, "resume", resume)
    window = MainWindow(restore=False)
    qtbot.addWidget(window)
    history = window.pages["evaluate"].history
    assert history.resume_handler is not None and history.resume_button.isVisibleTo(history)
    assert history.resume_handler("/runs/one")
    assert asked == ["/runs/one"] and window.current_page_key() == "train"


def test_an_unexpected_error_in_a_slot_shows_the_dialog_and_is_logged(main_window, qtbot, monkeypatch, tmp_path):
    from PySide6.QtCore import QTimer

    from ui import app as app_module

    log = tmp_path / "logs" / "gui-errors.log"
    monkeypatch.setattr(app_module, "error_log_path", lambda: log)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    app_module.install_exception_hook(main_window)

    def broken_slot():
        raise ZeroDivisionError("a bug in a slot")

    QTimer.singleShot(0, broken_slot)
    qtbot.waitUntil(lambda: main_window.last_error_dialog is not None and main_window.last_error_dialog.isVisible(), timeout=5_000)
    dialog = main_window.last_error_dialog
    assert "ZeroDivisionError: a bug in a slot" in dialog.message and str(log) in dialog.message
    assert "broken_slot" in dialog.details
    assert "a bug in a slot" in log.read_text(encoding="utf-8")
    dialog.close()


def test_buttons_of_the_data_evaluate_inspect_and_export_pages_have_tooltips(qtbot, isolated_settings):
    from PySide6.QtWidgets import QCheckBox, QPushButton

    window = MainWindow(restore=False)
    qtbot.addWidget(window)
    missing = []
    for key in ("data", "evaluate", "inspect", "export"):
        page = window.pages[key]
        for button in page.findChildren(QPushButton) + page.findChildren(QCheckBox):
            if button.text() and not button.toolTip():
                missing.append(f"{key}: {button.text()}")
    assert missing == []


def test_quit_question_names_only_the_work_that_is_running(main_window):
    def until_cancelled(*, sink, cancel):
        while not cancel.cancelled:
            time.sleep(0.01)

    scan = TaskRunner(main_window)
    scan.job = "prepare_data"  # what an EngineTask records
    scan.start(until_cancelled)
    try:
        text = main_window.running_work_text()
        assert text.startswith("A dataset scan is still running.") and "Stop it and quit?" in text
        assert "training" not in text and "model build" not in text
        train = TaskRunner(main_window)
        train.job = "train"
        train.start(until_cancelled)
        text = main_window.running_work_text()
        assert text.startswith("A dataset scan and a training run are still running.") or text.startswith(
            "A training run and a dataset scan are still running."
        )
        assert "Stop them and quit?" in text and "keeps its last checkpoint" in text
    finally:
        worker.cancel_all()
        worker.wait_all(10_000)


def test_the_export_error_shown_in_the_gui_does_not_end_with_the_format_key(qtbot):
    from ui.pages.export_page import ExportPage, export_error_text
    from ui.state import AppState

    message = (
        "The exported SavedModel file saved_model does not reproduce the app's predictions: max |Δ| of probabilities "
        "is 0.2, above the allowed 0.0001 (top-1 agreement 80%). Nothing was written. Received: format='savedmodel'"
    )
    assert export_error_text(message).endswith("Nothing was written.")
    assert export_error_text("Bad size. Received: (3, 4)") == "Bad size. Received: (3, 4)"  # other values stay
    state = AppState()
    page = ExportPage(state)
    qtbot.addWidget(page)
    reported = []
    state.error_reported.connect(lambda m, d: reported.append((m, d)))
    page._on_error(message, "Traceback …")
    shown, details = reported[0]
    assert shown.endswith("Nothing was written.") and "format='savedmodel'" not in shown
    assert "Received: format='savedmodel'" in details and "Traceback" in details
    assert not page.status_label.text().endswith("'savedmodel'")


def test_a_deleted_window_no_longer_hears_the_state_it_leaves_behind(qtbot, fake_engine):
    """The state outlives its window (a test's or a reopened window's); its signals must not reach a deleted one."""
    import shiboken6

    from ui.state import AppState

    fake_engine.register("export_formats", {"keras": None})
    fake_engine.register("inspect_table", RuntimeError("no table in this test"))
    state = AppState()
    win = MainWindow(state=state, restore=False)
    win.show()
    qtbot.waitExposed(win)
    for key, *_ in PAGES:  # each page's panels listen to the state too
        win.show_page(key)
    shiboken6.delete(win)
    with qtbot.captureExceptions() as exceptions:
        state.model_config_changed.emit(state.model_config)
        state.train_config_changed.emit(state.train_config)
        state.data_config_changed.emit(state.data_config)
        state.data_changed.emit(None)
        state.run_state_changed.emit("idle")
        state.busy_changed.emit(False)
        state.status_message.emit("still here", 0)
        state.open_sample_requested.emit()
        qtbot.wait(20)
    assert exceptions == []
