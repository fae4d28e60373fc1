"""Size limits for model and weights files, checked before anything is decompressed or loaded.

A ``.keras`` file is a zip archive, and an ``.h5`` weights file may hold
compressed datasets: a small file can expand to many gigabytes (a "zip
bomb") and exhaust memory. Before such a file is read, its declared sizes are
checked against a limit:

* :func:`check_zip`: every member's uncompressed size, their total, their
  number, their compression ratio and their names (no absolute paths or
  ``..``). Python's :mod:`zipfile`, which Keras uses, never returns more than
  a member's declared size, so checking the declared sizes bounds what is read.
* :func:`check_h5_total`: the total size of every dataset in an HDF5 file,
  before any is read.
* :func:`copy_member`: streams one zip member to a file in chunks instead of
  reading it whole into memory.

The limit is :data:`DEFAULT_MAX_BYTES` (8 GB, far above the largest
backbone's 0.5 GB) unless ``TLSTUDIO_MAX_MODEL_MB`` sets it. Every refusal is
a ``ValueError`` subclass, :class:`FileTooLarge`, whose message names the
file and member, the limit and ``Received: ...``; callers turn it into
their own user-facing error.

This module is light: it never imports TensorFlow.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

LIMIT_ENV = "TLSTUDIO_MAX_MODEL_MB"
DEFAULT_MAX_BYTES = 8 << 30
MAX_MEMBERS = 10_000
MAX_RATIO = 1000
"""Largest uncompressed/compressed ratio of a zip member over 1 MB (zeros compress ~1000x)."""
CHUNK = 1 << 20


class FileTooLarge(ValueError):
    """A file would expand beyond the limit, or its archive is malformed in a dangerous way."""


def max_bytes() -> int:
    """The limit: ``TLSTUDIO_MAX_MODEL_MB`` megabytes, else :data:`DEFAULT_MAX_BYTES`.

    Raises:
        FileTooLarge: the variable is not a whole number > 0.
    """
    text = os.environ.get(LIMIT_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_BYTES
    try:
        mb = int(text)
    except ValueError:
        mb = 0
    if mb <= 0:
        raise FileTooLarge(f"{LIMIT_ENV} must be a whole number of megabytes > 0. Received: {text!r}")
    return mb << 20


def _mb(n: int) -> str:
    return f"{n / (1 << 20):,.1f} MB"


def check_zip(path: str | os.PathLike, limit: int | None = None) -> list[zipfile.ZipInfo]:
    """Check a zip archive's declared sizes and names before reading it.

    Returns:
        Its members.

    Raises:
        FileTooLarge: a member or the total exceeds the limit, a member is
            compressed suspiciously well, there are too many members, or a
            name escapes the archive.
        zipfile.BadZipFile: it is not a zip archive.
    """
    limit = max_bytes() if limit is None else limit
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise FileTooLarge(f"{path}: the archive has too many members (limit {MAX_MEMBERS:,}). Received: {len(members):,} members")
    total = 0
    for info in members:
        name = PurePosixPath(info.filename)
        if name.is_absolute() or ".." in name.parts:
            raise FileTooLarge(f"{path}: member {info.filename!r} points outside the archive. Received: {info.filename!r}")
        if info.file_size > limit:
            raise FileTooLarge(
                f"{path}: member {info.filename} expands to {_mb(info.file_size)}, over the limit of {_mb(limit)} "
                f"(raise {LIMIT_ENV} for a model this large). Received: {info.file_size:,} bytes"
            )
        if info.file_size > (1 << 20) and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise FileTooLarge(
                f"{path}: member {info.filename} would expand {info.file_size // max(info.compress_size, 1):,} times "
                f"(limit {MAX_RATIO}x), as a zip bomb does; it is not a model tlstudio wrote. "
                f"Received: {info.compress_size:,} bytes expanding to {info.file_size:,}"
            )
        total += info.file_size
    if total > limit:
        raise FileTooLarge(
            f"{path}: the archive expands to {_mb(total)}, over the limit of {_mb(limit)} "
            f"(raise {LIMIT_ENV} for a model this large). Received: {total:,} bytes"
        )
    return members


def copy_member(archive: zipfile.ZipFile, member: str, target: str | os.PathLike, limit: int | None = None) -> Path:
    """Stream one member of ``archive`` to ``target`` in 1 MB chunks, stopping at the limit.

    Raises:
        FileTooLarge: the member is (or turns out to be) larger than the limit.
    """
    limit = max_bytes() if limit is None else limit
    info = archive.getinfo(member)
    if info.file_size > limit:
        raise FileTooLarge(f"{archive.filename}: member {member} expands to {_mb(info.file_size)}, over the limit of {_mb(limit)}. Received: {info.file_size:,} bytes")
    written = 0
    with archive.open(info) as src, open(target, "wb") as dst:
        while True:
            chunk = src.read(CHUNK)
            if not chunk:
                break
            written += len(chunk)
            if written > limit:
                raise FileTooLarge(f"{archive.filename}: member {member} expands beyond the limit of {_mb(limit)}. Received: more than {written:,} bytes")
            dst.write(chunk)
    return Path(target)


def check_h5_total(h5file: Any, path: str | os.PathLike, limit: int | None = None) -> int:
    """The total in-memory size of every dataset of an open ``h5py.File``, checked against the limit.

    Raises:
        FileTooLarge: the datasets would need more memory than the limit.
    """
    import h5py

    limit = max_bytes() if limit is None else limit
    total = 0

    def visit(_name: str, obj: Any) -> None:
        nonlocal total
        if isinstance(obj, h5py.Dataset):
            total += int(obj.size) * int(obj.dtype.itemsize)

    h5file.visititems(visit)
    if total > limit:
        raise FileTooLarge(
            f"{path}: its weights would take {_mb(total)} of memory, over the limit of {_mb(limit)} "
            f"(raise {LIMIT_ENV} for weights this large). Received: {total:,} bytes of datasets"
        )
    return total


__all__ = ["FileTooLarge", "check_h5_total", "check_zip", "copy_member", "max_bytes"]
