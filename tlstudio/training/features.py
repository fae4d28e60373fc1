"""The training feature cache: run the frozen backbone once, then train the head on what it needs.

While the backbone is frozen (phase 1) and augmentation is off, every epoch
would push the same images through the same backbone. Computing the
backbone's output once per image and fitting only the head on it gives the
same model (the head's variables are shared with the full model) at a small
fraction of the cost: on a CPU the backbone forward pass is nearly all of the work.

What is stored is what the head needs, in the one cache format of
:mod:`tlstudio.features.pooled_cache` (so a probe's features are reused by a
training, and the other way round):

* an average or max pooling head: the pooled vector of the backbone's last
  layer, float32 (VGG16: 512 values, 2 KB per image at any input size); the
  head then trains from its ``head_norm`` layer on (:func:`fit_model`);
* a flatten head: the whole feature map, float16 (VGG16 at 224 px: 7x7x512,
  49 KB per image), which the whole head trains on.

Features are extracted in chunks into ``.npy`` shards on disk and never held
whole in memory. :func:`cached_features` returns a :class:`CachedFeatures`
whose ``features`` is a read-only :class:`numpy.memmap`; training reads it
batch by batch through a ``tf.data`` pipeline (:meth:`CachedFeatures.dataset`)
and the head's normalisation is adapted chunk by chunk
(:meth:`CachedFeatures.chunks`), both with plain file reads
(:class:`~tlstudio.features.shards.RowReader`), so the memory of head
training stays flat as the number of images grows.

The cache key covers the images (path, size, modification time, order), the
backbone, its weights (the weights file's stamp for a new run, a hash of the
values for random weights or a resumed run), the input size, the compute
precision and the tlstudio, Keras, TensorFlow, NumPy and Pillow versions. A
damaged shard is logged and rebuilt; the folder is kept under
:func:`tlstudio.caches.feature_limit_bytes`, least recently used first, and
``tlstudio-cli cache clear`` empties it.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import keras
import numpy as np
import tensorflow as tf

from tlstudio import backbones
from tlstudio.features import pooled_cache
from tlstudio.features.shards import RowReader
from tlstudio.cancel import CancelToken
from tlstudio.api.dataset import Item
from tlstudio.events import Sink, null_sink

KIND_OF_POOLING = {"avg": "avg", "max": "max", "flatten": "map"}
"""Head pooling -> the kind of features it trains on (pooled vectors, or float16 maps for flatten)."""
CHUNK_ROWS = 4096
"""Rows read at once when the cached features are streamed (head normalisation)."""


@dataclass(frozen=True)
class CachedFeatures:
    """The cached backbone features of one split, on disk.

    Attributes:
        features: Read-only :class:`numpy.memmap`: float32 ``[N, C]`` pooled vectors
            (average or max head), or float16 ``[N, H, W, C]`` maps (flatten head).
        labels: int32 ``[N]`` class indices, in the order of the rows.
        pooling: The head pooling the features are for: ``"avg"``, ``"max"`` or ``"flatten"``.
        cut: The backbone layer they were taken from.
        key: The cache key of the entry.
        cache_hit: True when nothing was computed.
        pin: Keeps the shards from eviction while they are read (see
            :func:`tlstudio.caches.pin`); a training releases it when it ends.
    """

    features: np.ndarray
    labels: np.ndarray
    pooling: str
    cut: str
    key: str
    cache_hit: bool
    pin: Any = dataclasses.field(default=None, compare=False, repr=False)

    def release(self) -> None:
        """Let the cache evict these features again."""
        if self.pin is not None:
            self.pin.release()

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def bytes_per_image(self) -> int:
        """Size of one image's features on disk."""
        return int(np.prod(self.features.shape[1:], dtype=np.int64)) * self.features.dtype.itemsize

    @functools.cached_property
    def reader(self) -> RowReader:
        """Reads rows of :attr:`features` with file reads (no mapped pages)."""
        return RowReader(self.features)

    def chunks(self, rows: int = CHUNK_ROWS) -> Iterator[np.ndarray]:
        """Every row in order, ``rows`` at a time, as float32."""
        for chunk in self.reader.chunks(rows):
            yield chunk.astype(np.float32, copy=False)

    def dataset(self, batch_size: int, *, shuffle: bool, seed: int) -> tf.data.Dataset:
        """``(features, labels)`` batches read from disk (see :func:`feature_dataset`)."""
        return feature_dataset(self.features, self.labels, batch_size, shuffle=shuffle, seed=seed, reader=self.reader)


def cached_features(
    items: Sequence[Item],
    *,
    backbone: str,
    weights: str,
    image_size: int,
    pooling: str = "avg",
    cut: str = "",
    model: keras.Model | None = None,
    weights_id: str | None = None,
    batch_size: int = 32,
    chunk_images: int = pooled_cache.CHUNK_IMAGES,
    cache_dir: str | None = None,
    sink: Sink = null_sink,
    cancel: CancelToken | None = None,
    split: str = "train",
    precision: str = "float32",
) -> CachedFeatures | None:
    """The features a head with ``pooling`` trains on, for ``items``, from the cache or one chunked pass.

    Nothing is held whole in memory: images are decoded and pushed through
    the backbone ``chunk_images`` at a time and written to ``.npy`` shards
    (``cache_dir``, default ``tlstudio.paths.cache_dir("pooled")``), and the
    result maps them read-only. Example, for a benchmark::

        feats = cached_features(items, backbone="vgg16", weights="none", image_size=32)
        for x, y in feats.dataset(64, shuffle=True, seed=0): ...

    Args:
        items: The images and labels, in the order of the rows.
        backbone: Registry key, e.g. ``"vgg16"``.
        weights: The backbone's weights source (``"imagenet"``, ``"none"``, ``"file:PATH"``...).
        image_size: Input side; 0 uses the backbone's default.
        pooling: The head's pooling: ``"avg"``, ``"max"`` (pooled float32 vectors) or
            ``"flatten"`` (float16 feature maps).
        cut: With no ``model``, the backbone layer to take features from; "" is its last layer.
        model: A model made by :func:`tlstudio.model.build_model`: its own
            preprocessing and nested backbone (and that backbone's last layer) are used.
        weights_id: What identifies the backbone's weight values in the cache key. None
            hashes the values of ``model``'s backbone, or, with no model, uses the
            weights file's stamp (hashing random weights).
        batch_size: Images per forward pass.
        chunk_images: Images decoded per chunk.
        cache_dir: The cache folder; None uses the shared pooled feature cache.
        sink: Receives ``Progress(stage="features")`` events.
        cancel: Checked between batches.
        split: Names the split in the progress messages.
        precision: The resolved compute precision of the extraction (part of the key).

    Returns:
        The :class:`CachedFeatures` (``features`` is a :class:`numpy.memmap`), or
        None when cancelled (nothing of the pass is then left on disk). Its
        entry stays pinned until :meth:`CachedFeatures.release` (or until it is
        garbage-collected), so no eviction removes the shards mid-training.

    Raises:
        ValueError: an unknown pooling (named, with the choices).
        ConfigError, WeightsUnavailableError: the backbone cannot be built.
        DataError: an image cannot be read any more (names the file).
        OSError: the disk lacks the space for the features (names the folder and both sizes).
    """
    kind = KIND_OF_POOLING.get(pooling)
    if kind is None:
        raise ValueError(f"pooling must be one of {', '.join(KIND_OF_POOLING)}. Received: {pooling!r}")
    size = backbones.resolve_image_size(backbone, image_size)
    if model is not None:
        from tlstudio.model import PREPROCESS_NAME, find_backbone

        net = find_backbone(model)
        preprocess = model.get_layer(PREPROCESS_NAME)
    else:
        net = backbones.build_backbone(backbone, weights, size, cut=cut)
        preprocess = backbones.preprocess_layer(backbone)
        if weights_id is None and weights != "none":
            weights_id = pooled_cache.weights_stamp(backbone, weights, size)
    layer = net.layers[-1].name
    result = pooled_cache.pooled_features(
        [item.path for item in items], backbone=backbone, weights=weights, image_size=size, batch_size=batch_size,
        cache_dir=cache_dir, sink=sink, cancel=cancel, cuts=(layer,), poolings=(kind,), model=net,
        preprocess=preprocess, weights_id=weights_id, chunk_images=chunk_images, label=split, precision=precision,
    )
    if result is None:
        return None
    labels = np.array([item.label for item in items], np.int32)
    return CachedFeatures(result.pooled(layer, kind), labels, pooling, layer, result.key, result.cache_hit, pin=result.pin)


def fit_model(head: keras.Model, pooling: str) -> keras.Model:
    """The part of ``head`` that trains on cached features of ``pooling``, sharing its layers.

    A flatten head trains whole on the cached maps. An average or max head
    trains from ``head_norm`` on, on the cached pooled vectors: its
    ``head_pool`` layer has no weights, and the cache already applied it.
    """
    if KIND_OF_POOLING.get(pooling) == "map":
        return head
    layers = [layer for layer in head.layers if not isinstance(layer, keras.layers.InputLayer)]
    names = [layer.name for layer in layers]
    if not names or names[0] != "head_pool":
        raise ValueError(f"the head should start with its 'head_pool' layer. Received layers: {names}")
    width = int(layers[0].output.shape[-1])
    inputs = keras.Input(shape=(width,), dtype="float32", name="pooled_features")
    x = inputs
    for layer in layers[1:]:
        x = layer(x)
    return keras.Model(inputs, x, name=f"{head.name}_on_pooled")


def feature_dataset(
    features: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    reader: Any = None,
) -> tf.data.Dataset:
    """A ``(features, labels)`` dataset that shuffles exactly like the image pipeline.

    :func:`tlstudio.data.make_dataset` shuffles the item indices with
    ``Dataset.range(n).shuffle(n, seed)``; this does the same, so with the same
    seed the head sees the same batches on the features as on the images.
    Only the indices live in the pipeline: each batch's rows are read when it
    is needed, from a memory-mapped shard through a
    :class:`~tlstudio.features.shards.RowReader` (file reads), or
    sliced from an in-memory array. Rows come out as float32.
    """
    n = len(labels)
    if reader is None and isinstance(features, np.memmap):
        reader = RowReader(features)
    row_shape = tuple(int(d) for d in features.shape[1:])
    labs = tf.constant(np.asarray(labels, np.int32))

    def rows(index: np.ndarray) -> np.ndarray:
        out = reader.rows(index) if reader is not None else features[index]
        return np.asarray(out, np.float32)

    def gather(index):
        x = tf.numpy_function(rows, [index], tf.float32, stateful=False)
        x.set_shape((None, *row_shape))
        return x, tf.gather(labs, index)

    ds = tf.data.Dataset.range(n)
    if shuffle:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(gather)
    return ds.prefetch(tf.data.AUTOTUNE)
