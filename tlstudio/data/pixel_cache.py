"""The decoded-image cache: uint8 pixels at the training size, on disk, decoded once.

Epochs that need pixels (fine-tuning, augmentation) on a dataset too large
for the in-memory cache of :mod:`tlstudio.data.pipeline` would otherwise run
Pillow on every image every epoch. This cache decodes each image once, through
the pipeline's own loader (the same :func:`tlstudio.imaging.load_image`, so
the pixels are exactly those of the Pillow path), and stores them as ``.npy``
shards of shape ``(K, S, S, 3)`` that later epochs memory-map and slice.

One cache entry is keyed by everything that decides its pixels:

* the ordered list of image paths with each file's size and modification time
  (an edited or replaced image changes the key);
* the image size;
* :data:`FORMAT_VERSION`, the tlstudio and Pillow versions and the resampling
  filter (a new resize gives new pixels).

Shard ``i`` of ``n`` holding ``K`` images each is ``<key>-s<S>-k<K>-<i>of<n>.npy`` under
``cache_dir("pixels")``, written through :func:`tlstudio.io.atomic.atomic_path`,
so a shard on disk is complete or absent. A shard whose header, shape or size
is wrong (damaged, truncated) is rebuilt; so is one evicted. Pixels changed
in place without a change of size are not detected: that would need a
checksum read of the whole entry every time it is opened. Shards are kept
under a disk budget (``TLSTUDIO_PIXEL_CACHE_MB``, default 16 GB), least
recently used first (:func:`tlstudio.caches.enforce_limit`).

The cache is honest about space: :func:`plan` says how many bytes it will
write, and :func:`ensure` refuses with :class:`PixelCacheRefused` (naming the
folder, the bytes needed and the bytes free) when the budget or the disk is
short; the pipeline then logs that message and stays on the Pillow path.

This module is light: NumPy only, never TensorFlow.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from tlstudio import caches, imaging, paths
from tlstudio.errors import DataError
from tlstudio.io.atomic import atomic_path

logger = logging.getLogger(__name__)

CACHE_NAME = "pixels"
FORMAT_VERSION = 1
"""Bumped when the shard layout or the meaning of its pixels changes."""

LIMIT_ENV = "TLSTUDIO_PIXEL_CACHE_MB"
DEFAULT_LIMIT_BYTES = 16 << 30
"""Largest total size of the decoded-image cache (``TLSTUDIO_PIXEL_CACHE_MB`` overrides; 0 turns it off)."""

SHARD_BYTES = 256 << 20
"""Target size of one shard; its image count is this divided by one image's bytes."""

FREE_RESERVE_BYTES = 256 << 20
"""Disk space left free after the cache is written, so it never fills the disk to the last byte."""


class PixelCacheRefused(RuntimeError):
    """The cache will not be written (budget or disk too small); the message says why."""


class PixelCacheCancelled(Exception):
    """The build was cancelled; the shard being written was discarded, finished ones are kept."""


@dataclass(frozen=True)
class Plan:
    """What one cache entry needs.

    Attributes:
        key: The entry's key (hex).
        folder: The cache folder.
        image_size: Square side of the stored images.
        count: Images in the entry.
        shard_images: Images per shard (the last one may hold fewer).
        shards: Final path of every shard, in order.
        missing: Indices of the shards absent or damaged (to be written).
        bytes_total: Size of the whole entry on disk.
        bytes_to_write: Size of the missing shards.
    """

    key: str
    folder: Path
    image_size: int
    count: int
    shard_images: int
    shards: tuple[Path, ...]
    missing: tuple[int, ...]
    bytes_total: int
    bytes_to_write: int

    @property
    def images_to_write(self) -> int:
        """Images in the missing shards."""
        return sum(stop - start for start, stop in map(self.shard_range, self.missing))

    def shard_range(self, index: int) -> tuple[int, int]:
        """The ``[start, stop)`` image indices held by shard ``index``."""
        start = index * self.shard_images
        return start, min(start + self.shard_images, self.count)


def limit_bytes() -> int:
    """The cache's disk budget: ``TLSTUDIO_PIXEL_CACHE_MB`` megabytes, else 16 GB (0 turns the cache off).

    Raises:
        ValueError: the variable is not a whole number >= 0.
    """
    return caches.megabytes_from_env(LIMIT_ENV, DEFAULT_LIMIT_BYTES)


def folder() -> Path:
    """The cache folder (created if missing).

    Raises:
        OSError: it cannot be created.
    """
    return paths.cache_dir(CACHE_NAME)


def version_tag() -> str:
    """Everything besides the files and the size that decides the cached pixels."""
    import PIL

    from tlstudio import __version__

    return f"pixels-v{FORMAT_VERSION}|tlstudio {__version__}|Pillow {PIL.__version__}|{imaging.RESAMPLE.name}"


def cache_key(image_paths: Sequence[str], image_size: int) -> str:
    """The key of the entry for these files (in this order) at this size.

    Raises:
        DataError: a file cannot be read any more (it vanished after the scan).
    """
    digest = hashlib.sha256()
    digest.update(f"{version_tag()}|size {int(image_size)}|{len(image_paths)} files\n".encode())
    for path in image_paths:
        try:
            st = os.stat(path)
        except OSError as exc:
            raise DataError(
                f"{path}: the image cannot be read any more (it changed or vanished after the scan); expected an "
                f"existing file. Received: {type(exc).__name__}: {exc}. Rescan the dataset.",
                path=path,
            ) from exc
        digest.update(os.fsencode(path))
        digest.update(f"\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]


def image_bytes(image_size: int) -> int:
    """Bytes of one decoded uint8 RGB image of side ``image_size``."""
    return image_size * image_size * 3


def _shard_ok(path: Path, rows: int, image_size: int) -> bool:
    """Whether a shard file exists with the right header, shape, dtype and size."""
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read_header(fh)
            offset = fh.tell()
        size = os.path.getsize(path)
    except FileNotFoundError:
        return False
    except (OSError, ValueError) as exc:
        logger.warning("the decoded-image cache shard %s is damaged and will be rebuilt: %s", path, exc)
        return False
    expected = (rows, image_size, image_size, 3)
    if shape != expected or fortran or dtype != np.uint8 or size != offset + rows * image_bytes(image_size):
        logger.warning(
            "the decoded-image cache shard %s is damaged and will be rebuilt: expected shape %s uint8 in %d bytes. "
            "Received: shape %s %s in %d bytes", path, expected, offset + rows * image_bytes(image_size), shape, dtype, size,
        )
        return False
    return True


def plan(image_paths: Sequence[str], image_size: int, *, shard_images: int | None = None) -> Plan:
    """What the entry for these files needs: its shards, which are missing, how many bytes to write.

    Args:
        image_paths: Image files, in the order of the dataset.
        image_size: Square side of the stored images.
        shard_images: Images per shard; None derives it from :data:`SHARD_BYTES`.

    Raises:
        DataError: a file vanished after the scan.
    """
    count = len(image_paths)
    per_image = image_bytes(image_size)
    k = max(1, int(shard_images) if shard_images else SHARD_BYTES // per_image)
    key = cache_key(image_paths, image_size)
    where = folder()
    n_shards = max(1, -(-count // k))
    shard_paths = tuple(where / f"{key}-s{image_size}-k{k}-{i:05d}of{n_shards:05d}.npy" for i in range(n_shards))
    header = 128  # numpy's .npy header for these arrays (padded to 64 bytes; 128 is the usual size)
    missing, to_write, total = [], 0, 0
    for i, path in enumerate(shard_paths):
        rows = min(k, count - i * k)
        size = header + rows * per_image
        total += size
        if not _shard_ok(path, rows, image_size):
            missing.append(i)
            to_write += size
    return Plan(key, where, image_size, count, k, shard_paths, tuple(missing), total, to_write)


def check_space(p: Plan, limit: int | None = None) -> None:
    """Make room under the budget (evicting other entries, oldest first) and check the disk.

    Raises:
        PixelCacheRefused: the entry is larger than the budget, or the disk is short.
    """
    limit = limit_bytes() if limit is None else limit
    need = p.bytes_to_write
    if need == 0:
        return
    if limit == 0:
        raise PixelCacheRefused(
            f"{p.folder}: the decoded-image cache is off; expected {LIMIT_ENV} > 0 to write "
            f"{caches.human_size(need)} there. Received: {LIMIT_ENV}=0"
        )
    if p.bytes_total > limit:
        raise PixelCacheRefused(
            f"{p.folder}: the decoded-image cache for {p.count} images at {p.image_size}x{p.image_size} needs "
            f"{caches.human_size(p.bytes_total)}; expected at most the cache budget {caches.human_size(limit)} "
            f"({LIMIT_ENV}). Received: {caches.human_size(p.bytes_total)} needed ({p.bytes_total} bytes)"
        )
    existing = [s for s in p.shards if s.exists()]
    evicted = caches.enforce_limit(p.folder, limit - need, endings=(".npy",), keep=existing)
    if evicted:
        logger.info("decoded-image cache: evicted %d least recently used shards from %s", len(evicted), p.folder)
    free = shutil.disk_usage(p.folder).free
    if free < need + FREE_RESERVE_BYTES:
        raise PixelCacheRefused(
            f"{p.folder}: not enough free disk for the decoded-image cache of {p.count} images at "
            f"{p.image_size}x{p.image_size}; expected {caches.human_size(need)} ({need} bytes) plus "
            f"{caches.human_size(FREE_RESERVE_BYTES)} to spare. Received: {caches.human_size(free)} ({free} bytes) free"
        )


def _write_shard(p: Plan, index: int, load: Callable[[int], np.ndarray], pool: cf.Executor,
                 cancel: Callable[[], bool] | None) -> None:
    start, stop = p.shard_range(index)
    size = p.image_size
    with atomic_path(p.shards[index]) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(stop - start, size, size, 3))
        try:
            for row, image in enumerate(pool.map(load, range(start, stop))):
                if image.shape != (size, size, 3) or image.dtype != np.uint8:
                    raise ValueError(f"the loader returned {image.shape} {image.dtype}; expected ({size}, {size}, 3) uint8")
                out[row] = image
                if cancel is not None and row % 256 == 0 and cancel():
                    raise PixelCacheCancelled(f"cancelled while writing {p.shards[index]}")
            out.flush()
        finally:
            del out


def ensure(
    image_paths: Sequence[str],
    image_size: int,
    load: Callable[[int], np.ndarray],
    *,
    shard_images: int | None = None,
    workers: int | None = None,
    cancel: Callable[[], bool] | None = None,
    progress: Callable[[int, int], None] | None = None,
    planned: Callable[[Plan], None] | None = None,
) -> list[np.ndarray]:
    """Build what is missing of the entry and return its shards, memory-mapped read-only.

    Args:
        image_paths: Image files, in the order of the dataset.
        image_size: Square side of the stored images.
        load: Decodes image ``i`` of ``image_paths`` to uint8 ``(S, S, 3)``
            (the pipeline's Pillow loader); called once per image to write.
        shard_images: Images per shard; None derives it from :data:`SHARD_BYTES`.
        workers: Decoding threads; None picks one per core.
        cancel: Polled while writing; True stops (the shard being written is discarded).
        progress: Called with (images written, images to write) after each shard.
        planned: Called with the :class:`Plan` once the space is checked, before anything is written.

    Returns:
        The shards in order; image ``i`` is ``shards[i // K][i % K]`` with ``K`` the shard size.

    Raises:
        PixelCacheRefused: the budget or the disk is too small (nothing was written).
        PixelCacheCancelled: ``cancel`` returned True.
        DataError: an image cannot be read any more.
    """
    p = plan(image_paths, image_size, shard_images=shard_images)
    if p.missing:
        check_space(p)
        todo = p.images_to_write
        logger.info("decoded-image cache: writing %s for %d of %d images at %dx%d to %s",
                    caches.human_size(p.bytes_to_write), todo, p.count, image_size, image_size, p.folder)
        if planned is not None:
            planned(p)
        done = 0
        with cf.ThreadPoolExecutor(max_workers=workers) as pool:
            for i in p.missing:
                _write_shard(p, i, load, pool, cancel)
                start, stop = p.shard_range(i)
                done += stop - start
                if progress is not None:
                    progress(done, todo)
    out = []
    for i, path in enumerate(p.shards):
        caches.touch(path)
        shard = np.load(path, mmap_mode="r")
        start, stop = p.shard_range(i)
        if shard.shape != (stop - start, image_size, image_size, 3):  # replaced between the check and now
            raise PixelCacheRefused(f"{path}: expected a shard of shape {(stop - start, image_size, image_size, 3)}. Received: {shard.shape}")
        out.append(shard)
    return out


def gather(shards: Sequence[np.ndarray], shard_images: int, indices: np.ndarray) -> np.ndarray:
    """The images at ``indices`` (any order, repeats allowed) as one uint8 array."""
    indices = np.asarray(indices, np.int64)
    first = shards[0]
    out = np.empty((len(indices),) + first.shape[1:], np.uint8)
    which, row = np.divmod(indices, shard_images)
    for s in np.unique(which):
        mask = which == s
        out[mask] = shards[int(s)][row[mask]]
    return out
