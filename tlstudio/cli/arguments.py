"""argparse flags built from the config schema (:mod:`tlstudio.options`).

A command that sets a config field asks for its flag here, so the flag's
type, default, choices and help (with the range) come from the field's one
description::

    add_option(group, TrainConfig, "batch_size", metavar="N")
    # --batch-size N   global batch size (>= 1; default 32)
"""

from __future__ import annotations

import argparse
from typing import Any

from tlstudio.options import Option, option_of

_UNSET: Any = object()


def flag_of(name: str) -> str:
    """The flag spelling of a field name: ``fine_tune_epochs`` -> ``--fine-tune-epochs``."""
    return "--" + name.replace("_", "-")


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def help_text(opt: Option, *, extra: str = "") -> str:
    """The help line of ``opt``: its help, then its range and default in brackets (``%`` escaped for argparse).

    A default that is an empty text or False is not shown: the help says what leaving the option out means.
    """
    shown = not (opt.default is None or opt.default is False or opt.default == "")  # a switch or an empty text: the help says what absent means
    notes = [n for n in (opt.range_text, f"default {_shown(opt.default)}" if shown else "") if n]
    text = f"{opt.help}{extra} ({'; '.join(notes)})" if notes else f"{opt.help}{extra}"
    return text.replace("%", "%%")


def add_option(
    parser: argparse.ArgumentParser | Any,
    config_cls: type,
    field: str,
    flag: str | None = None,
    *,
    default: Any = _UNSET,
    metavar: str | None = None,
    extra: str = "",
) -> argparse.Action:
    """Add the flag of config field ``field`` of ``config_cls`` to ``parser``.

    The flag's type is the field's (``int``, ``float``, ``str``; a ``bool``
    field with a False default becomes a ``store_true`` switch), its choices
    and its default are the field's, and its help is the field's help with
    the range and the default. The parsed value is ``args.<field>`` whatever
    the flag's spelling (``--lr`` sets ``args.learning_rate``).

    Args:
        parser: An :class:`argparse.ArgumentParser` or an argument group.
        config_cls: The config dataclass (``TrainConfig``).
        field: The field's name (``"batch_size"``).
        flag: The flag (``"--lr"``); None spells the field's name (``--batch-size``).
        default: The parsed value when the flag is absent, when it is not the
            field's default (None for "not given", e.g. a resume's epochs).
        metavar: The value's name in the help (``N``, ``X``).
        extra: Words added to the help before the brackets.

    Returns:
        The argparse action.

    Raises:
        KeyError: ``field`` is not an option of ``config_cls``.
    """
    opt = option_of(config_cls, field)
    flag = flag or flag_of(field)
    kwargs: dict[str, Any] = {"dest": field, "help": help_text(opt, extra=extra)}
    kwargs["default"] = opt.default if default is _UNSET else default
    if opt.type is bool:
        if opt.default is not False:
            raise ValueError(f"{config_cls.__name__}.{field} defaults to {opt.default!r}: add its 'no-' switch by hand. Received: {field!r}")
        kwargs["action"] = "store_true"
    else:
        if opt.type in (int, float):
            kwargs["type"] = opt.type
        if opt.choices is not None:
            kwargs["choices"] = opt.choices
        elif metavar:
            kwargs["metavar"] = metavar
    return parser.add_argument(flag, **kwargs)
