"""The Train page's "Hyperparameters" box: every field of the :class:`~tlstudio.config.TrainConfig` the user sets.

One :class:`~ui.forms.FormBinder` ties the widgets to the state's train
config: an edit becomes ``AppState.set_train_config``, a config set elsewhere
(a promoted sweep trial, a reopened project) is shown here.
"""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QSpinBox, QWidget

from tlstudio.config import TrainConfig
from ui.forms import FormBinder, field_check, field_label, fill_choices
from ui.jobs.train_text import MONITOR_LABELS
from ui.state import AppState

OPTIMIZER_LABELS = {
    "adam": "Adam (adaptive, a safe default)",
    "sgd": "SGD with momentum",
    "adamw": "AdamW (Adam with weight decay)",
}
PRECISION_LABELS = {
    "auto": "Auto (the fastest this machine measures)",
    "float32": "float32 (exact, slowest)",
    "bfloat16": "bfloat16 (CPUs with AMX, recent GPUs)",
    "float16": "float16 (GPUs with tensor cores)",
}
SCHEDULE_LABELS = {
    "constant": "Constant",
    "cosine": "Cosine decay",
    "step": "Step decay",
}

WIDGETS = ("epochs_spin", "fine_epochs_spin", "batch_spin", "optimizer_combo", "lr_spin", "fine_lr_spin",
           "weight_decay_spin", "schedule_combo", "monitor_combo", "early_check", "patience_spin", "class_weights_check",
           "label_smoothing_spin", "seed_spin", "deterministic_check", "precision_combo", "auto_head_check")
"""The settings widgets, in tab order."""


def _lr_spin() -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setDecimals(7)
    spin.setRange(1e-7, 1.0)
    spin.setSingleStep(1e-4)
    spin.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
    return spin


class TrainSettings(QGroupBox):
    """The hyperparameters of a run, bound to ``state.train_config``.

    Args:
        state: The shared application state.
        parent: Parent widget.
    """

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__("Hyperparameters", parent)
        self.state = state
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(0, 1000)
        self.fine_epochs_spin = QSpinBox()
        self.fine_epochs_spin.setRange(0, 1000)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(0, 4096)
        self.batch_spin.setSpecialValueText("Auto")  # 0: the run picks the largest batch that fits in memory
        self.optimizer_combo = QComboBox()
        fill_choices(self.optimizer_combo, TrainConfig, "optimizer", OPTIMIZER_LABELS)
        self.lr_spin = _lr_spin()
        self.fine_lr_spin = _lr_spin()
        self.schedule_combo = QComboBox()
        fill_choices(self.schedule_combo, TrainConfig, "schedule", SCHEDULE_LABELS)
        self.early_check = QCheckBox("Stop early")
        self.patience_spin = QSpinBox()
        self.patience_spin.setRange(1, 100)
        self.patience_spin.setSuffix(" epochs")
        self.monitor_combo = QComboBox()
        fill_choices(self.monitor_combo, TrainConfig, "monitor", MONITOR_LABELS)
        self.class_weights_check = QCheckBox("Balance classes")
        self.weight_decay_spin = QDoubleSpinBox()  # every setting a run uses has a control here (issue 24)
        self.weight_decay_spin.setDecimals(5)
        self.weight_decay_spin.setRange(0.0, 1.0)
        self.weight_decay_spin.setSingleStep(1e-4)
        self.label_smoothing_spin = QDoubleSpinBox()
        self.label_smoothing_spin.setDecimals(4)
        self.label_smoothing_spin.setRange(0.0, 0.99)
        self.label_smoothing_spin.setSingleStep(0.05)
        self.precision_combo = QComboBox()  # issue 23: TrainConfig.precision
        self.precision_combo.setObjectName("Precision")
        fill_choices(self.precision_combo, TrainConfig, "precision", PRECISION_LABELS)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        early_row = QHBoxLayout()
        early_row.setContentsMargins(0, 0, 0, 0)
        early_row.addWidget(self.early_check)
        early_row.addWidget(self.patience_spin, 1)
        early = QWidget()
        early.setLayout(early_row)
        self.deterministic_check = field_check(TrainConfig, "deterministic")
        self.deterministic_check.setObjectName("Deterministic")
        seed_row = QHBoxLayout()
        seed_row.setContentsMargins(0, 0, 0, 0)
        seed_row.addWidget(self.seed_spin, 1)
        seed_row.addWidget(self.deterministic_check)
        seed = QWidget()
        seed.setLayout(seed_row)

        form = QFormLayout(self)
        for name, widget in (  # row labels come from TrainConfig's option schema
            ("epochs", self.epochs_spin), ("fine_tune_epochs", self.fine_epochs_spin), ("batch_size", self.batch_spin),
            ("optimizer", self.optimizer_combo), ("learning_rate", self.lr_spin),
            ("fine_tune_learning_rate", self.fine_lr_spin), ("weight_decay", self.weight_decay_spin),
            ("schedule", self.schedule_combo), ("monitor", self.monitor_combo), ("early_stopping", early),
            ("class_weights", self.class_weights_check), ("label_smoothing", self.label_smoothing_spin),
            ("seed", seed), ("precision", self.precision_combo),
        ):
            form.addRow(field_label(TrainConfig, name), widget)
        # issue 12: TrainConfig.auto_head, the "Auto" choice of cut and head
        self.auto_head_check = field_check(TrainConfig, "auto_head")
        self.auto_head_check.setObjectName("AutoHead")
        auto_hint = QLabel("probe + sweep first; overrides the Model page's cut and head, and the head epochs "
                           "(early stopping on validation loss decides)")
        auto_hint.setObjectName("Hint")
        auto_hint.setWordWrap(True)
        form.addRow(self.auto_head_check)
        form.addRow(auto_hint)

    def bind(self) -> FormBinder:
        """Bind every widget to its field of the state's train config; edits go to the state."""
        self.form = FormBinder(self.state.train_config, parent=self)
        for path, widget in (
            ("epochs", self.epochs_spin),
            ("fine_tune_epochs", self.fine_epochs_spin),
            ("batch_size", self.batch_spin),
            ("optimizer", self.optimizer_combo),
            ("learning_rate", self.lr_spin),
            ("fine_tune_learning_rate", self.fine_lr_spin),
            ("schedule", self.schedule_combo),
            ("monitor", self.monitor_combo),
            ("early_stopping", self.early_check),
            ("patience", self.patience_spin),
            ("class_weights", self.class_weights_check),
            ("weight_decay", self.weight_decay_spin),
            ("label_smoothing", self.label_smoothing_spin),
            ("seed", self.seed_spin),
            ("precision", self.precision_combo),
            ("deterministic", self.deterministic_check),
            ("auto_head", self.auto_head_check),
        ):
            self.form.bind(path, widget)
        self.early_check.toggled.connect(self.patience_spin.setEnabled)
        self.form.edited.connect(self.state.set_train_config)
        self.form.invalid.connect(lambda message: self.state.show_status(message))
        return self.form

    def widgets(self) -> list[QWidget]:
        """The settings widgets, in tab order."""
        return [getattr(self, name) for name in WIDGETS]

    def show_config(self, config: TrainConfig) -> None:
        """Show ``config`` in the widgets."""
        self.form.set_config(config)
        self.patience_spin.setEnabled(config.early_stopping)

    def set_running(self, running: bool) -> None:
        """A run is going: none of the settings it was started with can change."""
        for widget in (self.epochs_spin, self.fine_epochs_spin, self.batch_spin, self.optimizer_combo, self.lr_spin,
                       self.fine_lr_spin, self.weight_decay_spin, self.schedule_combo, self.monitor_combo,
                       self.early_check, self.class_weights_check, self.label_smoothing_spin, self.seed_spin,
                       self.deterministic_check, self.precision_combo, self.auto_head_check):
            widget.setEnabled(not running)
        self.patience_spin.setEnabled(not running and self.early_check.isChecked())
