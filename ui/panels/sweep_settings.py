"""The head sweep's settings: search kind, trials, folds, seed and the search space, as one widget.

:class:`SweepSettings` holds the row "Search · Trials · Folds · size" and the
:class:`~ui.panels.sweep_space.SweepSpaceEditor` (in a scroll area that
scrolls sideways in a narrow window, folded with the "Search space" toggle).
It turns them into a :class:`~tlstudio.api.sweep.SweepConfig`
(:meth:`SweepSettings.config_for`) and shows a stored sweep's settings
(:meth:`SweepSettings.show_settings`). It starts no job.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QScrollArea, QSizePolicy, QSpinBox, QToolButton, QVBoxLayout, QWidget

from tlstudio.api.sweep import SearchSpace, SweepConfig
from tlstudio.config import DataConfig, ModelConfig, TrainConfig
from tlstudio.errors import TlStudioError
from ui.jobs.sweep_jobs import grid_size
from ui.panels.sweep_space import SweepSpaceEditor


SPACE_MIN_HEIGHT = 96
"""The open search space keeps at least this height (px); what does not fit scrolls inside it."""


class _SpaceScroll(QScrollArea):
    """The search space's scroll area: it asks for little height and takes what the tab can spare, up to all of it."""

    preferred_height = SPACE_MIN_HEIGHT

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        hint = super().sizeHint()
        return QSize(hint.width(), self.preferred_height)


class SweepSettings(QWidget):
    """The sweep's search, trials, folds, seed and search space.

    Attributes:
        search_combo, trials_spin, folds_spin, seed_spin: The settings.
        size_label: How many settings the space holds and how many trials run.
        space_box: The :class:`~ui.panels.sweep_space.SweepSpaceEditor`.
        space_scroll: The scroll area around it (hidden with the toggle).
        space_button: The "Search space" toggle (placed by the panel).

    Signals:
        changed(): a setting or the space changed.
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.search_combo = QComboBox()
        self.search_combo.setObjectName("SweepSearch")
        self.search_combo.addItem("Random", "random")
        self.search_combo.addItem("Grid", "grid")
        self.search_combo.setToolTip("Random: draws settings from the ranges (covers the few settings that matter "
                                     "better). Grid: every combination of the listed values, in a seeded order")
        self.trials_spin = QSpinBox()
        self.trials_spin.setObjectName("SweepTrials")
        self.trials_spin.setRange(0, 1000)
        self.trials_spin.setValue(24)
        self.trials_spin.setSpecialValueText("whole grid")
        self.trials_spin.setToolTip("Trials to run (a grid capped below its size runs a seeded sample of it; "
                                    "0 runs the whole grid)")
        self.folds_spin = QSpinBox()
        self.folds_spin.setObjectName("SweepFolds")
        self.folds_spin.setRange(2, 10)
        self.folds_spin.setValue(SweepConfig().folds)
        self.folds_spin.setToolTip("Cross-validation folds per trial")
        self.seed_spin = QSpinBox()
        self.seed_spin.setObjectName("SweepSeed")
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setToolTip("Seed of the plan, the folds and every trial's initialisation: the same seed repeats a sweep")
        self.space_button = QToolButton()
        self.space_button.setObjectName("SweepSpaceToggle")
        self.space_button.setText("Search space")
        self.space_button.setCheckable(True)
        self.space_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.space_button.setToolTip("Show or hide which parameters the sweep varies and their values")
        self.trials_spin.setMaximumWidth(80)
        self.folds_spin.setMaximumWidth(60)
        self.seed_spin.setMaximumWidth(100)
        top = QHBoxLayout()
        top.setSpacing(4)  # fits beside the Model page's form at 1024 px
        for label, widget in (("Search:", self.search_combo), ("Trials:", self.trials_spin), ("Folds:", self.folds_spin)):
            top.addWidget(QLabel(label))
            top.addWidget(widget)
        self.size_label = QLabel("")
        self.size_label.setObjectName("Hint")
        self.size_label.setWordWrap(True)  # a narrow window wraps it instead of cutting it
        self.size_label.setToolTip("How many settings the search space holds, and how many the sweep will try")
        self.size_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # never widens the tab
        top.addWidget(self.size_label, 1)

        self.space_box = SweepSpaceEditor(self.seed_spin)
        # In a short window (680 px) the search space scrolls inside itself and the tab does not: it asks for
        # SPACE_MIN_HEIGHT, grows up to its whole height when there is room, and the page never grows past the screen.
        self.space_scroll = _SpaceScroll()
        self.space_scroll.setObjectName("SweepSpaceScroll")
        self.space_scroll.setWidgetResizable(True)
        self.space_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.space_scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.space_scroll.setWidget(self.space_box)
        self.space_scroll.setMinimumWidth(240)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.space_scroll, 1)
        self._top = top
        self.fit_space_height()

        self.space_button.toggled.connect(self._show_space)
        self.space_box.changed.connect(self.changed)
        self.search_combo.currentIndexChanged.connect(lambda _i: self.changed.emit())
        self.trials_spin.valueChanged.connect(lambda _v: self.changed.emit())

    @property
    def param_checks(self):
        return self.space_box.param_checks

    @property
    def param_edits(self):
        return self.space_box.param_edits

    def space(self, model: ModelConfig, train: TrainConfig) -> SearchSpace:
        """The search space the editor shows (unticked parameters at the pages' values).

        Raises:
            ConfigError: a value that cannot be read, naming the parameter and ``Received``.
        """
        return self.space_box.space(model, train)

    def config_for(self, data: DataConfig, model: ModelConfig, train: TrainConfig) -> SweepConfig:
        """The sweep config for the pages' data, model and training with these settings.

        Raises:
            ConfigError: a setting the sweep refuses, in words.
        """
        return SweepConfig(data=data, model=model, space=self.space(model, train), trials=self.trials_spin.value(),
                           search=self.search_combo.currentData(), seed=self.seed_spin.value(),
                           folds=self.folds_spin.value(), batch_size=train.work_batch_size, precision=train.precision,
                           patience=train.patience if train.early_stopping else SweepConfig().patience)

    def show_settings(self, config: SweepConfig) -> None:
        """Show ``config``'s search, trials, folds, seed and space."""
        self.search_combo.setCurrentIndex(max(0, self.search_combo.findData(config.search)))
        self.trials_spin.setValue(config.trials)
        self.folds_spin.setValue(config.folds)
        self.seed_spin.setValue(config.seed)
        self.space_box.show_space(config.space)

    def update_size(self, model: ModelConfig, train: TrainConfig) -> None:
        """Say how many points the space has and how many trials will run ("grid of 96 points: 24 trials")."""
        try:
            space = self.space(model, train)
        except (TlStudioError, KeyError) as exc:
            self.size_label.setText("space not valid")
            self.size_label.setToolTip(str(exc))
            return
        self.size_label.setToolTip("How many settings the search space holds, and how many the sweep will try")
        size = grid_size(space, model)
        trials = self.trials_spin.value()
        if self.search_combo.currentData() == "grid":
            runs = size if trials == 0 else min(trials, size)
            self.size_label.setText(f"grid of {size:,} points: {runs:,} trials")
        else:
            self.size_label.setText(f"{trials:,} random draws")

    def fit_space_height(self) -> None:
        """At most the search space's whole height (and room for a sideways scroll bar); at least SPACE_MIN_HEIGHT of it."""
        self.space_box.adjustSize()
        height = max(self.space_box.sizeHint().height(), self.space_box.minimumSizeHint().height())
        whole = height + self.space_scroll.horizontalScrollBar().sizeHint().height() + 4
        self.space_scroll.setMaximumHeight(whole)
        self.space_scroll.setMinimumHeight(min(whole, SPACE_MIN_HEIGHT))
        self.space_scroll.preferred_height = min(whole, SPACE_MIN_HEIGHT)
        self.space_scroll.updateGeometry()
        self._fit_max_height()

    def _fit_max_height(self) -> None:
        """Never taller than the top row and the whole space: the room left goes to the trials below."""
        top = self._top.sizeHint().height()
        if self._top.hasHeightForWidth() and self.width() >= 200:
            top = max(top, self._top.totalHeightForWidth(self.width()))
        extra = self.layout().spacing() + self.space_scroll.maximumHeight() if self.space_button.isChecked() else 0
        self.setMaximumHeight(top + extra)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        self.space_box.fit_to(self.width())
        self.fit_space_height()  # the style's sizes are known now

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        if self.space_box.fit_to(event.size().width()):  # one column in a narrow window: every value read whole
            self.fit_space_height()
        elif event.size().width() != event.oldSize().width():
            self._fit_max_height()  # the top row's wrapped text may take another height

    def _show_space(self, shown: bool) -> None:
        self.space_scroll.setVisible(shown)
        self._fit_max_height()
        self.space_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
