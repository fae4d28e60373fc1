"""A readable error message with a "Details" expander holding the traceback.

Every error the engine reports reaches the user through :func:`show_error`:
the one-line message in plain words first, the traceback folded away under
"Details" with a button to copy everything for a bug report. The dialog opens
with ``open()`` (window-modal, non-blocking), so no code path waits on it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)


class ErrorDialog(QDialog):
    """Shows ``message`` prominently and ``details`` (a traceback) on demand.

    Args:
        message: One or two plain sentences: what went wrong, and the file if any.
        details: Traceback or other technical text; the Details button is hidden when empty.
        title: Window title.
        parent: Parent widget (the dialog is window-modal to it).
    """

    def __init__(self, message: str, details: str = "", title: str = "Something went wrong", parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("ErrorDialog")
        self.setWindowTitle(title)
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        self._message = message
        self._details = details or ""

        icon = QLabel()
        icon.setPixmap(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxCritical).pixmap(40, 40))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)

        self.message_label = QLabel(message)
        self.message_label.setObjectName("ErrorMessage")
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label.setMinimumWidth(380)

        top = QHBoxLayout()
        top.addWidget(icon)
        top.addWidget(self.message_label, 1)

        self.details_view = QPlainTextEdit(self._details)
        self.details_view.setObjectName("ErrorDetails")
        self.details_view.setReadOnly(True)
        self.details_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.details_view.setMinimumHeight(200)
        self.details_view.setVisible(False)

        self.details_button = QPushButton("Show details")
        self.details_button.setCheckable(True)
        self.details_button.setToolTip("Show the technical details (traceback) of this error")
        self.details_button.toggled.connect(self.set_details_visible)
        self.details_button.setVisible(bool(self._details))

        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the message and the details to the clipboard")
        self.copy_button.clicked.connect(self.copy_to_clipboard)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        buttons.addButton(self.details_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.details_view, 1)
        layout.addWidget(buttons)

    @property
    def message(self) -> str:
        return self._message

    @property
    def details(self) -> str:
        return self._details

    def set_details_visible(self, visible: bool) -> None:
        """Expand or fold the details pane."""
        self.details_view.setVisible(visible)
        self.details_button.setText("Hide details" if visible else "Show details")
        if self.details_button.isChecked() != visible:
            self.details_button.setChecked(visible)
        layout = self.layout()
        if layout is not None:
            layout.activate()
        hint = self.sizeHint().height()
        # Grow to show the details (keeping a size the user chose); shrink back when folded.
        self.resize(self.width(), max(self.height(), hint) if visible else hint)

    def full_text(self) -> str:
        """Message and details as one text, the way Copy puts it on the clipboard."""
        return self._message + ("\n\n" + self._details if self._details else "")

    def copy_to_clipboard(self) -> None:
        QGuiApplication.clipboard().setText(self.full_text())


def show_error(parent: QWidget | None, message: str, details: str = "", title: str = "Something went wrong") -> ErrorDialog:
    """Open an :class:`ErrorDialog` without blocking and return it."""
    dialog = ErrorDialog(message, details, title=title, parent=parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
    dialog.open()
    return dialog
