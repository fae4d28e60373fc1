"""Persistent settings (QSettings): window geometry, recent folders, last configs.

The organisation and application names set in :func:`ui.app.configure_application`
decide where QSettings writes; tests point QSettings at a temporary folder
(see ``tests/ui/conftest.py``). Configs are stored as the JSON of
:func:`tlstudio.config.to_json`, so a settings file written by an older version
still loads (unknown keys are ignored, missing keys take defaults).
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from PySide6.QtCore import QByteArray, QSettings

from tlstudio.config import DataConfig, ModelConfig, TrainConfig, from_json, to_json
from tlstudio.errors import ConfigError

ORGANIZATION = "tlstudio"
APPLICATION = "Transfer Learning Studio"
MAX_RECENT = 8

T = TypeVar("T")

_KEY_GEOMETRY = "window/geometry"
_KEY_STATE = "window/state"
_KEY_PAGE = "window/page"
_KEY_RECENT = "data/recent_folders"
_CONFIG_KEYS = {DataConfig: "config/data", ModelConfig: "config/model", TrainConfig: "config/train"}


def settings() -> QSettings:
    """The application's QSettings (user scope, native or test-isolated location)."""
    return QSettings()


# ------------------------------------------------------------------ recent


def recent_folders(store: QSettings | None = None) -> list[str]:
    """Recently opened dataset folders, newest first (missing folders dropped)."""
    store = store or settings()
    value = store.value(_KEY_RECENT, [])
    if isinstance(value, str):
        value = [value] if value else []
    folders = [str(v) for v in (value or []) if v]
    return [f for f in folders if Path(f).is_dir()]


def add_recent_folder(path: str | Path, store: QSettings | None = None) -> list[str]:
    """Put ``path`` first in the recent list and return the new list."""
    store = store or settings()
    path = str(Path(path).resolve())
    folders = [f for f in recent_folders(store) if f != path]
    folders.insert(0, path)
    folders = folders[:MAX_RECENT]
    store.setValue(_KEY_RECENT, folders)
    return folders


def clear_recent_folders(store: QSettings | None = None) -> None:
    store = store or settings()
    store.remove(_KEY_RECENT)


# ----------------------------------------------------------------- configs


def save_config(config: object, store: QSettings | None = None) -> None:
    """Store a Data/Model/Train config as JSON."""
    store = store or settings()
    key = _CONFIG_KEYS.get(type(config))
    if key is None:
        raise TypeError(f"save_config expects a DataConfig, ModelConfig or TrainConfig. Received: {type(config).__name__}")
    store.setValue(key, to_json(config, indent=None))


def load_config(cls: type[T], store: QSettings | None = None) -> T | None:
    """The stored config of type ``cls``, or None when absent or unreadable."""
    store = store or settings()
    key = _CONFIG_KEYS.get(cls)
    if key is None:
        raise TypeError(f"load_config expects DataConfig, ModelConfig or TrainConfig. Received: {cls!r}")
    text = store.value(key)
    if not text:
        return None
    try:
        return from_json(cls, str(text))
    except (ConfigError, TypeError, ValueError, KeyError):
        return None  # a hand-edited or incompatible value: fall back to defaults


# ------------------------------------------------------------------ window


def save_window(geometry: QByteArray, state: QByteArray, page: int, store: QSettings | None = None) -> None:
    store = store or settings()
    store.setValue(_KEY_GEOMETRY, geometry)
    store.setValue(_KEY_STATE, state)
    store.setValue(_KEY_PAGE, int(page))


def window_geometry(store: QSettings | None = None) -> QByteArray | None:
    value = (store or settings()).value(_KEY_GEOMETRY)
    return value if isinstance(value, QByteArray) and not value.isEmpty() else None


def window_state(store: QSettings | None = None) -> QByteArray | None:
    value = (store or settings()).value(_KEY_STATE)
    return value if isinstance(value, QByteArray) and not value.isEmpty() else None


def last_page(store: QSettings | None = None) -> int:
    value = (store or settings()).value(_KEY_PAGE, 0)
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
