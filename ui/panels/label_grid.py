"""The Label page's grid: one card per suggested image, decided with the keyboard.

Keys (while the grid has focus): **1-9** give the current image the class of
that number, **0** or **x** skip it, **u** undoes the last decision, the
arrow keys, Tab and Shift+Tab move between cards, **g** shows the current
image's Grad-CAM. A decision moves on to the next undecided card.

Each :class:`LabelCard` shows the image (the Audit tab's card size and the
one thumbnail loader), its rank, the model's suggested class and
probability, the decision, and a Grad-CAM button; nothing is written to disk
here: the page files the decided images when the user applies the batch.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent, QPixmap
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QScrollArea, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from tlstudio.api.label import Suggestion  # dataclasses only
from ui.panels.audit_cards import CARD_WIDTH, CardGrid
from ui.widgets.thumbnails import ThumbnailLoader, placeholder_pixmap

THUMB = 104
SKIP = ""
"""The decision of a skipped image."""
CURRENT_STYLE = "#LabelCard { border: 2px solid #2f6fb3; border-radius: 4px; }"
DECIDED_COLOUR = "#2e7d32"


class LabelCard(QFrame):
    """One suggested image: picture, suggestion, decision and a Grad-CAM button.

    Signals:
        clicked(object): the card was clicked (it becomes the current card).
        gradcam_requested(object): the Grad-CAM button was pressed.
    """

    clicked = Signal(object)
    gradcam_requested = Signal(object)

    def __init__(self, suggestion: Suggestion, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("LabelCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setFixedWidth(CARD_WIDTH)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Maximum)
        self.suggestion = suggestion
        self.path = suggestion.path
        self.decision: str | None = None
        self.thumb = QLabel()
        self.thumb.setFixedSize(THUMB, THUMB)
        self.thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumb.setPixmap(placeholder_pixmap(THUMB))
        self.cam = QLabel("")
        self.cam.setObjectName("LabelCam")
        self.cam.setFixedSize(THUMB, THUMB)
        self.cam.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.cam.setWordWrap(True)
        self.cam.setStyleSheet("background: #f4f5f7; color: #5f6368;")
        self.cam.setVisible(False)
        pictures = QHBoxLayout()
        pictures.setSpacing(4)
        pictures.addWidget(self.thumb)
        pictures.addWidget(self.cam)
        pictures.addStretch(1)
        name = QLabel(self.fontMetrics().elidedText(f"#{suggestion.rank}  {Path(self.path).name}",
                                                    Qt.TextElideMode.ElideMiddle, CARD_WIDTH - 16))
        name.setToolTip(self.path)
        self.info = QLabel(f"looks like <b>{html.escape(suggestion.suggested)}</b> {suggestion.probability:.0%}"
                           f" · margin {suggestion.margin:.2f}")
        self.info.setTextFormat(Qt.TextFormat.RichText)
        self.info.setToolTip("The model's most likely class and its probability; the margin is how far ahead of "
                             "the second class it is (small: the model is unsure, which is why it is here)")
        self.status = QLabel("undecided")
        self.status.setObjectName("LabelDecision")
        self.status.setTextFormat(Qt.TextFormat.RichText)
        self.cam_button = QToolButton()
        self.cam_button.setText("Grad-CAM")
        self.cam_button.setToolTip("Show which regions drove the run's prediction (g)")
        self.cam_button.clicked.connect(lambda: self.gradcam_requested.emit(self))
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.cam_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(2)
        layout.addLayout(pictures)
        layout.addWidget(name)
        layout.addWidget(self.info)
        layout.addLayout(bottom)

    def set_decision(self, label: str | None) -> None:
        """Show ``label`` (a class), :data:`SKIP` or None (undecided)."""
        self.decision = label
        if label is None:
            self.status.setText("undecided")
        elif label == SKIP:
            self.status.setText("<span style='color:#5f6368'>skipped</span>")
        else:
            self.status.setText(f"<span style='color:{DECIDED_COLOUR}'>→ <b>{html.escape(label)}</b></span>")

    def set_current(self, current: bool) -> None:
        self.setStyleSheet(CURRENT_STYLE if current else "")

    def show_cam(self, pixmap: QPixmap | None, text: str = "") -> None:
        """Show the Grad-CAM picture (or a note where it would be)."""
        self.cam.setVisible(True)
        if pixmap is not None:
            self.cam.setPixmap(pixmap.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                                             Qt.TransformationMode.SmoothTransformation))
        else:
            self.cam.setText(text)

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.clicked.emit(self)
        super().mousePressEvent(event)


class LabelGrid(QScrollArea):
    """The batch's cards, the classes the number keys give, and the decisions.

    Signals:
        changed(): a decision was made or undone, or the classes changed.
        gradcam_requested(object): a card asks for its Grad-CAM.
    """

    changed = Signal()
    gradcam_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("LabelGrid")
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.cards_widget = CardGrid()
        body = QWidget()  # the cards keep their height; the space below them stays empty
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(4, 4, 4, 4)
        body_layout.addWidget(self.cards_widget)
        body_layout.addStretch(1)
        self.setWidget(body)
        self.loader = ThumbnailLoader(self, size=THUMB)
        self.classes: list[str] = []
        self.current = -1
        self._history: list[tuple[int, str | None]] = []

    @property
    def cards(self) -> list[LabelCard]:
        return list(self.cards_widget.cards)

    # ------------------------------------------------------------------ API

    def set_batch(self, suggestions: tuple[Suggestion, ...], classes: list[str]) -> None:
        """Show a new batch, every card undecided; the number keys give ``classes`` in order."""
        self.classes = list(classes)
        for old in self.cards:  # hidden now: deleteLater frees them only once the event loop turns
            old.hide()
        cards = []
        for s in suggestions:
            card = LabelCard(s)
            card.clicked.connect(self._on_clicked)
            card.gradcam_requested.connect(self.gradcam_requested)
            self.loader.request(s.path, card.thumb)
            cards.append(card)
        self.cards_widget.set_cards(cards)
        self._history = []
        self.current = -1
        self.set_current(0 if cards else -1)
        self.changed.emit()

    def add_class(self, name: str) -> None:
        """A class the number keys can give (a new class gets the next number)."""
        if name not in self.classes:
            self.classes.append(name)
            self.changed.emit()

    def decide(self, index: int, label: str | None, *, advance: bool = True) -> None:
        """Give card ``index`` the class ``label`` (:data:`SKIP`: skip; None: undecided), remembered for undo."""
        cards = self.cards
        if not 0 <= index < len(cards):
            return
        self._history.append((index, cards[index].decision))
        cards[index].set_decision(label)
        if advance:
            self.set_current(self._next_undecided(index))
        self.changed.emit()

    def undo(self) -> bool:
        """Take back the last decision; False when there is none."""
        if not self._history:
            return False
        index, before = self._history.pop()
        self.cards[index].set_decision(before)
        self.set_current(index)
        self.changed.emit()
        return True

    def accept_count(self, threshold: float) -> int:
        """Undecided cards whose suggested class has at least ``threshold`` probability."""
        return sum(1 for c in self.cards if c.decision is None and c.suggestion.probability >= threshold)

    def accept_all(self, threshold: float) -> int:
        """Give every such card its suggested class; returns how many."""
        count = 0
        for i, card in enumerate(self.cards):
            if card.decision is None and card.suggestion.probability >= threshold:
                self.decide(i, card.suggestion.suggested, advance=False)
                count += 1
        self.set_current(self._next_undecided(-1))
        return count

    def decisions(self) -> tuple[list[tuple[str, str]], list[str]]:
        """``([(image, class)], [skipped image])`` of the decided cards, in grid order."""
        labelled = [(c.path, c.decision) for c in self.cards if c.decision]
        skipped = [c.path for c in self.cards if c.decision == SKIP]
        return labelled, skipped

    def undecided(self) -> int:
        return sum(1 for c in self.cards if c.decision is None)

    def set_current(self, index: int) -> None:
        cards = self.cards
        for i, card in enumerate(cards):
            card.set_current(i == index)
        self.current = index if 0 <= index < len(cards) else -1
        if self.current >= 0:
            self.ensureWidgetVisible(cards[self.current], 10, 10)

    # ------------------------------------------------------------------ keys

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt API
        key, text = event.key(), event.text().lower()
        cards = self.cards
        if text and text in "123456789" and self.current >= 0:
            number = int(text)
            if number <= len(self.classes):
                self.decide(self.current, self.classes[number - 1])
            return
        if text in ("0", "x") and self.current >= 0:
            self.decide(self.current, SKIP)
            return
        if text == "u":
            self.undo()
            return
        if text == "g" and self.current >= 0:
            self.gradcam_requested.emit(cards[self.current])
            return
        step = {Qt.Key.Key_Right: 1, Qt.Key.Key_Left: -1, Qt.Key.Key_Tab: 1, Qt.Key.Key_Backtab: -1,
                Qt.Key.Key_Down: self.cards_widget.columns(), Qt.Key.Key_Up: -self.cards_widget.columns()}.get(key)
        if step is not None and cards:
            self.set_current(min(max(self.current + step, 0), len(cards) - 1))
            return
        super().keyPressEvent(event)

    def focusNextPrevChild(self, next: bool) -> bool:  # noqa: N802, A002 - Qt API: Tab moves between cards
        if self.cards:
            return False
        return super().focusNextPrevChild(next)

    # ------------------------------------------------------------------ internals

    def _next_undecided(self, after: int) -> int:
        cards = self.cards
        order = list(range(after + 1, len(cards))) + list(range(0, after + 1))
        return next((i for i in order if cards[i].decision is None), min(max(after, 0), len(cards) - 1) if cards else -1)

    def _on_clicked(self, card: LabelCard) -> None:
        self.setFocus()
        self.set_current(self.cards.index(card))

    def shutdown(self, timeout_ms: int = 5000) -> None:
        self.loader.shutdown(timeout_ms)
