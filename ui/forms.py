"""Bind form widgets to the fields of a frozen config dataclass, in both directions.

A page shows one stage config (``DataConfig``, ``ModelConfig``, ``TrainConfig``)
in widgets and pushes the user's edits back to :class:`~ui.state.AppState`.
:class:`FormBinder` does both directions in one place:

* **config -> widgets** (:meth:`FormBinder.set_config`) writes every bound
  widget under one guard, so the widgets' change signals do not echo the
  values back as an edit;
* **widgets -> config** (on every bound widget's change signal) builds a new
  config with :func:`dataclasses.replace` and emits ``edited(config)``; when
  the config's ``__post_init__`` (or the page's own ``check``) refuses the
  values, it emits ``invalid(message)`` with the readable reason instead and
  keeps the last valid config.

Typical use (the Train page's settings)::

    from ui.forms import FormBinder

    self.form = FormBinder(state.train_config, parent=self)
    self.form.bind("epochs", self.epochs_spin)              # QSpinBox <-> int
    self.form.bind("optimizer", self.optimizer_combo)       # item data (else text) <-> value
    self.form.bind("learning_rate", self.lr_spin)           # QDoubleSpinBox <-> float
    self.form.bind("early_stopping", self.early_check)      # QCheckBox <-> bool
    self.form.edited.connect(state.set_train_config)        # a user edit made a valid config
    self.form.invalid.connect(lambda message: state.show_status(message))
    state.train_config_changed.connect(self.form.set_config)

Field paths may be dotted into nested dataclasses (``"head.pooling"``,
``"augment.zoom"``). ``scale`` shows a fraction as a percentage
(``bind("val_fraction", spin, scale=100)``). :meth:`FormBinder.bind_toggle`
binds a checkbox plus an amount (0 when unchecked), and
:meth:`FormBinder.bind_custom` binds anything else with a read function, a
write function and the signals that mean "changed". A page that changes
bound widgets itself (not from a config) wraps that in
``with form.writing():`` to keep it from counting as an edit.

Labels, tooltips, ranges and choices come from the config's option schema
(:mod:`tlstudio.options`), never from the page: :meth:`FormBinder.bind`
gives a widget without a tooltip its field's, and keeps a spin box within the
field's range; :func:`field_row` adds a form row with the field's label and
tooltip, :func:`field_check` a check box named by the field,
:func:`fill_choices` a combo's items in the order of the field's choices;
:func:`field_label` is a form row's label and :func:`option_for` the whole
description. Each :class:`Binding` keeps its widgets, so a test can hold
every bound widget's row to its field's label.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QLineEdit, QSpinBox, QWidget

from tlstudio.errors import TlStudioError
from tlstudio.options import Option, options

INVALID_INPUT = (TlStudioError, ValueError)
"""What a config's ``__post_init__``, a ``check`` or a read function raises for values it refuses."""


@dataclass(frozen=True)
class Binding:
    """One config field and how to move its value in and out of widgets.

    Attributes:
        path: Field name, dotted into nested dataclasses (``"head.pooling"``).
        read: Returns the field value the widgets show; raises ``ValueError``
            or a :class:`~tlstudio.errors.TlStudioError` when they show none.
        write: Shows a field value in the widgets; raises ``ValueError`` when
            the widgets cannot show it (a value that is not one of a combo's choices).
        widgets: The input widgets that show the field (none when it has no widget of its own).
    """

    path: str
    read: Callable[[], Any]
    write: Callable[[Any], None]
    widgets: tuple[QWidget, ...] = ()


class _Nested(dict):
    """Changes to the fields of a nested dataclass (see :func:`_apply`)."""


def get_path(config: Any, path: str) -> Any:
    """The value of dotted field ``path`` of ``config``."""
    value = config
    for part in path.split("."):
        value = getattr(value, part)
    return value


def _apply(config: Any, changes: dict[str, Any]) -> Any:
    """``config`` with ``changes`` applied: one :func:`dataclasses.replace` per dataclass, inner ones first."""
    values = {
        name: _apply(getattr(config, name), value) if isinstance(value, _Nested) else value
        for name, value in changes.items()
    }
    return dataclasses.replace(config, **values)


def replace_paths(config: Any, values: Iterable[tuple[str, Any]]) -> Any:
    """``config`` with each dotted field set to its value, validated once per dataclass.

    All fields of one dataclass change together, so two fields that are only
    valid together (a validation plus a test share) never meet an old partner.

    Raises:
        ConfigError: the new values are not valid (from the dataclass's ``__post_init__``).
    """
    tree = _Nested()
    for path, value in values:
        *parents, leaf = path.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, _Nested())
        node[leaf] = value
    return _apply(config, tree)


# ------------------------------------------------------------- option schema


def option_for(config: Any, path: str) -> Option | None:
    """The :class:`~tlstudio.options.Option` of dotted field ``path`` of ``config`` (a config or its class); None without one."""
    cls = config if isinstance(config, type) else type(config)
    *parents, leaf = path.split(".")
    for part in parents:
        hint = {f.name: f for f in dataclasses.fields(cls)}[part]
        default = hint.default_factory() if hint.default_factory is not dataclasses.MISSING else hint.default
        cls = type(default)
    return options(cls).get(leaf) if dataclasses.is_dataclass(cls) else None


def described(config: Any, path: str) -> Option:
    """The :class:`~tlstudio.options.Option` of field ``path`` of ``config`` (a config or its class).

    Raises:
        KeyError: the field has no option (declare it with :func:`tlstudio.options.option`).
    """
    opt = option_for(config, path)
    if opt is None:
        raise KeyError(f"{path} has no option: declare it with tlstudio.options.option. Received: {path!r}")
    return opt


def field_label(config: Any, path: str) -> str:
    """The form row label of field ``path``: its option's label and a colon (``"Batch size:"``).

    Raises:
        KeyError: the field has no option.
    """
    return f"{described(config, path).label}:"


def field_row(form: QFormLayout, config: Any, path: str, widget: QWidget, *, scale: float = 1) -> None:
    """Add the row of field ``path`` to ``form``: its option's label, and ``widget`` with its tooltip and range.

    ``widget`` may be a row of several widgets; give its input widget the
    tooltip with :func:`describe_widget` (or :meth:`FormBinder.bind`).
    """
    opt = described(config, path)
    describe_widget(widget, opt, scale=scale)
    form.addRow(f"{opt.label}:", widget)


def field_check(config: Any, path: str) -> QCheckBox:
    """A check box named and explained by field ``path``'s option (a switch, or the label of an amount)."""
    opt = described(config, path)
    check = QCheckBox(opt.label)
    check.setToolTip(opt.tooltip)
    return check


def fill_choices(combo: QComboBox, config: Any, path: str, names: dict[Any, str] | None = None) -> None:
    """Add the choices of field ``path`` to ``combo`` in the option's order: item data the value, text its name.

    Args:
        names: What the user reads for a value (``{"avg": "Global average"}``); the value itself when absent.
    """
    opt = described(config, path)
    if opt.choices is None:
        raise KeyError(f"{path} has no choices. Received: {path!r}")
    for value in opt.choices:
        combo.addItem((names or {}).get(value, str(value)), value)


def describe_widget(widget: QWidget, opt: Option, *, scale: float = 1) -> None:
    """Give ``widget`` the tooltip of ``opt`` (unless it has one) and keep a spin box within its closed bounds."""
    if not widget.toolTip():
        widget.setToolTip(opt.tooltip)
    if isinstance(widget, (QSpinBox, QDoubleSpinBox)):
        cast = type(widget.value())
        if opt.min is not None and not opt.min_open and widget.minimum() < opt.min * scale:
            widget.setMinimum(cast(opt.min * scale))
        if opt.max is not None and not opt.max_open and widget.maximum() > opt.max * scale:
            widget.setMaximum(cast(opt.max * scale))


# ------------------------------------------------------------- widget access


def _combo_value(combo: QComboBox) -> Any:
    data = combo.currentData()
    return combo.currentText() if data is None else data


def _set_combo(combo: QComboBox, value: Any) -> None:
    index = combo.findData(value)
    if index < 0:
        index = combo.findText(str(value))
    if index < 0:
        choices = [_item_value(combo, i) for i in range(combo.count())]
        raise ValueError(f"{value!r} is not one of the choices {choices}. Received: {value!r}")
    combo.setCurrentIndex(index)


def _item_value(combo: QComboBox, index: int) -> Any:
    data = combo.itemData(index)
    return combo.itemText(index) if data is None else data


def _standard(widget: QWidget, scale: float) -> tuple[Callable[[], Any], Callable[[Any], None], list[Any]]:
    """(read, write, change signals) of a standard input widget."""
    if isinstance(widget, QCheckBox):
        return widget.isChecked, lambda v: widget.setChecked(bool(v)), [widget.toggled]
    if isinstance(widget, QComboBox):
        return lambda: _combo_value(widget), lambda v: _set_combo(widget, v), [widget.currentIndexChanged]
    if isinstance(widget, QLineEdit):
        return widget.text, lambda v: widget.setText("" if v is None else str(v)), [widget.editingFinished]
    if isinstance(widget, (QSpinBox, QDoubleSpinBox)):
        if scale == 1:
            return widget.value, widget.setValue, [widget.valueChanged]
        return (
            lambda: round(widget.value() / scale, 10),
            lambda v: widget.setValue(type(widget.value())(round(v * scale, 10))),
            [widget.valueChanged],
        )
    raise TypeError(
        "bind() takes a QComboBox, QSpinBox, QDoubleSpinBox, QCheckBox or QLineEdit; use bind_custom() for others. "
        f"Received: {type(widget).__name__}"
    )


class FormBinder(QObject):
    """Keeps widgets and a frozen config dataclass in step (see the module docstring).

    Args:
        config: The config the widgets are to show: written to them by the
            first :meth:`set_config` (call it once after binding).
        parent: Owning QObject (the page).
        check: Extra rule for a new config, beyond its own ``__post_init__``;
            raises :class:`~tlstudio.errors.ConfigError` (or ``ValueError``)
            with a readable message to refuse it.

    Signals:
        edited(object): the user changed a widget and the widgets make this
            valid config. Not sent when it equals the previous one, except
            right after a refusal: then it says the widgets are valid again
            (the page clears its message).
        invalid(str): the user changed a widget and the values are refused;
            the readable reason. The previous config stays.
    """

    edited = Signal(object)
    invalid = Signal(str)

    def __init__(self, config: Any, parent: QObject | None = None, *, check: Callable[[Any], None] | None = None):
        super().__init__(parent)
        if not dataclasses.is_dataclass(config) or isinstance(config, type):
            raise TypeError(f"FormBinder binds a config dataclass instance. Received: {config!r}")
        self._config = config
        self._check = check
        self._bindings: list[Binding] = []
        self._writing = 0
        self._shown = False
        self._refused = False

    # -------------------------------------------------------------- binding

    @property
    def config(self) -> Any:
        """The last config written to the widgets or made by a valid edit."""
        return self._config

    @property
    def bindings(self) -> tuple[Binding, ...]:
        return tuple(self._bindings)

    def bind(self, path: str, widget: QWidget, *, scale: float = 1) -> Binding:
        """Bind field ``path`` to a standard widget.

        QCheckBox <-> bool; QComboBox <-> the current item's data (its text
        when it has none); QSpinBox / QDoubleSpinBox <-> number (``scale``:
        the widget shows ``value * scale``, e.g. 100 for a percentage);
        QLineEdit <-> str, read when editing finishes. A field with an
        option (:mod:`tlstudio.options`) gives the widget its tooltip, unless
        the widget has one, and its closed range (:func:`describe_widget`).

        Raises:
            TypeError: another widget type (use :meth:`bind_custom`).
            AttributeError: ``path`` is not a field of the config.
        """
        read, write, signals = _standard(widget, scale)
        binding = self.bind_custom(path, read=read, write=write, signals=signals, widgets=(widget,))
        opt = option_for(self._config, path)
        if opt is not None:
            describe_widget(widget, opt, scale=scale)
        return binding

    def bind_toggle(self, path: str, check: QCheckBox, amount: QSpinBox | QDoubleSpinBox, *, scale: float = 1, off: Any = 0) -> Binding:
        """Bind a field that is ``off`` unless ``check`` is ticked, then the amount ``amount`` shows.

        The amount widget is enabled only while the box is ticked. Writing
        ``off`` unticks the box and leaves the amount as it was, so ticking it
        again brings back the last amount.
        """
        read_amount, write_amount, signals = _standard(amount, scale)

        def read() -> Any:
            return read_amount() if check.isChecked() else off

        def write(value: Any) -> None:
            on = value != off
            check.setChecked(on)
            if on:
                write_amount(value)
            amount.setEnabled(on)

        check.toggled.connect(amount.setEnabled)
        amount.setEnabled(check.isChecked())
        return self.bind_custom(path, read=read, write=write, signals=[check.toggled, *signals], widgets=(check, amount))

    def bind_custom(self, path: str, *, read: Callable[[], Any], write: Callable[[Any], None], signals: Iterable[Any],
                    widgets: Iterable[QWidget] = ()) -> Binding:
        """Bind field ``path`` with its own ``read`` and ``write`` functions; any of ``signals`` means "edited".

        ``widgets`` are the input widgets that show the field (kept in the :class:`Binding`).

        Raises:
            AttributeError: ``path`` is not a field of the config.
        """
        get_path(self._config, path)  # fails now, not at the first edit
        binding = Binding(path, read, write, tuple(widgets))
        self._bindings.append(binding)
        for signal in signals:
            signal.connect(self._on_widget_changed)
        return binding

    # ------------------------------------------------------- the two ways

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Within this block, changes of bound widgets are not edits (re-entrant)."""
        self._writing += 1
        try:
            yield
        finally:
            self._writing -= 1

    @property
    def is_writing(self) -> bool:
        return self._writing > 0

    def set_config(self, config: Any, *, force: bool = False) -> None:
        """Show ``config`` in the widgets without emitting ``edited``.

        Does nothing when ``config`` equals the current one (the echo of an
        edit that the state took), unless ``force``; the first call always
        writes. A value that a widget
        cannot show is reported through ``invalid``; the other fields are
        still written.
        """
        if config == self._config and self._shown and not force:
            return
        self._config = config
        self._shown = True
        self._refused = False
        problems = []
        with self.writing():
            for binding in self._bindings:
                try:
                    binding.write(get_path(config, binding.path))
                except ValueError as exc:
                    problems.append(f"{binding.path}: {exc}")
        if problems:
            self.invalid.emit("Some settings cannot be shown: " + "; ".join(problems))

    def read(self) -> Any:
        """The config the widgets show now (the current config with every bound field from its widgets).

        Raises:
            ConfigError, ValueError: the widgets show values the config refuses.
        """
        config = replace_paths(self._config, [(b.path, b.read()) for b in self._bindings])
        if self._check is not None:
            self._check(config)
        return config

    def commit(self) -> Any | None:
        """Read the widgets as an edit: emit ``edited`` or ``invalid``; returns the new config or None.

        The widgets' change signals call this; a page calls it after an
        edit it handles itself (e.g. a tree of checkboxes bound with
        :meth:`bind_custom`). Inside :meth:`writing` it does nothing.
        """
        if self.is_writing:
            return None
        try:
            config = self.read()
        except INVALID_INPUT as exc:
            self._refused = True
            self.invalid.emit(str(exc))
            return None
        if config != self._config or self._refused:
            self._config = config
            self._refused = False
            self.edited.emit(config)
        return config

    def _on_widget_changed(self, *_args: Any) -> None:
        self.commit()
