"""``--batch-size auto``: the largest batch whose estimated training memory fits.

The estimate is the Inspect page's (:func:`tlstudio.shapes.formulas.training_memory`:
weights, their gradients and optimizer slots, and every layer's activations
and their gradients for the batch), which is within about ±20% of measured
peaks. The batch chosen is the largest whose estimate plus that 20% fits in
80% of the free GPU memory, or of the available RAM on a CPU (the smaller of
``MemAvailable`` and the cgroup's room), capped at :data:`MAX_AUTO_BATCH` and
at the training images; the run log says the estimate.

The estimate counts activations at float32: under bfloat16 or float16 they
take half of that, so the choice is on the safe side.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from tlstudio.shapes.formulas import Totals, human_bytes, largest_batch, training_memory

MARGIN = 0.20
"""The estimate's measured error, kept free."""
SHARE = 0.80
"""The share of the free memory a batch may use."""
MAX_AUTO_BATCH = 256
"""Larger batches seldom train better, and need a learning rate re-tuned."""


@dataclass(frozen=True)
class BatchChoice:
    """The batch ``auto`` chose, and the figures behind it.

    Attributes:
        batch_size: The batch size.
        estimate_bytes: The estimated peak training memory at that batch.
        free_bytes: The free memory measured.
        where: ``"free GPU memory"`` or ``"available RAM"``.
        limit: What capped the batch besides memory ("" when memory did).
    """

    batch_size: int
    estimate_bytes: int
    free_bytes: int
    where: str
    limit: str = ""

    def sentence(self) -> str:
        """One line for the run log."""
        capped = f"; capped by {self.limit}" if self.limit else ""
        return (f"batch size auto: {self.batch_size} (estimated peak {human_bytes(self.estimate_bytes)} "
                f"+{MARGIN:.0%} margin, within {SHARE:.0%} of {human_bytes(self.free_bytes)} {self.where}{capped})")


def choose_batch(totals: Totals, free_bytes: int, *, optimizer: str = "adam", num_train: int = 0,
                 where: str = "available RAM") -> BatchChoice:
    """The largest batch whose estimate with :data:`MARGIN` fits :data:`SHARE` of ``free_bytes`` (at least 1)."""
    budget = SHARE * free_bytes / (1 + MARGIN)
    fits = largest_batch(totals, budget, optimizer)
    batch, limit = max(1, fits), ""
    if fits < 1:
        limit = "nothing fits: batch 1"
    if batch > MAX_AUTO_BATCH:
        batch, limit = MAX_AUTO_BATCH, f"the largest auto batch, {MAX_AUTO_BATCH}"
    if num_train and batch > num_train:
        batch, limit = num_train, f"the {num_train} training images"
    if batch > 8:
        batch -= batch % 8  # a multiple of 8 suits the kernels
    return BatchChoice(batch, training_memory(totals, batch, optimizer).total_bytes, int(free_bytes), where, limit)


def model_totals(model, trainable_params: int) -> Totals:
    """The :class:`~tlstudio.shapes.formulas.Totals` of a Keras model: its parameters and every layer's output elements.

    Args:
        model: A built model (nested models are walked to their layers).
        trainable_params: The most parameters any phase trains (phase 2 unfreezes more).
    """
    import keras

    def outputs(layer) -> int:
        inner = getattr(layer, "layers", None)
        if inner:
            return sum(outputs(child) for child in inner if not isinstance(child, keras.layers.InputLayer))
        try:
            shapes = layer.output if isinstance(layer.output, (list, tuple)) else [layer.output]
        except (AttributeError, ValueError):  # a layer never called symbolically
            return 0
        return sum(math.prod(int(d or 1) for d in s.shape[1:]) for s in shapes)

    input_elements = math.prod(int(d or 1) for d in model.inputs[0].shape[1:])
    total = int(model.count_params())
    trainable = min(int(trainable_params), total)
    acts = input_elements + sum(outputs(layer) for layer in model.layers if not isinstance(layer, keras.layers.InputLayer))
    return Totals(total, trainable, total - trainable, acts, input_elements)


def _cgroup_room() -> int | None:
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
    except (OSError, ValueError):
        return None
    return None if limit == "max" else max(0, int(limit) - used)


def available_ram() -> int:
    """Available RAM in bytes: ``MemAvailable``, or the cgroup's room when smaller (0 when unknown)."""
    found = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        found = 0
    room = _cgroup_room()
    if room is not None:
        found = min(found, room) if found else room
    if not found and hasattr(os, "sysconf"):
        try:
            found = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError):
            found = 0
    return int(found)


def free_device_memory() -> tuple[int, str]:
    """``(free bytes, where)``: the first GPU's free memory when there is a GPU, else the available RAM."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        try:
            from tensorflow.python.client import device_lib

            local = [d for d in device_lib.list_local_devices() if d.device_type == "GPU"]
            total = int(local[0].memory_limit) if local else 0
            used = int(tf.config.experimental.get_memory_info("GPU:0")["current"])
            if total:
                return max(0, total - used), "free GPU memory"
        except Exception:  # noqa: BLE001 - fall back to RAM, said in the log line
            pass
    return available_ram(), "available RAM"


__all__ = ["BatchChoice", "MARGIN", "MAX_AUTO_BATCH", "SHARE", "available_ram", "choose_batch", "free_device_memory", "model_totals"]
