"""The head sweep's search-space editor: which parameters vary, and the values each takes.

A parameter whose box is ticked takes the values listed beside it (a random
search draws learning rate and weight decay log-uniformly, and dropout and
label smoothing uniformly, between the smallest and largest value listed); an
unticked one stays at the value the Model and Train pages show now
(:func:`fixed_values`).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QSpinBox, QWidget

from tlstudio.backbones import BACKBONES, cut_points
from tlstudio.config import ModelConfig, TrainConfig
from tlstudio.errors import ConfigError
from tlstudio.api.sweep import POOLINGS, SearchSpace
from ui.widgets.sweep_table import hidden_text


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in _items(text))


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in _items(text))


def _items(text: str) -> list[str]:
    return [v.strip() for v in text.replace(";", ",").split(",") if v.strip()]


def _hidden(text: str) -> tuple[tuple[int, ...], ...]:
    out = []
    for item in _items(text):
        out.append(() if item.lower() in ("linear", "none", "0", "-") else tuple(int(u) for u in item.replace("x", "+").split("+")))
    return tuple(out)


def _words(text: str) -> tuple[str, ...]:
    return tuple(_items(text))


def _fmt_floats(values: tuple[float, ...]) -> str:
    return ", ".join(f"{v:g}" for v in values)


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One row of the search-space editor.

    Attributes:
        key: The :class:`~tlstudio.jobs.sweep.SearchSpace` field.
        label: What the row is called.
        parse: Text -> the field's tuple (raises ValueError on bad text).
        default: The text of :class:`SearchSpace`'s default values.
        tip: What the values mean and how to write them.
    """

    key: str
    label: str
    parse: Callable[[str], tuple]
    default: str
    tip: str


_SPACE = SearchSpace()
PARAMETERS: tuple[Parameter, ...] = (
    Parameter("cuts", "Cut", lambda t: () if t.strip().lower() == "all" else _words(t), "all",
              "Cut layers to try, comma-separated, or 'all' for every cut point of the backbone"),
    Parameter("poolings", "Pooling", _words, ", ".join(_SPACE.poolings), "avg and/or max"),
    Parameter("hidden", "Hidden layers", _hidden, ", ".join(hidden_text(h) for h in _SPACE.hidden),
              "Hidden layer choices: 'linear' (none), '256' (one layer), '256+128' (two layers)"),
    Parameter("dropouts", "Dropout", _floats, _fmt_floats(_SPACE.dropouts), "Dropout rates in [0, 1)"),
    Parameter("learning_rates", "Learning rate", _floats, _fmt_floats(_SPACE.learning_rates),
              "Learning rates (a random search draws log-uniformly between the smallest and largest)"),
    Parameter("weight_decays", "Weight decay", _floats, _fmt_floats(_SPACE.weight_decays),
              "Decoupled weight decay; 0 uses Adam (a random search draws log-uniformly, and keeps 0 possible)"),
    Parameter("label_smoothings", "Label smoothing", _floats, _fmt_floats(_SPACE.label_smoothings),
              "Label smoothing in [0, 1)"),
    Parameter("epochs", "Epochs", _ints, ", ".join(str(e) for e in _SPACE.epochs),
              "Epoch budgets; early stopping on an inner validation split usually ends sooner"),
)


def fixed_values(key: str, model: ModelConfig, train: TrainConfig) -> tuple:
    """The one value an unticked parameter keeps: what the Model and Train pages show now."""
    if key == "cuts":
        return (model.cut or cut_points(model.backbone)[-1],) if model.backbone in BACKBONES else ()
    if key == "poolings":
        return (model.head.pooling if model.head.pooling in POOLINGS else "avg",)
    if key == "hidden":
        return (tuple(d.units for d in model.head.dense),)
    if key == "dropouts":
        return (float(model.head.dropout),)
    if key == "learning_rates":
        return (float(train.learning_rate),)
    if key == "weight_decays":
        return (float(train.weight_decay) if train.optimizer == "adamw" else 0.0,)
    if key == "label_smoothings":
        return (float(train.label_smoothing),)
    if key == "epochs":
        return (max(1, int(train.epochs)),)
    raise KeyError(key)


def space_texts(space: SearchSpace) -> dict[str, str]:
    """The editor's text of each field of ``space``."""
    return {"cuts": ", ".join(space.cuts) or "all", "poolings": ", ".join(space.poolings),
            "hidden": ", ".join(hidden_text(h) for h in space.hidden), "dropouts": _fmt_floats(space.dropouts),
            "learning_rates": _fmt_floats(space.learning_rates), "weight_decays": _fmt_floats(space.weight_decays),
            "label_smoothings": _fmt_floats(space.label_smoothings),
            "epochs": ", ".join(str(e) for e in space.epochs)}


VALUES_WIDTH_TEXT = "0.0001, 0.0003, 0.001"
"""An edit is at least this wide: a list of learning rates is read whole (at 1024 px one read "01, 0.003")."""


class SweepSpaceEditor(QGroupBox):
    """A box and a line of values per parameter, in two columns when they fit (else one), and the sweep's seed.

    Args:
        seed_spin: The sweep's seed box, shown in the editor's last row.
        parent: Parent widget.

    Signals:
        changed(): a value or a box changed.
    """

    changed = Signal()

    def __init__(self, seed_spin: QSpinBox, parent: QWidget | None = None):
        super().__init__("Parameters to vary", parent)
        self.setObjectName("SweepSpace")
        self.setToolTip("A ticked parameter takes the values listed beside it; an unticked one keeps "
                        "the value the Model and Train pages show")
        self.grid = grid = QGridLayout(self)
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(3)
        self.param_checks: dict[str, QCheckBox] = {}
        self.param_edits: dict[str, QLineEdit] = {}
        for param in PARAMETERS:
            check = QCheckBox(param.label)
            check.setChecked(True)
            check.setToolTip(f"Vary {param.label.lower()} (unticked: keep the page's value)")
            edit = QLineEdit(param.default)
            edit.setObjectName(f"SweepValues_{param.key}")
            edit.setToolTip(param.tip)
            edit.setMinimumWidth(edit.fontMetrics().horizontalAdvance(VALUES_WIDTH_TEXT))  # values are read whole
            check.toggled.connect(edit.setEnabled)
            self.param_checks[param.key] = check
            self.param_edits[param.key] = edit
        self.seed_label = QLabel("Seed:")
        self.seed_row = QHBoxLayout()
        self.seed_row.addWidget(seed_spin)
        self.seed_row.addStretch(1)
        self.columns = 0
        self._arrange(2)
        for edit in self.param_edits.values():
            edit.textChanged.connect(self.changed)
        for check in self.param_checks.values():
            check.toggled.connect(self.changed)

    def _arrange(self, columns: int) -> None:
        """Lay the parameters out in ``columns`` (1 or 2) pairs of columns, the seed beneath."""
        if columns == self.columns:
            return
        self.columns = columns
        grid = self.grid
        for widget in (*self.param_checks.values(), *self.param_edits.values(), self.seed_label):
            grid.removeWidget(widget)
        grid.removeItem(self.seed_row)
        rows = (len(PARAMETERS) + columns - 1) // columns
        for i, param in enumerate(PARAMETERS):
            row, col = i % rows, (i // rows) * 2
            grid.addWidget(self.param_checks[param.key], row, col)
            grid.addWidget(self.param_edits[param.key], row, col + 1)
        grid.addWidget(self.seed_label, rows, 0)
        grid.addLayout(self.seed_row, rows, 1)
        for col in range(4):
            grid.setColumnStretch(col, 1 if col in (1, 3) and col < 2 * columns else 0)

    def fit_to(self, width: int) -> bool:
        """Two columns when ``width`` holds them with every value whole, else one; True when the layout changed."""
        check = max(c.sizeHint().width() for c in self.param_checks.values())
        edit = max(e.minimumWidth() for e in self.param_edits.values())
        margins = self.contentsMargins()
        two = 2 * (check + edit) + 3 * self.grid.horizontalSpacing() + margins.left() + margins.right() + 8
        before = self.columns
        self._arrange(2 if width >= two else 1)
        return self.columns != before

    def space(self, model: ModelConfig, train: TrainConfig) -> SearchSpace:
        """The search space the editor shows (unticked parameters at the pages' values).

        Raises:
            ConfigError: a value that cannot be read, naming the parameter and ``Received``.
        """
        values: dict[str, tuple] = {}
        for param in PARAMETERS:
            text = self.param_edits[param.key].text()
            if not self.param_checks[param.key].isChecked():
                values[param.key] = fixed_values(param.key, model, train)
                continue
            try:
                values[param.key] = param.parse(text)
            except ValueError:
                raise ConfigError(f"Search space, {param.label}: {param.tip.lower()}. Received: {text!r}") from None
            if not values[param.key] and param.key != "cuts":
                raise ConfigError(f"Search space, {param.label}: list at least one value. Received: {text!r}")
        cuts = values["cuts"]
        known = cut_points(model.backbone) if model.backbone in BACKBONES else ()
        unknown = [c for c in cuts if c not in known]
        if unknown:
            raise ConfigError(f"Search space, Cut: {unknown[0]!r} is not a cut point of {model.backbone}; expected 'all' "
                              f"or some of {', '.join(known)}. Received: {self.param_edits['cuts'].text()!r}")
        try:
            return SearchSpace(**values)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"Search space: {exc}. Received: {values!r}") from None

    def show_space(self, space: SearchSpace) -> None:
        """Show ``space``'s values, every parameter ticked."""
        for key, text in space_texts(space).items():
            self.param_edits[key].setText(text)
            self.param_checks[key].setChecked(True)
