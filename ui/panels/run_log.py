"""The Train page's log pane: one time-stamped line per thing the run did, capped, following the newest line."""

from __future__ import annotations

import time

from PySide6.QtWidgets import QPlainTextEdit, QWidget

LOG_LINES = 2000
"""Lines kept in the log pane."""

LOG_MIN_LINES = 6
"""The log keeps at least this many lines visible however short the window."""

PREFIXES = {"warning": "⚠ ", "error": "✖ ", "advice": "» "}
"""What marks a line of each level (info lines have none)."""


class RunLog(QPlainTextEdit):
    """What the run did: data checks, phases, epochs, checkpoints and warnings.

    The log follows new lines unless the user scrolled up to read; the first
    line after :meth:`follow` (a new run) always scrolls to the end.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("TrainLog")
        self.setReadOnly(True)
        self.setMaximumBlockCount(LOG_LINES)
        self.setToolTip("What the run did: data checks, phases, epochs, checkpoints and warnings")
        self.setPlaceholderText("The run's log appears here.")
        line = self.fontMetrics().lineSpacing()
        self.setMinimumHeight(LOG_MIN_LINES * line + 2 * self.frameWidth() + 8)
        self._follows = True

    def add(self, message: str, level: str = "info") -> None:
        """Append a line; the log follows it unless the user scrolled up to read."""
        bar = self.verticalScrollBar()
        follow = self._follows or bar.value() >= bar.maximum() - 2
        stamp = time.strftime("%H:%M:%S")
        self.appendPlainText(f"{stamp}  {PREFIXES.get(level, '')}{message}")
        if follow:
            bar.setValue(bar.maximum())
        self._follows = False

    def follow(self) -> None:
        """The next line scrolls to the end whatever the scroll position (a new run starts)."""
        self._follows = True
