"""The trials file of a resumable sweep: what was tried and scored, rewritten atomically after every trial.

Format (JSON)::

    {"format": "tlstudio-sweep", "version": 1,
     "setup": {"backbone": ..., "weights": ..., "image_size": ..., "images": FINGERPRINT, "folds": ..., ...},
     "trials": [{"params": {...}, "cv_accuracy": 0.81, "cv_std": 0.03, "seconds": 1.9, "error": "", ...}, ...]}

``setup`` is everything that makes scores comparable: the training images
and labels, the backbone, weights and size, the folds, seed, batch size and
patience. A file whose setup differs belongs to another sweep: it is
refused, naming the first difference, and never overwritten.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tlstudio.errors import ConfigError
from tlstudio.io.atomic import atomic_write_json
from tlstudio.api.sweep import Trial

FORMAT = "tlstudio-sweep"
VERSION = 1


def images_fingerprint(paths: Sequence[str], labels: np.ndarray) -> str:
    """A hash of the training images (path, size, modification time) and their labels, in order."""
    from tlstudio.features.pooled_cache import files_fingerprint

    digest = hashlib.blake2b(digest_size=16)
    digest.update(files_fingerprint(paths).encode())
    digest.update(np.asarray(labels, np.int64).tobytes())
    return digest.hexdigest()


def load(path: str | os.PathLike, setup: dict[str, Any]) -> list[Trial]:
    """The trials already in ``path`` (none when the file does not exist).

    Raises:
        ConfigError: the file is not a sweep's trials file, is damaged, or belongs to another sweep.
    """
    path = Path(path)
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot resume the sweep from this file; expected the JSON trials file of a sweep. "
                          f"Received: {type(exc).__name__}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError(f"{path}: this is not a sweep's trials file, so it is left untouched; expected "
                          f"format {FORMAT!r}. Received: format={data.get('format') if isinstance(data, dict) else None!r}")
    if data.get("version") != VERSION:
        raise ConfigError(f"{path}: trials file version {VERSION} expected. Received: version={data.get('version')!r}")
    stored = data.get("setup")
    if stored != setup:
        stored = stored if isinstance(stored, dict) else {}
        key = next((k for k in sorted(set(setup) | set(stored)) if stored.get(k) != setup.get(k)), "setup")
        what = "the training images or labels changed" if key == "images" else f"setup.{key} differs"
        raise ConfigError(f"{path}: these trials come from another sweep ({what}), so they cannot be resumed and the "
                          f"file is left untouched; use another file. Expected {key}={setup.get(key)!r}. "
                          f"Received: {key}={stored.get(key)!r}")
    trials = data.get("trials")
    if not isinstance(trials, list):
        raise ConfigError(f"{path}: 'trials' must be a list. Received: {type(trials).__name__}")
    return [Trial.from_json(t, f"{path}: trials[{i}]") for i, t in enumerate(trials)]


def save(path: str | os.PathLike, setup: dict[str, Any], trials: Sequence[Trial]) -> None:
    """Write every trial to ``path`` atomically (a crash leaves the previous file whole)."""
    atomic_write_json(Path(path), {"format": FORMAT, "version": VERSION, "setup": setup,
                                   "trials": [t.to_json() for t in trials]})
