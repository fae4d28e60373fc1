"""The Data page's jobs: open a dataset (``"prepare_data"``) and preview augmentation (``"augment_preview"``).

``prepare_data`` scans, validates and splits a folder with the plain-Python
data layer; it never imports TensorFlow, so it is a light job
(:data:`tlstudio.jobs.LIGHT_JOBS`) that runs at once, even while the engine is
still loading TensorFlow. ``augment_preview`` runs the model's own Keras
augmentation block on a few images and returns a uint8 array.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from tlstudio.api.data import AugmentPreviewConfig, PrepareDataConfig
from tlstudio.cancel import CancelToken
from tlstudio.errors import DataError
from tlstudio.events import Progress, Sink

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from tlstudio.data import PreparedData


def prepare(config: PrepareDataConfig, *, sink: Sink, cancel: CancelToken) -> "PreparedData":
    """Scan, validate and split the dataset (the job ``"prepare_data"``; no TensorFlow).

    Returns:
        The :class:`~tlstudio.data.PreparedData`; ``cancelled`` is True, with
        empty splits, when ``cancel`` was set while files were being checked;
        ``refused`` says why, with empty splits and the validation report, when
        the folder cannot train a classifier (no class folders, fewer than two
        usable classes). Class folders without valid images are skipped and
        listed in ``report.skipped_classes``.

    Raises:
        DataError: the folder does not exist or cannot be read.
    """
    from tlstudio.data import sample_dataset_path
    from tlstudio.data.prepare import examine

    data = config.data
    if config.sample:
        sink(Progress("sample", 0, 0, "Preparing the sample dataset…"))
        data = dataclasses.replace(data, root=str(sample_dataset_path()))
    sink(Progress("scan", 0, 0, f"Scanning {data.root}…"))
    return examine(data, sink=sink, cancel=cancel)


def augment_preview(config: AugmentPreviewConfig, *, sink: Sink, cancel: CancelToken) -> "np.ndarray":
    """Augmented copies of a few images (the job ``"augment_preview"``).

    Column 0 is the original; the others come from the model's own
    ``"augmentation"`` block (:func:`tlstudio.data.build_augmentation`) called
    with ``training=True``. With augmentation off they equal the original.

    Returns:
        uint8 array of shape ``(len(paths), 1 + drawn, size, size, 3)``;
        ``drawn`` is ``variants`` unless ``cancel`` stopped the drawing early.

    Raises:
        DataError: an image cannot be read.
    """
    import numpy as np

    from tlstudio.data import build_augmentation

    originals = np.stack([_read(p, config.size) for p in config.paths]).astype("float32")
    block = build_augmentation(config.augment, config.seed)
    columns = [originals]
    for i in range(config.variants):
        if cancel.cancelled:
            break
        sink(Progress("augment_preview", i, config.variants, "Drawing augmented copies…"))
        if block is None:
            columns.append(originals)
        else:
            columns.append(np.asarray(block(originals, training=True), dtype="float32"))
    return np.clip(np.stack(columns, axis=1), 0, 255).astype("uint8")


def _read(path: str, size: int) -> "np.ndarray":
    """``path`` as a ``(size, size, 3)`` uint8 array; a file that is not an image is a :class:`DataError`."""
    from tlstudio.imaging import load_image

    try:
        return load_image(path, size)
    except OSError as exc:  # PIL's UnidentifiedImageError is an OSError
        raise DataError(f"the augmentation preview needs readable images. Received: {path} ({exc})", path=path) from exc
