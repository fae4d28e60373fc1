"""Scroll areas that tell a splitter how narrow they can really be.

A :class:`~PySide6.QtWidgets.QScrollArea` reports a tiny minimum size, so a
page that puts a form in one used to pin the form's minimum width at
construction. That width was measured with widgets not yet hidden (a head's
unused dense rows) and never followed the form again: at 1024×680 the Model
page's two sides together asked for more than the window had, and
:class:`~PySide6.QtWidgets.QSplitter` drew the right side's tabs under the
form's scrollbar.

* :class:`FormScroll` scrolls up and down only, and its minimum width is the
  form's current minimum width plus the scrollbar, updated whenever the form's
  layout changes.
* :func:`side_scroll` wraps a panel that needs its width (a table, a chart
  row) so that, when the window is narrower than that, the panel scrolls
  sideways with a visible scrollbar instead of being cut or overlapped.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSize, Qt
from PySide6.QtWidgets import QScrollArea, QWidget


class FormScroll(QScrollArea):
    """A vertical-only scroll area whose minimum width follows its form's."""

    def __init__(self, form: QWidget, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setWidget(form)
        form.installEventFilter(self)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        form = self.widget()
        inner = form.minimumSizeHint().width() if form is not None else 0
        margins = self.contentsMargins()
        width = inner + self.verticalScrollBar().sizeHint().width() + margins.left() + margins.right()
        return QSize(width, super().minimumSizeHint().height())

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self.updateGeometry()  # the splitter asks minimumSizeHint() again
        return super().eventFilter(watched, event)


def side_scroll(panel: QWidget) -> QScrollArea:
    """``panel`` in a frameless scroll area that scrolls sideways (and down) only when it must."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    area.setWidget(panel)
    return area
