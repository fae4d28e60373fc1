"""The Train page's audit line: offered before the first training, a leak warning after an audit finds leaks."""

from __future__ import annotations

from tlstudio.config import DataConfig, RunConfig
from tlstudio.jobs.audit import AuditResult, DuplicateGroup, Imbalance
from ui.pages.audit_offer import AuditOffer
from ui.state import AppState


def _audit(leak: bool) -> AuditResult:
    group = DuplicateGroup("exact", ("/d/a/1.jpg", "/d/a/2.jpg"), ("train", "val") if leak else ("train", "train"), leak, 1.0)
    return AuditResult((group,), (), (), Imbalance({}, 1.0, ""))


def test_offer_then_leak_warning_then_nothing(qtbot, tmp_path):
    state = AppState()
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
