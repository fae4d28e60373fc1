"""The head sweep's "Promote to a run" row: a scored trial becomes the Model and Train configs, and the full run starts.

:class:`PromoteRow` holds the button, "then fine-tune" with its epochs, and a
line of its own that says what promote changed (never cut: it wraps). The
configs come from :func:`ui.jobs.sweep_jobs.promotion`
(:func:`tlstudio.analysis.promote.promote`: the same head, optimizer, batch
size, epochs and early stopping as the trial); the run starts on the Train
page of the row's window.
"""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from tlstudio.api.sweep import SweepConfig, Trial
from tlstudio.config import RunConfig
from tlstudio.errors import TlStudioError
from ui.jobs.sweep_jobs import promotion
from ui.state import AppState

DEFAULT_FINE_TUNE_EPOCHS = 5


class PromoteRow(QWidget):
    """Promote a trial: the button, the fine-tuning choice, and what it changed.

    Attributes:
        promote_button, fine_tune_check, fine_tune_spin: The controls.
        hint: What the last promote did, or why it could not.
    """

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self.promote_button = QPushButton("Promote to a run")
        self.promote_button.setObjectName("SweepPromote")
        self.promote_button.setToolTip("Put the selected trial's cut and head into the Model page and its training "
                                       "settings into the Train page, and start the full run there")
        self.fine_tune_check = QCheckBox("then fine-tune")
        self.fine_tune_check.setObjectName("SweepFineTune")
        self.fine_tune_check.setToolTip("After the head, fine-tune the backbone (the freezing tree's unfrozen layers; "
                                        "the last block when everything is frozen) at the Train page's low learning rate")
        self.fine_tune_spin = QSpinBox()
        self.fine_tune_spin.setRange(1, 999)
        self.fine_tune_spin.setValue(DEFAULT_FINE_TUNE_EPOCHS)
        self.fine_tune_spin.setSuffix(" epochs")
        self.fine_tune_spin.setEnabled(False)
        self.fine_tune_check.toggled.connect(self.fine_tune_spin.setEnabled)
        self.hint = QLabel("")
        self.hint.setObjectName("Hint")
        self.hint.setWordWrap(True)
        row = QHBoxLayout()
        row.setSpacing(4)
        row.addWidget(self.promote_button)
        row.addWidget(self.fine_tune_check)
        row.addWidget(self.fine_tune_spin)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(row)
        layout.addWidget(self.hint)  # a line of its own: what promote changed is never cut

    def fine_tune_epochs(self) -> int:
        return self.fine_tune_spin.value() if self.fine_tune_check.isChecked() else 0

    def promote(self, trial: Trial | None, sweep: SweepConfig | None, what: str) -> RunConfig | None:
        """Set the Model and Train configs to ``trial``'s (of ``sweep``) and say what changed; None when it cannot."""
        if trial is None or sweep is None:
            self.hint.setText("Select a trial in the table first.")
            return None
        state = self.state
        try:
            run, notes = promotion(trial, sweep, fine_tune_epochs=self.fine_tune_epochs(),
                                   fine_tune_learning_rate=state.train_config.fine_tune_learning_rate,
                                   model_now=state.model_config, data_root_now=state.data_config.root,
                                   train_now=state.train_config)
        except TlStudioError as exc:
            self.hint.setText(str(exc))
            return None
        state.set_model_config(run.model)
        state.set_train_config(run.train)
        self.hint.setText(f"Promoted {what}" + (f"; {'; '.join(notes)}" if notes else "") + ".")
        return run

    def start_training(self, what: str) -> None:
        """Start the full run on the Train page of this window (the configs are set already)."""
        pages = getattr(self.window(), "pages", None)
        if pages is None:
            self.hint.setText(self.hint.text() + " Start it on the Train page.")
            return
        self.state.request_page("train")
        if not pages["train"].start():
            self.hint.setText(self.hint.text() + " The run did not start: see the Train page.")
            return
        self.state.show_status(f"Training the promoted {what} on the Train page", 6000)

    def show_selection(self, trial: Trial | None) -> None:
        """A failed trial says it cannot be promoted; another selection clears the line."""
        if trial is not None and not trial.ok:
            self.hint.setText("A failed trial cannot be promoted.")
        elif trial is not None:
            self.hint.setText("")
