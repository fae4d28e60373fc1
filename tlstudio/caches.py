"""The disk caches: what they hold, how large they may grow, and clearing them.

tlstudio keeps these caches under :func:`tlstudio.paths.cache_dir`, all safe
to delete at any time (they are rebuilt when needed):

* ``pooled/``: backbone features (:mod:`tlstudio.features.pooled_cache`):
  pooled vectors at the cut points of a backbone, and float16 feature maps
  for flatten heads, for phase-1 training (:mod:`tlstudio.training.features`),
  the transfer probe, head sweeps and the dataset audit: ``.npy`` shards and
  their ``.json`` manifests, kept under a size limit by :func:`enforce_limit`,
  least recently used first;
* ``features/``: whole float32 feature maps written by older versions; no
  longer written, kept here so clearing frees them;
* ``pixels/``: decoded images at the training size as ``.npy`` shards
  (:mod:`tlstudio.data.pixel_cache`), under their own size limit;
* ``validation/``: the SQLite file of image checks (:mod:`tlstudio.data.cache`);
* ``precision/``: how much faster bfloat16 or float16 measured than float32
  on this machine (:mod:`tlstudio.precision`), so ``auto`` measures once.

Autosaves, error logs and sample datasets also live under the cache folder;
they are the user's work or data and are never touched here. Clearing deletes
only files with the caches' own endings, never anything else a user may have
put in those folders.

This module is light: it never imports TensorFlow.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from tlstudio import paths

logger = logging.getLogger(__name__)

CACHES = {
    "features": ("backbone feature maps of older versions (no longer written)", (".npy",)),
    "pooled": ("backbone features: pooled vectors and maps (training, probe, sweep, audit)", (".npy", ".json")),
    "pixels": ("decoded images at the training size (tlstudio.data.pixel_cache)", (".npy",)),
    "validation": ("image check results", (".sqlite", ".sqlite-journal", ".sqlite-wal", ".sqlite-shm")),
    "precision": ("measured speed of the fast precisions on this machine (cleared: measured again)", (".json",)),
}
"""Cache name -> (description, endings of the files it owns)."""

FEATURE_LIMIT_ENV = "TLSTUDIO_FEATURE_CACHE_MB"
DEFAULT_FEATURE_LIMIT_BYTES = 4 << 30
"""Largest total size of the feature cache on disk (``TLSTUDIO_FEATURE_CACHE_MB`` overrides)."""


@dataclass(frozen=True)
class CacheUsage:
    """One cache on disk.

    Attributes:
        name: ``"features"`` or ``"validation"``.
        description: What it holds, for people.
        folder: Its folder.
        files: Number of cache files.
        bytes: Their total size.
    """

    name: str
    description: str
    folder: Path
    files: int
    bytes: int


def megabytes_from_env(name: str, default_bytes: int) -> int:
    """A cache limit in bytes from the environment variable ``name`` (megabytes), else ``default_bytes``.

    Raises:
        ValueError: the variable is not a whole number >= 0.
    """
    text = os.environ.get(name, "").strip()
    if not text:
        return default_bytes
    try:
        mb = int(text)
    except ValueError:
        mb = -1
    if mb < 0:
        raise ValueError(f"{name} must be a whole number of megabytes >= 0. Received: {text!r}")
    return mb << 20


def feature_limit_bytes() -> int:
    """The feature cache's size limit: ``TLSTUDIO_FEATURE_CACHE_MB`` megabytes, else 4 GB.

    Raises:
        ValueError: the variable is not a whole number >= 0.
    """
    return megabytes_from_env(FEATURE_LIMIT_ENV, DEFAULT_FEATURE_LIMIT_BYTES)


def _owned(folder: Path, endings: Iterable[str]) -> list[Path]:
    """Files in ``folder`` the cache owns: its endings, and temporaries of them."""
    endings = tuple(endings)
    out = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return []
    for entry in entries:
        if entry.is_file(follow_symlinks=False) and entry.name.endswith(endings):
            out.append(Path(entry.path))
    return out


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def cache_info() -> list[CacheUsage]:
    """The size of each cache."""
    out = []
    for name, (description, endings) in CACHES.items():
        folder = paths.cache_dir(name)
        files = _owned(folder, endings)
        out.append(CacheUsage(name, description, folder, len(files), sum(_size(f) for f in files)))
    return out


def cache_root() -> Path:
    """The folder holding every cache (``TLSTUDIO_CACHE_DIR`` or ``~/.cache/tlstudio``)."""
    return paths.cache_dir()


def clear_caches(names: Iterable[str] | None = None) -> list[CacheUsage]:
    """Delete the files of the named caches (all when None).

    Returns:
        What was deleted, per cache.

    Raises:
        ValueError: an unknown cache name.
        OSError: a file could not be deleted (the message names it).
    """
    chosen = list(CACHES) if names is None else list(names)
    unknown = [n for n in chosen if n not in CACHES]
    if unknown:
        raise ValueError(f"unknown cache {unknown[0]!r}; choose from {', '.join(CACHES)}. Received: {unknown}")
    freed = []
    for name in chosen:
        description, endings = CACHES[name]
        folder = paths.cache_dir(name)
        count = size = 0
        for path in _owned(folder, endings):
            n = _size(path)
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            count, size = count + 1, size + n
        freed.append(CacheUsage(name, description, folder, count, size))
    return freed


def touch(path: str | os.PathLike) -> None:
    """Mark a cache file as just used (its modification time orders the LRU eviction)."""
    try:
        os.utime(path)
    except OSError as exc:
        logger.debug("could not mark %s as used: %s", path, exc)


def enforce_limit(folder: str | os.PathLike, limit_bytes: int, endings: Iterable[str] = (".npy",), keep: Iterable[str | os.PathLike] = ()) -> list[Path]:
    """Delete the least recently used cache files until the folder's total is within ``limit_bytes``.

    Args:
        folder: The cache folder.
        limit_bytes: The largest total size allowed.
        endings: Endings of the files the cache owns (others are never touched).
        keep: Files never evicted (the one just written).

    Returns:
        The deleted files, oldest first.
    """
    kept = {os.path.abspath(k) for k in keep}
    files = []
    for path in _owned(Path(folder), endings):
        try:
            st = path.stat()
        except OSError:
            continue
        files.append((st.st_mtime_ns, st.st_size, path))
    total = sum(size for _, size, _ in files)
    evicted = []
    for _, size, path in sorted(files):
        if total <= limit_bytes:
            break
        if os.path.abspath(path) in kept:
            continue
        try:
            path.unlink()
        except OSError as exc:
            logger.warning("could not evict the cache file %s: %s", path, exc)
            continue
        total -= size
        evicted.append(path)
    return evicted


def human_size(n: int) -> str:
    """``1536`` -> ``"1.5 KB"``."""
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"  # pragma: no cover
