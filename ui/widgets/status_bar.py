"""The main window's status bar: a message is shown whole, wrapped if it must be, never cut mid-word.

:class:`QStatusBar` paints a temporary message on one line in the room its
permanent widgets leave, and cuts what does not fit: at 1024 px a message read
"…the job it was runn". :class:`StatusBar` shows the message in a word-wrapped
label instead. A message too long for its line first takes the room of the
*optional* permanent widgets (the dataset and backbone summaries, which the
pages show too), then wraps onto more lines (the bar grows); the full text is
also its tooltip. :meth:`showMessage`, :meth:`currentMessage`,
:meth:`clearMessage` and ``messageChanged`` keep :class:`QStatusBar`'s meaning.

The permanent labels elide their own text (:class:`ElidedLabel`) with the
full text as the tooltip, so they never push the window wider.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt, QTimer
from PySide6.QtWidgets import QLabel, QSizePolicy, QStatusBar, QWidget

MAX_LINES = 3


class ElidedLabel(QLabel):
    """A one-line label that shows ``…`` where its text does not fit, the whole text in its tooltip.

    Args:
        max_width: The widest it grows (its text is elided beyond it).
        mode: Where the text is elided (the middle keeps a path's folder and file name).
    """

    def __init__(self, text: str = "", *, max_width: int = 320, mode: Qt.TextElideMode = Qt.TextElideMode.ElideMiddle,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self._full = ""
        self._tip = ""
        self._mode = mode
        self.setMaximumWidth(max_width)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)  # its text, up to max_width: never squeezed by a message
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt API
        self._full = text
        self._elide()
        self.updateGeometry()  # the size hint follows the whole text

    def text(self) -> str:  # noqa: D401 - Qt API
        """The whole text (what is shown may be elided: :meth:`shown_text`)."""
        return self._full

    def shown_text(self) -> str:
        return super().text()

    def setToolTip(self, tip: str) -> None:  # noqa: N802 - Qt API
        self._tip = tip
        self._elide()

    def sizeHint(self):  # noqa: N802 - Qt API
        hint = super().sizeHint()  # of the text shown: its padding is what the style adds around it
        padding = max(0, hint.width() - self.fontMetrics().horizontalAdvance(super().text()))
        hint.setWidth(min(self.maximumWidth(), self.fontMetrics().horizontalAdvance(self._full) + padding + 4))
        return hint

    def minimumSizeHint(self):  # noqa: N802 - Qt API
        hint = super().minimumSizeHint()
        hint.setWidth(min(self.sizeHint().width(), self.fontMetrics().horizontalAdvance("…") * 8))
        return hint

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(0, self.contentsRect().width() - 2 * self.margin() - 2)
        shown = self.fontMetrics().elidedText(self._full, self._mode, width) if self.isVisible() else self._full
        super().setText(shown)
        cut = shown != self._full
        super().setToolTip("\n".join(t for t in (self._full if cut else "", self._tip) if t))


class StatusBar(QStatusBar):
    """A status bar whose temporary messages are shown whole (see the module's docstring).

    Attributes:
        message_label: The label that shows the current message.
        optional: Permanent widgets hidden while a message needs their room.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.message_label = QLabel("")
        self.message_label.setObjectName("StatusMessage")
        self.message_label.setWordWrap(True)
        self.message_label.setTextFormat(Qt.TextFormat.PlainText)
        self.message_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # never widens the window
        self.addWidget(self.message_label, 1)
        self.optional: list[QWidget] = []
        self._permanents: list[QWidget] = []
        self._hidden: list[QWidget] = []
        self._message = ""
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.clearMessage)

    # QStatusBar's message API, shown in the label
    def showMessage(self, text: str, timeout: int = 0) -> None:  # noqa: N802 - Qt API
        text = text or ""
        changed = text != self._message
        self._message = text
        self.message_label.setText(text)
        self.message_label.setToolTip(text)
        if timeout > 0 and text:
            self._timer.start(timeout)
        else:
            self._timer.stop()
        self._fit()
        if changed:
            self.messageChanged.emit(text)

    def currentMessage(self) -> str:  # noqa: N802 - Qt API
        return self._message

    def clearMessage(self) -> None:  # noqa: N802 - Qt API
        self.showMessage("")

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        QTimer.singleShot(0, self, self._fit)

    # ------------------------------------------------------------- fitting

    def message_lines(self, width: int | None = None) -> int:
        """Lines the current message needs at ``width`` (default: the label's width now)."""
        width = self.message_label.width() if width is None else width
        if not self._message or width <= 0:
            return 1
        rect = self.fontMetrics().boundingRect(QRect(0, 0, width, 10_000), Qt.TextFlag.TextWordWrap, self._message)
        return max(1, round(rect.height() / max(1, self.fontMetrics().lineSpacing())))

    def _room(self, hide_optional: bool) -> int:
        """The message's width with the optional widgets shown or hidden (an estimate from the bar's width)."""
        gap = 6
        used = sum(w.width() + gap for w in self._permanent() if w.isVisible() and (not hide_optional or w not in self.optional))
        if not hide_optional:
            used += sum(w.width() + gap for w in self._hidden)
        return max(0, self.width() - used - 32)  # margins and the size grip

    def addPermanentWidget(self, widget: QWidget, stretch: int = 0) -> None:  # noqa: N802 - Qt API
        super().addPermanentWidget(widget, stretch)
        self._permanents.append(widget)

    def _permanent(self) -> list[QWidget]:
        return list(self._permanents)

    def _fit(self) -> None:
        text = self._message
        metrics = self.fontMetrics()
        fits_beside = not text or metrics.horizontalAdvance(text) <= self._room(hide_optional=False)
        want_hidden = [] if fits_beside else [w for w in self.optional if w.isVisible() or w in self._hidden]
        for w in self._hidden:
            if w not in want_hidden:
                w.setVisible(True)
        for w in want_hidden:
            w.setVisible(False)
        self._hidden = want_hidden
        width = self._room(hide_optional=bool(want_hidden)) if text else 0
        lines = min(MAX_LINES, self.message_lines(width)) if text else 1
        self.message_label.setMinimumHeight(lines * metrics.lineSpacing() if lines > 1 else 0)
