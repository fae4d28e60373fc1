"""Predict with an exported model: ``.keras``, SavedModel folder, ``.tflite`` or ``.onnx``.

Images are read through :func:`tlstudio.imaging.load_image`, the same Pillow
path as training (EXIF orientation, RGB conversion, resize to the model's
input size), and fed as raw RGB float pixels: the preprocessing is in the
model. Files are predicted in batches; a file that cannot be read gets a row
with an error and never stops the others. Models are loaded by
:mod:`tlstudio.io.model_files`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from tlstudio.cancel import CancelToken, ensure_token
from tlstudio.events import Progress, Sink, null_sink
from tlstudio.io import IMAGE_EXTENSIONS
from tlstudio.io.model_files import load_model


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


def load_predictor(model_path: str | Path) -> Predictor:
    """Load an exported model (or a run folder's ``model.keras``) for prediction.

    Loading is :func:`tlstudio.io.model_files.load_model`: the input size comes
    from the model itself, or from the ``model.json`` next to it when the
    model does not fix it. Class names come from ``labels.txt``,
    ``model.json`` or a run's ``class_names.json`` next to the model (for a
    SavedModel folder, also inside it); else ``class_0``, ``class_1``...

    Raises:
        ModelFileError: the path is missing or not a model that loads.
    """
    loaded = load_model(model_path, require_class_names=False)
    height, width = loaded.image_size
    return Predictor(loaded.source.model_path, loaded.kind, height, width, list(loaded.class_names), loaded.run)


def collect_images(inputs: Iterable[str | Path]) -> list[Path]:
    """Expand folders (recursively, image suffixes only, hidden files skipped) and keep files as given."""
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_EXTENSIONS:
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
