"""Audit decisions reach the engine: Exclude / Relabel / Undo update the state's DataConfig, and the Data page's split."""

from __future__ import annotations

from pathlib import Path

from tlstudio.config import DataConfig
from tlstudio.data import prepare_data
from ui.panels.audit_actions import AuditActions
from ui.project_controller import project_controller
from ui.state import AppState


def test_decisions_flow_into_data_config_and_back_on_undo(qtbot, tiny_dataset):
    root = tiny_dataset.resolve()
    circle = sorted(str(p) for p in (root / "circle").iterdir())
    state = AppState(DataConfig(root=str(root)))
    actions = AuditActions(state)
    actions.confirm = lambda _title, _text: False  # "Keep in place": the override only
    seen = []
    state.data_config_changed.connect(seen.append)
    try:
        actions.exclude(circle[0])
        assert state.data_config.exclude == (circle[0],)
        actions.relabel(circle[1], "circle", "square")
        assert state.data_config.relabel == ((circle[1], "square"),)
        assert Path(circle[1]).parent.name == "circle"  # untouched
        # What the engine prepares from that config: one circle fewer, one more square.
        plain = prepare_data(DataConfig(root=str(root)))
        data = prepare_data(state.data_config)
        total = lambda d, c: sum(d.counts[s][c] for s in d.counts)  # noqa: E731
        assert total(data, "circle") == total(plain, "circle") - 2
        assert total(data, "square") == total(plain, "square") + 1
        actions.undo()
        assert state.data_config.relabel == ()
        actions.undo()
        assert state.data_config.exclude == ()
        assert len(seen) == 4
        # The project file stores both: the decisions and the DataConfig that carries them.
        assert project_controller(state).project.data == state.data_config
    finally:
        controller = project_controller(state)
        controller._autosave_timer.stop()
        controller.discard_own_autosave()
