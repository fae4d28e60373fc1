"""argparse flags built from the config schema (:mod:`tlstudio.options`).

A command that sets a config field asks for its flag here, so the flag's
type, default, choices and help (with the range) come from the field's one
description::

    add_option(group, TrainConfig, "batch_size", metavar="N")
    # --batch-size N   global batch size (>= 1; default 32)

A flag whose value is a short syntax the command parses into the field
(``--head avg:dense=256``) is :func:`add_spec_option`; the ``--no-X`` switch
of a setting that is on by default is :func:`add_off_switch`; a second
spelling of another flag's value is :func:`add_alias`. Each action keeps the
:class:`~tlstudio.options.Option` it was built from as :data:`DESCRIBES`, so a
test can hold every flag's help to its field's.
"""

from __future__ import annotations

import argparse
from typing import Any

from tlstudio.options import Option, option_of

_UNSET: Any = object()

DESCRIBES = "config_option"
"""Attribute of an argparse action built here: the :class:`~tlstudio.options.Option` its help comes from."""


def _described(action: argparse.Action, opt: Option) -> argparse.Action:
    setattr(action, DESCRIBES, opt)
    return action


def flag_of(name: str) -> str:
    """The flag spelling of a field name: ``fine_tune_epochs`` -> ``--fine-tune-epochs``."""
    return "--" + name.replace("_", "-")


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def help_text(opt: Option, *, extra: str = "", default: Any = _UNSET) -> str:
    """The help line of ``opt``: its help, then its range and default in brackets (``%`` escaped for argparse).

    A default that is an empty text or False is not shown: the help says what leaving the option out means.
    ``default`` replaces the field's default in the brackets (a flag's own spelling of it, e.g. ``avg``).
    """
    value = opt.default if default is _UNSET else default
    shown = not (value is None or value is False or value == "")  # a switch or an empty text: the help says what absent means
    notes = [n for n in (opt.range_text, f"default {_shown(value)}" if shown else "") if n]
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
    required: bool = False,
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
        required: The command needs the flag; no default is shown or used.

    Returns:
        The argparse action.

    Raises:
        KeyError: ``field`` is not an option of ``config_cls``.
    """
    opt = option_of(config_cls, field)
    flag = flag or flag_of(field)
    kwargs: dict[str, Any] = {"dest": field, "help": help_text(opt, extra=extra, default=None if required else _UNSET)}
    if required:
        kwargs["required"] = True
    else:
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
    return _described(parser.add_argument(flag, **kwargs), opt)


def add_positional(parser: argparse.ArgumentParser | Any, config_cls: type, field: str, metavar: str, *, required: bool = False) -> argparse.Action:
    """Add a positional argument that sets text field ``field`` (``tlstudio-cli train DATA``).

    Unless ``required``, it may be left out, and then holds the field's default.
    """
    opt = option_of(config_cls, field)
    if required:
        return _described(parser.add_argument(field, metavar=metavar, help=help_text(opt)), opt)
    return _described(parser.add_argument(field, metavar=metavar, nargs="?", default=opt.default, help=help_text(opt)), opt)


def add_spec_option(
    parser: argparse.ArgumentParser | Any,
    config_cls: type,
    field: str,
    flag: str | None = None,
    *,
    default: Any,
    syntax: str,
    metavar: str = "SPEC",
    type: Any = None,  # noqa: A002 - argparse's word
) -> argparse.Action:
    """Add a flag whose value is a short syntax that the command parses into field ``field`` (and perhaps its neighbours).

    The help is the field's help, then ``syntax`` (what the value looks like),
    then the flag's own ``default`` in brackets. ``args.<field>`` holds the text
    (or what ``type`` makes of it) for the command to parse.

    Args:
        parser: An :class:`argparse.ArgumentParser` or an argument group.
        config_cls: The config dataclass (``ModelConfig``).
        field: The field's name (``"head"``).
        flag: The flag; None spells the field's name.
        default: The flag's value when it is absent, as the user would write it (``"avg"``).
        syntax: Words after the help, e.g. ``": POOLING[:dense=UNITS,..], e.g. avg:dense=256"``.
        metavar: The value's name in the help.
        type: argparse's conversion of the text (None keeps the text).
    """
    opt = option_of(config_cls, field)
    kwargs: dict[str, Any] = {"dest": field, "default": default, "metavar": metavar,
                              "help": help_text(opt, extra=syntax, default=default)}
    if type is not None:
        kwargs["type"] = type
    return _described(parser.add_argument(flag or flag_of(field), **kwargs), opt)


def add_off_switch(parser: argparse.ArgumentParser | Any, config_cls: type, field: str, flag: str | None = None) -> argparse.Action:
    """Add ``--no-FIELD``, which turns off a true/false field that is on by default; ``args.<field>`` is the value.

    The help is ``"do not "`` and the field's help (``--no-class-weights``: do
    not weight the loss by class frequency).
    """
    opt = option_of(config_cls, field)
    if opt.type is not bool or opt.default is not True:
        raise ValueError(f"{config_cls.__name__}.{field} is not a switch that is on by default. Received: {field!r}")
    flag = flag or "--no-" + field.replace("_", "-")
    return _described(parser.add_argument(flag, dest=field, action="store_false", default=True,
                                           help=f"do not {opt.help}".replace("%", "%%")), opt)


def add_alias(parser: argparse.ArgumentParser | Any, config_cls: type, field: str, flag: str, value: Any, *, of: str) -> argparse.Action:
    """Add ``flag``, a switch that sets field ``field`` to ``value``, the same as ``of`` with that value (``--no-feature-cache``)."""
    opt = option_of(config_cls, field)
    if opt.choices is not None and value not in opt.choices:
        raise ValueError(f"{value!r} is not a choice of {config_cls.__name__}.{field}. Received: {value!r}")
    return _described(parser.add_argument(flag, dest=field, action="store_const", const=value,
                                           help=f"the same as {of} {value}"), opt)
