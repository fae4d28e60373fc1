"""Free disk space for a run's checkpoints: check before writing, and clean up after a full disk.

A checkpoint is written whole under a temporary name and renamed over the
previous one (:func:`tlstudio.io.atomic.atomic_path`), so each write needs the
free space of one more copy of the weights. On a full disk h5py fails half
way through a file and leaves HDF5 handles to it open; at exit HDF5 tries to
flush them again and the process died with SIGSEGV (exit 139). So:

* :func:`check_free` refuses, with one line naming the folder and both sizes,
  before a write the disk cannot hold, so h5py never starts it;
* :func:`resume_needs` is what a resume of a run folder needs, checked
  before the resume writes anything;
* :func:`release_h5` lets go of the HDF5 handles of a file whose write
  failed (a disk that filled during the write), so the process ends normally.

Light: h5py is imported inside :func:`release_h5` only.
"""

from __future__ import annotations

import errno
import gc
import logging
import os
import shutil
from pathlib import Path

from tlstudio.caches import human_size
from tlstudio.run_folders import run_files

logger = logging.getLogger(__name__)

MARGIN_BYTES = 1 << 20
"""Slack over a file's expected size (HDF5 metadata, the history and result files)."""


class DiskFullError(OSError):
    """Not enough free space for a write; ``errno`` is ENOSPC and the message names the folder and both sizes."""


def free_bytes(folder: str | os.PathLike) -> int | None:
    """Free bytes on the disk of ``folder``; None when unknown."""
    try:
        return int(shutil.disk_usage(folder).free)
    except OSError as exc:
        logger.warning("could not read the free space of %s: %s", folder, exc)
        return None


def check_free(folder: str | os.PathLike, needed: int, what: str) -> None:
    """Raise :class:`DiskFullError` when ``folder``'s disk has less than ``needed`` bytes free.

    Args:
        folder: Where the write goes.
        needed: Bytes it needs.
        what: What is written, for the message ("the checkpoint last.weights.h5").
    """
    free = free_bytes(folder)
    if free is None or free >= needed:
        return
    raise DiskFullError(
        errno.ENOSPC,
        f"not enough disk space in {folder} for {what}. Free some space or move the run folder to another disk. "
        f"Expected {human_size(needed)} free. Received: {human_size(free)} free",
    )


def file_size(path: str | os.PathLike) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def weights_bytes(model) -> int:
    """The expected size of ``model``'s weights file: its variables' bytes plus slack."""
    total = 0
    for variable in model.weights:
        size = 1
        for d in variable.shape:
            size *= int(d)
        total += size * _itemsize(variable.dtype)
    return total + total // 20 + MARGIN_BYTES


def _itemsize(dtype) -> int:
    name = str(getattr(dtype, "name", dtype))
    return {"float16": 2, "bfloat16": 2, "float64": 8, "int64": 8, "uint8": 1, "int8": 1, "bool": 1}.get(name, 4)


def checkpoint_needs(path: str | os.PathLike, model) -> int:
    """Free bytes a checkpoint write at ``path`` needs: a whole new copy beside the file it replaces."""
    return max(file_size(path) + file_size(path) // 20 + MARGIN_BYTES, weights_bytes(model))


def resume_needs(run_dir: str | os.PathLike) -> int:
    """Free bytes a resume of ``run_dir`` needs: one more copy of its largest weights or model file, plus slack."""
    folder = Path(run_dir)
    largest = max(file_size(folder / name) for name in (run_files.LAST_WEIGHTS, run_files.BEST_WEIGHTS, run_files.MODEL))
    return largest + largest // 20 + MARGIN_BYTES


def release_h5(path: str | os.PathLike) -> None:
    """Close every HDF5 handle still open on ``path`` (after a failed write), so exit does not flush it again."""
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5py comes with Keras
        return
    gc.collect()  # the failed writer's objects, kept alive by the exception's frames until now
    target = os.path.abspath(str(path))
    try:
        files = h5py.h5f.get_obj_ids(types=h5py.h5f.OBJ_FILE)
    except Exception as exc:  # noqa: BLE001 - best effort
        logger.debug("could not list the open HDF5 files: %s", exc)
        return
    for fid in files:
        try:
            name = os.path.abspath(os.fsdecode(fid.name))
        except Exception:  # noqa: BLE001 - an id closed meanwhile
            continue
        if name != target:
            continue
        try:
            others = h5py.h5f.get_obj_ids(fid, types=h5py.h5f.OBJ_ALL & ~h5py.h5f.OBJ_FILE)
        except Exception:  # noqa: BLE001
            others = []
        for oid in [*others, fid]:
            try:
                while oid.valid:
                    h5py.h5i.dec_ref(oid)
            except Exception as exc:  # noqa: BLE001 - HDF5 reports the failed flush again; the handle is gone
                logger.debug("closing the HDF5 handle of %s after a failed write: %s", name, exc)
