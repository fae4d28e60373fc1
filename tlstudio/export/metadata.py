"""``labels.txt`` and ``model.json``: what a user needs to use an exported model.

``model.json`` says how to feed the model (RGB, HxWx3, 0..255, no further
preprocessing), what comes out (softmax probabilities in ``class_names``
order) and how it was made (backbone, weights, frozen layers, head, training
config, best metrics, dataset class counts, versions, UTC creation time).
It also records the verification result of every exported file.

``model.json`` describes every model file in its folder: exporting formats
one at a time adds each to ``files``, ``file_details`` and ``verification``
(:func:`merge_previous`) instead of forgetting the ones exported before.
Files of another model (other classes or input size) cannot share a folder's
``labels.txt`` and ``model.json``, so such an export is refused
(:func:`previous_export`).
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any, Mapping
from tlstudio.errors import ExportError
from tlstudio.io.class_names import names_problem
from tlstudio.io.model_files import read_json

INPUT_DESCRIPTION = "RGB uint8/float 0..255, HxWx3, no further preprocessing"

METADATA_VERSION = 1


def input_hw(model: Any) -> tuple[int, int]:
    """(height, width) of a Keras image model's input.

    Raises:
        ValueError: when the input is not (None, H, W, 3) with known H and W.
    """
    shape = tuple(model.input_shape if not isinstance(model.input_shape, list) else model.input_shape[0])
    if len(shape) != 4 or shape[-1] != 3 or shape[1] is None or shape[2] is None:
        raise ValueError(f"expected an image model with input (None, H, W, 3). Received: input_shape={shape}")
    return int(shape[1]), int(shape[2])


def frozen_layer_names(model: Any) -> list[str]:
    """Names of the layers holding weights that are not trainable.

    Looks inside the nested ``"backbone"`` model when there is one, since that
    is where freezing applies; otherwise looks at every layer of ``model``.
    """
    try:
        scope = model.get_layer("backbone")
    except (ValueError, AttributeError):
        scope = model
    names: list[str] = []
    for layer in getattr(scope, "layers", []):
        if layer.weights and not layer.trainable:
            names.append(layer.name)
    if scope is not model and not scope.trainable:
        names = [layer.name for layer in scope.layers if layer.weights]
    return names


def versions() -> dict[str, str]:
    """tlstudio, TensorFlow, Keras and NumPy versions."""
    import keras
    import numpy
    import tensorflow as tf

    from tlstudio import __version__

    return {"tlstudio": __version__, "tensorflow": tf.__version__, "keras": keras.__version__, "numpy": numpy.__version__}


def build_metadata(
    model: Any,
    class_names: list[str] | tuple[str, ...],
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble the ``model.json`` content.

    Args:
        model: The in-app Keras model.
        class_names: Class names in label order.
        metadata: Optional facts about the run, any of ``"run_config"`` (a
            RunConfig as a dict), ``"best_metrics"``, ``"dataset_class_counts"``,
            ``"history"``, ``"run_dir"``. Extra keys are copied as they are.

    Returns:
        A JSON-serialisable dict.
    """
    meta = dict(metadata or {})
    height, width = input_hw(model)
    run_config = meta.pop("run_config", None) or {}
    model_cfg = run_config.get("model", {}) if isinstance(run_config, dict) else {}
    data_cfg = run_config.get("data", {}) if isinstance(run_config, dict) else {}
    out: dict[str, Any] = {
        "metadata_version": METADATA_VERSION,
        "class_names": list(class_names),
        "num_classes": len(class_names),
        "input": {
            "name": "image",
            "height": height,
            "width": width,
            "channels": 3,
            "color": "RGB",
            "dtype": "float32",
            "range": [0, 255],
            "description": INPUT_DESCRIPTION.replace("HxW", f"{height}x{width}"),
        },
        "output": {"description": "softmax probabilities, one per class, in class_names order"},
        "backbone": model_cfg.get("backbone"),
        "weights": model_cfg.get("weights"),
        "head": model_cfg.get("head"),
        "freeze": model_cfg.get("freeze"),
        "frozen_layers": frozen_layer_names(model),
        "augment": data_cfg.get("augment"),
        "training": run_config.get("train") if isinstance(run_config, dict) else None,
        "best_metrics": dict(meta.pop("best_metrics", None) or {}),
        "dataset_class_counts": meta.pop("dataset_class_counts", None) or {},
        "versions": versions(),
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
    }
    out.update(meta)
    return out


SERVED_GRAPH = "image -> preprocess -> backbone -> head, inference mode (training augmentation left out)"


def is_export_metadata(data: Any) -> bool:
    """True for a ``model.json`` written by a tlstudio export."""
    return isinstance(data, dict) and "metadata_version" in data and isinstance(data.get("files"), dict)


def previous_export(
    out_dir: str | Path,
    class_names: list[str] | tuple[str, ...],
    hw: tuple[int, int],
    replacing: list[str] | tuple[str, ...],
    keep_out: list[Path] | tuple[Path, ...] = (),
) -> dict[str, Any] | None:
    """The folder's earlier ``model.json`` when its other files may stay described by the new one.

    Args:
        out_dir: The export folder.
        class_names: The new export's class names.
        hw: The new export's (height, width).
        replacing: Formats the new export writes (their earlier files are replaced).
        keep_out: Earlier files the export removes (another model's, confirmed): they do not stay.

    Returns:
        The earlier metadata, or None when there is none (or not a tlstudio one).

    Raises:
        ValueError: earlier files that stay belong to a model with other classes
            or another input size; the message names them.
    """
    path = Path(out_dir) / "model.json"
    data = read_json(path)
    if not is_export_metadata(data):
        return None
    gone = {Path(p) for p in keep_out}
    staying = {fmt: name for fmt, name in data["files"].items()
               if fmt not in replacing and (Path(out_dir) / str(name)).exists() and Path(out_dir) / str(name) not in gone}
    if not staying:
        return data
    old_names = [str(n) for n in data.get("class_names") or []]
    old_input = data.get("input") or {}
    old_hw = (old_input.get("height"), old_input.get("width"))
    if old_names != list(class_names) or old_hw != tuple(hw):
        raise ValueError(
            f"{out_dir} already holds {', '.join(sorted(map(str, staying.values())))} exported from another model "
            f"(classes {old_names}, input {old_hw[0]}x{old_hw[1]}); labels.txt and model.json describe one model. "
            f"Choose another folder, or move those files away. Received: classes {list(class_names)}, input {hw[0]}x{hw[1]}"
        )
    return data


def merge_previous(new: dict[str, Any], previous: Mapping[str, Any] | None, out_dir: str | Path) -> dict[str, Any]:
    """Add the files of an earlier export that are still in ``out_dir`` (and not replaced) to ``new``.

    Merges ``files``, ``file_details``, the per-format ``verification``
    values and ``certificates``; the new export's own entries win.
    """
    if not previous:
        return new
    out = dict(new)
    files = dict(new.get("files") or {})
    details = dict(new.get("file_details") or {})
    verification = {k: (dict(v) if isinstance(v, dict) else v) for k, v in (new.get("verification") or {}).items()}
    old_verification = previous.get("verification") or {}
    old_details = previous.get("file_details") or {}
    certificates = dict(new.get("certificates") or {})
    old_certificates = previous.get("certificates") if isinstance(previous.get("certificates"), dict) else {}
    for fmt, name in (previous.get("files") or {}).items():
        if fmt in files or not (Path(out_dir) / str(name)).exists():
            continue
        files[fmt] = name
        if fmt in old_certificates:  # its certificate of the earlier export (measured on that export's images)
            certificates[fmt] = old_certificates[fmt]
        details[fmt] = old_details.get(fmt) or {"file": name, "created": previous.get("created"), "source_model": previous.get("source_model")}
        for key in ("max_abs_diff", "top1_agreement", "tolerance"):
            old = old_verification.get(key) or {}
            if fmt in old and isinstance(verification.get(key), dict):
                verification[key][fmt] = old[fmt]
    out["files"], out["file_details"], out["verification"] = files, details, verification
    if certificates:
        out["certificates"] = certificates
    return out


def labels_text(class_names: list[str] | tuple[str, ...]) -> str:
    """``labels.txt`` content: one class per line, in label order.

    Raises:
        ExportError: a name that would not stay one line (or one class) when read back.
    """
    problem = names_problem(list(class_names))
    if problem:
        raise ExportError(f"labels.txt: the class names cannot be written one distinct class per line: {problem[1]}. Received: {list(class_names)!r}")
    return "".join(f"{name}\n" for name in class_names)


def class_counts_from_report(report: Any) -> dict[str, Any]:
    """Per-class image counts from a run's ``dataset_report.json``, whatever its exact shape."""
    if not isinstance(report, dict):
        return {}
    for key in ("counts", "class_counts", "valid_counts"):
        value = report.get(key)
        if isinstance(value, dict) and value:
            return value
    return {}
