"""The rules a list of class names keeps, checked once for every place that makes or reads one.

A class name is a folder name (the scan), a line of ``labels.txt`` (an
export) and an entry of ``class_names.json`` / ``model.json`` (a run, an
export read back). For all three to mean the same list:

* a name is a non-empty text without line breaks or other control
  characters (``labels.txt`` holds one class per line);
* it does not begin or end with white space (``labels.txt`` is read back
  stripped, so ``cat`` and `` cat`` would become one class);
* no two names are equal, nor equal once Unicode-normalised (``café`` typed
  as one character or as ``e`` plus an accent look the same, yet are two
  folders).

This module is a leaf: plain Python, no tlstudio imports.
"""

from __future__ import annotations

import unicodedata
from typing import Any

_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")


def shown(name: str, spell: bool = False) -> str:
    """A name as the messages print it: quoted, with its invisible characters (or, with ``spell``, every non-ASCII one) spelled out."""
    text, spelled = repr(name), ascii(name)
    hidden = any(unicodedata.category(c).startswith(("M", "C")) for c in name)
    return f"{text} ({spelled})" if text != spelled and (spell or hidden) else text


def look_alike(a: str, b: str) -> bool:
    """True for two different names that are equal once Unicode-normalised (NFC)."""
    return a != b and unicodedata.normalize("NFC", a) == unicodedata.normalize("NFC", b)


def name_problem(name: Any) -> str | None:
    """What is wrong with one class name ("" never passes), or None."""
    if not isinstance(name, str):
        return "is not a text"
    if not name:
        return "is empty"
    if any(c in _LINE_BREAKS for c in name):
        return "has a line break in it (labels.txt holds one class per line)"
    if any(unicodedata.category(c) == "Cc" for c in name):
        return "has a control character (such as a tab) in it"
    if name != name.strip():
        return "begins or ends with a space, which labels.txt would lose"
    return None


def names_problem(names: Any) -> tuple[int | None, str] | None:
    """What is wrong with a list of class names: ``(index or None, sentence)``, or None when it is sound."""
    if not isinstance(names, (list, tuple)):
        return None, "must be a list of class names in label order"
    seen: dict[str, int] = {}
    normal: dict[str, int] = {}
    for i, name in enumerate(names):
        problem = name_problem(name)
        if problem:
            return i, f"{shown(name) if isinstance(name, str) else repr(name)} {problem}"
        if name in seen:
            return i, f"{shown(name)} is listed twice (entries {seen[name]} and {i})"
        key = unicodedata.normalize("NFC", name)
        if key in normal:
            j = normal[key]
            return i, (f"{shown(names[j], True)} and {shown(name, True)} look the same but are written with other "
                       f"Unicode characters (entries {j} and {i})")
        seen[name] = i
        normal[key] = i
    return None
