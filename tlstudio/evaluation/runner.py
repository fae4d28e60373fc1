"""Evaluate a trained or exported model on a labelled dataset split.

:func:`evaluate_model` accepts a run folder (``model.keras`` + ``class_names.json``)
or any exported model file (``.keras``, a SavedModel folder, ``.tflite``,
``.onnx``) with the ``labels.txt`` / ``model.json`` written next to it by the
export, so a model can be evaluated without the project that made it. Models
are found and loaded by :mod:`tlstudio.io.model_files`.

A run folder is evaluated on the split it trained on: the file lists stored
in its ``split_manifest.json`` (:mod:`tlstudio.data.manifest`), never a fresh
split of the folder as it is now. Files gone since are counted as missing, new
files are left out, and both are reported (``EvaluationResult.notes``).

Images are read through :func:`tlstudio.imaging.load_image`, the same Pillow
path as training, and fed as raw RGB float 0..255 (the preprocessing is inside
the model). Keras/TensorFlow are imported only when a model is loaded.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from tlstudio.api.evaluate import SPLIT_CHOICES, EvaluationResult, ImagePrediction
from tlstudio.api.metrics import compute_metrics
from tlstudio.cancel import CancelToken, ensure_token
from tlstudio.config import DataConfig
from tlstudio.errors import DataError
from tlstudio.events import LogMessage, Progress, Sink, null_sink
from tlstudio.io.model_files import LoadedModel, ModelSource, load_model, resolve_model

BATCH_SIZE = 16


# --------------------------------------------------------------------------- results


# --------------------------------------------------------------------------- prediction


def predict_paths(
    model: LoadedModel,
    paths: Sequence[str],
    *,
    sink: Sink | None = None,
    cancel: CancelToken | None = None,
    stage: str = "evaluate",
) -> tuple[list[int], np.ndarray, list[tuple[str, str]], bool]:
    """Predict image files in batches.

    Returns:
        ``(kept, probs, skipped, cancelled)``: indices into ``paths`` that were
        read, their probabilities, ``(path, reason)`` of unreadable files, and
        whether the work was cancelled.
    """
    from tlstudio.imaging import load_image

    sink = sink or null_sink
    cancel = ensure_token(cancel)
    h, w = model.image_size
    kept: list[int] = []
    chunks: list[np.ndarray] = []
    skipped: list[tuple[str, str]] = []
    total = len(paths)
    for start in range(0, total, BATCH_SIZE):
        if cancel.cancelled:
            return kept, _stack(chunks, len(model.class_names)), skipped, True
        batch, batch_idx = [], []
        for i in range(start, min(start + BATCH_SIZE, total)):
            try:
                batch.append(load_image(paths[i], (w, h)).astype(np.float32))
                batch_idx.append(i)
            except Exception as exc:  # Pillow raises OSError, ValueError, DecompressionBombError...
                skipped.append((str(paths[i]), f"{type(exc).__name__}: {exc}"))
        if batch:
            chunks.append(model.predict(np.stack(batch)))
            kept.extend(batch_idx)
        done = min(start + BATCH_SIZE, total)
        sink(Progress(stage, done, total, f"predicted {done}/{total} images"))
    return kept, _stack(chunks, len(model.class_names)), skipped, False


def _stack(chunks: list[np.ndarray], num_classes: int) -> np.ndarray:
    return np.concatenate(chunks) if chunks else np.zeros((0, num_classes))


def predict_images(
    model: LoadedModel | str | os.PathLike,
    paths: Sequence[str],
    *,
    sink: Sink | None = None,
    cancel: CancelToken | None = None,
) -> tuple[list[ImagePrediction], list[tuple[str, str]]]:
    """Predict unlabelled images (single-image and folder tests).

    Returns:
        ``(predictions, skipped)``; each prediction has ``true == -1``.
    """
    if not isinstance(model, LoadedModel):
        model = load_model(model)
    kept, probs, skipped, _ = predict_paths(model, list(paths), sink=sink, cancel=cancel, stage="predict")
    out = []
    for row, i in enumerate(kept):
        pred = int(np.argmax(probs[row]))
        out.append(ImagePrediction(row, str(paths[i]), -1, pred, float(probs[row, pred]), tuple(float(v) for v in probs[row])))
    return out, skipped


# --------------------------------------------------------------------------- data


def _prepare(data: Any, source: ModelSource, sink: Sink, cancel: CancelToken) -> tuple[Any, Any]:
    """Turn ``data_or_items`` into ``(PreparedData or items, Reconciled or None)``.

    A run folder evaluated on its own dataset uses the run's stored split
    (:func:`tlstudio.data.manifest.prepare_from_manifest`); other folders and
    configs are scanned and split with the run's seed and fractions. The
    first value is None when the preparation was cancelled.
    """
    if data is not None and not isinstance(data, (str, os.PathLike, DataConfig)):
        return data, None
    from tlstudio.data import manifest as split_manifest
    from tlstudio.data import prepare_data

    base = DataConfig()
    stored = None
    if source.run_dir:
        from tlstudio.run_folders import load_run_config

        base = load_run_config(source.run_dir).data
        stored = split_manifest.read_manifest(source.run_dir)
        # the run's own folder, never one of the same relative name where this process was started
        base = replace(base, root=split_manifest.dataset_root(base.root, stored, source.run_dir))
    if data is None:
        if not source.run_dir:
            raise DataError(f"{source.model_path} is not a run folder: give the dataset folder to evaluate on.")
        config = base
    elif isinstance(data, DataConfig):
        config = data
    else:
        config = replace(base, root=str(data))
    if not config.root:
        raise DataError("no dataset folder to evaluate on. Received: root=''")
    if stored is not None and _same_folder(config.root, base.root, stored.root):
        reconciled = split_manifest.prepare_from_manifest(stored, config, assign_new=False, sink=sink, cancel=cancel)
        return (reconciled.data if reconciled is not None else None), reconciled
    if source.run_dir and stored is None and data is None:
        sink(LogMessage(
            f"{source.run_dir} has no {split_manifest.MANIFEST_FILE} (made by an older version): "
            "the dataset is split again with the run's seed, which may differ from the split it trained on",
            "warning",
        ))
    prepared = prepare_data(config, sink=sink, cancel=cancel)
    return (None if prepared.cancelled else prepared), None


def _same_folder(path: str, *others: str) -> bool:
    try:
        here = os.path.realpath(path)
        return any(other and os.path.realpath(other) == here for other in others)
    except (OSError, ValueError):
        return False


def _select(data: Any, source: ModelSource, split: str) -> tuple[list[tuple[str, int]], tuple[str, ...]]:
    """Labelled (path, label) pairs of ``split`` and the class names they refer to."""
    from tlstudio.data import Item, PreparedData

    if isinstance(data, PreparedData):
        splits = {"train": data.train, "val": data.val, "test": data.test}
        chosen = data.train + data.val + data.test if split == "all" else splits[split]
        if not chosen:
            raise DataError(f"the dataset {data.root} has no '{split}' images to evaluate on.", path=data.root)
        return [(it.path, it.label) for it in chosen], tuple(data.class_names)
    pairs = []
    for entry in data:
        if isinstance(entry, Item):
            pairs.append((entry.path, entry.label))
        else:
            path, label = entry
            pairs.append((str(path), int(label)))
    if not pairs:
        raise DataError("no images to evaluate on. Received: an empty list")
    return pairs, source.class_names


def _map_labels(pairs: list[tuple[str, int]], data_names: tuple[str, ...], model_names: tuple[str, ...], model_path: str) -> list[tuple[str, int]]:
    if data_names == model_names:
        return pairs
    missing = [n for n in data_names if n not in model_names]
    if missing:
        raise DataError(
            f"the dataset has classes the model {model_path} does not know: {missing}. "
            f"Received model classes: {list(model_names)}"
        )
    remap = {i: model_names.index(n) for i, n in enumerate(data_names)}
    return [(p, remap[label]) for p, label in pairs]


# --------------------------------------------------------------------------- entry points


def evaluate_loaded(
    model: LoadedModel,
    pairs: Sequence[tuple[str, int]],
    *,
    split: str = "val",
    sink: Sink | None = None,
    cancel: CancelToken | None = None,
) -> EvaluationResult:
    """Evaluate an already loaded model on labelled ``(path, label)`` pairs (model label order)."""
    sink = sink or null_sink
    started = time.perf_counter()
    paths = [p for p, _ in pairs]
    kept, probs, skipped, cancelled = predict_paths(model, paths, sink=sink, cancel=cancel)
    y_true = np.asarray([pairs[i][1] for i in kept], dtype=np.int64)
    for path, reason in skipped:
        sink(LogMessage(f"skipped {path}: {reason}", "warning"))
    metrics = compute_metrics(y_true, probs, model.class_names)
    return EvaluationResult(
        model_path=model.source.model_path,
        split=split,
        class_names=model.class_names,
        paths=tuple(paths[i] for i in kept),
        y_true=y_true,
        probs=probs,
        metrics=metrics,
        skipped=tuple(skipped),
        cancelled=cancelled,
        seconds=time.perf_counter() - started,
    )


def fast_precision_copy(model: LoadedModel, precision: str, sink: Sink | None = None) -> tuple[LoadedModel, str]:
    """``(a copy of model computing in precision, the precision used)`` for an opt-in fast evaluation.

    Only a tlstudio ``.keras`` model (a run folder's, or an exported one)
    can compute in another precision: it is loaded afresh (the engine's
    shared model stays float32) and its backbone and hidden head layers are
    set to the precision (:func:`tlstudio.model.set_compute_precision`).
    Anything else (SavedModel, TFLite, ONNX, a model without a tlstudio
    backbone) is evaluated in float32, and ``sink`` is told why.
    """
    sink = sink or null_sink
    if precision == "float32":
        return model, "float32"
    if model.kind != "keras" or model.model is None:
        sink(LogMessage(f"a {model.kind} model computes in the precision it was exported with: evaluated in float32", "warning"))
        return model, "float32"
    import keras

    from tlstudio.io.runners import Runner
    from tlstudio.model import set_compute_precision

    fresh = keras.saving.load_model(model.source.model_path, compile=False)
    try:
        set_compute_precision(fresh, precision)
    except (KeyError, ValueError) as exc:  # no nested "backbone"/"head": not a model tlstudio built
        sink(LogMessage(f"{model.source.model_path} has no tlstudio backbone to compute in {precision} ({exc}): evaluated in float32", "warning"))
        return model, "float32"
    runner = Runner("keras", fresh.predict_on_batch, tuple(fresh.input_shape), model.num_classes, fresh)
    return LoadedModel(model.source, runner, model.image_size, model.num_classes), precision


def _empty_result(model: LoadedModel, split: str) -> EvaluationResult:
    """The result of an evaluation cancelled before any image was predicted."""
    n = len(model.class_names)
    y_true, probs = np.zeros((0,), np.int64), np.zeros((0, n))
    return EvaluationResult(
        model.source.model_path, split, model.class_names, (), y_true, probs,
        compute_metrics(y_true, probs, model.class_names), cancelled=True,
    )


def evaluate_splits(
    model_path_or_run_dir: str | os.PathLike | LoadedModel,
    data_or_items: Any = None,
    *,
    splits: Sequence[str] = ("val", "test"),
    sink: Sink | None = None,
    cancel: CancelToken | None = None,
) -> dict[str, EvaluationResult]:
    """Evaluate one model on several splits, loading the model and data once.

    Splits after the first that have no images (typically ``"test"``) are left out.
    """
    sink = sink or null_sink
    cancel = ensure_token(cancel)
    for s in splits:
        if s not in SPLIT_CHOICES:
            raise DataError(f"split must be one of {SPLIT_CHOICES}. Received: split={s!r}")
    loaded = isinstance(model_path_or_run_dir, LoadedModel)
    source = model_path_or_run_dir.source if loaded else resolve_model(model_path_or_run_dir)
    # Check and split the data before loading TensorFlow, so a wrong folder fails fast.
    prepared, reconciled = _prepare(data_or_items, source, sink, cancel)
    chosen: dict[str, list[tuple[str, int]]] = {}
    if prepared is not None:
        for i, s in enumerate(splits):
            try:
                pairs, names = _select(prepared, source, s)
            except DataError:
                if i == 0:
                    raise
                continue
            chosen[s] = _map_labels(pairs, names, source.class_names, source.model_path)
    model = model_path_or_run_dir if loaded else load_model(model_path_or_run_dir)
    if not chosen:  # preparation was cancelled
        return {splits[0]: _empty_result(model, splits[0])}
    results: dict[str, EvaluationResult] = {}
    for s, pairs in chosen.items():
        results[s] = evaluate_loaded(model, pairs, split=s, sink=sink, cancel=cancel)
        if reconciled is not None:
            results[s] = replace(
                results[s],
                notes=reconciled.messages,
                missing=int(reconciled.missing.get(s, 0)) if s != "all" else sum(reconciled.missing.values()),
                not_evaluated=reconciled.new_left_out,
            )
        if results[s].cancelled:
            break
    return results


def evaluate_model(
    model_path_or_run_dir: str | os.PathLike | LoadedModel,
    data_or_items: Any = None,
    *,
    split: str = "val",
    sink: Sink | None = None,
    cancel: CancelToken | None = None,
) -> EvaluationResult:
    """Evaluate a run's model or an exported model file on one split.

    Args:
        model_path_or_run_dir: A run folder, an exported ``.keras`` / ``.tflite``
            file or SavedModel folder (with its ``labels.txt`` / ``model.json``),
            or a :class:`LoadedModel`.
        data_or_items: None (a run folder's own dataset and split), a dataset
            folder, a :class:`~tlstudio.config.DataConfig`, a
            :class:`~tlstudio.data.PreparedData`, or a sequence of
            :class:`~tlstudio.data.Item` / ``(path, label)`` pairs in the model's
            label order (``split`` is then only a name). A folder given with a
            run folder is split with the run's seed and fractions.
        split: ``"val"``, ``"test"``, ``"train"`` or ``"all"``.
        sink: Receives :class:`~tlstudio.events.Progress` per batch and a
            :class:`~tlstudio.events.LogMessage` per unreadable image.
        cancel: Checked between batches; a cancelled result holds what was done.

    Raises:
        ModelFileError: the model or its class names cannot be read.
        DataError: the split is empty, or the dataset has classes the model lacks.
    """
    results = evaluate_splits(model_path_or_run_dir, data_or_items, splits=(split,), sink=sink, cancel=cancel)
    return results[split]
