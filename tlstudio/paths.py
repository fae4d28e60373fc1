"""Where tlstudio keeps caches and, by default, run folders.

``TLSTUDIO_CACHE_DIR`` and ``TLSTUDIO_RUNS_DIR`` override the defaults; tests
point them at temporary folders so they never touch the user's files.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """Return (and create) a folder under the tlstudio cache.

    Defaults to ``$XDG_CACHE_HOME/tlstudio`` or ``~/.cache/tlstudio``.
    """
    base = os.environ.get("TLSTUDIO_CACHE_DIR")
    if base:
        root = Path(base)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = (Path(xdg) if xdg else Path.home() / ".cache") / "tlstudio"
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_dir() -> Path:
    """Default parent folder for new run folders (``~/tlstudio-runs``)."""
    base = os.environ.get("TLSTUDIO_RUNS_DIR")
    path = Path(base) if base else Path.home() / "tlstudio-runs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def keras_models_dir() -> Path:
    """The Keras download cache for pretrained weights (``$KERAS_HOME/models``)."""
    home = os.environ.get("KERAS_HOME")
    return (Path(home) if home else Path.home() / ".keras") / "models"
