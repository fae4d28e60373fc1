"""A row that starts one engine job and shows its progress: Run, a progress bar, Cancel, a status line.

Used by the transfer probe (Model page) and the dataset audit (Data page).
The owner connects :attr:`JobControls.run_button` and calls :meth:`attach`
once with its :class:`~ui.engine.EngineTask`; the row then follows the task:
the bar shows its :class:`~tlstudio.events.Progress` events, Cancel forwards
to the task, and the buttons swap while it runs.
"""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from tlstudio.events import Progress


class JobControls(QWidget):
    """Run / progress / Cancel for one engine task, with a status line beneath.

    Args:
        run_text: The Run button's text.
        run_tip: The Run button's tooltip.
        parent: Parent widget.
    """

    def __init__(self, run_text: str, run_tip: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.run_button = QPushButton(run_text)
        self.run_button.setObjectName("PrimaryButton")
        self.run_button.setToolTip(run_tip)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop at the next safe point; what was computed so far is shown")
        self.cancel_button.setVisible(False)
        self.status = QLabel("")
        self.status.setObjectName("Hint")
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.run_button)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        row.addStretch(0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(row)
        layout.addWidget(self.status)
        self.task = None

    def attach(self, task) -> None:
        """Follow ``task`` (an :class:`~ui.engine.EngineTask`): its progress, cancel and running state."""
        self.task = task
        task.progress.connect(self.show_progress)
        task.running_changed.connect(self.set_running)
        self.cancel_button.clicked.connect(self.cancel)

    def cancel(self) -> None:
        """Ask the task to stop."""
        if self.task is not None and self.task.is_running():
            self.task.cancel()
            self.status.setText("Cancelling…")
            self.cancel_button.setEnabled(False)

    def set_running(self, running: bool) -> None:
        """Swap the buttons and show or hide the bar."""
        self.run_button.setEnabled(not running)
        self.cancel_button.setVisible(running)
        self.cancel_button.setEnabled(running)
        self.progress.setVisible(running)
        if running:
            self.progress.setRange(0, 0)  # busy until the first Progress event

    def show_progress(self, event: Progress) -> None:
        """Show one :class:`~tlstudio.events.Progress` event."""
        if event.total:
            self.progress.setRange(0, event.total)
            self.progress.setValue(min(event.done, event.total))
            self.progress.setFormat("%v / %m")
        if event.message:
            self.status.setText(event.message)
