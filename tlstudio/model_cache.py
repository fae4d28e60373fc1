"""The engine's small LRU of loaded models, so repeated jobs on one model don't reload it.

Jobs name a model with a :class:`ModelRef` (plain data the GUI can build and
send) and get the loaded object from :func:`keras_model` or
:func:`loaded_model`. A file is keyed by its path, size and modification
time, so a model trained again at the same path is loaded afresh. Built
models (a backbone, or the Model page's configuration with an untrained head)
are keyed by their settings.

The cache lives in the engine process; it holds at most
:data:`MODEL_CACHE_SIZE` models and drops the least recently used one. A
dropped model must give its memory back, or the engine grows by one model per
job when jobs cycle more models than the cache keeps (issue 25: 80 jobs on 5
models, 906 -> 1,954 MB): nothing else keeps a reference to it (its lock
goes with it, also the lock of the Keras model inside a ``LoadedModel``),
and :func:`release_memory` then collects the cycles Keras models are made of
and hands the freed heap back to the system
(``benchmarks/bench_model_cache_memory.py`` measures it).

Jobs run in threads of their own, so two jobs may share one cached model.
Grad-CAM runs the output layer linearly for a moment (the class score is the
logit), so a job that runs a cached model end to end holds
:func:`model_lock` for that model meanwhile: an evaluation never sees the
logits, and Grad-CAM never sees a half-switched model.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import gc
import logging
import os
import sys
import threading
import weakref
from collections import OrderedDict
from typing import Any, Callable

from tlstudio.api.model_ref import ModelRef
from tlstudio.errors import ConfigError

logger = logging.getLogger(__name__)

MODEL_CACHE_SIZE = 3
"""Models kept loaded at once."""


def _malloc_trim() -> None:
    """Give freed heap pages back to the system (glibc only; elsewhere nothing)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = getattr(libc, "malloc_trim", None)
        if trim is not None:
            trim(0)
    except OSError as exc:  # pragma: no cover - a libc without it (musl)
        logger.debug("malloc_trim unavailable: %s", exc)


def release_memory() -> None:
    """After a model was dropped: collect it and return the freed memory to the system.

    A Keras model is a web of reference cycles (layers, their model, traced
    functions), so only the cyclic collector frees it; TensorFlow's kernel
    cache is cleared with it when TensorFlow is loaded. ``keras.backend.clear_session()``
    is not called: it resets Keras' global state for every thread, and
    another job may be building or running a model in the engine meanwhile.
    """
    gc.collect()
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        try:
            from tensorflow.python.eager import context

            if context.executing_eagerly():
                context.context().clear_kernel_cache()
        except Exception as exc:  # noqa: BLE001 - best effort, never fail a job over it
            logger.debug("could not clear TensorFlow's kernel cache: %s", exc)
    _malloc_trim()


def _stamp(path: str) -> tuple:
    """What changes when the model at ``path`` is replaced (size and mtime of it, or of a folder's files)."""
    try:
        if os.path.isdir(path):
            entries = []
            for name in sorted(os.listdir(path)):
                st = os.stat(os.path.join(path, name))
                entries.append((name, st.st_size, st.st_mtime_ns))
            return tuple(entries)
        st = os.stat(path)
        return (st.st_size, st.st_mtime_ns)
    except OSError:
        return ()


class ModelCache:
    """A thread-safe LRU of loaded models.

    Args:
        capacity: Models kept at once.
    """

    def __init__(self, capacity: int = MODEL_CACHE_SIZE):
        self.capacity = int(capacity)
        self._items: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple, threading.Lock] = {}
        self._locks: dict[int, tuple[Any, threading.RLock]] = {}  # id -> (weak reference to the model, its lock)
        self.loads = 0
        """How many times a model was loaded or built (a cache miss)."""

    def get(self, key: tuple, load: Callable[[], Any]) -> Any:
        """The cached value of ``key``, loading it with ``load()`` on a miss."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:  # two jobs asking for one model load it once
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    return self._items[key]
            value = load()
            dropped = []
            with self._lock:
                self.loads += 1
                self._items[key] = value
                self._items.move_to_end(key)
                while len(self._items) > self.capacity:
                    dropped.append(self._items.popitem(last=False)[1])
                    for part in (dropped[-1], getattr(dropped[-1], "model", None)):  # a LoadedModel and its Keras model
                        held = self._locks.get(id(part))
                        if held is not None and not isinstance(held[0], weakref.ref):  # a strong hold ends with the entry
                            self._locks.pop(id(part), None)
                self._loading.pop(key, None)
            if dropped:
                dropped.clear()  # the last references this cache held
                release_memory()
            return value

    def lock(self, value: Any) -> threading.RLock:
        """The lock of one model (``value`` as :meth:`get` returned it, or the Keras model inside it).

        The lock is shared while the model lives and never keeps it alive: it is
        held by a weak reference, and dropped with the model.
        """
        with self._lock:
            held = self._locks.get(id(value))
            if held is not None and held[0]() is value:
                return held[1]
            lock = threading.RLock()
            try:
                ref = weakref.ref(value, lambda _r, i=id(value): self._forget(i, _r))
            except TypeError:  # not weak-referenceable: shared while cached only
                ref = (lambda v: (lambda: v))(value) if self._cached(value) else None
            if ref is not None:
                self._locks[id(value)] = (ref, lock)
            return lock

    def _cached(self, value: Any) -> bool:
        return any(v is value or getattr(v, "model", None) is value for v in self._items.values())

    def _forget(self, key: int, ref) -> None:
        # Runs in the garbage collector, maybe while this thread holds self._lock: no lock here (dict ops are atomic).
        held = self._locks.get(key)
        if held is not None and held[0] is ref:
            self._locks.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._locks.clear()
        release_memory()

    def __len__(self) -> int:
        return len(self._items)


CACHE = ModelCache()
"""The engine process's model cache."""


def model_lock(model: Any) -> threading.RLock:
    """The lock to hold while running a cached model end to end (a ``LoadedModel`` or its Keras model).

    A ``LoadedModel`` and its ``.model`` share one lock.
    """
    keras = getattr(model, "model", None)
    return CACHE.lock(keras if keras is not None else model)


def loaded_model(ref: ModelRef) -> Any:
    """A model file or run folder ready to predict (:class:`tlstudio.io.model_files.LoadedModel`).

    Raises:
        ModelFileError: the file cannot be read as a model.
        ConfigError: ``ref`` does not name a file.
    """
    if not ref.path:
        raise ConfigError(f"prediction needs a trained model file or run folder. Received: {ref.label}")
    path = os.path.abspath(ref.path)

    def load() -> Any:
        from tlstudio.io.model_files import load_model

        return load_model(path)

    return CACHE.get(("file", path, _stamp(path)), load)


def keras_model(ref: ModelRef) -> Any:
    """The Keras model ``ref`` names (loaded from a ``.keras`` file or run folder, or built).

    Raises:
        ModelFileError: the file cannot be read, or is not a Keras model.
        ConfigError, WeightsUnavailableError: the model cannot be built.
    """
    if ref.path:
        from tlstudio.io.model_files import load_model, resolve_model

        source = resolve_model(ref.path, require_class_names=False)
        if source.class_names:  # the same cached model the prediction jobs use
            loaded = loaded_model(ref)
        else:  # a bare .keras file: its layers can still be inspected
            path = os.path.abspath(ref.path)
            loaded = CACHE.get(("file-unlabelled", path, _stamp(path)), lambda: load_model(path, require_class_names=False))
        if loaded.model is None:
            from tlstudio.errors import ModelFileError

            raise ModelFileError(
                f"{ref.path}: only a Keras model (.keras or a run folder) has layers to inspect. Received: a {loaded.source.kind} model",
                path=ref.path,
            )
        return loaded.model
    if ref.model_config is not None:
        cfg = dataclasses.replace(ref.model_config, weights="none")

        def build() -> Any:
            from tlstudio.model import build_model

            return build_model(cfg, max(2, int(ref.num_classes)))

        return CACHE.get(("config", cfg, max(2, int(ref.num_classes))), build)

    def build_backbone() -> Any:
        from tlstudio.backbone_build import build_backbone as build

        return build(ref.backbone, ref.image_size, weights=ref.weights)

    stamp = _stamp(ref.weights[5:]) if ref.weights.startswith("file:") else ()
    return CACHE.get(("backbone", ref.backbone.lower(), int(ref.image_size), ref.weights, stamp), build_backbone)
