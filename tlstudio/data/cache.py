"""A persistent cache of per-file validation results.

Results are keyed by the file's absolute path and checked against its size and
modification time (``st_mtime_ns``), so an edited or replaced file is decoded
again. Entries also record the Pillow and tlstudio versions, since a new
Pillow may read a file differently and a new tlstudio may check it differently. The cache is one SQLite file under
``tlstudio.paths.cache_dir("validation")``.

The cache is an optimisation only: any database problem (locked, corrupt,
read-only disk) turns it off for the call and validation goes on uncached.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from typing import Iterable

import PIL

import tlstudio
from tlstudio import paths

SCHEMA_VERSION = 2
VERSION_TAG = f"v{SCHEMA_VERSION}-pillow{PIL.__version__}-tlstudio{tlstudio.__version__}"


@dataclass(frozen=True)
class FileCheck:
    """The outcome of checking one file.

    Attributes:
        reason: Why the file is unusable, or None when it is a valid image.
        width: Pixel width from the header (0 when unknown).
        height: Pixel height from the header (0 when unknown).
        decoded: True when the file was fully decoded (or cannot be). False when
            the check stopped at the header because the image was too large, so
            a higher size limit needs a fresh decode.
    """

    reason: str | None
    width: int = 0
    height: int = 0
    decoded: bool = True


def _key(path: str) -> bytes:
    """The database key of a path: its bytes on disk (names need not be valid UTF-8)."""
    return os.fsencode(path)


def default_path() -> str:
    return os.path.join(paths.cache_dir("validation"), f"validation-v{SCHEMA_VERSION}.sqlite")


class ValidationCache:
    """Look up and store :class:`FileCheck` results by (path, size, mtime_ns).

    Args:
        path: SQLite file; defaults to ``cache_dir("validation")/validation-v1.sqlite``.
    """

    def __init__(self, path: str | None = None):
        self.path = path or default_path()
        self._conn: sqlite3.Connection | None = None
        try:
            self._conn = self._open()
        except sqlite3.OperationalError:
            self._conn = None  # locked by another process, read-only disk...: go on uncached
        except sqlite3.DatabaseError:
            # Not a database any more (truncated, overwritten): start a new one.
            try:
                os.remove(self.path)
                self._conn = self._open()
            except (OSError, sqlite3.Error):
                self._conn = None
        except sqlite3.Error:
            self._conn = None

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=10.0)
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS checks ("
                " path BLOB PRIMARY KEY, size INTEGER, mtime_ns INTEGER, version TEXT,"
                " reason TEXT, width INTEGER, height INTEGER, decoded INTEGER)"
            )
            conn.commit()
        except sqlite3.Error:
            conn.close()
            raise
        return conn

    @property
    def available(self) -> bool:
        return self._conn is not None

    def lookup(self, keys: dict[str, tuple[int, int]]) -> dict[str, FileCheck]:
        """Return cached checks for files whose (size, mtime_ns) still match.

        Args:
            keys: ``{path: (size, mtime_ns)}`` as stat reports them now.
        """
        if self._conn is None or not keys:
            return {}
        found: dict[str, FileCheck] = {}
        by_key = {_key(path): path for path in keys}
        names = list(by_key)
        try:
            for start in range(0, len(names), 500):
                chunk = names[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    f"SELECT path, size, mtime_ns, version, reason, width, height, decoded FROM checks WHERE path IN ({marks})",
                    chunk,
                )
                for key, size, mtime_ns, version, reason, width, height, decoded in rows:
                    path = by_key.get(bytes(key))
                    if path is not None and version == VERSION_TAG and keys[path] == (size, mtime_ns):
                        found[path] = FileCheck(reason, width, height, bool(decoded))
        except sqlite3.Error:
            return {}
        return found

    def store(self, entries: Iterable[tuple[str, int, int, FileCheck]]) -> None:
        """Save ``(path, size, mtime_ns, check)`` entries, replacing older ones."""
        if self._conn is None:
            return
        rows = [
            (_key(path), size, mtime_ns, VERSION_TAG, c.reason, c.width, c.height, int(c.decoded))
            for path, size, mtime_ns, c in entries
        ]
        if not rows:
            return
        try:
            with self._conn:
                self._conn.executemany("INSERT OR REPLACE INTO checks VALUES (?,?,?,?,?,?,?,?)", rows)
        except sqlite3.Error:
            pass

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> "ValidationCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
