"""Which compute precision this machine should use, and why. Keras-free.

``TrainConfig.precision`` (and the ``precision`` of the probe, audit,
embedding map and the opt-in fast evaluation) is one of
:data:`~tlstudio.options.PRECISIONS`. ``"auto"`` is resolved here:

* a GPU with tensor cores (compute capability 7.0 or newer) -> ``float16``
  (Keras ``mixed_float16``, with loss scaling in training);
* a CPU that reports AMX (``amx_bf16``) or AVX512-BF16 -> ``bfloat16``
  (``mixed_bfloat16``);
* anything else -> ``float32``.

A fast candidate is then confirmed by a short micro-benchmark
(:func:`tlstudio.precision.runtime.measure`) the first time on a machine.
Its ratio is cached in ``cache_dir("precision")/measured.json``, keyed by
the device (CPU model or GPU name) and the tlstudio, TensorFlow and Keras
versions, so a CPU where bfloat16 is slower keeps float32 and later runs do
not measure again. :class:`Choice` says what was chosen and why, in one line
for the status bar and the run log (``"CPU: 2 cores, bfloat16 (AMX, 3.1x
float32 measured)"``).

Weights stay float32 under every policy; the model's output layer, its
preprocessing and the loss are float32 too (the Keras recipe).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from tlstudio.errors import ConfigError
from tlstudio.options import PRECISIONS

logger = logging.getLogger(__name__)

POLICIES: Mapping[str, str] = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
"""Resolved precision -> the Keras dtype policy it computes under."""
MIN_SPEEDUP = 1.15
"""A fast precision must measure at least this many times float32's throughput to be chosen by ``auto``."""
TENSOR_CORES = (7, 0)
"""The first compute capability with tensor cores (Volta)."""
CPU_BF16_FLAGS = (("amx_bf16", "AMX"), ("avx512_bf16", "AVX512-BF16"))
"""``/proc/cpuinfo`` flags that make bfloat16 fast on a CPU, with the name the reason gives."""
MEASURED_FILE = "measured.json"


@dataclass(frozen=True)
class Gpu:
    """One visible GPU: its name and compute capability (None when unknown)."""

    name: str
    compute_capability: tuple[int, int] | None = None


@dataclass(frozen=True)
class Hardware:
    """What the precision choice depends on.

    Attributes:
        cpu_model: The CPU's model name (``/proc/cpuinfo``).
        cpu_flags: Its feature flags, lower case.
        cores: Logical cores this process may use.
        gpus: The visible GPUs.
    """

    cpu_model: str = "CPU"
    cpu_flags: frozenset[str] = field(default_factory=frozenset)
    cores: int = 1
    gpus: tuple[Gpu, ...] = ()

    @property
    def device(self) -> str:
        """``"GPU: <name>"`` or ``"CPU: 2 cores"``."""
        if self.gpus:
            return f"GPU: {self.gpus[0].name}" + (f" +{len(self.gpus) - 1}" if len(self.gpus) > 1 else "")
        return f"CPU: {self.cores} core{'s' if self.cores != 1 else ''}"

    @property
    def device_key(self) -> str:
        """What identifies the device in the measurement cache."""
        return f"GPU {self.gpus[0].name}" if self.gpus else f"CPU {self.cpu_model}"


@dataclass(frozen=True)
class Choice:
    """The precision a job computes in, and why.

    Attributes:
        requested: What was asked for (``"auto"``, ``"float32"``, ...).
        precision: What is used: ``"float32"``, ``"bfloat16"`` or ``"float16"``.
        reason: Why, in a few words (``"AMX"``, ``"asked for"``, ``"bfloat16 measured 0.95x float32"``).
        device: ``"CPU: 2 cores"`` or ``"GPU: <name>"``.
        speedup: The measured throughput ratio of the fast precision to float32 (None: not measured).
        on_gpu: Whether the work runs on a GPU.
    """

    requested: str
    precision: str
    reason: str
    device: str
    speedup: float | None = None
    on_gpu: bool = False

    @property
    def policy(self) -> str:
        """The Keras dtype policy: ``"float32"``, ``"mixed_bfloat16"`` or ``"mixed_float16"``."""
        return POLICIES[self.precision]

    @property
    def loss_scale(self) -> bool:
        """Whether training needs Keras's loss scaling (float16: its gradients underflow)."""
        return self.precision == "float16"

    @property
    def jit_compile(self) -> bool:
        """XLA for ``fit``: on a GPU only (measured there by ``benchmarks/bench_gpu.py``); on a CPU it slows down."""
        return self.on_gpu

    def sentence(self) -> str:
        """One line: ``"CPU: 2 cores, bfloat16 (AMX, 3.1x float32 measured)"``."""
        return f"{self.device}, {self.precision} ({self.reason})"


def check_precision(value: object, name: str = "precision") -> str:
    """``value`` when it is one of :data:`PRECISIONS`, else a :class:`ConfigError` naming it."""
    if value not in PRECISIONS:
        raise ConfigError(f"{name} must be one of {PRECISIONS}. Received: {name}={value!r}")
    return str(value)


def read_cpu(path: str = "/proc/cpuinfo") -> tuple[str, frozenset[str]]:
    """``(model name, flags)`` of the first CPU in ``path``; ``("CPU", {})`` where there is none (not Linux)."""
    model, flags = "CPU", frozenset()
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model == "CPU":
                    model = value.strip() or "CPU"
                elif key == "flags" and not flags:
                    flags = frozenset(value.lower().split())
                if model != "CPU" and flags:
                    break
    except OSError:
        pass
    return model, flags


def cpu_cores() -> int:
    """Logical cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def candidate(requested: str, hardware: Hardware) -> tuple[str, str]:
    """``(precision, reason)`` before any measurement: the rules of the module docstring."""
    check_precision(requested)
    if requested != "auto":
        if requested == "float16" and not hardware.gpus:
            return requested, "asked for; float16 is emulated and slow on a CPU"
        return requested, "asked for"
    if hardware.gpus:
        cc = hardware.gpus[0].compute_capability
        if cc is not None and tuple(cc) >= TENSOR_CORES:
            return "float16", f"tensor cores, compute {cc[0]}.{cc[1]}"
        return "float32", "GPU without tensor cores" if cc is not None else "GPU of unknown compute capability"
    for flag, name in CPU_BF16_FLAGS:
        if flag in hardware.cpu_flags:
            return "bfloat16", name
    return "float32", "no AMX or AVX512-BF16"


def measurement_key(hardware: Hardware, precision: str, versions: Mapping[str, str]) -> str:
    """The measurement cache's key: device, precision and the versions that change the speed."""
    return "|".join([hardware.device_key, precision, *(f"{k}={versions[k]}" for k in sorted(versions))])


def _measured_path(folder: Path) -> Path:
    return folder / MEASURED_FILE


def load_measured(folder: Path) -> dict[str, float]:
    """The cached speed-ups (an unreadable file is logged and counts as empty: it is measured again)."""
    path = _measured_path(folder)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        logger.warning("%s cannot be read (%s); the precision is measured again", path, exc)
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): float(v) for k, v in data.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def store_measured(folder: Path, key: str, speedup: float) -> None:
    """Add one measurement to the cache (written atomically; a failure is logged, the choice stands)."""
    from tlstudio.io.atomic import atomic_write_json

    data = load_measured(folder)
    data[key] = round(float(speedup), 3)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(_measured_path(folder), data, fsync=False)
    except OSError as exc:
        logger.warning("could not cache the precision measurement in %s: %s", folder, exc)


def choose(
    requested: str,
    hardware: Hardware,
    *,
    measure: Callable[[str], float] | None = None,
    folder: Path | None = None,
    versions: Mapping[str, str] | None = None,
) -> Choice:
    """Resolve ``requested`` on ``hardware``.

    Args:
        requested: One of :data:`PRECISIONS`.
        hardware: The machine.
        measure: ``measure(precision) -> fast/float32 throughput ratio``; with it,
            ``auto`` confirms a fast candidate (None: the rules alone decide).
        folder: Where measurements are cached (None: not cached).
        versions: The versions that key the cache.

    Returns:
        The :class:`Choice`. An explicit request is honoured as asked, never measured.
    """
    precision, reason = candidate(requested, hardware)
    on_gpu = bool(hardware.gpus)
    if requested != "auto" or precision == "float32" or measure is None:
        return Choice(requested, precision, reason, hardware.device, None, on_gpu)
    key = measurement_key(hardware, precision, versions or {})
    cached = load_measured(folder) if folder is not None else {}
    speedup = cached.get(key)
    if speedup is None:
        try:
            speedup = float(measure(precision))
        except Exception as exc:  # noqa: BLE001 - a failed measurement keeps the safe choice, said in the reason
            logger.warning("measuring %s failed: %s", precision, exc)
            return Choice(requested, "float32", f"{precision} could not be measured: {type(exc).__name__}", hardware.device, None, on_gpu)
        if folder is not None:
            store_measured(folder, key, speedup)
    if speedup < MIN_SPEEDUP:
        return Choice(requested, "float32", f"{reason}, but {precision} measured {speedup:.2f}x float32", hardware.device, speedup, on_gpu)
    return Choice(requested, precision, f"{reason}, {speedup:.1f}x float32 measured", hardware.device, speedup, on_gpu)


__all__ = [
    "CPU_BF16_FLAGS",
    "Choice",
    "Gpu",
    "Hardware",
    "MIN_SPEEDUP",
    "POLICIES",
    "PRECISIONS",
    "TENSOR_CORES",
    "candidate",
    "check_precision",
    "choose",
    "cpu_cores",
    "load_measured",
    "measurement_key",
    "read_cpu",
    "store_measured",
]
