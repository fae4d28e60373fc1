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

Cards carry the actions of :class:`~ui.panels.audit_actions.AuditActions`:
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

import datetime as _dt
import html
import logging
import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from tlstudio.project.audit_record import AuditRecord, dataset_fingerprint
from tlstudio.jobs.audit import AuditConfig, AuditResult, DuplicateGroup, Imbalance  # dataclasses only
from ui.engine import engine
from ui.panels.audit_actions import AuditActions
from ui.widgets.job_controls import JobControls
from ui.widgets.thumbnails import ThumbnailLoader, placeholder_pixmap

logger = logging.getLogger(__name__)

THUMB = 96
CARD_WIDTH = 236
BUSY_KEY = "audit"
LEAK_COLOUR = "#b3261e"
DONE_COLOUR = "#2e7d32"


# ---------------------------------------------------------------------- cards


class SuspectCard(QFrame):
    """One image of one finding: thumbnail, file name, what was found, and the actions.

    Attributes:
        kind: ``"label"``, ``"duplicate"`` or ``"outlier"``.
        path: The image, as the scan reported it.
        given: Its class folder (label issues), else "".
        suggested: The suggested class (label issues), else "".
    """

    relabel_clicked = Signal(object)
    exclude_clicked = Signal(object)
    dismiss_clicked = Signal(object)

    def __init__(self, kind: str, path: str, info: str, *, given: str = "", suggested: str = "",
                 split: str = "", dismissible: bool = True, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("SuspectCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setFixedWidth(CARD_WIDTH)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Maximum)
        self.kind, self.path, self.given, self.suggested, self.split = kind, path, given, suggested, split
        self.thumb = QLabel()
        self.thumb.setFixedSize(THUMB, THUMB)
        self.thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumb.setPixmap(placeholder_pixmap(THUMB))
        name = Path(path).name
        self.name_label = QLabel(self.fontMetrics().elidedText(name, Qt.TextElideMode.ElideMiddle, CARD_WIDTH - 16))
        self.name_label.setToolTip(path)
        self.info = QLabel(info)
        self.info.setWordWrap(True)
        self.info.setTextFormat(Qt.TextFormat.RichText)
        self.status = QLabel("")
        self.status.setObjectName("SuspectStatus")
        self.status.setWordWrap(True)
        self.status.setStyleSheet(f"color: {DONE_COLOUR};")
        self.status.setVisible(False)
        self.relabel_button = self._button("Relabel", f"Record this image as “{suggested}”; you are then asked whether to move the file")
        self.exclude_button = self._button("Exclude", "Leave this image out of training, evaluation and export (the file is untouched)")
        self.dismiss_button = self._button("Looks right", "Dismiss this finding; the next audit does not show it again")
        self.relabel_button.setVisible(kind == "label")
        self.dismiss_button.setVisible(dismissible)
        self.relabel_button.clicked.connect(lambda: self.relabel_clicked.emit(self))
        self.exclude_button.clicked.connect(lambda: self.exclude_clicked.emit(self))
        self.dismiss_button.clicked.connect(lambda: self.dismiss_clicked.emit(self))
        self.setToolTip(path + (f"\nsplit: {split}" if split else ""))

        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.setSpacing(2)
        for button in (self.relabel_button, self.exclude_button, self.dismiss_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(2)
        layout.addWidget(self.thumb, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.name_label)
        layout.addWidget(self.info)
        layout.addWidget(self.status)
        layout.addLayout(buttons)

    @staticmethod
    def _button(text: str, tip: str) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.setAutoRaise(False)
        return button

    def show_decision(self, text: str) -> None:
        """Show what was decided ("" clears it) and enable only what still makes sense."""
        self.status.setText(text)
        self.status.setVisible(bool(text))
        self.relabel_button.setEnabled(not text)
        self.exclude_button.setEnabled(not text)


class CardGrid(QWidget):
    """Cards in as many columns as the width allows."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.cards: list[QWidget] = []
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(6)
        self._columns = 0

    def set_cards(self, cards: list[QWidget]) -> None:
        for card in self.cards:
            self.grid.removeWidget(card)
            card.deleteLater()
        self.cards = list(cards)
        self._columns = 0
        self._relayout()

    def remove(self, card: QWidget) -> None:
        if card in self.cards:
            self.cards.remove(card)
            self.grid.removeWidget(card)
            card.deleteLater()
            self._columns = 0
            self._relayout()

    def columns(self) -> int:
        return max(1, (self.width() + self.grid.spacing()) // (CARD_WIDTH + self.grid.spacing()))

    def _relayout(self) -> None:
        columns = self.columns()
        if columns == self._columns:
            return
        self._columns = columns
        for card in self.cards:
            self.grid.removeWidget(card)
        for i, card in enumerate(self.cards):
            self.grid.addWidget(card, i // columns, i % columns, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.grid.setColumnStretch(columns, 1)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._relayout()


def _section_title(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("AuditSection")
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setWordWrap(True)
    label.setStyleSheet("font-weight: 600; margin-top: 8px;")
    return label


def imbalance_html(imbalance: Imbalance) -> str:
    """Class counts, the largest/smallest ratio and the advice, as a small HTML table."""
    counts = dict(imbalance.counts)
    if not counts:
        return "No classes were counted."
    top = max(counts.values()) or 1
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td align='right'>&nbsp;{n}&nbsp;</td>"
        f"<td><span style='color:#2f6fb3'>{'█' * max(1, round(20 * n / top)) if n else ''}</span></td></tr>"
        for name, n in counts.items()
    )
    return (f"<table cellspacing='2'>{rows}</table>"
            f"<p>Largest / smallest class: <b>{imbalance.ratio:.1f}×</b>. {html.escape(imbalance.advice)}</p>")


def _same_folder(a: str, b: str) -> bool:
    return bool(a) and bool(b) and os.path.realpath(a) == os.path.realpath(b)


def current_fingerprint(state: Any) -> str:
    """The file-list fingerprint of the state's dataset as last scanned; "" when the scan is not of that folder."""
    prepared = getattr(state, "prepared_data", None)
    if prepared is None or not _same_folder(getattr(prepared, "root", ""), state.data_config.root):
        return ""
    return dataset_fingerprint(prepared)


def when_text(iso: str) -> str:
    """An ISO UTC time as local "2026-11-30 03:40" (the text itself when it is not a time)."""
    try:
        moment = _dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


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

    def __init__(self, state: Any, parent: QWidget | None = None):
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
        self.duplicate_rows: list[QWidget] = []

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

        self.label_title = _section_title("")
        self.label_grid = CardGrid()
        self.duplicate_title = _section_title("")
        self.duplicate_box = QVBoxLayout()
        self.duplicate_box.setSpacing(6)
        self.outlier_title = _section_title("")
        self.outlier_grid = CardGrid()
        self.balance_title = _section_title("")
        self.balance = QLabel("")
        self.balance.setObjectName("AuditBalance")
        self.balance.setTextFormat(Qt.TextFormat.RichText)
        self.balance.setWordWrap(True)

        body = QWidget()
        body_layout = QVBoxLayout(body)
        for widget in (self.label_title, self.label_grid, self.duplicate_title):
            body_layout.addWidget(widget)
        body_layout.addLayout(self.duplicate_box)
        for widget in (self.outlier_title, self.outlier_grid, self.balance_title, self.balance):
            body_layout.addWidget(widget)
        body_layout.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(body)

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
        self._show_sections(False)
        self._watched_controller: Any = None
        state.data_changed.connect(lambda _p: self._update_staleness())
        state.data_config_changed.connect(lambda _c: self._on_dataset_maybe_changed())
        self.restore_from_project()

    # ------------------------------------------------------------------ API

    def audit_config(self) -> AuditConfig:
        """The audit of the current dataset with the Model page's backbone, weights and size."""
        return AuditConfig(data=self.state.data_config, model=self.state.model_config)

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

    def show_result(self, result: AuditResult) -> None:
        """Show ``result``'s findings (without the ones the project dismissed)."""
        self.result = result
        decisions = self.actions.decisions
        issues = [i for i in result.label_issues if not decisions.is_dismissed("label", i.path)]
        groups = [g for g in result.duplicates if not all(decisions.is_dismissed("duplicate", p) for p in g.paths)]
        outliers = [o for o in result.outliers if not decisions.is_dismissed("outlier", o.path)]
        hidden = (len(result.label_issues) - len(issues)) + (len(result.duplicates) - len(groups)) + (len(result.outliers) - len(outliers))

        self.label_grid.set_cards([self._card("label", i.path, self._issue_text(i), given=i.given, suggested=i.suggested)
                                   for i in issues])
        self._set_duplicates(groups)
        self.outlier_grid.set_cards([self._card("outlier", o.path, f"distance to its neighbours <b>{o.score:.2f}</b>")
                                     for o in outliers])
        self.balance.setText(imbalance_html(result.imbalance))
        self._show_sections(True)
        self._update_titles()
        leaks = len(result.leaks)
        parts = [f"{result.num_images} images audited" + (f" with {html.escape(result.cut)} features" if result.cut else "")
                 + (f" in {result.seconds:.1f} s" if result.seconds else "") + "."]
        if leaks:
            parts.append(f"<span style='color:{LEAK_COLOUR}'><b>{leaks} duplicate group{'s' if leaks != 1 else ''} "
                         "span train and validation/test: validation accuracy is inflated.</b></span>")
        if hidden:
            parts.append(f"{hidden} finding{'s' if hidden != 1 else ''} you marked as looking right {'are' if hidden != 1 else 'is'} hidden.")
        if result.cancelled:
            parts.append("Cancelled: the lists are partial.")
        if self.restored is not None:
            parts.insert(0, f"<b>Last audit, {html.escape(when_text(self.restored.ran))}</b> (saved in the project):")
        self._shown_stale = self._stale()
        if self._shown_stale:
            parts.append(f"<span style='color:{LEAK_COLOUR}'>The dataset's files changed since this audit: run it again.</span>")
        self.summary.setText(" ".join(parts))
        for card in self.cards():
            self._refresh_card(card)

    # ------------------------------------------------------ the project's record

    @property
    def controller(self):
        """The project controller, made if needed (only when the user acts: making one starts autosaving)."""
        from ui.project_actions import project_controller

        project_controller(self.state)
        return self._existing_controller()

    def _existing_controller(self):
        """The project controller if one exists (never made here), watched for another project opening."""
        from ui.project_actions import existing_project_controller

        controller = existing_project_controller(self.state)
        if controller is not None and controller is not self._watched_controller:
            controller.project_changed.connect(lambda _p: self.restore_from_project())
            self._watched_controller = controller
        return controller

    def restore_from_project(self) -> bool:
        """Show the project's last audit of the current dataset, if it has one (no job runs); True when shown."""
        controller = self._existing_controller()
        record = getattr(controller.project, "audit", None) if controller is not None else None
        root = self.state.data_config.root
        if record is None or not _same_folder(record.root, root):
            return False
        try:
            result = record.result()
        except (KeyError, TypeError, ValueError) as exc:  # from_dict checked it; log what is dropped all the same
            logger.warning("the project's audit record of %s could not be shown: %s", record.root, exc)
            return False
        self.result_root, self.result_fingerprint, self.restored = record.root, record.fingerprint, record
        self.show_result(result)
        self.controls.status.setText("Shown from the project file: not run again. Run audit looks again.")
        self.audited.emit(result)
        return True

    def is_current(self) -> bool:
        """True when the result shown is a finished audit of the current dataset's files as last scanned."""
        if self.result is None or self.result.cancelled or not _same_folder(self.result_root, self.state.data_config.root):
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

    def _update_staleness(self) -> None:
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
        record = getattr(controller.project, "audit", None) if controller is not None else None
        if record is not None and _same_folder(record.root, self.result_root) and record.fingerprint != now:
            record.fingerprint = now
            self.controller._changed()

    def _on_dataset_maybe_changed(self) -> None:
        """Another dataset folder: its own record, or nothing (other config changes leave the findings alone)."""
        root = self.state.data_config.root
        if _same_folder(root, self._root_seen) or root == self._root_seen:
            return
        self._root_seen = root
        if self.result_root and not _same_folder(self.result_root, root) and not self.restore_from_project():
            self._clear()
        elif self.result is None:
            self.restore_from_project()

    def _clear(self) -> None:
        self.result, self.result_root, self.result_fingerprint, self.restored = None, "", "", None
        self.label_grid.set_cards([])
        self.outlier_grid.set_cards([])
        self._set_duplicates([])
        self._show_sections(False)
        self.summary.setText("Run the audit to look for mislabelled images, duplicates across splits and outliers.")

    def _save_record(self, result: AuditResult) -> None:
        """Keep a finished audit in the project (autosaved soon), so it is not offered or run again for the same files."""
        root, fingerprint = self._submitted
        self.result_root, self.result_fingerprint, self.restored = root, fingerprint, None
        if result.cancelled or not root:
            return
        self.controller.project.set_audit(AuditRecord.from_result(result, root, fingerprint))
        self.controller._changed()  # marks the project dirty and schedules its autosave, as every project change does

    def cards(self) -> list[SuspectCard]:
        """Every card shown, label issues, then duplicates, then outliers."""
        dup = [c for row in self.duplicate_rows for c in row.cards]
        return [*self.label_grid.cards, *dup, *self.outlier_grid.cards]

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Cancel a running audit and stop loading thumbnails."""
        self.runner.cancel()
        self.loader.shutdown(timeout_ms)

    # ------------------------------------------------------------ building

    @staticmethod
    def _issue_text(issue) -> str:
        return (f"given <b>{html.escape(issue.given)}</b> → suggested <b>{html.escape(issue.suggested)}</b><br>"
                f"score {issue.score:.2f}")

    def _card(self, kind: str, path: str, info: str, *, given: str = "", suggested: str = "", split: str = "",
              dismissible: bool = True) -> SuspectCard:
        card = SuspectCard(kind, path, info, given=given, suggested=suggested, split=split, dismissible=dismissible)
        card.relabel_clicked.connect(self._relabel)
        card.exclude_clicked.connect(self._exclude)
        card.dismiss_clicked.connect(self._dismiss)
        self.loader.request(path, card.thumb)
        return card

    def _set_duplicates(self, groups: list[DuplicateGroup]) -> None:
        for row in self.duplicate_rows:
            self.duplicate_box.removeWidget(row)
            row.deleteLater()
        self.duplicate_rows = [self._duplicate_row(g) for g in groups]
        for row in self.duplicate_rows:
            self.duplicate_box.addWidget(row)

    def _duplicate_row(self, group: DuplicateGroup) -> QWidget:
        row = QFrame()
        row.setObjectName("DuplicateGroup")
        row.setFrameShape(QFrame.Shape.StyledPanel)
        row.group = group
        kind = "Exact copies (same bytes)" if group.kind == "exact" else f"Near copies (similarity {group.similarity:.2f})"
        leak = (f" · <span style='color:{LEAK_COLOUR}'><b>across splits ({', '.join(sorted(set(group.splits)))}): a leak</b></span>"
                if group.cross_split else f" · all in {group.splits[0] if group.splits else '?'}")
        head = QLabel(kind + leak)
        head.setTextFormat(Qt.TextFormat.RichText)
        looks_right = QPushButton("Looks right")
        looks_right.setToolTip("These are different images; the next audit does not show this group again")
        looks_right.clicked.connect(lambda: self._dismiss_group(row))
        top = QHBoxLayout()
        top.addWidget(head, 1)
        top.addWidget(looks_right)
        cards_row = QHBoxLayout()
        cards_row.setSpacing(6)
        row.cards = []
        for path, split in zip(group.paths, group.splits):
            card = self._card("duplicate", path, f"split <b>{html.escape(split)}</b> · {html.escape(Path(path).parent.name)}",
                              split=split, dismissible=False)
            row.cards.append(card)
            cards_row.addWidget(card, 0, Qt.AlignmentFlag.AlignTop)
        cards_row.addStretch(1)
        inner = QWidget()
        inner.setLayout(cards_row)
        scroller = QScrollArea()  # a big group scrolls sideways instead of widening the page
        scroller.setWidget(inner)
        scroller.setWidgetResizable(True)
        scroller.setFrameShape(QFrame.Shape.NoFrame)
        scroller.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroller.setFixedHeight(inner.sizeHint().height() + scroller.horizontalScrollBar().sizeHint().height() + 4)
        layout = QVBoxLayout(row)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addWidget(scroller)
        return row

    def _show_sections(self, shown: bool) -> None:
        for widget in (self.label_title, self.label_grid, self.duplicate_title, self.outlier_title, self.outlier_grid,
                       self.balance_title, self.balance):
            widget.setVisible(shown)

    def _update_titles(self) -> None:
        n_issues, n_out = len(self.label_grid.cards), len(self.outlier_grid.cards)
        n_groups = len(self.duplicate_rows)
        leaks = sum(1 for row in self.duplicate_rows if row.group.cross_split)
        self.label_title.setText(f"Possible label issues ({n_issues})" + ("" if n_issues else ": none found"))
        self.duplicate_title.setText(f"Duplicates ({n_groups} group{'s' if n_groups != 1 else ''}"
                                     + (f", <span style='color:{LEAK_COLOUR}'>{leaks} across splits</span>" if leaks else "")
                                     + ")" + ("" if n_groups else ": none found"))
        self.outlier_title.setText(f"Outliers ({n_out})" + ("" if n_out else ": none found"))
        self.balance_title.setText("Class balance")

    # ------------------------------------------------------------- actions

    def _relabel(self, card: SuspectCard) -> None:
        self.actions.relabel(card.path, card.given, card.suggested)

    def _exclude(self, card: SuspectCard) -> None:
        self.actions.exclude(card.path)

    def _dismiss(self, card: SuspectCard) -> None:
        self.actions.dismiss(card.kind, [card.path])
        for grid in (self.label_grid, self.outlier_grid):
            grid.remove(card)
        self._update_titles()

    def _dismiss_group(self, row: QWidget) -> None:
        self.actions.dismiss("duplicate", list(row.group.paths))
        self.duplicate_rows.remove(row)
        self.duplicate_box.removeWidget(row)
        row.deleteLater()
        self._update_titles()

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
        decisions = self.actions.decisions
        result = self.result
        shown = {(c.kind, c.path) for c in self.cards()}
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
