"""Adapt the head's ``head_norm`` layer: the mean and variance of the pooled training features.

Phase 1 trains a fresh head on a frozen backbone. The pooled features of such
a backbone can be large (tens, for the edge-tuned VGG16), so a Glorot-initialised
softmax layer starts with huge logits and the first epoch's loss is 20-35
instead of ln(number of classes). :func:`adapt_head_normalization` computes
the per-feature mean and variance of the head's pooled input over the
training split, in chunks (float64 running moments, so no chunk size or order
changes the result beyond rounding), and writes them into the layer's
non-trainable weights. Checkpoints, resumed runs and exported models carry
them like any other weight.

The features come from the feature cache when phase 1 runs on it (already
pooled vectors, or float16 maps for a flatten head, streamed chunk by chunk
from disk: :meth:`tlstudio.training.features.CachedFeatures.chunks`,
:func:`array_chunks`), otherwise from one inference pass of the frozen
backbone over the training images (:func:`image_chunks`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import keras
import numpy as np

from tlstudio.cancel import CancelToken
from tlstudio.errors import ConfigError
from tlstudio.events import Progress, Sink
from tlstudio.model import HEAD_NORM_NAME

logger = logging.getLogger(__name__)

CHUNK = 256
"""Feature maps pooled at once when they come from an array."""

_VARIANCE_FLOOR = 1e-12
"""A feature whose training variance is below this (relative to the largest) is only centred, never divided by ~0."""


@dataclass(frozen=True)
class NormStats:
    """What the adaptation found, for the run's log.

    Attributes:
        count: Training examples seen.
        features: Width of the pooled feature vector.
        mean_abs_mean: Average absolute feature mean before standardising.
        mean_std: Average feature standard deviation before standardising.
        constant: Features that did not vary over the training split (left unscaled).
    """

    count: int
    features: int
    mean_abs_mean: float
    mean_std: float
    constant: int

    def sentence(self) -> str:
        """One line for the run's log."""
        text = (
            f"head input standardised on {self.count} training images: its {self.features} pooled features had "
            f"mean |value| {self.mean_abs_mean:.3g} and standard deviation {self.mean_std:.3g} on average"
        )
        if self.constant:
            text += f"; {self.constant} features never varied and are only centred"
        return text


class RunningMoments:
    """Mean and variance per feature, merged chunk by chunk (Chan et al.), in float64."""

    def __init__(self) -> None:
        self.count = 0
        self.mean: np.ndarray | None = None
        self._m2: np.ndarray | None = None

    def add(self, chunk: np.ndarray) -> None:
        """Fold a ``[n, features]`` chunk into the moments."""
        x = np.asarray(chunk, np.float64).reshape(len(chunk), -1)
        n = x.shape[0]
        if n == 0:
            return
        mean_b = x.mean(axis=0)
        m2_b = ((x - mean_b) ** 2).sum(axis=0)
        if self.mean is None:
            self.count, self.mean, self._m2 = n, mean_b, m2_b
            return
        total = self.count + n
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n / total)
        self._m2 = self._m2 + m2_b + delta**2 * (self.count * n / total)
        self.count = total

    @property
    def variance(self) -> np.ndarray:
        """Population variance per feature (what ``Normalization.adapt`` computes)."""
        if self._m2 is None or not self.count:
            raise ValueError("no data was added to the running moments")
        return self._m2 / self.count


def adapt_head_normalization(head: keras.Model, chunks: Iterable[np.ndarray]) -> NormStats | None:
    """Set ``head_norm``'s mean and variance from feature maps of the training split.

    Args:
        head: The nested head model (:func:`tlstudio.model.find_head`).
        chunks: Backbone feature maps ``[n, h, w, c]``, or vectors ``[n, c]``
            the head's pooling was already applied to (the feature cache), in any
            chunking, the whole training split once. Iteration stops early when a chunk is None
            (a cancelled image pass): the layer is then left unchanged.

    Returns:
        The statistics, or None when the chunks ended in a cancel.

    Raises:
        ConfigError: the head has no ``head_norm`` layer (a head built before
            this version), or no training features came.
    """
    try:
        norm = head.get_layer(HEAD_NORM_NAME)
        pool = head.get_layer("head_pool")
    except ValueError as exc:
        raise ConfigError(
            f"This head has no {HEAD_NORM_NAME!r} layer to standardise its input (it was built by an older version). "
            f"Received: layers {[layer.name for layer in head.layers]}"
        ) from exc
    moments = RunningMoments()
    for chunk in chunks:
        if chunk is None:
            return None
        chunk = np.asarray(chunk, np.float32)
        pooled = chunk if chunk.ndim == 2 else keras.ops.convert_to_numpy(pool(chunk))
        moments.add(pooled)
    if not moments.count:
        raise ConfigError("The head's input normalisation needs training features. Received: 0 training images")
    mean, variance = moments.mean, moments.variance
    floor = _VARIANCE_FLOOR * max(float(variance.max()), 1e-30)
    constant = variance <= floor
    variance = np.where(constant, 1.0, variance)
    norm.adapt_mean.assign(mean.astype(np.float32))
    norm.adapt_variance.assign(variance.astype(np.float32))
    norm.count.assign(int(moments.count))
    norm.finalize_state()
    return NormStats(
        count=int(moments.count),
        features=int(mean.size),
        mean_abs_mean=float(np.abs(mean).mean()),
        mean_std=float(np.sqrt(np.where(constant, 0.0, variance)).mean()),
        constant=int(constant.sum()),
    )


def array_chunks(features: np.ndarray, chunk: int = CHUNK) -> Iterator[np.ndarray]:
    """Cached features in slices of ``chunk``; a memory-mapped shard is read with file reads, never mapped in."""
    if isinstance(features, np.memmap) and features.flags.c_contiguous:
        from tlstudio.features.shards import RowReader

        yield from RowReader(features).chunks(chunk)
        return
    for start in range(0, len(features), chunk):
        yield features[start : start + chunk]


def image_chunks(
    extractor: keras.Model,
    items: Sequence,
    image_size: int,
    batch_size: int,
    *,
    sink: Sink,
    cancel: CancelToken,
) -> Iterator[np.ndarray | None]:
    """Backbone feature maps of ``items``, one batch at a time (no augmentation, no shuffle).

    Yields None and stops when ``cancel`` fires. Sends ``Progress(stage="features")``.
    """
    from tlstudio.data import make_dataset

    total = len(items)
    done = 0
    sink(Progress("features", 0, total, f"train: head input statistics, one backbone pass over {total} images"))
    for images, _ in make_dataset(items, image_size, batch_size, shuffle=False, cache=False):
        if cancel.cancelled:
            yield None
            return
        batch = np.asarray(extractor.predict_on_batch(images), np.float32)
        done += len(batch)
        sink(Progress("features", done, total, f"train: head input statistics {done}/{total}"))
        yield batch
