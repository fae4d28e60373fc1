"""The Audit tab's findings as cards: label suspects (a page at a time), duplicate groups, outliers, the balance.

:class:`AuditFindings` is the scrolling body of the Audit tab. It builds the
cards with a :class:`~ui.panels.audit_builder.CardBuilder` (a few per
event-loop turn: 150 cards in one call froze the window for 769 ms), shows the
label suspects :data:`LABEL_PAGE` at a time behind "Show more", keeps the
section titles' counts whole while cards are still being built, and passes
each card's buttons on as signals. What a decision does is the Audit tab's
business (:mod:`ui.panels.audit_view`).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget

from tlstudio.api.audit import DuplicateGroup, LabelIssue, Outlier  # dataclasses only
from ui.panels.audit_builder import CardBuilder
from ui.panels.audit_cards import CardGrid, DuplicateRow, SuspectCard, section_title, titles
from ui.widgets.thumbnails import ThumbnailLoader

LABEL_PAGE = 24
"""Label suspects shown at first and per "Show more" (a weak audit of 398 photos listed 107)."""


class AuditFindings(QScrollArea):
    """The findings' sections, in a scroll area that never scrolls sideways.

    Args:
        loader: Loads the cards' thumbnails off the GUI thread.
        refresh: Shows the decision already taken on a card (called for every card placed).
        parent: Parent widget.

    Signals:
        relabel(object), exclude(object), dismiss(object): a card's button (the card).
        dismiss_group(object): a duplicate group's "Looks right" (its row).
    """

    relabel = Signal(object)
    exclude = Signal(object)
    dismiss = Signal(object)
    dismiss_group = Signal(object)

    def __init__(self, loader: ThumbnailLoader, refresh: Callable[[SuspectCard], None], parent: QWidget | None = None):
        super().__init__(parent)
        self.loader = loader
        self._refresh = refresh
        self.duplicate_rows: list[DuplicateRow] = []
        self.more_issues: list[LabelIssue] = []  # suspects not shown yet (a page at a time)
        self.builder = CardBuilder(self._make, self._place, self)
        self.builder.after_chunk = self.update_titles

        self.label_title = section_title("")
        self.label_grid = CardGrid()
        self.label_more = QPushButton("")
        self.label_more.setObjectName("AuditMoreLabels")
        self.label_more.setToolTip("Show the next suspects, most suspicious first")
        self.label_more.clicked.connect(self.show_more_issues)
        self.duplicate_title = section_title("")
        self.duplicate_box = QVBoxLayout()
        self.duplicate_box.setSpacing(6)
        self.outlier_title = section_title("")
        self.outlier_grid = CardGrid()
        self.balance_title = section_title("")
        self.balance = QLabel("")
        self.balance.setObjectName("AuditBalance")
        self.balance.setTextFormat(Qt.TextFormat.RichText)
        self.balance.setWordWrap(True)

        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.addWidget(self.label_title)
        body_layout.addWidget(self.label_grid)
        body_layout.addWidget(self.label_more, 0, Qt.AlignmentFlag.AlignLeft)
        body_layout.addWidget(self.duplicate_title)
        body_layout.addLayout(self.duplicate_box)
        for widget in (self.outlier_title, self.outlier_grid, self.balance_title, self.balance):
            body_layout.addWidget(widget)
        body_layout.addStretch(1)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setWidget(body)
        self.set_sections_visible(False)

    # ------------------------------------------------------------------ API

    def show_findings(self, issues: list[LabelIssue], groups: list[DuplicateGroup], outliers: list[Outlier], balance: str,
                      now: bool = True) -> None:
        """Replace the cards: the first page of ``issues``, every group and outlier (built over the next turns; ``now=False``: none in this call)."""
        self.clear()
        self.more_issues = issues[LABEL_PAGE:]
        self.builder.start([("label", i) for i in issues[:LABEL_PAGE]] + [("duplicate", g) for g in groups]
                           + [("outlier", o) for o in outliers], now=now)
        self.balance.setText(balance)
        self.set_sections_visible(True)
        self._update_more()
        self.update_titles()

    def clear(self) -> None:
        """No cards (the sections stay as they are shown)."""
        self.builder.stop()
        self.more_issues = []
        self.label_grid.set_cards([])
        self.outlier_grid.set_cards([])
        for row in self.duplicate_rows:
            self.duplicate_box.removeWidget(row)
            row.hide()  # gone from sight now; deleted when the event loop next runs
            row.deleteLater()
        self.duplicate_rows = []
        self._update_more()

    def show_more_issues(self) -> None:
        """Show the next page of label suspects."""
        page, self.more_issues = self.more_issues[:LABEL_PAGE], self.more_issues[LABEL_PAGE:]
        self.builder.extend([("label", i) for i in page])
        self._update_more()
        self.update_titles()

    def cards(self) -> list[SuspectCard]:
        """Every card built, label issues, then duplicates, then outliers."""
        dup = [c for row in self.duplicate_rows for c in row.cards]
        return [*self.label_grid.cards, *dup, *self.outlier_grid.cards]

    def remove_card(self, card: SuspectCard) -> None:
        for grid in (self.label_grid, self.outlier_grid):
            grid.remove(card)
        self.update_titles()

    def remove_group(self, row: DuplicateRow) -> None:
        self.duplicate_rows.remove(row)
        self.duplicate_box.removeWidget(row)
        row.hide()
        row.deleteLater()
        self.update_titles()

    def set_sections_visible(self, shown: bool) -> None:
        for widget in (self.label_title, self.label_grid, self.duplicate_title, self.outlier_title, self.outlier_grid,
                       self.balance_title, self.balance):
            widget.setVisible(shown)
        self.label_more.setVisible(shown and bool(self.more_issues))

    def update_titles(self) -> None:
        """Each section's title with its whole count (cards still queued or behind "Show more" included)."""
        queued = self.builder.queued
        n_issues = len(self.label_grid.cards) + len(queued("label")) + len(self.more_issues)
        n_out = len(self.outlier_grid.cards) + len(queued("outlier"))
        n_groups = len(self.duplicate_rows) + len(queued("duplicate"))
        leaks = sum(1 for g in [*(row.group for row in self.duplicate_rows), *queued("duplicate")] if g.cross_split)
        for label, text in zip((self.label_title, self.duplicate_title, self.outlier_title), titles(n_issues, n_groups, leaks, n_out)):
            label.setText(text)
        self.balance_title.setText("Class balance")

    # ------------------------------------------------------------ building

    def _update_more(self) -> None:
        left = len(self.more_issues)
        self.label_more.setText(f"Show {min(LABEL_PAGE, left)} more ({left} not shown)")
        self.label_more.setVisible(bool(left) and self.label_title.isVisibleTo(self))

    def _card(self, kind: str, path: str, info: str, *, given: str = "", suggested: str = "", split: str = "",
              dismissible: bool = True) -> SuspectCard:
        card = SuspectCard(kind, path, info, given=given, suggested=suggested, split=split, dismissible=dismissible)
        card.relabel_clicked.connect(self.relabel)
        card.exclude_clicked.connect(self.exclude)
        card.dismiss_clicked.connect(self.dismiss)
        self.loader.request(path, card.thumb)
        return card

    def _make(self, kind: str, finding: Any):
        """The card (or, for a duplicate group, the row) of one finding."""
        if kind == "label":
            info = (f"given <b>{html.escape(finding.given)}</b> → suggested <b>{html.escape(finding.suggested)}</b><br>"
                    f"score {finding.score:.2f}")
            return self._card("label", finding.path, info, given=finding.given, suggested=finding.suggested)
        if kind == "duplicate":
            row = DuplicateRow(finding, self._card)
            row.dismiss_clicked.connect(self.dismiss_group)
            return row
        return self._card("outlier", finding.path, html.escape(finding.describe()))

    def _place(self, kind: str, widgets: list) -> None:
        """Show a chunk of built cards after the ones shown, with their decisions."""
        if kind == "label":
            self.label_grid.add_cards(widgets)
        elif kind == "outlier":
            self.outlier_grid.add_cards(widgets)
        else:
            for row in widgets:
                self.duplicate_rows.append(row)
                self.duplicate_box.addWidget(row)
        for widget in widgets:
            for card in getattr(widget, "cards", [widget]):
                self._refresh(card)
