"""The Train page's audit line: offered before the first training, a leak warning after an audit finds leaks."""

from __future__ import annotations

import pytest

from tlstudio.config import DataConfig, RunConfig
from tlstudio.api.audit import AuditResult, DuplicateGroup, Imbalance
from ui.panels.audit_offer import AuditOffer
from ui.project_controller import project_controller
from ui.state import AppState


@pytest.fixture
def state():
    """An app state whose project (the offer reads its saved audit) leaves no autosave behind for later tests."""
    app_state = AppState()
    yield app_state
    controller = project_controller(app_state)
    controller._autosave_timer.stop()
    controller.discard_own_autosave()


def _audit(leak: bool) -> AuditResult:
    group = DuplicateGroup("exact", ("/d/a/1.jpg", "/d/a/2.jpg"), ("train", "val") if leak else ("train", "train"), leak, 1.0)
    return AuditResult((group,), (), (), Imbalance({}, 1.0, ""))


def test_offer_then_leak_warning_then_nothing(qtbot, tmp_path, state):
    offer = AuditOffer(state)
    qtbot.addWidget(offer)
    assert offer.isHidden()  # no dataset
    root = str(tmp_path / "data")
    state.update_data_config(root=root)
    assert not offer.isHidden() and "never audited" in offer.label.text()
    with qtbot.waitSignal(state.audit_requested, timeout=1000):
        offer.button.click()
    state.record_audit(root, _audit(leak=True))
    assert not offer.isHidden() and "1 photo group in more than one split" in offer.label.text()
    state.record_audit(root, _audit(leak=False))
    assert offer.isHidden()
    # Another dataset, trained on without an audit: the offer is for the first training only.
    other = str(tmp_path / "other")
    state.update_data_config(root=other)
    assert not offer.isHidden()
    state.run_started.emit(RunConfig(data=DataConfig(root=other)))
    assert offer.isHidden()


def test_an_audit_saved_in_the_project_is_not_offered_again_until_the_files_change(qtbot, tmp_path, state):
    from types import SimpleNamespace

    from tlstudio.project.audit_record import AuditRecord, file_list_fingerprint
    from tlstudio.project import Project
    root = tmp_path / "data"
    files = [str(root / "a" / f"{i}.jpg") for i in range(3)]

    def scanned(paths):
        return SimpleNamespace(root=str(root), cancelled=False, report=SimpleNamespace(valid={"all": {"a": tuple(paths)}}))

    offer = AuditOffer(state)
    qtbot.addWidget(offer)
    project = Project.new(dataset=str(root))
    project.set_audit(AuditRecord.from_result(_audit(leak=False), str(root), file_list_fingerprint(files)))
    project_controller(state)._apply(project)  # what opening the project file does
    state.set_prepared_data(scanned(files))
    assert offer.isHidden()  # audited, same files: not offered again
    state.set_prepared_data(scanned(files + [str(root / "a" / "new.jpg")]))
    assert not offer.isHidden() and "files changed since its last audit" in offer.label.text()
    assert offer.button.text() == "Run audit"
    state.set_prepared_data(scanned(files))
    assert offer.isHidden()

    leaky = Project.new(dataset=str(root))  # a project whose saved audit found leaks warns without running anything
    leaky.set_audit(AuditRecord.from_result(_audit(leak=True), str(root), file_list_fingerprint(files)))
    project_controller(state)._apply(leaky)
    assert not offer.isHidden() and "1 photo group in more than one split" in offer.label.text()
