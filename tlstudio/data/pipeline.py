"""``tf.data`` input pipeline over validated items, decoded by Pillow.

Images are read through :func:`tlstudio.imaging.load_image`, the same path as
validation and prediction (EXIF orientation, RGB conversion, bilinear resize),
never through ``tf.io.decode_image``, which rejects files Pillow reads (CMYK
JPEG, 16-bit PNG, a GIF named ``.jpg``...).

The pipeline is::

    range(N) -> shuffle(N, seed)            # training only; shuffles indices, cheap
             -> map(load, parallel)         # Pillow via tf.numpy_function, uint8
             -> batch -> cast float32 -> prefetch

When the decoded images fit :data:`CACHE_BUDGET_BYTES`, each one is kept in
memory (uint8) after its first decode, so later epochs skip Pillow entirely
while the shuffle stays a full shuffle of all images.

When they do not fit, the decoded-image cache (:mod:`tlstudio.data.pixel_cache`)
decodes every image once, with the same loader, into memory-mapped ``.npy``
shards on disk, and every epoch slices them::

    range(N) -> shuffle(N, seed) -> batch -> gather rows from the shards -> cast float32 -> prefetch

The shuffle is the same op with the same seed, so the batches are exactly
those of the Pillow path. When the cache's disk budget or the disk is too
small, a warning says so (folder, bytes needed, bytes free) and the pipeline
decodes with Pillow every epoch.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import logging
import threading
from typing import Sequence

import numpy as np
import tensorflow as tf

from tlstudio import imaging
from tlstudio.caches import human_size
from tlstudio.cancel import CancelToken
from tlstudio.data import pixel_cache
from tlstudio.api.dataset import Item
from tlstudio.errors import DataError
from tlstudio.events import LogMessage, Progress, Sink, null_sink

logger = logging.getLogger(__name__)

CACHE_BUDGET_BYTES = 1 << 30
"""Largest decoded size (uint8 bytes) kept in memory by :func:`make_dataset`."""


class _ImageLoader:
    """Decode item ``i`` to a uint8 (S, S, 3) array, optionally memoised."""

    def __init__(self, paths: Sequence[str], image_size: int, cache: bool):
        self.paths = list(paths)
        self.size = image_size
        self.store = np.zeros((len(self.paths), image_size, image_size, 3), np.uint8) if cache else None
        self.filled = np.zeros(len(self.paths), bool) if cache else None
        self._lock = threading.Lock()

    def load(self, index: int) -> np.ndarray:
        path = self.paths[index]
        try:
            return imaging.load_image(path, self.size)
        except Exception as exc:  # file changed or vanished after validation
            error = DataError(
                f"{path}: the image cannot be read any more (it changed or vanished after the scan); expected an "
                f"image Pillow reads. Received: {type(exc).__name__}: {exc}. Rescan the dataset.",
                path=path,
            )
            _remember_failure(error)
            raise error from exc

    def __call__(self, index: np.ndarray) -> np.ndarray:
        i = int(index)
        if self.store is None:
            return self.load(i)
        if not self.filled[i]:
            image = self.load(i)
            with self._lock:
                self.store[i] = image
                self.filled[i] = True
            return image
        return self.store[i]


_FAILURES: "collections.OrderedDict[str, DataError]" = collections.OrderedDict()
_FAILURES_LOCK = threading.Lock()
_MAX_FAILURES = 64


def _remember_failure(error: DataError) -> None:
    with _FAILURES_LOCK:
        _FAILURES[str(error.path)] = error
        _FAILURES.move_to_end(str(error.path))
        while len(_FAILURES) > _MAX_FAILURES:
            _FAILURES.popitem(last=False)


def unreadable_image_error(exc: BaseException) -> DataError | None:
    """The :class:`DataError` naming the file behind a failed ``tf.data`` step, or None.

    An image that breaks after the scan fails inside ``tf.numpy_function``,
    and TensorFlow re-raises that as ``UnknownError: Graph execution error``
    with the file name buried in its text. Training calls this on any error
    to report the file instead.
    """
    if isinstance(exc, DataError):
        return exc
    text = str(exc)
    with _FAILURES_LOCK:
        failures = list(_FAILURES.values())
    for error in reversed(failures):
        if error.path and error.path in text:
            return error
    return None


def cache_fits(num_items: int, image_size: int, budget: int = CACHE_BUDGET_BYTES) -> bool:
    """Whether ``num_items`` decoded images of side ``image_size`` fit the memory budget."""
    return num_items * image_size * image_size * 3 <= budget


def _check_args(items: Sequence[Item], image_size: int, batch_size: int) -> None:
    if not items:
        raise ValueError("make_dataset needs at least one item. Received: 0 items")
    if image_size < 1:
        raise ValueError(f"image_size must be >= 1. Received: image_size={image_size!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1. Received: batch_size={batch_size!r}")


def _pixel_folder() -> str:
    try:
        return str(pixel_cache.folder())
    except OSError:  # the cache folder itself cannot be made
        return "the decoded-image cache folder"


def _open_pixel_cache(paths: Sequence[str], image_size: int, sink: Sink, cancel: CancelToken | None) -> list[np.ndarray] | None:
    """The decoded-image cache's shards for these files (built if needed), or None when it refuses or fails.

    Raises:
        DataError: an image cannot be read any more.
        PixelCacheCancelled: ``cancel`` was set while writing.
    """
    loader = _ImageLoader(paths, image_size, cache=False)

    def progress(done: int, total: int) -> None:
        sink(Progress("pixels", done, total, f"decoded-image cache: {done}/{total} images decoded once"))

    def planned(p: pixel_cache.Plan) -> None:
        if p.missing:
            message = (f"decoded-image cache: writing {human_size(p.bytes_to_write)} for {p.images_to_write} of {p.count} images at "
                       f"{image_size}x{image_size} to {p.folder}; later epochs read it instead of decoding")
            sink(LogMessage(message, "info"))  # pixel_cache logs it too

    try:
        return pixel_cache.ensure(paths, image_size, loader.load, shard_images=PIXEL_SHARD_IMAGES,
                                  cancel=(lambda: cancel.cancelled) if cancel is not None else None,
                                  progress=progress, planned=planned)
    except pixel_cache.PixelCacheRefused as exc:
        message = f"{exc}. Decoding {len(paths)} images with Pillow every epoch instead."
    except OSError as exc:  # the disk filled up, a shard vanished: nothing half-written is kept
        message = (f"{_pixel_folder()}: the decoded-image cache could not be "
                   f"written or read; expected a writable folder with room. Received: {type(exc).__name__}: {exc}. "
                   f"Decoding {len(paths)} images with Pillow every epoch instead.")
    logger.warning(message)
    sink(LogMessage(message, "warning"))
    return None


def _from_pixel_cache(shards: list[np.ndarray], labels: tf.Tensor, n: int, image_size: int, batch_size: int,
                      shuffle: bool, seed: int, drop_remainder: bool) -> tf.data.Dataset:
    """Batches sliced from the memory-mapped shards; the same order as the Pillow path for a seed."""
    per_shard = shards[0].shape[0]  # every shard but the last holds this many

    def take(indices: np.ndarray) -> np.ndarray:
        return pixel_cache.gather(shards, per_shard, indices)

    def load(indices):
        images = tf.numpy_function(take, [indices], tf.uint8, stateful=False)
        images.set_shape((batch_size if drop_remainder else None, image_size, image_size, 3))
        return tf.cast(images, tf.float32), tf.gather(labels, indices)

    ds = tf.data.Dataset.range(n)
    if shuffle:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


PIXEL_SHARD_IMAGES: int | None = None
"""Images per decoded-image cache shard; None sizes shards by :data:`pixel_cache.SHARD_BYTES` (tests set it)."""


def make_dataset(
    items: Sequence[Item],
    image_size: int,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int = 0,
    cache: bool = True,
    drop_remainder: bool = False,
    disk_cache: bool = True,
    sink: Sink | None = None,
    cancel: CancelToken | None = None,
) -> tf.data.Dataset:
    """Build a batched dataset of ``(images, labels)`` from validated items.

    Args:
        items: Items from :func:`tlstudio.data.prepare_data` (``train``, ``val`` or ``test``).
        image_size: Square side every image is resized to.
        batch_size: Images per batch.
        shuffle: Reshuffle all items every epoch (training), seeded by ``seed``.
        seed: Shuffle seed; the same seed gives the same order of epochs.
        cache: Keep decoded images in memory when they fit :data:`CACHE_BUDGET_BYTES`.
        drop_remainder: Drop the last, smaller batch.
        disk_cache: With ``cache``, when the images do not fit in memory, decode
            them once into the on-disk decoded-image cache and read every epoch
            from it (:mod:`tlstudio.data.pixel_cache`); False decodes with
            Pillow every epoch. The cache is built here, before this returns.
        sink: Receives ``Progress(stage="pixels")`` while the decoded-image
            cache is written, and a ``LogMessage`` saying how much it writes
            where, or why it refused (then the Pillow path is used).
        cancel: Checked while the decoded-image cache is written.

    Returns:
        A ``tf.data.Dataset`` yielding float32 images ``[B, S, S, 3]`` with raw
        RGB values in 0..255 and int32 labels ``[B]``.

    Raises:
        DataError: an image cannot be read any more (while writing the cache).
        PixelCacheCancelled: ``cancel`` was set while writing the cache.
    """
    items = tuple(items)
    _check_args(items, image_size, batch_size)
    n = len(items)
    paths = [it.path for it in items]
    fits = cache_fits(n, image_size, CACHE_BUDGET_BYTES)
    labels = tf.constant(np.array([it.label for it in items], np.int32))
    if cache and not fits and disk_cache:
        shards = _open_pixel_cache(paths, image_size, sink or null_sink, cancel)
        if shards is not None:
            return _from_pixel_cache(shards, labels, n, image_size, batch_size, shuffle, seed, drop_remainder)
    loader = _ImageLoader(paths, image_size, cache=cache and fits)

    def load(index):
        image = tf.numpy_function(loader, [index], tf.uint8, stateful=False)
        image.set_shape((image_size, image_size, 3))
        return image, tf.gather(labels, index)

    ds = tf.data.Dataset.range(n)
    if shuffle:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def load_items_array(items: Sequence[Item], image_size: int, workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Decode items into arrays, for small sets and evaluation.

    Args:
        items: Items to load, in order.
        image_size: Square side every image is resized to.
        workers: Decoding threads; None picks one per core.

    Returns:
        ``(images, labels)``: float32 ``[N, S, S, 3]`` in 0..255 and int32 ``[N]``.
    """
    items = tuple(items)
    images = np.zeros((len(items), image_size, image_size, 3), np.float32)
    loader = _ImageLoader([it.path for it in items], image_size, cache=False)
    with cf.ThreadPoolExecutor(max_workers=workers) as pool:
        for i, image in enumerate(pool.map(loader.load, range(len(items)))):
            images[i] = image
    return images, np.array([it.label for it in items], np.int32)
