"""The pieces the Audit tab shows its findings with: cards, a grid of cards, a duplicate group, the balance table.

A :class:`SuspectCard` is one image of one finding: its thumbnail (loaded by
the tab's :class:`~ui.widgets.thumbnails.ThumbnailLoader`), file name, what
was found and the actions Relabel, Exclude and Looks right. A
:class:`CardGrid` lays cards out in as many columns as fit; a
:class:`DuplicateRow` shows one duplicate group's images side by side.
"""

from __future__ import annotations

import datetime as _dt
import html
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QPoint, QSize, Qt, Signal
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

from tlstudio.api.audit import DuplicateGroup, Imbalance  # dataclasses only
from ui.widgets.thumbnails import placeholder_pixmap

THUMB = 96
CARD_WIDTH = 224
"""Two columns fit the Audit tab of a 1024 px window (its viewport is about 485 px, 465 px inside the margins)."""
CARD_BUTTON_MARGIN = 6
"""Room (px) a card's button keeps on each side of its text when the card is narrow."""
LEAK_COLOUR = "#b3261e"
DONE_COLOUR = "#2e7d32"


class _CardButton(QToolButton):
    """A card's action button: it may give up the style's spare padding (two card columns fit a 1024 px window), never its text."""

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt API
        hint = super().minimumSizeHint()
        return QSize(min(hint.width(), self.fontMetrics().horizontalAdvance(self.text()) + 2 * CARD_BUTTON_MARGIN), hint.height())


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
        self._fix_height()

    def _fix_height(self) -> None:
        """A fixed size: the Audit tab lays out 100+ cards without measuring their wrapped text again each time."""
        self.layout().activate()
        self.setFixedHeight(self.layout().totalHeightForWidth(CARD_WIDTH) if self.layout().hasHeightForWidth()
                            else self.sizeHint().height())

    @staticmethod
    def _button(text: str, tip: str) -> QToolButton:
        button = _CardButton()
        button.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        button.setText(text)
        button.setToolTip(tip)
        button.setAutoRaise(False)
        return button

    def show_decision(self, text: str) -> None:
        """Show what was decided ("" clears it) and enable only what still makes sense."""
        shown = bool(text)
        changed = shown != self.status.isVisibleTo(self) or (shown and text != self.status.text())
        self.status.setText(text)
        self.status.setVisible(shown)
        self.relabel_button.setEnabled(not text)
        self.exclude_button.setEnabled(not text)
        if changed:
            self._fix_height()


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
            card.hide()  # gone from sight now; deleted when the event loop next runs
            card.deleteLater()
        self.cards = list(cards)
        self._columns = 0
        self._relayout()

    def add_cards(self, cards: list[QWidget]) -> None:
        """Append ``cards`` after the ones shown (the others stay where they are)."""
        if not self._columns:
            self.cards += cards
            self._relayout()
            return
        columns = self._columns
        for card in cards:
            i = len(self.cards)
            self.cards.append(card)
            self._place(card, i, columns)

    def remove(self, card: QWidget) -> None:
        if card in self.cards:
            self.cards.remove(card)
            self.grid.removeWidget(card)
            card.hide()
            card.deleteLater()
            self._columns = 0
            self._relayout()

    def columns(self) -> int:
        """As many columns as the visible width holds (in a scroll area: its viewport, not this widget's width,
        which a previous layout may have widened past it)."""
        width = self.width()
        area = self._scroll_area()
        if area is not None and area.widget() is not None:
            x = self.mapTo(area.widget(), QPoint(0, 0)).x()
            width = min(width, area.viewport().width() - 2 * max(0, x))
        return max(1, (width + self.grid.spacing()) // (CARD_WIDTH + self.grid.spacing()))

    def _scroll_area(self) -> QScrollArea | None:
        parent = self.parentWidget()
        while parent is not None and not isinstance(parent, QScrollArea):
            parent = parent.parentWidget()
        return parent

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt API
        if event.type() == event.Type.Resize:  # the viewport narrowed: the columns may no longer fit
            self._relayout()
        return False

    def _relayout(self) -> None:
        area = self._scroll_area()
        if area is not None and not getattr(self, "_watching", False):
            area.viewport().installEventFilter(self)
            self._watching = True
        columns = self.columns()
        if columns == self._columns:
            return
        self._columns = columns
        for card in self.cards:
            self.grid.removeWidget(card)
        for i, card in enumerate(self.cards):
            self._place(card, i, columns)
        self.grid.setColumnStretch(columns, 1)

    def _place(self, card: QWidget, index: int, columns: int) -> None:
        """Put ``card`` in its cell and show it in the same turn (a layout shows a new child only once the event loop runs)."""
        self.grid.addWidget(card, index // columns, index % columns, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        card.show()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._relayout()


def section_title(text: str) -> QLabel:
    """A bold rich-text title above a section of findings."""
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


def summary_parts(result, hidden: int, restored_ran: str, stale: bool) -> list[str]:
    """The sentences (HTML) above an audit's findings: what was audited, warnings, and where the result comes from."""
    leaks = len(result.leaks)
    parts = [f"{result.num_images} images audited" + (f" with {html.escape(result.cut)} features" if result.cut else "")
             + (f" in {result.seconds:.1f} s" if result.seconds else "") + "."]
    if result.label_note:
        parts.append(f"<span style='color:#8a5a00'>{html.escape(result.label_note)}</span>")
    if leaks:
        parts.append(f"<span style='color:{LEAK_COLOUR}'><b>{leaks} duplicate group{'s' if leaks != 1 else ''} "
                     "span train and validation/test: validation accuracy is inflated.</b></span>")
    if hidden:
        parts.append(f"{hidden} finding{'s' if hidden != 1 else ''} you marked as looking right {'are' if hidden != 1 else 'is'} hidden.")
    if result.cancelled:
        parts.append("Cancelled: the lists are partial.")
    if restored_ran:
        parts.insert(0, f"<b>Last audit, {html.escape(when_text(restored_ran))}</b> (saved in the project):")
    if stale:
        parts.append(f"<span style='color:{LEAK_COLOUR}'>The dataset's files changed since this audit: run it again.</span>")
    return parts


def titles(n_issues: int, n_groups: int, leaks: int, n_out: int) -> tuple[str, str, str]:
    """The titles of the label-issue, duplicate and outlier sections."""
    return (f"Possible label issues ({n_issues})" + ("" if n_issues else ": none found"),
            f"Duplicates ({n_groups} group{'s' if n_groups != 1 else ''}"
            + (f", <span style='color:{LEAK_COLOUR}'>{leaks} across splits</span>" if leaks else "")
            + ")" + ("" if n_groups else ": none found"),
            f"Outliers ({n_out})" + ("" if n_out else ": none found"))


def when_text(iso: str) -> str:
    """An ISO UTC time as local "2026-11-30 03:40" (the text itself when it is not a time)."""
    try:
        moment = _dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")



class DuplicateRow(QFrame):
    """One duplicate group: what kind of copies, whether they leak across splits, and a card per image.

    Args:
        group: The group shown.
        make_card: Makes the card of one image (``kind, path, info, split=, dismissible=``).
        parent: Parent widget.

    Attributes:
        group: The group shown.
        cards: Its cards, in the group's order.

    Signals:
        dismiss_clicked(object): "Looks right" was pressed for this row.
    """

    dismiss_clicked = Signal(object)

    def __init__(self, group: DuplicateGroup, make_card: Callable[..., SuspectCard], parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("DuplicateGroup")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.group = group
        kind = "Exact copies (same bytes)" if group.kind == "exact" else f"Near copies (similarity {group.similarity:.2f})"
        leak = (f" · <span style='color:{LEAK_COLOUR}'><b>across splits ({', '.join(sorted(set(group.splits)))}): a leak</b></span>"
                if group.cross_split else f" · all in {group.splits[0] if group.splits else '?'}")
        head = QLabel(kind + leak)
        head.setTextFormat(Qt.TextFormat.RichText)
        head.setWordWrap(True)  # wraps in a narrow window: the row's "Looks right" stays whole
        looks_right = QPushButton("Looks right")
        looks_right.setToolTip("These are different images; the next audit does not show this group again")
        looks_right.clicked.connect(lambda: self.dismiss_clicked.emit(self))
        top = QHBoxLayout()
        top.addWidget(head, 1)
        top.addWidget(looks_right)
        cards_row = QHBoxLayout()
        cards_row.setSpacing(6)
        self.cards: list[SuspectCard] = []
        for path, split in zip(group.paths, group.splits):
            card = make_card("duplicate", path, f"split <b>{html.escape(split)}</b> · {html.escape(Path(path).parent.name)}",
                              split=split, dismissible=False)
            self.cards.append(card)
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
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addWidget(scroller)

