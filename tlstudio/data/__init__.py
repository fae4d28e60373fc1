"""The dataset layer: scan, validate, split, ``tf.data`` pipeline, sample data.

Typical use::

    from tlstudio.data import prepare_data, make_dataset, build_augmentation

    data = prepare_data(config.data, sink=sink, cancel=cancel)
    train_ds = make_dataset(data.train, 224, 32, shuffle=True, seed=config.data.seed)
    augmentation = build_augmentation(config.data.augment, config.data.seed)

What the layer does with a folder:

* **Layouts**: ``root/<class>/...`` (the app splits) or
  ``root/{train,val,test}/<class>/...`` (kept as the user split it; ``val``
  may be spelled ``validation``, any letter case). Class folders are searched
  recursively; class names are the folder names, sorted.
* **Ignored, silently**: hidden files and folders (``.DS_Store``, ``._x.jpg``,
  ``.git``), system clutter (``__MACOSX``, ``Thumbs.db``, ``desktop.ini``).
* **Ignored, with a warning** (``ScanResult.warnings``): files directly in the
  root, extra folders next to ``train``/``val``/``test``, and folders already
  visited through a symbolic link (so link loops end).
* **Skipped, with a reason** (``ValidationReport.skipped``): files in class
  folders whose extension is not jpg/jpeg/png/bmp/gif/webp/tif/tiff, and image
  files that fail validation (zero bytes, not an image, truncated, too large,
  unreadable). Content decides, not the extension: a GIF named ``.jpg`` is used.
* **Cache**: per-file results in ``tlstudio.paths.cache_dir("validation")``,
  keyed by (path, size, mtime_ns); rescanning an unchanged folder costs one
  ``stat`` per file.
* **Split**: per class, by a seeded hash of the file name relative to the class
  folder; stable when files are added, identical for the same seed.

Importing this package does not import TensorFlow or Keras; only
:func:`make_dataset`, :func:`load_items_array` and :func:`build_augmentation`
load them, on their first call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from tlstudio.data.prepare import check_usable, prepare_data
from tlstudio.data.sample import generate_sample_dataset, sample_dataset_path
from tlstudio.data.scan import IMAGE_EXTENSIONS, scan_folder
from tlstudio.data.split import split_items
from tlstudio.api.dataset import (
    Item,
    PreparedData,
    ScanResult,
    SkippedFile,
    SplitResult,
    ValidationReport,
)
from tlstudio.data.validate import validate_files

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import numpy as np
    import tensorflow as tf

    from tlstudio.cancel import CancelToken
    from tlstudio.config import AugmentConfig
    from tlstudio.events import Sink


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
    sink: "Sink | None" = None,
    cancel: "CancelToken | None" = None,
) -> "tf.data.Dataset":
    """Batched ``tf.data.Dataset`` of (float32 images 0..255, int32 labels); see
    :func:`tlstudio.data.pipeline.make_dataset` (``disk_cache``, ``sink`` and
    ``cancel`` concern the decoded-image cache)."""
    from tlstudio.data import pipeline

    return pipeline.make_dataset(
        items, image_size, batch_size, shuffle=shuffle, seed=seed, cache=cache, drop_remainder=drop_remainder,
        disk_cache=disk_cache, sink=sink, cancel=cancel,
    )


def load_items_array(items: Sequence[Item], image_size: int) -> "tuple[np.ndarray, np.ndarray]":
    """Decode items into (float32 [N, S, S, 3], int32 [N]) arrays; see
    :func:`tlstudio.data.pipeline.load_items_array`."""
    from tlstudio.data import pipeline

    return pipeline.load_items_array(items, image_size)


def build_augmentation(augment: "AugmentConfig", seed: int) -> "keras.Sequential | None":
    """The ``"augmentation"`` Sequential, or None when off; see
    :func:`tlstudio.data.augment.build_augmentation`."""
    from tlstudio.data import augment as _augment

    return _augment.build_augmentation(augment, seed)


__all__ = [
    "IMAGE_EXTENSIONS",
    "Item",
    "PreparedData",
    "ScanResult",
    "SkippedFile",
    "SplitResult",
    "ValidationReport",
    "build_augmentation",
    "check_usable",
    "generate_sample_dataset",
    "load_items_array",
    "make_dataset",
    "prepare_data",
    "sample_dataset_path",
    "scan_folder",
    "split_items",
    "validate_files",
]
