"""The Data page's Audit tab: what the dataset audit found, as thumbnails to act on.

"Run audit" submits the engine job ``"audit"`` (:mod:`tlstudio.jobs.audit`)
with the Data page's dataset and split and the Model page's backbone, weights
and size. The result shows, most important first:

* **Possible label issues**: one card per suspect, with the class folder it is
  in (given), the class the out-of-fold head suggests, and the score.
* **Duplicates**: each group on one row, its images side by side, marked when
  it spans splits (a train/val leak).
* **Outliers**: images far from every other image in feature space.
* **Class balance**: images per class, the ratio, and what to do.

The cards are built and laid out by :class:`~ui.panels.audit_findings.AuditFindings`;
they carry the actions of :class:`~ui.panels.audit_actions.AuditActions`:
Relabel (label issues), Exclude, Looks right; Undo takes back the newest.
Findings the project already dismissed are not shown again. Thumbnails load
off the GUI thread (:class:`ui.widgets.thumbnails.ThumbnailLoader`).

A finished audit is saved in the project (:class:`~tlstudio.audit_record.AuditRecord`:
when, on which files, what it found). When a project opens, or this tab is
built, the project's last audit of the current dataset is shown at once,
marked with its date, and said to be out of date when the dataset's files
changed since (:meth:`AuditView.is_current`). A file moved by this tab's
Relabel (or its Undo) does not count as a change: the rescan it causes is
adopted as the files the audit stands for.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from tlstudio.api.audit import AuditConfig, AuditResult  # dataclasses only
from tlstudio.project.audit_record import AuditRecord
from ui.engine import engine
from ui.jobs import audit_jobs
from ui.jobs.audit_jobs import current_fingerprint, same_folder
from ui.panels.audit_actions import AuditActions
from ui.panels.audit_cards import DuplicateRow, SuspectCard, imbalance_html, summary_parts
from ui.panels.audit_findings import LABEL_PAGE, AuditFindings
from ui.state import AppState
from ui.widgets.job_controls import JobControls
from ui.widgets.thumbnails import ThumbnailLoader

logger = logging.getLogger(__name__)

BUSY_KEY = "audit"

__all__ = ["AuditView", "LABEL_PAGE"]


# ----------------------------------------------------------------------- view


class AuditView(QWidget):
    """Run the dataset audit and act on what it found.

    Args:
        state: The shared :class:`~ui.state.AppState`.
        parent: Parent widget.

    Attributes:
        actions: The :class:`~ui.panels.audit_actions.AuditActions` the cards call.
        label_grid: Cards of the label issues.
        outlier_grid: Cards of the outliers.
        duplicate_rows: One row widget per duplicate group shown, each with ``cards``.
        result_root: The dataset folder of the result shown.
        result_fingerprint: Its file-list fingerprint when it ran ("" when unknown).
        restored: The project record the result shown came from, or None when it ran in this session.

    Signals:
        audited(object): an :class:`~tlstudio.jobs.audit.AuditResult` arrived.
    """

    audited = Signal(object)

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("AuditView")
        self.state = state
        self.result: AuditResult | None = None
        self.result_root = ""
        self.result_fingerprint = ""
        self.restored: AuditRecord | None = None
        self._submitted = ("", "")
        self._shown_stale = False
        self._root_seen = state.data_config.root
        self._adopt_next_scan = False
        self.actions = AuditActions(state, self)
        self.loader = ThumbnailLoader(self)
        self.controls = JobControls("Run audit", "Look for mislabelled images, duplicates, train/val leaks and outliers "
                                    "(features of the Model page's backbone; nothing is changed)")
        self.undo_button = QPushButton("Undo")
        self.undo_button.setObjectName("AuditUndo")
        self.undo_button.setToolTip("Undo the last relabel, move, exclusion or dismissal (a moved image goes back to its folder)")
        self.undo_button.setEnabled(False)
        self.undo_button.clicked.connect(self.actions.undo)
        self.controls.layout().itemAt(0).layout().addWidget(self.undo_button)
        self.summary = QLabel("Run the audit to look for mislabelled images, duplicates across splits and outliers.")
        self.summary.setObjectName("AuditSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)

        self.scroll = self.findings = AuditFindings(self.loader, self._refresh_card)
        self.findings.relabel.connect(self._relabel)
        self.findings.exclude.connect(self._exclude)
        self.findings.dismiss.connect(self._dismiss)
        self.findings.dismiss_group.connect(self._dismiss_group)
        # the findings' parts, as the tab's own (tests and the screenshots read them here)
        for name in ("label_title", "label_grid", "label_more", "duplicate_title", "outlier_title", "outlier_grid",
                     "balance_title", "balance", "builder"):
            setattr(self, name, getattr(self.findings, name))

        layout = QVBoxLayout(self)
        layout.addWidget(self.controls)
        layout.addWidget(self.summary)
        layout.addWidget(self.scroll, 1)

        self.runner = engine().task(self)
        self.controls.attach(self.runner)
        self.controls.run_button.clicked.connect(self.run_audit)
        self.runner.result.connect(self._on_result)
        self.runner.error.connect(self._on_error)
        self.runner.finished.connect(lambda: self.state.end_busy(BUSY_KEY))
        self.actions.changed.connect(self._on_decided)
        # A move made here rescans the folder; that new file list is not "the dataset changed since the audit".
        self.actions.dataset_changed.connect(lambda: setattr(self, "_adopt_next_scan", True))
        self.actions.failed.connect(self._on_failed)
        self._watched_controller: Any = None
        state.data_changed.connect(self._update_staleness)
        state.data_config_changed.connect(self._on_dataset_maybe_changed)
        self.restore_from_project()

    # ------------------------------------------------------------------ API

    def audit_config(self) -> AuditConfig:
        """The audit of the current dataset with the Model page's backbone, weights and size."""
        return audit_jobs.audit_config(self.state)

    def run_audit(self) -> bool:
        """Submit the ``"audit"`` job; False (and a status line saying why) when it cannot start."""
        if self.runner.is_running():
            return False
        config = self.audit_config()
        if not config.data.root:
            self.controls.status.setText("Open a dataset folder first: the audit looks at its images. Received: no dataset folder")
            return False
        self.controls.status.setText(f"Auditing {config.data.root} with {config.model.backbone} features…")
        self._submitted = (config.data.root, current_fingerprint(self.state))
        self.state.begin_busy(BUSY_KEY)
        self.runner.start("audit", config)
        return True

    def show_result(self, result: AuditResult, now: bool = True) -> None:
        """Show ``result``'s findings (without the ones the project dismissed); ``now=False``: no card built in this call."""
        self.result = result
        decisions = self.actions.decisions
        issues = [i for i in result.label_issues if not decisions.is_dismissed("label", i.path)]
        groups = [g for g in result.duplicates if not all(decisions.is_dismissed("duplicate", p) for p in g.paths)]
        outliers = [o for o in result.outliers if not decisions.is_dismissed("outlier", o.path)]
        hidden = (len(result.label_issues) - len(issues)) + (len(result.duplicates) - len(groups)) + (len(result.outliers) - len(outliers))

        self.findings.show_findings(issues, groups, outliers, imbalance_html(result.imbalance), now=now)
        self._shown_stale = self._stale()
        parts = summary_parts(result, hidden, self.restored.ran if self.restored is not None else "", self._shown_stale)
        self.summary.setText(" ".join(parts))
        for card in self.cards():
            self._refresh_card(card)

    # ------------------------------------------------------ the project's record

    @property
    def controller(self):
        """The project controller, made if needed (only when the user acts: making one starts autosaving)."""
        from ui.project_controller import project_controller

        project_controller(self.state)
        return self._existing_controller()

    def _existing_controller(self):
        """The project controller if one exists (never made here), watched for another project opening."""
        from ui.project_controller import existing_project_controller

        controller = existing_project_controller(self.state)
        if controller is not None and controller is not self._watched_controller:
            controller.project_changed.connect(lambda _p: self.restore_from_project())
            self._watched_controller = controller
        return controller

    def restore_from_project(self) -> bool:
        """Show the project's last audit of the current dataset, if it has one (no job runs); True when shown."""
        controller = self._existing_controller()
        record = controller.project.audit if controller is not None else None
        root = self.state.data_config.root
        if record is None or not same_folder(record.root, root):
            return False
        if record is self.restored and self.result is not None and self.result_root == record.root:
            return True  # shown already (opening a project reaches here twice: the project, then its dataset)
        try:
            result = record.result()
        except (KeyError, TypeError, ValueError) as exc:  # from_dict checked it; log what is dropped all the same
            logger.warning("the project's audit record of %s could not be shown: %s", record.root, exc)
            return False
        self.result_root, self.result_fingerprint, self.restored = record.root, record.fingerprint, record
        self.show_result(result, now=False)  # the cards follow over the next turns: opening a project is one long call already
        self.controls.status.setText("Shown from the project file: not run again. Run audit looks again.")
        self.audited.emit(result)
        return True

    def is_current(self) -> bool:
        """True when the result shown is a finished audit of the current dataset's files as last scanned."""
        if self.result is None or self.result.cancelled or not same_folder(self.result_root, self.state.data_config.root):
            return False
        now = current_fingerprint(self.state)
        return bool(now) and now == self.result_fingerprint

    def _stale(self) -> bool:
        """True when the dataset's files are known to differ from the ones the shown audit saw."""
        now = current_fingerprint(self.state)
        return bool(self.result is not None and now and self.result_fingerprint and now != self.result_fingerprint)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if self.result is None:
            self.restore_from_project()  # a project opened with the same configs emits no config change

    def _update_staleness(self, *_signal_args) -> None:
        if self.result is None:
            self.restore_from_project()  # a project opened before this tab heard of its controller: the rescan says so
        if self._adopt_next_scan:
            self._adopt_scan()
        if self.result is not None and self._stale() != self._shown_stale:
            self.show_result(self.result)

    def _adopt_scan(self) -> None:
        """The rescan after a move this tab made (or undid): the audit still stands for the files as they are now."""
        now = current_fingerprint(self.state)
        if not now:
            return  # not the rescan yet (another folder, or cancelled)
        self._adopt_next_scan = False
        if self.result is None or not self.result_fingerprint:
            return
        self.result_fingerprint = now
        controller = self._existing_controller()
        record = controller.project.audit if controller is not None else None
        if record is not None and same_folder(record.root, self.result_root) and record.fingerprint != now:
            record.fingerprint = now
            self.controller._changed()

    def _on_dataset_maybe_changed(self, *_signal_args) -> None:
        """Another dataset folder: its own record, or nothing (other config changes leave the findings alone)."""
        root = self.state.data_config.root
        if same_folder(root, self._root_seen) or root == self._root_seen:
            return
        self._root_seen = root
        if self.result_root and not same_folder(self.result_root, root) and not self.restore_from_project():
            self._clear()
        elif self.result is None:
            self.restore_from_project()

    def _clear(self) -> None:
        self.result, self.result_root, self.result_fingerprint, self.restored = None, "", "", None
        self.findings.clear()
        self.findings.set_sections_visible(False)
        self.summary.setText("Run the audit to look for mislabelled images, duplicates across splits and outliers.")

    def _save_record(self, result: AuditResult) -> None:
        """Keep a finished audit in the project (autosaved soon), so it is not offered or run again for the same files."""
        root, fingerprint = self._submitted
        self.result_root, self.result_fingerprint, self.restored = root, fingerprint, None
        if result.cancelled or not root:
            return
        self.controller.project.set_audit(AuditRecord.from_result(result, root, fingerprint))
        self.controller._changed()  # marks the project dirty and schedules its autosave, as every project change does

    @property
    def duplicate_rows(self) -> list[DuplicateRow]:
        """One row per duplicate group shown."""
        return self.findings.duplicate_rows

    def cards(self) -> list[SuspectCard]:
        """Every card shown, label issues, then duplicates, then outliers."""
        return self.findings.cards()

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Cancel a running audit and stop loading thumbnails."""
        self.builder.stop()
        self.runner.cancel()
        self.loader.shutdown(timeout_ms)

    # ------------------------------------------------------------- actions

    def _relabel(self, card: SuspectCard) -> None:
        self.actions.relabel(card.path, card.given, card.suggested)

    def _exclude(self, card: SuspectCard) -> None:
        self.actions.exclude(card.path)

    def _dismiss(self, card: SuspectCard) -> None:
        self.actions.dismiss(card.kind, [card.path])
        self.findings.remove_card(card)

    def _dismiss_group(self, row: DuplicateRow) -> None:
        self.actions.dismiss("duplicate", list(row.group.paths))
        self.findings.remove_group(row)

    def _refresh_card(self, card: SuspectCard) -> None:
        decisions = self.actions.decisions
        moved = self.actions.moved.get(card.path)
        if moved:
            text = f"Moved to {Path(moved).parent.name}/{Path(moved).name}"
        elif card.path in decisions.excluded:
            text = "Excluded (file untouched)"
        elif card.path in decisions.label_overrides:
            text = f"Recorded as {decisions.label_overrides[card.path]}"
        else:
            text = ""
        card.show_decision(text)

    def _on_decided(self, message: str) -> None:
        self.controls.status.setText(message)
        self.undo_button.setEnabled(self.actions.can_undo())
        self.undo_button.setToolTip(f"Undo: {self.actions.undo_text()}" if self.actions.can_undo() else "Nothing to undo")
        if self.result is not None and self._restores_dismissed():
            self.show_result(self.result)  # an undone "looks right" brings its card back
            return
        for card in self.cards():
            self._refresh_card(card)

    def _restores_dismissed(self) -> bool:
        """True when a finding shown as dismissed is no longer dismissed (after Undo)."""
        self.builder.finish()
        decisions = self.actions.decisions
        result = self.result
        shown = {(c.kind, c.path) for c in self.cards()} | {("label", i.path) for i in self.findings.more_issues}
        wanted = {("label", i.path) for i in result.label_issues if not decisions.is_dismissed("label", i.path)}
        wanted |= {("outlier", o.path) for o in result.outliers if not decisions.is_dismissed("outlier", o.path)}
        wanted |= {("duplicate", p) for g in result.duplicates if not all(decisions.is_dismissed("duplicate", q) for q in g.paths) for p in g.paths}
        return not wanted <= shown

    def _on_failed(self, message: str) -> None:
        self.controls.status.setText(message)
        self.state.report_error(message, "")

    def _on_result(self, result: AuditResult) -> None:
        self._save_record(result)
        self.show_result(result)
        self.controls.status.setText("Cancelled." if result.cancelled else "Audit finished.")
        self.audited.emit(result)

    def _on_error(self, message: str, details: str) -> None:
        self.controls.status.setText(f"The audit failed: {message}")
        self.state.report_error(f"The dataset audit failed: {message}", details)
