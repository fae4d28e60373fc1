"""The feature cache: run the frozen backbone once, then train the head on its outputs.

While the backbone is frozen (phase 1) and augmentation is off, every epoch
would push the same images through the same backbone. Computing the
backbone's output once per image and fitting only the nested ``"head"``
sub-model on those features gives the same model (the head's variables are
shared with the full model) at a small fraction of the cost: on a CPU the
backbone forward pass is nearly all of the work.

Features are the backbone's output feature maps (before the head's pooling),
so any head (average, max, flatten) trains on them unchanged. They are kept
in memory for the process and written to
``tlstudio.paths.cache_dir("features")`` as ``.npy`` files, keyed by a hash
of the images (path, size, modification time, order), the backbone's
weights, the input size, the dtype policy and the tlstudio, Keras,
TensorFlow, NumPy and Pillow versions. A different weights file, an edited
image or an upgrade therefore misses the cache. A damaged entry (a
zero-length or truncated file, the wrong shape) is logged, deleted and
rebuilt. The disk cache is kept under :func:`tlstudio.caches.feature_limit_bytes`,
evicting the least recently used entries.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import OrderedDict
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

import PIL

import tlstudio
from tlstudio import caches, paths
from tlstudio.cancel import CancelToken
from tlstudio.events import Progress, Sink
from tlstudio.data import make_dataset
from tlstudio.data.types import Item
from tlstudio.io.atomic import atomic_path

logger = logging.getLogger(__name__)

CACHE_VERSION = 2
DISK_LIMIT_BYTES = 4 << 30
"""Features larger than this are kept in memory only."""

MEMORY_BUDGET_BYTES = 2 << 30
"""Features kept in memory across runs of one process (the newest entry is always kept)."""

_MEMORY: "OrderedDict[str, np.ndarray]" = OrderedDict()


def weights_fingerprint(layer: keras.layers.Layer) -> str:
    """A hash of every weight value of ``layer`` (the backbone), with shapes and names."""
    digest = hashlib.blake2b(digest_size=16)
    for variable in layer.weights:
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(variable))
        digest.update(variable.path.encode())
        digest.update(str(value.shape).encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def items_fingerprint(items: Sequence[Item]) -> str:
    """A hash of the items in order: path, label, file size and modification time."""
    digest = hashlib.blake2b(digest_size=16)
    for item in items:
        try:
            st = os.stat(item.path)
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        digest.update(f"{item.path}\0{item.label}\0{stamp}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def versions() -> dict[str, str]:
    """Everything outside the images and weights that can change the features: versions and dtype policy."""
    return {
        "tlstudio": tlstudio.__version__,
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "numpy": np.__version__,
        "pillow": PIL.__version__,
        "dtype_policy": keras.config.dtype_policy().name,
    }


def cache_key(items: Sequence[Item], image_size: int, backbone_name: str, backbone_weights: str) -> str:
    """The cache key of one split's features (see :func:`versions` for what else it includes)."""
    payload = json.dumps(
        {
            "v": CACHE_VERSION,
            **versions(),
            "items": items_fingerprint(items),
            "size": int(image_size),
            "backbone": backbone_name,
            "weights": backbone_weights,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def _disk_path(key: str) -> str:
    return os.path.join(str(paths.cache_dir("features")), f"{key}.npy")


def _remember(key: str, features: np.ndarray) -> None:
    _MEMORY[key] = features
    _MEMORY.move_to_end(key)
    while len(_MEMORY) > 1 and sum(a.nbytes for a in _MEMORY.values()) > MEMORY_BUDGET_BYTES:
        _MEMORY.popitem(last=False)


def lookup(key: str, expected_shape: tuple[int, ...]) -> np.ndarray | None:
    """Cached features for ``key`` from memory or disk, or None."""
    hit = _MEMORY.get(key)
    if hit is not None and hit.shape == expected_shape:
        _MEMORY.move_to_end(key)
        return hit
    path = _disk_path(key)
    if os.path.isfile(path):
        try:
            features = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:  # zero-length or truncated: EOFError, ValueError
            _drop_damaged(path, f"{type(exc).__name__}: {exc}")
            return None
        if features.shape == expected_shape and features.dtype == np.float32:
            caches.touch(path)
            _remember(key, features)
            return features
        _drop_damaged(path, f"expected float32 {expected_shape}, found {features.dtype} {features.shape}")
    return None


def _drop_damaged(path: str, why: str) -> None:
    """Delete a damaged cache entry so it is rebuilt (and say so in the log)."""
    logger.warning("ignoring the damaged feature cache entry %s (%s); it will be rebuilt", path, why)
    try:
        os.remove(path)
    except OSError as exc:
        logger.warning("could not delete the damaged feature cache entry %s: %s", path, exc)


def store(key: str, features: np.ndarray) -> None:
    """Keep ``features`` in memory and, when not too large, on disk (best effort)."""
    _remember(key, features)
    if features.nbytes > DISK_LIMIT_BYTES:
        return
    path = _disk_path(key)
    try:
        limit = caches.feature_limit_bytes()
    except ValueError as exc:
        logger.warning("%s; using the default limit", exc)
        limit = caches.DEFAULT_FEATURE_LIMIT_BYTES
    if features.nbytes > limit:
        logger.info("features of %d bytes exceed the disk cache limit of %d bytes: kept in memory only", features.nbytes, limit)
        return
    try:
        with atomic_path(path, fsync=False) as tmp:  # a cache: losing it to a power cut costs a recompute
            np.save(tmp, features, allow_pickle=False)
    except OSError as exc:
        logger.warning("could not write the feature cache %s: %s", path, exc)
        return
    evicted = caches.enforce_limit(os.path.dirname(path), limit, keep=[path])
    if evicted:
        logger.info("feature cache over %d bytes: evicted %d least recently used entries", limit, len(evicted))


def clear_memory() -> None:
    """Forget the features kept in memory (the disk cache stays)."""
    _MEMORY.clear()


def extract_features(
    feature_model: keras.Model,
    items: Sequence[Item],
    image_size: int,
    batch_size: int,
    *,
    key: str | None,
    sink: Sink,
    cancel: CancelToken,
    split: str = "train",
) -> np.ndarray | None:
    """Backbone features of ``items`` in order, from the cache or computed in batches.

    Args:
        feature_model: Raw RGB images -> backbone output (preprocessing inside).
        items: The images.
        image_size: Input side.
        batch_size: Images per forward pass.
        key: Cache key from :func:`cache_key`; None disables the cache.
        sink: Receives ``Progress(stage="features")`` events.
        cancel: Checked between batches.
        split: ``"train"`` or ``"val"``, for the progress message.

    Returns:
        float32 array ``[len(items), *feature_shape]``, or None when cancelled.
    """
    shape = (len(items), *[int(d) for d in feature_model.output.shape[1:]])
    total = len(items)
    if key is not None:
        hit = lookup(key, shape)
        if hit is not None:
            sink(Progress("features", total, total, f"{split}: {total} cached backbone features reused"))
            return hit
    out = np.empty(shape, np.float32)
    done = 0
    sink(Progress("features", 0, total, f"{split}: computing backbone features for {total} images"))
    dataset = make_dataset(items, image_size, batch_size, shuffle=False, cache=False)
    for images, _ in dataset:
        if cancel.cancelled:
            return None
        batch = feature_model.predict_on_batch(images)
        n = int(batch.shape[0])
        out[done : done + n] = np.asarray(batch, np.float32)
        done += n
        sink(Progress("features", done, total, f"{split}: backbone features {done}/{total}"))
    if key is not None:
        store(key, out)
    return out


def feature_dataset(
    features: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
) -> tf.data.Dataset:
    """A ``(features, labels)`` dataset that shuffles exactly like the image pipeline.

    :func:`tlstudio.data.make_dataset` shuffles the item indices with
    ``Dataset.range(n).shuffle(n, seed)``; this does the same, so with the same
    seed the head sees the same batches on the features as on the images.
    """
    n = len(labels)
    feats = tf.constant(features)
    labs = tf.constant(np.asarray(labels, np.int32))
    ds = tf.data.Dataset.range(n)
    if shuffle:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    ds = ds.map(lambda idx: (tf.gather(feats, idx), tf.gather(labs, idx)))
    return ds.prefetch(tf.data.AUTOTUNE)
