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

An entry a job is reading is *pinned* (:func:`pin`): a small file
``.pins/KEY.PID.N.pin`` beside the shards, named after the entry's key and
the process that reads it. :func:`enforce_limit` and :func:`clear_caches`
never delete the files of a pinned entry; a pin whose process is gone is
stale and removed, so a killed job never keeps an entry forever.

Autosaves, error logs and sample datasets also live under the cache folder;
they are the user's work or data and are never touched here. Clearing deletes
only files with the caches' own endings, never anything else a user may have
put in those folders.

This module is light: it never imports TensorFlow.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from tlstudio import paths
from tlstudio.processes import pid_alive

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


PINS = ".pins"
"""Sub-folder of a cache folder holding the pins of the entries in use."""
_PIN_COUNTER = itertools.count(1)
_PIN_LOCK = threading.Lock()


def _remove_pin(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        logger.warning("could not remove the cache pin %s: %s", path, exc)


class Pin:
    """One process's claim on a cache entry: its files are not evicted until :meth:`release`.

    Released by :meth:`release`, by leaving a ``with`` block, or when the pin
    is garbage-collected; the pin of a process that died is removed by the
    next eviction. Made by :func:`pin`.
    """

    def __init__(self, folder: str | os.PathLike, key: str, *, pid: int | None = None) -> None:
        self.folder = Path(folder)
        self.key = str(key)
        self.pid = os.getpid() if pid is None else int(pid)
        pins = self.folder / PINS
        pins.mkdir(parents=True, exist_ok=True)
        with _PIN_LOCK:
            number = next(_PIN_COUNTER)
        self.path = pins / f"{self.key}.{self.pid}.{number}.pin"
        with open(self.path, "x", encoding="utf-8") as fh:  # a pin is a name, its content only says who
            fh.write(f"{self.pid}\n")
        self._finalizer = weakref.finalize(self, _remove_pin, str(self.path))

    @property
    def released(self) -> bool:
        return not self._finalizer.alive

    def release(self) -> None:
        """Let the entry be evicted again (idempotent)."""
        self._finalizer()

    def __enter__(self) -> "Pin":
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"Pin({self.key!r}, pid={self.pid}{', released' if self.released else ''})"


def pin(folder: str | os.PathLike, key: str, *, pid: int | None = None) -> Pin:
    """Pin the entry ``key`` of the cache ``folder`` for this process (or for ``pid``) until released.

    Entry files are those named ``KEY.*`` in ``folder``.
    """
    return Pin(folder, key, pid=pid)


def pinned_keys(folder: str | os.PathLike) -> set[str]:
    """The keys of ``folder`` pinned by live processes; stale pins (dead processes) are removed."""
    pins = Path(folder) / PINS
    try:
        entries = list(os.scandir(pins))
    except (FileNotFoundError, NotADirectoryError):
        return set()
    keys = set()
    for entry in entries:
        parts = entry.name.split(".")
        if len(parts) != 4 or parts[3] != "pin" or not parts[1].isdigit():
            continue
        if pid_alive(int(parts[1])):
            keys.add(parts[0])
        else:
            logger.info("removing the stale cache pin %s (process %s is gone)", entry.path, parts[1])
            _remove_pin(entry.path)
    return keys


def _entry_key(path: Path) -> str:
    return path.name.split(".", 1)[0]


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
    """Delete the files of the named caches (all when None), except those of entries in use (:func:`pin`).

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
        in_use = pinned_keys(folder)
        for path in _owned(folder, endings):
            if _entry_key(path) in in_use:
                logger.info("kept the cache file %s: a running job is reading it", path)
                continue
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
        keep: Files never evicted (the one just written). The files of entries
            pinned by live processes (:func:`pin`) are never evicted either.

    Returns:
        The deleted files, oldest first.
    """
    kept = {os.path.abspath(k) for k in keep}
    in_use = pinned_keys(folder)
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
        if os.path.abspath(path) in kept or _entry_key(path) in in_use:
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
