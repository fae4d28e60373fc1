"""The Keras side of the precision choice: the real hardware, the micro-benchmark, and layers set to a policy.

* :func:`resolve` turns a requested precision into a :class:`~tlstudio.precision.Choice`
  for this process's device (memoised; ``auto`` measured once per machine and
  versions, see :mod:`tlstudio.precision`).
* :func:`measure` is that micro-benchmark: a small VGG-like convolution stack,
  float32 and the candidate policy timed alternately, best of three rounds.
* :func:`set_policy` sets the dtype policy of built layers in place (weights
  stay float32 variables, so checkpoints are unchanged);
  :func:`copy_with_policy` does it on a copy, for a model others share.

No global Keras dtype policy is ever set: the engine runs several jobs in
threads, and a process-wide policy would leak from one into another.
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
import time
from typing import Callable, Iterable

import keras
import numpy as np
import tensorflow as tf

import tlstudio
from tlstudio.paths import cache_dir
from tlstudio.precision import POLICIES, Choice, Gpu, Hardware, check_precision, choose, cpu_cores, read_cpu

logger = logging.getLogger(__name__)

_LOCK = threading.Lock()
_CHOICES: dict[str, Choice] = {}


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def versions() -> dict[str, str]:
    """The versions a measurement is valid for."""
    return {"tlstudio": tlstudio.__version__, "tensorflow": _version("tensorflow"), "keras": _version("keras")}


def hardware() -> Hardware:
    """This process's hardware: the CPU from ``/proc/cpuinfo``, the GPUs TensorFlow sees."""
    model, flags = read_cpu()
    found = []
    try:
        devices = tf.config.list_physical_devices("GPU")
    except Exception as exc:  # noqa: BLE001 - a broken CUDA install: the CPU it is
        logger.warning("TensorFlow could not list the GPUs: %s", exc)
        devices = []
    for device in devices:
        name, cc = device.name, None
        try:
            details = tf.config.experimental.get_device_details(device)
            name = str(details.get("device_name") or device.name)
            cc = details.get("compute_capability")
            cc = (int(cc[0]), int(cc[1])) if cc else None
        except Exception:  # noqa: BLE001 - details are optional; unknown capability keeps float32
            pass
        found.append(Gpu(name, cc))
    return Hardware(model, flags, cpu_cores(), tuple(found))


def _bench_model(policy: str, size: int) -> keras.Model:
    inputs = keras.Input((size, size, 3), dtype="float32")
    x = inputs
    for filters in (64, 128, None, 256):
        if filters is None:
            x = keras.layers.MaxPooling2D(dtype=policy)(x)
        else:
            x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", dtype=policy)(x)
    x = keras.layers.GlobalAveragePooling2D(dtype="float32")(x)
    return keras.Model(inputs, x)


def measure(precision: str, *, size: int = 48, batch: int = 8, repeats: int = 2, rounds: int = 3) -> float:
    """Throughput of ``precision`` over float32's on this device: a convolution stack, rounds alternated.

    Takes a few seconds on two CPU cores. Returns the best round's ratio, the
    figure least disturbed by other work on a shared machine.
    """
    x = tf.constant(np.random.default_rng(0).uniform(0, 1, (batch, size, size, 3)).astype("float32"))
    models = {p: _bench_model(p, size) for p in ("float32", POLICIES[precision])}
    calls = {p: tf.function(lambda t, m=m: m(t, training=False), jit_compile=False) for p, m in models.items()}
    for call in calls.values():
        call(x).numpy()  # trace and warm up
    best: dict[str, float] = {}
    for _ in range(rounds):
        for policy, call in calls.items():
            start = time.perf_counter()
            for _ in range(repeats):
                call(x).numpy()
            seconds = time.perf_counter() - start
            best[policy] = min(best.get(policy, seconds), seconds)
    return best["float32"] / best[POLICIES[precision]]


def resolve(requested: str, *, measure_auto: bool = True) -> Choice:
    """The :class:`Choice` for ``requested`` on this process's device (memoised per process).

    Args:
        requested: One of :data:`~tlstudio.options.PRECISIONS`.
        measure_auto: Confirm ``auto``'s fast candidate with :func:`measure`
            (cached on disk under ``cache_dir("precision")``).
    """
    check_precision(requested)
    with _LOCK:
        key = f"{requested}|{measure_auto}"
        if key not in _CHOICES:
            _CHOICES[key] = choose(
                requested, hardware(), measure=measure if measure_auto else None,
                folder=cache_dir("precision"), versions=versions(),
            )
            logger.info("precision: %s", _CHOICES[key].sentence())
        return _CHOICES[key]


def fast_precision(requested: str, sink: Callable[[object], None] | None = None) -> str:
    """The resolved precision of a feature extraction, said once to ``sink`` as a log line."""
    from tlstudio.events import LogMessage

    choice = resolve(requested)
    if sink is not None:
        sink(LogMessage(f"feature extraction precision: {choice.sentence()}", "info"))
    return choice.precision


def _walk(layers: Iterable[keras.layers.Layer]) -> Iterable[keras.layers.Layer]:
    for layer in layers:
        yield layer
        inner = getattr(layer, "layers", None)
        if inner:
            yield from _walk(inner)


def set_policy(layers: Iterable[keras.layers.Layer], precision: str) -> int:
    """Set the dtype policy of ``layers`` (nested models' layers too) to ``precision``'s, in place.

    Input layers keep their dtype. The variables are not touched: under a
    mixed policy they stay float32, so weights files are the same.

    Returns:
        How many layers were set.
    """
    policy = POLICIES[check_precision(precision)] if precision != "auto" else None
    if policy is None:
        raise ValueError("set_policy needs a resolved precision (float32, bfloat16 or float16). Received: 'auto'")
    count = 0
    for layer in _walk(layers):
        if isinstance(layer, keras.layers.InputLayer):
            continue
        layer.dtype_policy = policy
        count += 1
    return count


def compute_precision(layer: keras.layers.Layer) -> str:
    """The precision ``layer`` computes in: ``"float32"``, ``"bfloat16"`` or ``"float16"``."""
    return {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}.get(str(layer.compute_dtype), str(layer.compute_dtype))


def copy_with_policy(model: keras.Model, precision: str) -> keras.Model:
    """``model`` itself in float32 (or when it already computes in ``precision``), else a copy set to it.

    For a model others share (the engine's model cache): the copy has the
    same weights, and the shared model is left as it was.
    """
    check_precision(precision)
    if precision == "float32" or all(compute_precision(l) == precision for l in model.layers if not isinstance(l, keras.layers.InputLayer)):
        return model
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    set_policy(copy.layers, precision)
    return copy


__all__ = ["compute_precision", "copy_with_policy", "fast_precision", "hardware", "measure", "resolve", "set_policy", "versions"]
