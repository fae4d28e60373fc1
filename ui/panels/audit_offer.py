"""The Train page's audit line: offer the dataset audit before the first training, warn about leaks.

Before a dataset is trained on for the first time, a non-modal line says
"This dataset was never audited" with a **Run audit** button: it shows the
Data page's Audit tab and starts the audit there
(:attr:`ui.state.AppState.audit_requested`). When an audit of the current
dataset found duplicates that span splits, the line becomes a one-line
warning: validation accuracy is inflated by the leaked photos.

The line hides once the dataset has an audit without leaks, or once a run
has been trained on it (the offer is for the first training only).

Audits are remembered in the project (:attr:`tlstudio.project.Project.audit`),
so reopening a project whose dataset was audited does not offer it again,
unless the dataset's files changed since (another file-list fingerprint):
then the line says so and offers to run it again.
"""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from tlstudio.config import RunConfig
from tlstudio.project.audit_record import AuditRecord
from ui.jobs.audit_jobs import current_fingerprint
from ui.panels.audit_cards import when_text
from ui.state import AppState

LEAK_COLOUR = "#b00020"


def _key(root: str) -> str:
    return os.path.realpath(root) if root else ""


class AuditOffer(QWidget):
    """One line on the Train page: the audit offer, or the leak warning.

    Args:
        state: The shared :class:`~ui.state.AppState`.
        parent: Parent widget.
    """

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self._trained: set[str] = set()
        self.label = QLabel("")
        self.label.setObjectName("AuditOffer")
        self.label.setWordWrap(True)
        self.button = QPushButton("Run audit")
        self.button.setToolTip("Look for mislabelled images, duplicates and train/val leaks on the Data page's Audit tab")
        self.button.clicked.connect(self.state.audit_requested.emit)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.label, 1)
        row.addWidget(self.button)
        state.data_config_changed.connect(self.refresh)
        state.audit_recorded.connect(self.refresh)
        state.run_started.connect(self._on_run_started)
        state.data_changed.connect(self.refresh)  # a rescan: the files may have changed
        self._watched: Any = None
        self.refresh()

    def _on_run_started(self, config: RunConfig) -> None:
        root = config.data.root or self.state.data_config.root
        self._trained.add(_key(root))
        self.refresh()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        self.refresh()

    def record(self) -> AuditRecord | None:
        """The project's last audit when it was of the current dataset folder, else None.

        The project controller is looked up, never made (making one starts autosaving).
        """
        from ui.project_controller import existing_project_controller

        controller = existing_project_controller(self.state)
        if controller is None:
            return None
        if controller is not self._watched:  # another project opening: refresh
            controller.project_changed.connect(lambda _p: self.refresh())
            self._watched = controller
        record = controller.project.audit
        root = self.state.data_config.root
        return record if record is not None and _key(record.root) == _key(root) else None

    def refresh(self, *_signal_args) -> None:
        """Show the offer, the leak warning, or nothing, for the current dataset."""
        root = self.state.data_config.root
        audit = self.state.audit_of(root) if root else None
        record = self.record() if root else None
        now = current_fingerprint(self.state) if record is not None else ""
        changed = bool(record is not None and now and record.fingerprint and now != record.fingerprint)
        if audit is not None and audit.cancelled and not audit.leaks:
            audit = None  # a cancelled audit without leaks found so far does not count
        leaks = 0 if changed else (len(audit.leaks) if audit is not None else int(record.summary.get("leaks", 0)) if record else 0)
        if not root:
            self.setVisible(False)
        elif changed and _key(root) not in self._trained:
            self.label.setText(f"The dataset's files changed since its last audit ({when_text(record.ran)}) — "
                               "run it again to find new train/val leaks and mislabelled images.")
            self.button.setText("Run audit")
            self.setVisible(True)
        elif leaks:
            self.label.setText(
                f"<span style='color:{LEAK_COLOUR}'>⚠ The audit found {leaks} photo group{'s' if leaks != 1 else ''} in more than "
                "one split (train/val leaks): validation accuracy will be inflated. See the Data page's Audit tab.</span>"
            )
            self.button.setText("Show audit")
            self.setVisible(True)
        elif audit is None and record is None and _key(root) not in self._trained:
            self.label.setText("This dataset was never audited — mislabelled images and train/val leaks are cheap to find first.")
            self.button.setText("Run audit")
            self.setVisible(True)
        else:
            self.setVisible(False)
