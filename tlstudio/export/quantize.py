"""float16 and full-integer int8 TFLite files, and the training images that calibrate the int8 one.

:func:`calibration_files` draws the representative dataset from the run's
training split as stored in its ``split_manifest.json`` (never validation or
test), leaves out every image the run's data config excludes, and stratifies
by class. :func:`write_tflite_int8` converts with those images; when the
converter keeps an op in float32, or cannot convert one, the message names the
layer and offers float fallback ops (``ExportConfig.float_fallback``).

The int8 file's input and output are ``uint8`` (raw pixels 0..255 are
represented exactly), ``int8`` or ``float32``; the preprocessing stays inside
the file, and the augmentation never enters it (the exporter passes the
served graph of :mod:`tlstudio.export.inference`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import keras
import numpy as np

from tlstudio.errors import ExportError
from tlstudio.export.metadata import input_hw

INT8_FORMAT = "tflite_int8"


@dataclass(frozen=True)
class Int8File:
    """What :func:`write_tflite_int8` made.

    Attributes:
        float_ops: Layers kept in float32 (only with float fallback).
        graph_changes: Float-equivalent rewrites of the converted copy
            (:mod:`tlstudio.export.equalize`), each a sentence, with the float check.
        skipped: Rewrites not done, and why.
    """

    float_ops: tuple[str, ...] = ()
    graph_changes: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()


def _signature(model: keras.Model) -> list[keras.InputSpec]:
    height, width = input_hw(model)
    return [keras.InputSpec(shape=(None, height, width, 3), dtype="float32", name="image")]


# ------------------------------------------------------------------ calibration images


def stratified_pick(per_class: Mapping[str, Sequence[Any]], n: int, seed: int = 0) -> list[Any]:
    """About ``n`` items, each class in proportion to its size (at least one each), in a seeded order.

    All items when ``n`` is at least their number.
    """
    total = sum(len(v) for v in per_class.values())
    if total == 0:
        return []
    rng = np.random.default_rng(seed)
    if n >= total:
        return [item for items in per_class.values() for item in items]
    quota = {c: max(1, int(round(n * len(items) / total))) if items else 0 for c, items in per_class.items()}
    while sum(quota.values()) > n:  # rounding up: take back from the largest quota
        biggest = max(quota, key=lambda c: quota[c])
        quota[biggest] -= 1
    picked: list[Any] = []
    for c, items in per_class.items():
        order = rng.permutation(len(items))[: min(quota[c], len(items))]
        picked.extend(items[i] for i in sorted(order))
    return picked


def calibration_files(run_folder: str | Path, run_config: Mapping[str, Any] | None, n: int, seed: int = 0) -> list[tuple[Path, str]]:
    """``n`` training images of the run (stratified by class, exclusions honoured) as ``(path, class)``.

    Raises:
        ExportError: the run has no split manifest, or no training image is left.
    """
    from tlstudio.data.manifest import MANIFEST_FILE, read_manifest

    manifest = read_manifest(run_folder)
    if manifest is None:
        raise ExportError(
            f"int8 calibration needs the run's training images, and {run_folder} has no {MANIFEST_FILE}. "
            f"Export from a run folder made by tlstudio. Received: no split manifest", path=str(run_folder))
    data = dict((run_config or {}).get("data") or {})
    excluded = {os.path.normpath(str(p)) for p in data.get("exclude") or ()}
    root = Path(manifest.root)
    per_class: dict[str, list[tuple[Path, str]]] = {name: [] for name in manifest.class_names}
    for entry in manifest.splits.get("train", ()):
        path = root / entry.path
        if os.path.normpath(str(path)) in excluded or not path.is_file():
            continue
        per_class.setdefault(entry.class_name, []).append((path, entry.class_name))
    picked = stratified_pick(per_class, n, seed)
    if not picked:
        raise ExportError(
            f"int8 calibration found no training image of the run in {root} (after exclusions). Received: "
            f"{len(manifest.splits.get('train', ()))} training entries", path=str(root))
    return picked


def calibration_images(files: Iterable[tuple[Path, str]], height: int, width: int) -> np.ndarray:
    """Raw RGB pixels (N, H, W, 3) float32 of the calibration files; unreadable ones are skipped."""
    from tlstudio.imaging import load_image

    arrays = []
    for path, _ in files:
        try:
            arrays.append(load_image(path, size=(width, height)))
        except (OSError, ValueError):
            continue
    if not arrays:
        raise ExportError("None of the int8 calibration images could be read. Received: 0 readable images")
    return np.stack(arrays).astype(np.float32)


# ------------------------------------------------------------------ writers


def write_tflite_float16(model: keras.Model, path: Path) -> None:
    """float16 weights, float32 input and output."""
    import tensorflow as tf

    model.export(str(path), format="litert", input_signature=_signature(model), verbose=False,
                 optimizations=[tf.lite.Optimize.DEFAULT], target_spec={"supported_types": [tf.float16]})


def layer_names(model: keras.Model) -> list[str]:
    """Every layer name in ``model`` and its nested models."""
    names: list[str] = []

    def walk(layer) -> None:
        for inner in getattr(layer, "layers", []):
            names.append(inner.name)
            walk(inner)

    walk(model)
    return names


def layers_named_in(text: str, names: Sequence[str]) -> list[str]:
    """The layer names that appear as a path segment of ``text`` (``functional/conv_1/Conv2D`` names ``conv``)."""
    segments = set()
    for token in re.findall(r"[\w.\-]+(?:/[\w.\-]+)+", text):
        for seg in token.split("/"):
            segments.add(seg)
            segments.add(re.sub(r"_\d+$", "", seg))
    return [n for n in dict.fromkeys(names) if n in segments]


def float_tensors(path: Path) -> list[tuple[str, str]]:
    """``(tensor name, op)`` of the float32 tensors an int8 file computes (its input and output left out)."""
    import warnings

    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_path=str(path))
    io = {d["index"] for d in interpreter.get_input_details()} | {d["index"] for d in interpreter.get_output_details()}
    ops = {}
    for op in interpreter._get_ops_details():  # noqa: SLF001 - the only way to name the op of a tensor
        for out in op.get("outputs", []):
            ops[int(out)] = op["op_name"]
    return [(t["name"], ops.get(t["index"], "?")) for t in interpreter.get_tensor_details()
            if np.dtype(t["dtype"]) == np.float32 and t["index"] not in io and t["index"] in ops and ops[t["index"]] != "DEQUANTIZE"]


def write_tflite_int8(
    model: keras.Model, path: Path, *, calibration: np.ndarray | None, int8_io: str = "uint8", float_fallback: bool = False,
    equalize: bool = True, float_head: bool = False,
) -> Int8File:
    """Full-integer post-training quantization calibrated on ``calibration``.

    With ``equalize`` the converter gets a float-equivalent copy of ``model``
    whose preprocessing and feature channels suit one int8 scale per tensor
    (:func:`tlstudio.export.equalize.rewrite_for_int8`, checked on the
    calibration images), and the calibrated ranges of its ReLU convolutions
    are clipped where that lowers the int8 error
    (:func:`tlstudio.export.int8_ranges.clip_ranges`); ``model`` itself is
    not changed. With ``float_head`` the head (pooling, Dense, softmax) stays
    in float32 and is listed in ``float_ops``; the backbone is int8.

    Returns:
        The layers kept in float32 (the head with ``float_head``, else only
        with ``float_fallback``) and the changes made.

    Raises:
        ExportError: no calibration images, the converter cannot quantize an
            op (the message names the layer), or it kept one in float32
            without ``float_fallback``.
    """
    import tensorflow as tf

    from tlstudio.export import int8_ranges

    if calibration is None or len(calibration) == 0:
        raise ExportError("tflite_int8 needs calibration images from the run's training split. Received: none")
    images = np.asarray(calibration, dtype=np.float32)
    changes: list[str] = []
    skipped: list[str] = []
    head = _head_name(model)
    asked, float_head = float_head, float_head and head is not None
    if equalize:
        from tlstudio.export.equalize import rewrite_for_int8

        # a float Dense has no int8 rounding to correct
        model, done = rewrite_for_int8(model, images, bias_correction=not float_head)
        changes.extend(done.changes)
        skipped.extend(done.skipped)
    if asked and head is None:
        skipped.append("head kept in int8: the model is not image -> preprocess -> backbone -> head")

    def representative():
        for i in range(len(images)):
            yield [images[i:i + 1]]

    io_type = {"uint8": tf.uint8, "int8": tf.int8, "float": tf.float32}[int8_io]
    ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8] + ([tf.lite.OpsSet.TFLITE_BUILTINS] if float_fallback else [])
    names = layer_names(model)
    deny: list[str] = []
    try:
        calibrated = int8_ranges.calibrate(model, path, _signature(model), representative, supported_ops=ops)
        if equalize:
            calibrated, clipped = int8_ranges.clip_ranges(calibrated, images)
            if clipped:
                changes.append(clipped)
        if float_head:
            deny = int8_ranges.head_nodes(calibrated, head)
            if deny:
                changes.append(f"head ({head}) kept in float32: its pooling, Dense and softmax run on the int8 backbone's "
                               f"dequantized features (selective quantization, {len(deny)} op(s))")
            else:
                skipped.append(f"head kept in int8: no op of {head} found in the converted graph")
        path.write_bytes(int8_ranges.quantize(calibrated, io_type, deny))
    except Exception as exc:
        text = str(exc)
        named = layers_named_in(text, names)
        where = f"layer(s) {', '.join(named)}" if named else "an op of the model"
        first = text.strip().splitlines()[0][:300] if text.strip() else type(exc).__name__
        raise ExportError(
            f"The int8 converter cannot quantize {where}. Allow float fallback ops (CLI: --float-fallback) to keep "
            f"them in float32, or export tflite_float16. Received: {first}", path=str(path)) from exc
    head_layers = [n for n in layer_names(model.get_layer(head)) if n != head] if deny else []
    # the quantizer may suffix a float op's output name ("...:0" -> "...:01")
    kept = [(name, op) for name, op in float_tensors(path) if not any(name.startswith(d) for d in deny)]
    in_head = tuple(layers_named_in(" ".join(deny), head_layers)) if deny else ()
    if not kept:
        return Int8File(in_head, tuple(changes), tuple(skipped))
    named = layers_named_in(" ".join(name for name, _ in kept), names) or [name for name, _ in kept]
    ops_used = sorted({op for _, op in kept})
    if not float_fallback:
        raise ExportError(
            f"The int8 converter cannot quantize layer(s) {', '.join(named)} (ops {', '.join(ops_used)}): they would run "
            f"in float32. Allow float fallback ops (CLI: --float-fallback) to accept that, or export tflite_float16. "
            f"Received: {len(kept)} float32 tensor(s)", path=str(path))
    return Int8File(tuple(dict.fromkeys((*in_head, *named))), tuple(changes), tuple(skipped))


def _head_name(model: keras.Model) -> str | None:
    """The name of the model's head (its last nested model) when it is ``image -> preprocess -> backbone -> head``."""
    inner = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if [layer.name for layer in inner] != ["preprocess", "backbone", "head"] or not isinstance(inner[-1], keras.Model):
        return None
    return inner[-1].name
