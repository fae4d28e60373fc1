"""The last audit is saved in the project: reopening shows its findings without a job, and says when the files changed."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from tlstudio.project.audit_record import file_list_fingerprint
from ui.project_controller import project_controller
from ui.state import AppState
from ui.panels.audit_view import AuditView

from tests.support.audit_result import audit_result


def _prepared(root: Path, extra: tuple[str, ...] = ()) -> SimpleNamespace:
    """What the Data page's scan hands the state: the valid files per split and class."""
    valid = {"all": {c: tuple(sorted(str(p) for p in (root / c).glob("*.png"))) + tuple(e for e in extra if f"/{c}/" in e)
                     for c in ("circle", "square", "triangle")}}
    return SimpleNamespace(root=str(root), cancelled=False, report=SimpleNamespace(valid=valid))


def _no_autosave_left(state) -> None:
    controller = project_controller(state)
    controller._autosave_timer.stop()
    controller.discard_own_autosave()


def test_a_finished_audit_is_saved_and_a_reopened_project_shows_it_without_running(qtbot, tiny_dataset, tmp_path):
    root = tiny_dataset.resolve()
    state = AppState()
    state.update_data_config(root=str(root))
    state.set_prepared_data(_prepared(root))
    view = AuditView(state)
    qtbot.addWidget(view)
    assert view.result is None and not view.is_current()
    # what the real job's answer goes through, without the engine (the job is tested elsewhere)
    view._submitted = (str(root), file_list_fingerprint(str(p) for p in root.rglob("*.png")))
    view._on_result(audit_result(root))
    record = project_controller(state).project.audit
    assert record is not None and record.summary["leaks"] == 1 and record.summary["label_issues"] == 2
    assert record.fingerprint == view.result_fingerprint and view.is_current()
    saved = project_controller(state).save(tmp_path / "audited.tlsproj")
    _no_autosave_left(state)

    # Another window opens the project: the Audit tab shows the findings at once.
    other = AppState()
    submitted = []
    view2 = AuditView(other)
    qtbot.addWidget(view2)
    view2.runner.start = lambda *a, **k: submitted.append(a)  # no job may run
    project_controller(other).open_project(saved)
    assert view2.result == audit_result(root) and not submitted
    assert "Last audit" in view2.summary.text() and "not run again" in view2.controls.status.text()
    qtbot.waitUntil(lambda: not view2.builder.busy())  # the cards follow over the next turns
    assert [c.path for c in view2.label_grid.cards] == [str(root / "circle" / "circle_000.png"), str(root / "triangle" / "triangle_006.png")]
    assert not view2.is_current()  # the folder was not scanned yet in this window: unknown, so not trusted
    other.set_prepared_data(_prepared(root))
    assert view2.is_current() and "changed since" not in view2.summary.text()
    other.set_prepared_data(_prepared(root, (str(root / "circle" / "new.png"),)))  # a file was added since
    assert not view2.is_current() and "The dataset's files changed since this audit" in view2.summary.text()
    _no_autosave_left(other)


def test_a_tab_built_after_the_project_opened_shows_its_audit(qtbot, tiny_dataset, tmp_path):
    from tlstudio.project.audit_record import AuditRecord

    root = tiny_dataset.resolve()
    state = AppState()
    controller = project_controller(state)
    controller.project.set_audit(AuditRecord.from_result(audit_result(root), str(root), "sha256:abc"))
    state.update_data_config(root=str(root))
    view = AuditView(state)
    qtbot.addWidget(view)
    assert view.result == audit_result(root) and view.restored is not None
    state.update_data_config(root=str(tmp_path))  # another dataset: its findings are not these
    assert view.result is None and not view.label_grid.cards
    state.update_data_config(root=str(root))
    assert view.result == audit_result(root)
    _no_autosave_left(state)


def test_the_data_page_hands_a_restored_audit_to_the_map_and_the_train_pages_offer(qtbot, tiny_dataset):
    from tlstudio.project.audit_record import AuditRecord
    from ui.pages.data_page import DataPage

    root = tiny_dataset.resolve()
    state = AppState()
    project_controller(state).project.set_audit(AuditRecord.from_result(audit_result(root), str(root), "sha256:abc"))
    state.update_data_config(root=str(root))
    page = DataPage(state)
    qtbot.addWidget(page)
    assert page.audit_view.result == audit_result(root)
    assert page.embedding_map.audit == audit_result(root)  # the map's "Audit flag" colours
    assert state.audit_of(str(root)) == audit_result(root)  # what the Train page's offer reads
    page.shutdown()
    _no_autosave_left(state)


def test_a_move_made_by_the_audit_tab_does_not_make_the_audit_out_of_date(qtbot, tiny_dataset):
    root = tiny_dataset.resolve()
    state = AppState()
    state.update_data_config(root=str(root))
    state.set_prepared_data(_prepared(root))
    view = AuditView(state)
    qtbot.addWidget(view)
    view._submitted = (str(root), file_list_fingerprint(str(p) for p in root.rglob("*.png")))
    view._on_result(audit_result(root))
    moved = str(root / "square" / "circle_000.png")
    after_move = _prepared(root, (moved,))  # (the test only adds the new name; the fingerprint differs all the same)
    view.actions.dataset_changed.emit()  # what a confirmed Relabel move does; the Data page rescans
    state.set_prepared_data(after_move)
    assert view.is_current() and "changed since" not in view.summary.text()
    assert project_controller(state).project.audit.fingerprint == view.result_fingerprint
    state.set_prepared_data(_prepared(root, (moved, str(root / "circle" / "new.png"))))  # a file added by hand later
    assert not view.is_current() and "changed since" in view.summary.text()
    _no_autosave_left(state)


def test_a_project_opened_with_the_same_configs_shows_its_audit_after_the_rescan(qtbot, tiny_dataset, tmp_path):
    """The app restores the last configs before the project opens: no config changes, yet the audit must show."""
    from tlstudio.project.audit_record import AuditRecord
    from tlstudio.project import Project

    root = tiny_dataset.resolve()
    project = Project.new(dataset=str(root))
    project.set_audit(AuditRecord.from_result(audit_result(root), str(root), "sha256:abc"))
    saved = project.save(tmp_path / "same.tlsproj")
    state = AppState()
    state.set_data_config(project.data)  # what restoring the last session's configs did
    view = AuditView(state)  # built before the window's project controller exists
    qtbot.addWidget(view)
    assert view.result is None
    project_controller(state).open_project(saved)  # same configs: no data_config_changed
    state.set_prepared_data(_prepared(root))  # the rescan opening a project asks for
    assert view.result == audit_result(root) and "Last audit" in view.summary.text()
    _no_autosave_left(state)
