"""Predict with an exported model: ``.keras``, SavedModel folder, ``.tflite`` or ``.onnx``.

Images are read through :func:`tlstudio.imaging.load_image`, the same Pillow
path as training (EXIF orientation, RGB conversion, resize to the model's
input size), and fed as raw RGB float pixels: the preprocessing is in the
model. Files are predicted in batches; a file that cannot be read gets a row
with an error and never stops the others.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from tlstudio.cancel import CancelToken, ensure_token
from tlstudio.errors import ModelFileError
from tlstudio.events import Progress, Sink, null_sink
from tlstudio.export.metadata import read_class_names, read_json

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
"""File suffixes picked up when a folder is given."""


@dataclass(frozen=True)
class Prediction:
    """One input file and its top classes, or why it could not be predicted.

    Attributes:
        path: The image file.
        top: ``(class name, probability)`` pairs, most probable first; empty on error.
        error: One readable sentence when the file could not be used, else None.
    """

    path: str
    top: tuple[tuple[str, float], ...] = ()
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        data = dataclasses.asdict(self)
        data["top"] = [{"class": c, "probability": p} for c, p in self.top]
        return data


@dataclass
class Predictor:
    """A loaded model that maps raw RGB batches to probabilities.

    Attributes:
        path: The model file or folder.
        kind: ``"keras"``, ``"savedmodel"``, ``"tflite"`` or ``"onnx"``.
        height: Input height in pixels.
        width: Input width in pixels.
        class_names: Class names in output order.
        run: ``run(batch)`` with batch float32 (N, H, W, 3) in 0..255 returns (N, C).
    """

    path: str
    kind: str
    height: int
    width: int
    class_names: list[str]
    run: Callable[[np.ndarray], np.ndarray]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self.run(np.asarray(batch, dtype=np.float32)), dtype=np.float32)


def _model_kind(path: Path) -> tuple[str, Path]:
    if path.is_dir():
        if (path / "saved_model.pb").is_file():
            return "savedmodel", path
        if (path / "model.keras").is_file():
            return "keras", path / "model.keras"
        raise ModelFileError(
            f"{path} is neither a SavedModel folder (no saved_model.pb) nor a run folder (no model.keras).",
            path=str(path),
        )
    if not path.is_file():
        raise ModelFileError(f"Model {path} does not exist.", path=str(path))
    kinds = {".keras": "keras", ".tflite": "tflite", ".onnx": "onnx"}
    if path.suffix.lower() not in kinds:
        raise ModelFileError(
            f"{path} is not a model tlstudio can predict with; use a .keras, .tflite or .onnx file or a SavedModel folder. "
            f"Received: {path.suffix or 'no suffix'}",
            path=str(path),
        )
    return kinds[path.suffix.lower()], path


def _keras_runner(path: Path) -> tuple[Callable, tuple, int]:
    import keras

    model = keras.saving.load_model(str(path), compile=False)

    def run(batch: np.ndarray) -> np.ndarray:
        return np.asarray(model(batch, training=False))

    return run, tuple(model.input_shape), int(model.output_shape[-1])


def _savedmodel_runner(path: Path) -> tuple[Callable, tuple, int]:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    if "serving_default" not in loaded.signatures:
        raise ValueError("it has no serving_default signature")
    fn = loaded.signatures["serving_default"]
    (arg_name, spec), = fn.structured_input_signature[1].items()
    (out_spec,) = fn.structured_outputs.values()

    def run(batch: np.ndarray) -> np.ndarray:
        outputs = fn(**{arg_name: tf.constant(batch)})
        return next(iter(outputs.values())).numpy()

    return run, tuple(spec.shape.as_list()), int(out_spec.shape[-1])


def _tflite_runner(path: Path) -> tuple[Callable, tuple, int]:
    import warnings

    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # tf.lite.Interpreter's deprecation notice
        interpreter = Interpreter(model_path=str(path))
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    state = {"shape": None}

    def run(batch: np.ndarray) -> np.ndarray:
        if state["shape"] != batch.shape:
            interpreter.resize_tensor_input(inp["index"], list(batch.shape))
            interpreter.allocate_tensors()
            state["shape"] = batch.shape
        interpreter.set_tensor(inp["index"], batch)
        interpreter.invoke()
        return interpreter.get_tensor(out["index"]).copy()

    shape = tuple(int(d) for d in inp.get("shape_signature", inp["shape"]))
    return run, shape, int(out["shape"][-1])


def _onnx_runner(path: Path) -> tuple[Callable, tuple, int]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]

    def run(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {inp.name: batch})[0]

    shape = tuple(d if isinstance(d, int) else None for d in inp.shape)
    return run, shape, int(session.get_outputs()[0].shape[-1])


_RUNNERS = {"keras": _keras_runner, "savedmodel": _savedmodel_runner, "tflite": _tflite_runner, "onnx": _onnx_runner}


def load_predictor(model_path: str | Path) -> Predictor:
    """Load an exported model (or a run folder's ``model.keras``) for prediction.

    The input size comes from the model itself, or from the ``model.json`` next
    to it when the model does not fix it. Class names come from ``labels.txt``,
    ``model.json`` or a run's ``class_names.json`` next to the model (for a
    SavedModel folder, also inside it); else ``class_0``, ``class_1``...

    Raises:
        ModelFileError: the path is missing or not a model that loads.
    """
    kind, path = _model_kind(Path(model_path))
    try:
        run, shape, num_classes = _RUNNERS[kind](path)
    except ModelFileError:
        raise
    except Exception as exc:
        raise ModelFileError(f"Cannot load {path} as a {kind} model: {type(exc).__name__}: {exc}", path=str(path)) from exc
    folders = [path] if path.is_dir() else []
    folders.append(path.parent)
    names = next((n for n in (read_class_names(f) for f in folders) if n), None)
    height = shape[1] if len(shape) == 4 else None
    width = shape[2] if len(shape) == 4 else None
    if height in (None, -1) or width in (None, -1):
        meta = next((m for m in (read_json(f / "model.json") for f in folders) if isinstance(m, dict)), {})
        height, width = meta.get("input", {}).get("height"), meta.get("input", {}).get("width")
    if not height or not width or (len(shape) == 4 and shape[-1] not in (3, None, -1)):
        raise ModelFileError(
            f"{path} does not take (H, W, 3) RGB images with a known size. Received: input shape {shape}", path=str(path)
        )
    if not names or len(names) != num_classes:
        names = [f"class_{i}" for i in range(num_classes)]
    return Predictor(str(path), kind, int(height), int(width), names, run)


def collect_images(inputs: Iterable[str | Path]) -> list[Path]:
    """Expand folders (recursively, image suffixes only, hidden files skipped) and keep files as given."""
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES:
                        out.append(Path(root) / name)
        else:
            out.append(p)
    return out


def describe_image_error(path: Path, exc: BaseException) -> str:
    """One readable sentence saying why an image file cannot be used."""
    from PIL import UnidentifiedImageError

    try:
        size = path.stat().st_size
    except OSError:
        size = None
    if isinstance(exc, FileNotFoundError) or size is None:
        return "file not found"
    if size == 0:
        return "empty file (0 bytes)"
    if isinstance(exc, UnidentifiedImageError):
        return "not an image Pillow can read (unknown format or not an image at all)"
    text = str(exc)
    if "truncated" in text.lower() or "broken data stream" in text.lower():
        return f"truncated or damaged image data ({text})"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return f"cannot read image: {type(exc).__name__}: {text}"


def predict(
    model_path: str | Path,
    images: Iterable[str | Path],
    *,
    top_k: int = 3,
    batch_size: int = 32,
    sink: Sink = null_sink,
    cancel: CancelToken | None = None,
) -> list[Prediction]:
    """Top-k classes for image files (folders are expanded) with an exported model.

    Args:
        model_path: ``.keras`` file, SavedModel folder, ``.tflite``/``.onnx``
            file, or a run folder.
        images: Image files and/or folders.
        top_k: Classes to report per image (capped at the number of classes).
        batch_size: Images per forward pass.
        sink: Receives :class:`~tlstudio.events.Progress` (stage ``"predict"``).
        cancel: Checked between batches; rows done so far are returned.

    Returns:
        One :class:`Prediction` per file, in input order. Unreadable files have
        ``error`` set and an empty ``top``.

    Raises:
        ModelFileError: the model cannot be loaded.
    """
    from tlstudio.imaging import load_image

    if top_k < 1:
        raise ValueError(f"top_k must be >= 1. Received: top_k={top_k}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1. Received: batch_size={batch_size}")
    cancel = ensure_token(cancel)
    files = collect_images(images)
    predictor = load_predictor(model_path)
    k = min(top_k, len(predictor.class_names))
    rows: list[Prediction] = []
    total = len(files)
    sink(Progress("predict", 0, total, f"Predicting {total} file(s) with {Path(predictor.path).name}"))
    for start in range(0, total, batch_size):
        if cancel.cancelled:
            break
        chunk = files[start : start + batch_size]
        arrays: list[np.ndarray] = []
        slots: list[int] = []
        chunk_rows: list[Prediction | None] = []
        for path in chunk:
            try:
                arrays.append(load_image(path, size=(predictor.width, predictor.height)))
                slots.append(len(chunk_rows))
                chunk_rows.append(None)
            except Exception as exc:
                chunk_rows.append(Prediction(str(path), (), describe_image_error(path, exc)))
        if arrays:
            probs = predictor(np.stack(arrays).astype(np.float32))
            for slot, p in zip(slots, probs):
                order = np.argsort(-p, kind="stable")[:k]
                top = tuple((predictor.class_names[i], float(p[i])) for i in order)
                chunk_rows[slot] = Prediction(str(chunk[slot]), top, None)
        rows.extend(r for r in chunk_rows if r is not None)
        sink(Progress("predict", len(rows), total, f"Predicted {len(rows)}/{total}"))
    return rows
