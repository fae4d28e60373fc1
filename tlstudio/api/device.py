"""What the engine computes on: :class:`DeviceInfo`, the device job's result. Keras-free."""

from __future__ import annotations

from dataclasses import dataclass


GPU_MEMORY_ENV = "TLSTUDIO_GPU_MEMORY_MB"
"""Environment variable with a GPU memory limit in MiB for the engine process (0 or unset: no limit)."""


@dataclass(frozen=True)
class DeviceInfo:
    """What the engine computes on.

    Attributes:
        kind: ``"GPU"`` or ``"CPU"``.
        name: GPU model name (first GPU), or the CPU model when known.
        memory_mb: GPU memory limit or total in MiB (0 when unknown or CPU).
        gpus: How many GPUs TensorFlow sees.
        cpu_cores: Logical CPU cores the process may use.
        memory_growth: Whether memory growth is on for the GPUs.
        tensorflow: TensorFlow version.
        keras: Keras version.
        setup_error: Why the device set-up failed ("" when it did not).
        precision: What ``precision="auto"`` computes in on this device
            (``"float32"``, ``"bfloat16"``, ``"float16"``; "" when unknown).
        precision_reason: Why, in a few words (``"AMX, 3.1x float32 measured"``).
    """

    kind: str
    name: str
    memory_mb: int
    gpus: int
    cpu_cores: int
    memory_growth: bool
    tensorflow: str
    keras: str
    setup_error: str = ""
    precision: str = ""
    precision_reason: str = ""

    def summary(self) -> str:
        """One short line for a status bar: ``"GPU: NVIDIA A100 (40,960 MiB), float16 (tensor cores, compute 8.0)"``
        or ``"CPU: 2 cores, bfloat16 (AMX)"``; the precision is what ``auto`` chooses here."""
        if self.kind == "GPU":
            memory = f" ({self.memory_mb:,} MiB)" if self.memory_mb else ""
            more = f" +{self.gpus - 1}" if self.gpus > 1 else ""
            where = f"GPU: {self.name}{memory}{more}"
        else:
            where = f"CPU: {self.cpu_cores} core{'s' if self.cpu_cores != 1 else ''}"
        if not self.precision:
            return where
        reason = self.precision_reason.split(",")[0]  # the short reason; the tooltip has the measurement
        return f"{where}, {self.precision}" + (f" ({reason})" if reason else "")
