"""The engine process's compute device: set it up once, and describe it.

Only the engine process initialises a device. :func:`setup_device` runs there
before any other TensorFlow work: it turns on memory growth for every GPU, so
the process takes device memory as it needs it instead of mapping nearly all
of it at the first op, and optionally caps the memory with a logical device
limit. :func:`device_info` is the job the GUI's status bar shows.
"""

from __future__ import annotations

import os

from tlstudio.api.device import GPU_MEMORY_ENV, DeviceInfo
from tlstudio.cancel import CancelToken
from tlstudio.events import Sink


_SETUP: dict[str, object] = {}


def _cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def memory_limit_from_env() -> int:
    """The GPU memory limit the environment asks for, in MiB (0: none).

    Raises:
        ValueError: when the variable is not a non-negative whole number.
    """
    text = os.environ.get(GPU_MEMORY_ENV, "").strip()
    if not text:
        return 0
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"{GPU_MEMORY_ENV} must be a whole number of MiB, 0 for no limit. Received: {text!r}")
    return value


def setup_device(memory_limit_mb: int | None = None) -> str:
    """Configure the GPUs before first use; call once, first thing in the engine process.

    Args:
        memory_limit_mb: Cap on the first GPU's memory in MiB; None reads
            :data:`GPU_MEMORY_ENV`; 0 means no cap.

    Returns:
        "" when done, else why it failed (the engine still runs, on what TensorFlow chose).
    """
    if "error" in _SETUP:
        return str(_SETUP["error"])
    error = ""
    try:
        limit = memory_limit_from_env() if memory_limit_mb is None else int(memory_limit_mb)
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        for gpu in gpus:
            tf.config.experimental.set_memory_growth(gpu, True)
        if gpus and limit:
            # A limit replaces growth on that device: TensorFlow refuses both on one GPU.
            tf.config.experimental.set_memory_growth(gpus[0], False)
            tf.config.set_logical_device_configuration(gpus[0], [tf.config.LogicalDeviceConfiguration(memory_limit=limit)])
        _SETUP["limit"] = limit
        _SETUP["growth"] = bool(gpus) and not limit
    except Exception as exc:  # noqa: BLE001 - e.g. the device was already initialised
        error = f"{type(exc).__name__}: {exc}"
    _SETUP["error"] = error
    return error


def device_info(config: object = None, *, sink: Sink, cancel: CancelToken) -> DeviceInfo:
    """Describe the device the engine computes on (the job ``"device"``)."""
    import keras
    import tensorflow as tf

    setup_device()
    gpus = tf.config.list_physical_devices("GPU")
    name, memory = "", 0
    if gpus:
        try:
            details = tf.config.experimental.get_device_details(gpus[0])
            name = str(details.get("device_name", "")) or gpus[0].name
        except Exception:  # noqa: BLE001 - details are optional
            name = gpus[0].name
        limit = int(_SETUP.get("limit", 0) or 0)
        if limit:
            memory = limit
        else:
            try:  # what TensorFlow may allocate on the first GPU
                from tensorflow.python.client import device_lib

                local = [d for d in device_lib.list_local_devices() if d.device_type == "GPU"]
                memory = int(local[0].memory_limit) // 2**20 if local else 0
            except Exception:  # noqa: BLE001 - the name alone still says which GPU
                memory = 0
    else:
        name = _cpu_model()
    precision, reason = "", ""
    try:
        from tlstudio.precision.runtime import resolve

        choice = resolve("auto")  # measured once per machine and versions, then read from the cache
        precision, reason = choice.precision, choice.reason
    except Exception as exc:  # noqa: BLE001 - the device is still described; the reason says why
        precision, reason = "float32", f"auto could not decide: {type(exc).__name__}: {exc}"
    return DeviceInfo(
        kind="GPU" if gpus else "CPU",
        name=name,
        memory_mb=memory,
        gpus=len(gpus),
        cpu_cores=_cpu_cores(),
        memory_growth=bool(_SETUP.get("growth", False)),
        tensorflow=str(tf.__version__),
        keras=str(keras.__version__),
        setup_error=str(_SETUP.get("error", "")),
        precision=precision,
        precision_reason=reason,
    )


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "CPU"
