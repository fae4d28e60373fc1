"""One description of each config option: default, range, choices, help text and label.

A config field is declared with :func:`option` instead of a bare default, in
the style of labelme's config schema::

    @dataclass(frozen=True)
    class TrainConfig:
        batch_size: int = option(32, label="Batch size", min=1,
                                 help="global batch size",
                                 tooltip="Images per training step. Smaller uses less memory")

        def __post_init__(self) -> None:
            check_options(self)     # type, choices and range of every option

Everything else reads that one description:

* the config's validation (:func:`check_options`), whose message names the
  field, what was expected and ``Received: ...``;
* the CLI's argparse flags, their type, default, choices and help
  (:func:`tlstudio.cli.arguments.add_option`);
* the GUI's labels, tooltips, ranges and combo choices (:func:`option_of`).

This module is light: it imports neither TensorFlow nor Qt.
"""

from __future__ import annotations

import dataclasses
import numbers
import typing
from dataclasses import dataclass
from typing import Any

from tlstudio.errors import ConfigError

OPTION_KEY = "tlstudio.option"
"""Key of a field's :attr:`dataclasses.Field.metadata` that holds its :class:`_Spec`."""


@dataclass(frozen=True)
class _Spec:
    label: str
    help: str
    tooltip: str | None
    choices: tuple[Any, ...] | None
    min: float | None
    max: float | None
    min_open: bool
    max_open: bool


def option(
    default: Any = dataclasses.MISSING,
    *,
    label: str,
    help: str,  # noqa: A002 - the schema's word, as argparse's
    choices: typing.Sequence[Any] | None = None,
    min: float | None = None,  # noqa: A002
    max: float | None = None,  # noqa: A002
    min_open: bool = False,
    max_open: bool = False,
    tooltip: str | None = None,
    default_factory: Any = dataclasses.MISSING,
) -> Any:
    """A dataclass field described once: default, label, help, choices and range.

    Args:
        default: The default value.
        label: Short name for a form (``"Batch size"``).
        help: One line for the CLI's help, lower case (``"global batch size"``).
        choices: The values allowed, in the order a form lists them.
        min: Smallest value allowed (None: no lower bound).
        max: Largest value allowed (None: no upper bound).
        min_open: ``min`` itself is not allowed (``> min``).
        max_open: ``max`` itself is not allowed (``< max``).
        tooltip: Longer text for a form's tooltip; None uses ``help``.
        default_factory: Instead of ``default``, for a mutable default.

    Returns:
        A :func:`dataclasses.field` carrying the description in its metadata.
    """
    spec = _Spec(label, help, tooltip, tuple(choices) if choices is not None else None, min, max, min_open, max_open)
    return dataclasses.field(default=default, default_factory=default_factory, metadata={OPTION_KEY: spec})


PRECISIONS = ("auto", "float32", "bfloat16", "float16")
"""The compute precisions a user may ask for; ``auto`` lets :mod:`tlstudio.precision` choose per machine."""


def precision_option(default: str = "auto", *, what: str = "feature extraction and training") -> Any:
    """The one description of a ``precision`` field (training, feature extraction, opt-in fast evaluation).

    Args:
        default: ``"auto"`` where speed is wanted; ``"float32"`` where the
            numbers must match the exported files exactly (evaluation).
        what: The work the field applies to, for the help text.
    """
    return option(
        default, label="Precision", choices=PRECISIONS,
        help=f"compute precision of {what}: auto (bfloat16 on CPUs with AMX/AVX512-BF16, float16 on GPUs "
             "with tensor cores, when measured faster), float32, bfloat16 or float16",
        tooltip=f"Compute precision of {what}. Auto picks bfloat16 on a CPU with AMX or AVX512-BF16 and float16 "
                "on a GPU with tensor cores, and keeps float32 where a short first-run measurement finds the fast "
                "precision slower. Weights and the output layer stay float32; evaluation, predictions and exports "
                "stay float32 unless you opt in.",
    )


def _number(value: Any) -> str:
    """``value`` for a range: ``2**32`` for a large power of two, ``1e-05`` short (``:g``)."""
    if isinstance(value, int) and value >= 2**16 and value & (value - 1) == 0:
        return f"2**{value.bit_length() - 1}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@dataclass(frozen=True)
class Option:
    """The description of one config field, as the CLI and the GUI read it.

    Attributes:
        name: The field's name (``"batch_size"``).
        type: The field's type when it is ``bool``, ``int``, ``float`` or ``str``; else None.
        default: Its default value.
        label: Short name for a form.
        help: One line for the CLI's help.
        tooltip: Longer text for a form's tooltip (``help`` when none was given).
        choices: The values allowed, or None.
        min: Smallest value allowed, or None.
        max: Largest value allowed, or None.
        min_open: ``min`` itself is not allowed.
        max_open: ``max`` itself is not allowed.
    """

    name: str
    type: type | None
    default: Any
    label: str
    help: str
    tooltip: str
    choices: tuple[Any, ...] | None
    min: float | None
    max: float | None
    min_open: bool = False
    max_open: bool = False

    @property
    def range_text(self) -> str:
        """The range in words: ``"within [0, 1)"``, ``">= 1"``, ``"> 0"``; ``""`` without bounds."""
        if self.min is not None and self.max is not None:
            return (
                f"within {'(' if self.min_open else '['}{_number(self.min)}, "
                f"{_number(self.max)}{')' if self.max_open else ']'}"
            )
        if self.min is not None:
            return f"{'>' if self.min_open else '>='} {_number(self.min)}"
        if self.max is not None:
            return f"{'<' if self.max_open else '<='} {_number(self.max)}"
        return ""

    @property
    def type_text(self) -> str:
        """What the type asks for, in words: ``"a whole number"``, ``"true or false"``..."""
        return {bool: "true or false", int: "a whole number", float: "a number", str: "a text"}.get(self.type, "a value")

    def in_range(self, value: Any) -> bool:
        """True when ``value`` is within :attr:`min` and :attr:`max`."""
        if self.min is not None and (value < self.min or (self.min_open and value == self.min)):
            return False
        if self.max is not None and (value > self.max or (self.max_open and value == self.max)):
            return False
        return True

    def has_type(self, value: Any) -> bool:
        """True when ``value`` is of :attr:`type` (a whole number counts as a number; a bool as neither)."""
        if self.type is bool:
            return isinstance(value, bool)
        if self.type is int:
            return isinstance(value, numbers.Integral) and not isinstance(value, bool)
        if self.type is float:
            return isinstance(value, numbers.Real) and not isinstance(value, bool)
        if self.type is str:
            return isinstance(value, str)
        return True

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is refused, as ``"NAME must be ... Received: ..."``; None when it is allowed."""
        if not self.has_type(value):
            return f"{self.name} must be {self.type_text}. Received: {self.name}={value!r}"
        if self.choices is not None and value not in self.choices:
            return f"{self.name} must be one of {self.choices}. Received: {value!r}"
        if self.type in (int, float) and not self.in_range(value):
            return f"{self.name} must be {self.range_text}. Received: {self.name}={value!r}"
        return None


def _field_type(hint: Any) -> type | None:
    return hint if hint in (bool, int, float, str) else None


_OPTIONS: dict[type, dict[str, Option]] = {}


def options(cls: type) -> dict[str, Option]:
    """The :class:`Option` of every field of config class ``cls`` declared with :func:`option`, in field order."""
    found = _OPTIONS.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls)
        found = {}
        for f in dataclasses.fields(cls):
            spec = f.metadata.get(OPTION_KEY)
            if spec is None:
                continue
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else None
            )
            found[f.name] = Option(
                name=f.name,
                type=_field_type(hints.get(f.name)),
                default=default,
                label=spec.label,
                help=spec.help,
                tooltip=spec.tooltip or spec.help,
                choices=spec.choices,
                min=spec.min,
                max=spec.max,
                min_open=spec.min_open,
                max_open=spec.max_open,
            )
        _OPTIONS[cls] = found
    return found


def option_of(cls: type, name: str) -> Option:
    """The :class:`Option` of field ``name`` of config class ``cls``.

    Raises:
        KeyError: ``name`` is not a field of ``cls`` declared with :func:`option`.
    """
    found = options(cls)
    if name not in found:
        raise KeyError(f"{cls.__name__} has no option {name!r}. Received: {name!r}; options: {', '.join(found)}")
    return found[name]


def check_options(config: Any) -> None:
    """Check every option of ``config``: its type, then its choices, then its range.

    Called by a config's ``__post_init__``.

    Raises:
        ConfigError: for the first value refused, naming the field, what was
            expected and ``Received: ...``.
    """
    for name, opt in options(type(config)).items():
        message = opt.problem(getattr(config, name))
        if message:
            raise ConfigError(message)
