"""The badge above the Train page's plots: the run's latest training advice, never a dialog."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from tlstudio.events import TrainingAdvice

ADVICE_STYLE = "background: #fff4d6; border: 1px solid #e0b44c; border-radius: 3px; padding: 3px 6px; color: #5a4300;"


def _html(text: str) -> str:
    return escape(text, quote=False)


class AdviceBadge(QLabel):
    """The latest :class:`~tlstudio.events.TrainingAdvice` of the run, with every piece of it in the tooltip; hidden without any."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("AdviceBadge")
        self.setWordWrap(True)
        self.setVisible(False)
        self.setStyleSheet(ADVICE_STYLE)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._advice: list[TrainingAdvice] = []

    @property
    def advice(self) -> list[TrainingAdvice]:
        """The advice the current run has given so far."""
        return list(self._advice)

    def add(self, advice: TrainingAdvice) -> None:
        """Show ``advice`` as the latest; a withdrawn one removes the earlier advice of its code."""
        if advice.withdrawn:
            self._advice = [a for a in self._advice if a.code != advice.code]
        else:
            self._advice.append(advice)
        self._show()

    def reset(self) -> None:
        """A new run: no advice yet."""
        self._advice = []
        self._show()

    def _show(self) -> None:
        if not self._advice:
            self.setVisible(False)
            self.clear()
            return
        latest = self._advice[-1]
        more = f" (+{len(self._advice) - 1} more: see the log)" if len(self._advice) > 1 else ""
        self.setText(f"⚠ <b>{_html(latest.title)}</b>{more}: {_html(latest.suggestion)}")
        self.setToolTip("\n\n".join(f"{a.title}: {a.message}\nTry: {a.suggestion}" for a in self._advice))
        self.setVisible(True)
