"""The one model loader: ``.keras``, SavedModel, TFLite and ONNX, with one wording of errors.

Evaluation, prediction, the inspector, the export and the engine's model
cache all load models here:

* :func:`resolve_model` finds the model file, its format and its class names
  (``labels.txt``, ``model.json`` or a run's ``class_names.json``) without
  importing TensorFlow;
* :func:`load_model` loads it for prediction (:class:`LoadedModel`);
* :func:`load_keras_model` returns the Keras model itself, for tools that need
  its layers (the inspector, the export).

A path may be a run folder (its ``model.keras`` is used), a ``.keras``,
``.tflite`` or ``.onnx`` file, or a SavedModel folder. Every failure is a
:class:`~tlstudio.errors.ModelFileError` that starts with ``Cannot load PATH:``
and ends with ``Received: ...``.

A ``.keras`` file is a zip archive: its members' declared sizes are checked
against a limit (:mod:`tlstudio.io.limits`, ``TLSTUDIO_MAX_MODEL_MB``) before
Keras opens it, so a zip bomb is refused with a clear error instead of
exhausting memory. Keras loads ``.keras`` files in ``safe_mode`` (no
arbitrary code). SavedModel, TFLite and ONNX files are graphs that run
TensorFlow, LiteRT or onnxruntime operations of the file's choosing: load
them only from a source you trust, as you would a program.

Importing this module does not import TensorFlow or Keras; loading a model does.
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tlstudio.errors import ModelFileError
from tlstudio.io.class_names import names_problem
from tlstudio.io.limits import FileTooLarge, check_zip
from tlstudio.io.runners import KINDS, Runner, open_runner
from tlstudio.run_file_names import CLASS_NAMES, MODEL

KIND_LABELS = {"keras": "Keras", "savedmodel": "SavedModel", "tflite": "TFLite", "onnx": "ONNX"}
"""Format key to the name shown in messages."""

SUFFIX_KINDS = {".keras": "keras", ".tflite": "tflite", ".onnx": "onnx"}
"""File suffix to format; a SavedModel is a folder holding ``saved_model.pb``."""

EXPECTED = "use a .keras, .tflite or .onnx file or a SavedModel folder (or a run folder with model.keras)"

__all__ = [
    "KINDS",
    "KIND_LABELS",
    "LoadedModel",
    "ModelSource",
    "find_keras_model",
    "find_model",
    "load_keras_model",
    "load_model",
    "resolve_model",
]


def _cannot_load(path: str | os.PathLike, why: str) -> ModelFileError:
    return ModelFileError(f"Cannot load {path}: {why}", path=str(path))


def _article(label: str) -> str:
    return "an" if label[:1] in "AEIOU" else "a"


@dataclass(frozen=True)
class ModelSource:
    """Where a model file and its class names are (found without loading TensorFlow).

    Attributes:
        model_path: The model file or SavedModel folder.
        kind: ``"keras"``, ``"savedmodel"``, ``"tflite"`` or ``"onnx"``.
        class_names: Class names in label order; empty when none were found
            (only with ``resolve_model(..., require_class_names=False)``).
        run_dir: The run folder when the model came from one, else None.
    """

    model_path: str
    kind: str
    class_names: tuple[str, ...]
    run_dir: str | None = None


def find_model(path: str | os.PathLike) -> tuple[Path, str, str | None]:
    """The model file or folder behind ``path``, its format and its run folder, without loading it.

    Args:
        path: A run folder, a ``.keras``/``.tflite``/``.onnx`` file or a SavedModel folder.

    Returns:
        ``(model path, kind, run folder or None)``.

    Raises:
        ModelFileError: nothing is there, or it is not a model tlstudio reads.
    """
    p = Path(path).expanduser()
    run_dir = None
    if p.is_dir() and (p / MODEL).is_file():
        run_dir, p = str(p), p / MODEL
    if p.is_dir():
        if (p / "saved_model.pb").is_file():
            return p, "savedmodel", None
        raise _cannot_load(p, f"it is a folder without saved_model.pb or model.keras; {EXPECTED}. Received: a folder")
    if not p.exists():
        raise _cannot_load(p, f"no such model file or folder; {EXPECTED}. Received: a path that does not exist")
    kind = SUFFIX_KINDS.get(p.suffix.lower())
    if kind is None:
        raise _cannot_load(
            p, f"it is not a model tlstudio can read; {EXPECTED}. Received: {p.suffix or 'a file without suffix'}"
        )
    return p, kind, run_dir


def resolve_model(path: str | os.PathLike, *, require_class_names: bool = True) -> ModelSource:
    """Find the model file, its format and its class names (never imports TensorFlow).

    Class names come from the run folder, then from ``labels.txt`` /
    ``model.json`` next to the model (for a SavedModel folder, also inside it).

    Args:
        path: A run folder, a ``.keras``/``.tflite``/``.onnx`` file or a SavedModel folder.
        require_class_names: Raise when no class names are found; when False
            the source has empty ``class_names`` and :func:`load_model` names
            the classes ``class_0``, ``class_1``...

    Raises:
        ModelFileError: no model there, or (when required) no class names.
    """
    p, kind, run_dir = find_model(path)
    folders = [Path(run_dir)] if run_dir else []
    folders += [p, p.parent] if kind == "savedmodel" else [p.parent]  # labels.txt sits next to the export
    names = next((n for n in (read_class_names(f) for f in folders) if n), None)
    if not names and require_class_names:
        raise _cannot_load(
            p,
            "it has no class names; put the labels.txt or model.json written by the export next to it. "
            "Received: no labels.txt, model.json or class_names.json",
        )
    return ModelSource(str(p), kind, tuple(str(n) for n in names or ()), run_dir)


class LoadedModel:
    """A model ready to predict batches of raw RGB images.

    Attributes:
        source: Where the model came from (its ``class_names`` match the outputs).
        image_size: (height, width) the model takes.
        num_classes: Number of outputs.
        model: The Keras model for ``.keras`` files and run folders (None for
            other formats), for tools such as Grad-CAM that need the layers.
    """

    def __init__(self, source: ModelSource, runner: Runner, image_size: tuple[int, int], num_classes: int):
        self.source = source
        self.image_size = image_size
        self.num_classes = num_classes
        self.model = runner.model
        self._runner = runner

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.source.class_names

    @property
    def kind(self) -> str:
        return self.source.kind

    def run(self, images: np.ndarray) -> np.ndarray:
        """The raw float32 output ``(N, C)`` for float32 images ``(N, H, W, 3)`` in 0..255."""
        return self._runner(images)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Probabilities ``(N, C)`` as float64 for float32 images ``(N, H, W, 3)`` in 0..255.

        Raises:
            ModelFileError: the model's outputs do not match its class names.
        """
        probs = np.asarray(self._runner(images), dtype=np.float64)
        if probs.ndim != 2 or probs.shape[1] != len(self.class_names):
            raise _cannot_load(
                self.source.model_path,
                f"it gives outputs of shape {probs.shape}, but its labels list {len(self.class_names)} classes. "
                f"Received: outputs {probs.shape}",
            )
        return probs


def _check_size(source: ModelSource) -> None:
    """Refuse a ``.keras`` archive whose members would expand beyond the limit, before Keras opens it."""
    if source.kind != "keras" or not zipfile.is_zipfile(source.model_path):  # a legacy .h5 is not a zip
        return
    try:
        check_zip(source.model_path)
    except FileTooLarge as exc:
        raise _cannot_load(source.model_path, f"it is refused before loading: {exc}") from exc
    except (zipfile.BadZipFile, OSError) as exc:
        raise _cannot_load(
            source.model_path, f"it is not a readable .keras archive. Received: {type(exc).__name__}: {exc}"
        ) from exc


def _open(source: ModelSource) -> Runner:
    label = KIND_LABELS[source.kind]
    _check_size(source)
    try:
        return open_runner(source.kind, source.model_path)
    except Exception as exc:  # Keras, TF, LiteRT and onnxruntime raise many kinds for a broken file
        raise _cannot_load(
            source.model_path,
            f"it cannot be read as {_article(label)} {label} model. Received: {type(exc).__name__}: {exc}",
        ) from exc


def _image_size(source: ModelSource, runner: Runner) -> tuple[int, int]:
    """(height, width) from the model, else from the export's ``model.json`` next to it."""
    shape = runner.input_shape
    if len(shape) != 4 or shape[-1] not in (3, None):
        raise _cannot_load(source.model_path, f"it does not take (N, H, W, 3) RGB images. Received: input shape {shape}")
    height, width = shape[1], shape[2]
    if height is None or width is None:
        p = Path(source.model_path)
        folders = ([p] if p.is_dir() else []) + [p.parent]
        meta = next((m for m in (read_json(f / "model.json") for f in folders) if isinstance(m, dict)), {})
        size = meta.get("input") if isinstance(meta.get("input"), dict) else {}
        height, width = size.get("height"), size.get("width")
    if not height or not width:
        raise _cannot_load(
            source.model_path,
            f"it does not fix its image size and no model.json next to it gives one. Received: input shape {shape}",
        )
    return int(height), int(width)


def load_model(path: str | os.PathLike | ModelSource, *, require_class_names: bool = True) -> LoadedModel:
    """Load a run folder's model or an exported file for prediction (imports TensorFlow).

    Args:
        path: A run folder, a ``.keras``/``.tflite``/``.onnx`` file, a
            SavedModel folder, or a :class:`ModelSource` from :func:`resolve_model`.
        require_class_names: When False, a model without class names next to
            it (or with a different number of them) gets ``class_0``,
            ``class_1``...; when True that is an error.

    Raises:
        ModelFileError: the path is not a model, it cannot be read, it does not
            take RGB images of a known size, or its class names do not fit.
    """
    source = path if isinstance(path, ModelSource) else resolve_model(path, require_class_names=require_class_names)
    runner = _open(source)
    size = _image_size(source, runner)
    num_classes = runner.num_classes
    if num_classes is None:  # the file leaves the output size open: ask it
        num_classes = int(runner(np.zeros((1, *size, 3), np.float32)).shape[-1])
    if len(source.class_names) != num_classes:
        if require_class_names:
            raise _cannot_load(
                source.model_path,
                f"its labels list {len(source.class_names)} classes but the model has {num_classes} outputs. "
                f"Received: {list(source.class_names)}",
            )
        source = dataclasses.replace(source, class_names=tuple(f"class_{i}" for i in range(num_classes)))
    return LoadedModel(source, runner, size, num_classes)


def find_keras_model(path: str | os.PathLike) -> tuple[Path, str | None]:
    """The Keras model file behind ``path`` and its run folder, without loading it.

    Args:
        path: A run folder, a ``.keras`` file or a legacy full-model ``.h5`` file.

    Returns:
        ``(model file, run folder or None)``.

    Raises:
        ModelFileError: nothing is there, or it is a model of another format.
    """
    p = Path(path).expanduser()
    if p.is_file() and p.suffix.lower() == ".h5":
        return p, None
    model_path, kind, run_dir = find_model(p)
    if kind != "keras":
        label = KIND_LABELS[kind]
        raise _cannot_load(
            model_path,
            f"only a Keras model (a .keras file or a run folder) has layers to load. Received: {_article(label)} {label} model",
        )
    return model_path, run_dir


def load_keras_model(path: str | os.PathLike) -> Any:
    """The Keras model of a ``.keras`` file or run folder, uncompiled (imports Keras).

    A legacy full-model ``.h5`` file is read too. Class names are not needed.

    Raises:
        ModelFileError: the path is missing, is another format, or cannot be
            read as a Keras model.
    """
    model_path, _ = find_keras_model(path)
    return _open(ModelSource(str(model_path), "keras", ())).model


def read_class_names(folder: str | Path) -> list[str] | None:
    """Class names stored next to a model, or None.

    Looks for ``labels.txt``, then ``model.json``, then a run folder's
    ``class_names.json`` in ``folder``. A file that is there but damaged
    (a name twice, Unicode look-alikes, a dict instead of a list, not JSON)
    is refused, never used nor skipped (:mod:`tlstudio.io.class_names`).

    Raises:
        ModelFileError: naming the file, the entry and ``Received: ...``.
    """
    folder = Path(folder)
    labels = folder / "labels.txt"
    if labels.is_file():
        names = [line.strip() for line in labels.read_text(encoding="utf-8").splitlines() if line.strip()]
        if names:
            return _checked_names(names, labels, "line")
    for fname in ("model.json", CLASS_NAMES):
        path = folder / fname
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            if fname == "model.json":
                continue  # another program's model.json (TensorFlow.js writes one): not ours to judge
            raise ModelFileError(f"{path}: is not readable JSON ({exc}); expected the list of class names. "
                                 f"Received: {type(exc).__name__}", path=str(path)) from exc
        if fname == "model.json":
            if not isinstance(data, dict) or "class_names" not in data:
                continue
            data = data["class_names"]
        if not isinstance(data, list):
            raise ModelFileError(f"{path}: class_names must be a list of class names in label order. "
                                 f"Received: {type(data).__name__} {json.dumps(data, default=str)[:60]}", path=str(path))
        if data:
            return _checked_names(data, path, "class_names")
    return None


def _checked_names(names: list[Any], path: Path, field: str) -> list[str]:
    problem = names_problem(names)
    if problem:
        index, sentence = problem
        entry = f"{field} {index + 1}" if field == "line" and index is not None else (f"{field}[{index}]" if index is not None else field)
        raise ModelFileError(
            f"{path}: {entry}: class names must be distinct one-line texts: {sentence}. "
            f"Received: {json.dumps(names, ensure_ascii=False, default=str)[:120]}",
            path=str(path),
        )
    return [str(n) for n in names]


def read_json(path: Path) -> Any:
    """Parse a JSON file, or return None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
