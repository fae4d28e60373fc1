"""Reading JSON files whose bytes may not be UTF-8: which field holds the bad text."""

from __future__ import annotations

import json
from typing import Any


def field_with_bad_bytes(raw: bytes, one_based: tuple[str, ...] = ()) -> str:
    """The JSON field holding the first text that is not UTF-8, e.g. ``"model.backbone"``; ``""`` if unknown.

    Args:
        raw: The file's bytes.
        one_based: Lists whose items a message numbers from 1 (the calculator's ``"layers"``).
    """
    try:
        data = json.loads(raw.decode("utf-8", "surrogateescape"))
    except ValueError:
        return ""

    def bad(text: str) -> bool:
        return any("\udc80" <= ch <= "\udcff" for ch in text)

    def walk(value: Any, where: str) -> str:
        if isinstance(value, str):
            return (where or "the text") if bad(value) else ""
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, item in items:
            if isinstance(key, int):
                name = f"{where}[{key + 1 if where in one_based else key}]"
            else:
                name = f"{where}.{key}" if where else key
            if isinstance(key, str) and bad(key):
                return name
            found = walk(item, name)
            if found:
                return found
        return ""

    return walk(data, "")
