"""The JSON round trip of the config dataclasses: :func:`to_dict`, :func:`from_dict`, :func:`to_json`, :func:`from_json`.

Typed both ways: every value read back is checked for its field's type
(``bool``, ``int``, ``float``, ``str``, tuples, optional values, nested
configs) before the config checks its range, and a refusal names the field,
what was expected and ``Received: ...``. A config class that renamed a field
translates an older file's dict in its ``upgrade_dict`` static method
(``TrainConfig``'s ``mixed_precision`` -> ``precision``).

:mod:`tlstudio.config` exports these functions with the configs. Light: no
TensorFlow, no Qt.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any, TypeVar

from tlstudio.errors import ConfigError

T = TypeVar("T")


def to_dict(config: Any) -> dict[str, Any]:
    """Convert a config dataclass (nested ones too) into plain JSON types."""
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"to_dict expects a config dataclass. Received: {type(config).__name__}")
    return _encode(config)


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    return value


def from_dict(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Build config ``cls`` from a dict made by :func:`to_dict`.

    Unknown keys are ignored (a newer file read by an older app); missing keys
    take their defaults (an older file read by a newer app). Every value is
    checked for its type before the config checks its range, so a file holding
    ``"batch_size": 2.5`` or ``"seed": "x"`` is refused.

    Args:
        cls: The config dataclass.
        data: The JSON object.
        where: Dotted name of ``data`` inside a larger file (``"train"``),
            used in messages.

    Raises:
        ConfigError: naming the field, what was expected and ``Received: ...``.
    """
    if not isinstance(data, dict):
        what = where or "the file"
        raise ConfigError(f"{what} must hold a JSON object (the {cls.__name__} settings). Received: {short_json(data)}")
    upgrade = getattr(cls, "upgrade_dict", None)
    if upgrade is not None:  # an older file's fields, translated by the config itself
        data = upgrade(data)
    hints = _hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            kwargs[f.name] = _decode(hints[f.name], data[f.name], f"{where}.{f.name}" if where else f.name)
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        if not where:
            raise
        raise ConfigError(f"{where}: {exc}") from exc


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def short_json(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:59] + "…"


_EXPECTED = {bool: "true or false", int: "a whole number", float: "a number", str: "a text"}


def _wrong_type(name: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(f"{name} must be {expected}. Received: {name}={short_json(value)}")


def _decode(tp: Any, value: Any, name: str = "value") -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, name)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise _wrong_type(name, "a list", value)
        inner = args[0] if args else Any
        return tuple(_decode(inner, v, f"{name}[{i}]") for i, v in enumerate(value))
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None:
            return None
        non_none = [a for a in args if a is not type(None)]
        return _decode(non_none[0], value, name) if non_none else value
    if tp is bool:
        if not isinstance(value, bool):
            raise _wrong_type(name, _EXPECTED[bool], value)
        return value
    if tp is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _wrong_type(name, _EXPECTED[int], value)
        return value
    if tp is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise _wrong_type(name, _EXPECTED[float], value)
        if value != value or value in (float("inf"), float("-inf")):
            raise _wrong_type(name, "a finite number", value)
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _wrong_type(name, _EXPECTED[str], value)
        return value
    return value


def to_json(config: Any, indent: int = 2) -> str:
    """Serialise a config dataclass to a JSON string."""
    return json.dumps(to_dict(config), indent=indent, sort_keys=False)


def from_json(cls: type[T], text: str) -> T:
    """Parse a JSON string made by :func:`to_json` into ``cls``."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{cls.__name__} JSON is not valid: {exc}. Received: {text[:80]!r}") from exc
    return from_dict(cls, data)
