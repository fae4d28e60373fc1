"""Which export formats exist, what they are called on disk, and how exact they must be.

ONNX is optional: it is offered only when ``tf2onnx`` and ``onnxruntime`` are
installed and a tiny conversion actually works with the installed
TensorFlow/NumPy. The probe runs once per process.
"""

from __future__ import annotations

import functools
import importlib.util
import tempfile
from pathlib import Path

from tlstudio.api.certificate import CERTIFICATE_FILE
from tlstudio.config import EXPORT_FORMATS

FORMAT_LABELS = {
    "keras": "Keras (.keras)",
    "savedmodel": "TensorFlow SavedModel",
    "tflite": "TFLite float32",
    "tflite_dynamic": "TFLite dynamic-range quantized",
    "tflite_float16": "TFLite float16",
    "tflite_int8": "TFLite full-integer int8",
    "onnx": "ONNX",
}
"""Human-readable name of every format."""

FORMAT_TOLERANCES = {
    "keras": 1e-5,
    "savedmodel": 1e-5,
    "tflite": 1e-3,
    "tflite_dynamic": 5e-2,
    "tflite_float16": 2e-2,
    "tflite_int8": 1.0,
    "onnx": 1e-4,
}
"""Largest allowed max |Δ| between the exported file's probabilities and the app's.

``tflite_dynamic`` and ``tflite_float16`` store smaller weights, so they are
held to a looser bound; they also pass when their top-1 class agrees with the
app's on every image. ``tflite_int8`` computes in integers: its check is that
it loads and runs outside the app, and its certificate measures what it costs
(agreement and accuracy per class), which the user judges.
"""

AGREEMENT_PASSES = frozenset({"tflite_dynamic", "tflite_float16"})
"""Formats that also pass verification when their top-1 agrees with the app's on every image."""

LABELS_FILE = "labels.txt"
METADATA_FILE = "model.json"


def target_paths(out_dir: str | Path, name: str, formats: tuple[str, ...] | list[str]) -> dict[str, Path]:
    """Final paths an export writes, keyed by format, plus ``"labels"``, ``"metadata"`` and ``"certificate"``.

    Args:
        out_dir: Destination folder.
        name: Base name, e.g. ``"model"`` gives ``model.keras``,
            ``model_savedmodel/``, ``model.tflite``, ``model_dynamic.tflite``
            and ``model.onnx``.
        formats: Formats to export.
    """
    out = Path(out_dir)
    names = {
        "keras": f"{name}.keras",
        "savedmodel": f"{name}_savedmodel",
        "tflite": f"{name}.tflite",
        "tflite_dynamic": f"{name}_dynamic.tflite",
        "tflite_float16": f"{name}_float16.tflite",
        "tflite_int8": f"{name}_int8.tflite",
        "onnx": f"{name}.onnx",
    }
    paths = {fmt: out / names[fmt] for fmt in formats}
    paths["labels"] = out / LABELS_FILE
    paths["metadata"] = out / METADATA_FILE
    paths["certificate"] = out / CERTIFICATE_FILE
    return paths


def available_formats() -> dict[str, str | None]:
    """Every export format mapped to None when it can be used, else the reason it cannot.

    Returns:
        A dict over :data:`tlstudio.config.EXPORT_FORMATS`, e.g.
        ``{"keras": None, ..., "onnx": "ONNX export needs tf2onnx ..."}``.
    """
    result: dict[str, str | None] = {fmt: None for fmt in EXPORT_FORMATS}
    result["onnx"] = onnx_unavailable_reason()
    return result


@functools.lru_cache(maxsize=1)
def onnx_unavailable_reason() -> str | None:
    """None when ONNX export works here, else one sentence saying why not."""
    missing = [m for m in ("tf2onnx", "onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
    if missing:
        return (
            f"ONNX export needs {', '.join(missing)} (pip install tf2onnx onnx onnxruntime); "
            "not installed in this environment."
        )
    try:
        _probe_onnx_conversion()
    except Exception as exc:  # any failure means "does not work with this TF/NumPy"
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        return f"ONNX converter is installed but does not work with this TensorFlow/NumPy: {first}"
    return None


def _probe_onnx_conversion() -> None:
    """Convert and run a two-layer model; raise when anything fails or disagrees."""
    import keras
    import numpy as np

    from tlstudio.io.runners import open_runner

    inputs = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 255)(inputs)
    x = keras.layers.Conv2D(2, 3)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(2, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    batch = np.linspace(0, 255, 2 * 8 * 8 * 3, dtype="float32").reshape(2, 8, 8, 3)
    expected = np.asarray(model(batch, training=False))  # also builds the model, which export needs
    with tempfile.TemporaryDirectory(prefix="tlstudio-onnx-probe-") as tmp:
        path = str(Path(tmp) / "probe.onnx")
        model.export(path, format="onnx", verbose=False)
        got = open_runner("onnx", path)(batch)
    if not np.allclose(got, expected, atol=1e-4):
        raise RuntimeError(f"probe predictions differ by {float(np.abs(got - expected).max()):.3g}")


def _read_metadata(out_dir: Path) -> dict | None:
    import json

    try:
        data = json.loads((out_dir / METADATA_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("files"), dict) else None


def source_of(path: str | Path) -> str:
    """The model file an export of ``path`` (a run folder or a model file) records as its ``source_model``."""
    p = Path(path)
    if p.is_dir() and (p / "model.keras").is_file():
        p = p / "model.keras"
    return str(p.resolve())


def other_model_files(out_dir: str | Path, name: str, formats: tuple[str, ...] | list[str], source_model: str,
                      class_names: list[str] | tuple[str, ...] | None = None) -> list[Path]:
    """Files an earlier export of *another* model left in ``out_dir`` that this export would not replace.

    ``model.json`` names them with the model they came from (``file_details``
    ``source_model``, and the folder's class names): a file from another
    source model, or from a model of other classes, is another model's. An
    export either refuses them or, once the user confirmed the list, removes
    them: ``model.json`` and ``labels.txt`` describe one model.
    """
    out = Path(out_dir)
    data = _read_metadata(out)
    if data is None:
        return []
    replacing = set(target_paths(out, name, formats).values())
    old_names = [str(n) for n in data.get("class_names") or []]
    other_classes = class_names is not None and old_names != [str(n) for n in class_names]
    details = data.get("file_details") or {}
    found = []
    for fmt, file_name in data["files"].items():
        path = out / str(file_name)
        if path in replacing or not path.exists():
            continue
        entry = details.get(fmt) if isinstance(details.get(fmt), dict) else {}
        old_source = entry.get("source_model") or data.get("source_model")
        if other_classes or (old_source and source_model and str(old_source) != str(source_model)):
            found.append(path)
    return sorted(found)
