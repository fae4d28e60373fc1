"""Export a trained model to deployable files, each verified outside the app.

:func:`export_model` takes an in-memory Keras model, :func:`export_run` a run
folder (or a ``.keras`` file). Both follow the same steps:

1. refuse when a target exists and ``overwrite`` is off (nothing is written);
2. build the new content of the destination folder in a hidden sibling
   (:func:`tlstudio.io.staged_folder.staged_folder`): the folder's other
   entries hard-linked in, every requested format written there;
3. reload all new files in one fresh process that imports only
   TensorFlow/Keras and compare their probabilities with the in-app model on a
   fixed batch of images (unless ``verify=False``);
4. when every format is within its tolerance (:data:`FORMAT_TOLERANCES`),
   write ``labels.txt`` and ``model.json`` there too (which also keeps
   describing the files an earlier export left in the folder), and swap the
   sibling with the destination folder in one step. The folder is one
   transaction: a kill at any moment leaves the old export whole or the new
   one whole, never one export's models beside another's labels.

Every format serves :func:`tlstudio.export.inference.inference_model`:
preprocessing -> backbone -> head in inference mode, without the training
augmentation; the verification compares it with the app's model in
inference mode.

If anything fails (a writer, the verification, a tolerance) the sibling is
deleted and :class:`~tlstudio.errors.ExportError` is raised: a failed export
leaves no new file behind, and an existing file is only ever replaced by a
verified one.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Mapping

import keras
import numpy as np

from tlstudio.api.export import ExportResult
from tlstudio.cancel import CancelToken, ensure_token
from tlstudio.config import ExportConfig
from tlstudio.errors import ExportError
from tlstudio.events import LogMessage, Progress, Sink, null_sink
from tlstudio.export.formats import FORMAT_LABELS, FORMAT_TOLERANCES, available_formats, other_model_files, target_paths
from tlstudio.export.inference import augmentation_layers, inference_model
from tlstudio.export.metadata import SERVED_GRAPH, build_metadata, class_counts_from_report, input_hw, is_export_metadata, labels_text, merge_previous, previous_export
from tlstudio.export.verify import predict_in_fresh_process, top1_agreement
from tlstudio.io.atomic import atomic_write_json, atomic_write_text
from tlstudio.io.staged_folder import staged_folder
from tlstudio.io.model_files import find_keras_model, load_keras_model, read_class_names, read_json

NUM_VERIFY_IMAGES = 8
"""Images used for verification when the caller passes none."""


# --------------------------------------------------------------------------- writers


def _signature(model: keras.Model) -> list[keras.InputSpec]:
    height, width = input_hw(model)
    return [keras.InputSpec(shape=(None, height, width, 3), dtype="float32", name="image")]


def _write_keras(model: keras.Model, path: Path) -> None:
    model.save(str(path))


def _write_savedmodel(model: keras.Model, path: Path) -> None:
    model.export(str(path), format="tf_saved_model", input_signature=_signature(model), verbose=False)


def _write_tflite(model: keras.Model, path: Path) -> None:
    model.export(str(path), format="litert", input_signature=_signature(model), verbose=False)


def _write_tflite_dynamic(model: keras.Model, path: Path) -> None:
    import tensorflow as tf

    model.export(
        str(path),
        format="litert",
        input_signature=_signature(model),
        verbose=False,
        optimizations=[tf.lite.Optimize.DEFAULT],
    )


def _write_onnx(model: keras.Model, path: Path) -> None:
    from tlstudio import compat

    with compat.normalization_as_constants(model):  # the head's input statistics as graph constants
        model.export(str(path), format="onnx", input_signature=_signature(model), verbose=False)


WRITERS: dict[str, Callable[[keras.Model, Path], None]] = {
    "keras": _write_keras,
    "savedmodel": _write_savedmodel,
    "tflite": _write_tflite,
    "tflite_dynamic": _write_tflite_dynamic,
    "onnx": _write_onnx,
}
"""Format to ``writer(model, temp_path)``; a writer writes exactly ``temp_path``."""


# --------------------------------------------------------------------------- export


def _check_request(export_cfg: ExportConfig) -> None:
    if not export_cfg.formats:
        raise ExportError("Choose at least one export format. Received: formats=()")
    if not export_cfg.out_dir:
        raise ExportError("Choose a destination folder for the export. Received: out_dir=''")
    if not export_cfg.name or any(c in export_cfg.name for c in "/\\") or export_cfg.name.startswith("."):
        raise ExportError(
            f"The export name must be a plain file name without folders or a leading dot. Received: name={export_cfg.name!r}"
        )
    reasons = available_formats() if "onnx" in export_cfg.formats else {}
    for fmt in export_cfg.formats:
        if reasons.get(fmt):
            raise ExportError(f"{FORMAT_LABELS[fmt]} export is not available: {reasons[fmt]} Received: formats={export_cfg.formats!r}")


def _check_targets(targets: Mapping[str, Path], overwrite: bool) -> None:
    out_dir = next(iter(targets.values())).parent
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"The destination {out_dir} is a file, not a folder.", path=str(out_dir))
    shared = {targets.get("labels"), targets.get("metadata")}
    mergeable = is_export_metadata(read_json(out_dir / "model.json"))  # earlier export: model.json is merged, not lost
    existing = [p for p in targets.values() if p.exists() and not (mergeable and p in shared)]
    if existing and not overwrite:
        names = ", ".join(p.name for p in existing)
        raise ExportError(
            f"Not overwriting existing files in {out_dir}: {names}. Choose another name or folder, "
            f"or allow overwriting (CLI: --force).",
            path=str(existing[0]),
        )


def export_model(
    model: keras.Model,
    export_cfg: ExportConfig,
    *,
    metadata: Mapping[str, Any],
    verify_images: np.ndarray | None = None,
    sink: Sink = null_sink,
    cancel: CancelToken | None = None,
) -> ExportResult:
    """Export an in-memory model to every format of ``export_cfg``.

    Args:
        model: A Keras model taking raw RGB float pixels (None, H, W, 3) in
            0..255 and returning softmax probabilities.
        export_cfg: Formats, destination, base name, overwrite and verify flags.
        metadata: Must hold ``"class_names"`` (label order); may hold
            ``"run_config"``, ``"best_metrics"``, ``"dataset_class_counts"``
            and other JSON values to record in ``model.json``.
        verify_images: Raw RGB pixels (N, H, W, 3) for verification; None uses
            a fixed, seeded batch of synthetic images.
        sink: Receives :class:`~tlstudio.events.Progress` and
            :class:`~tlstudio.events.LogMessage` events.
        cancel: Checked between steps; a cancelled export removes its
            temporaries and returns ``ExportResult(cancelled=True)``.

    Returns:
        An :class:`ExportResult`.

    Raises:
        ExportError: a target exists (and ``overwrite`` is off), a format is
            unavailable, a writer failed, or a file did not reproduce the app's
            probabilities within its tolerance. Nothing new is left on disk.
    """
    start = time.perf_counter()
    cancel = ensure_token(cancel)
    meta = dict(metadata)
    class_names = [str(n) for n in meta.pop("class_names", None) or []]
    if not class_names:
        raise ExportError("The export needs the class names in label order. Received: class_names=[]")
    try:
        height, width = input_hw(model)
    except ValueError as exc:
        raise ExportError(f"This model cannot be exported as an image classifier: {exc}") from exc
    n_out = int(model.output_shape[-1])
    if n_out != len(class_names):
        raise ExportError(
            f"The model has {n_out} outputs but {len(class_names)} class names were given. Received: {class_names}"
        )
    _check_request(export_cfg)
    formats = tuple(dict.fromkeys(export_cfg.formats))
    targets = target_paths(export_cfg.out_dir, export_cfg.name, formats)
    _check_targets(targets, export_cfg.overwrite)
    out_dir = Path(export_cfg.out_dir)
    # files another source model left (the GUI lists the same ones in its confirmation, so only they are removed)
    others = other_model_files(out_dir, export_cfg.name, formats, str(meta.get("source_model") or ""))
    if others and not export_cfg.overwrite:
        listed = ", ".join(str(p) for p in others)
        raise ExportError(
            f"{out_dir} already holds {listed} exported from another model; labels.txt and model.json describe one "
            f"model. Choose another folder, move those files away, or allow replacing them (they are then removed; "
            f"CLI: --force). Received: classes {class_names}, source {meta.get('source_model') or 'unknown'}",
            path=str(others[0]),
        )
    try:  # another model's files (confirmed by overwrite) are removed below: nothing of them is kept
        previous = previous_export(out_dir, class_names, (height, width), formats, keep_out=others)
    except ValueError as exc:
        raise ExportError(str(exc), path=str(out_dir)) from exc
    left_out = augmentation_layers(model)
    served = inference_model(model)
    if left_out:
        sink(LogMessage(f"Training augmentation left out of the export: {', '.join(left_out)}"))
    served(np.zeros((1, height, width, 3), dtype=np.float32), training=False)  # some writers need a called model

    steps = len(formats) + (1 if export_cfg.verify else 0) + 1
    done = 0
    format_seconds: dict[str, float] = {}
    parity: dict[str, float] = {}
    agreement: dict[str, float] = {}
    n_images = 0
    files = {fmt: str(targets[fmt]) for fmt in formats}
    tolerances = {fmt: FORMAT_TOLERANCES[fmt] for fmt in formats}
    try:
        # The whole folder is one transaction: the new files, labels.txt and model.json are
        # written into a hidden sibling holding the rest of the folder, which then takes the
        # folder's place in one step; an exception (or a kill) leaves the old folder whole.
        # Another model's files (confirmed by overwrite) are left out of the new folder: they go with the old one.
        replaced = {path.name for path in targets.values()} | {path.name for path in others}
        with staged_folder(out_dir, replace=replaced) as stage:
            temps: dict[str, Path] = {}
            for fmt in formats:
                if cancel.cancelled:
                    raise _Cancelled
                final = targets[fmt]
                temp = stage / final.name
                temps[fmt] = temp
                sink(Progress("export", done, steps, f"Writing {FORMAT_LABELS[fmt]}: {final.name}"))
                t0 = time.perf_counter()
                try:
                    WRITERS[fmt](served, temp)
                except ExportError:
                    raise
                except Exception as exc:
                    raise ExportError(f"Writing {final} failed: {type(exc).__name__}: {exc}", path=str(final)) from exc
                format_seconds[fmt] = round(time.perf_counter() - t0, 3)
                if not temp.exists():
                    raise ExportError(f"Writing {final} produced no file.", path=str(final))
                done += 1

            if export_cfg.verify:
                if cancel.cancelled:
                    raise _Cancelled
                images = _verification_batch(verify_images, height, width)
                n_images = len(images)
                sink(Progress("export", done, steps, f"Verifying {len(temps)} file(s) in a fresh TensorFlow process"))
                # The app's own model in inference mode (augmentation off), not the served copy.
                expected = np.asarray(model.predict(images, batch_size=16, verbose=0), dtype=np.float32)
                results = predict_in_fresh_process(temps, images)
                for fmt in formats:
                    got = results.get(fmt, "no result")
                    if isinstance(got, str):
                        raise ExportError(
                            f"The exported {FORMAT_LABELS[fmt]} file {targets[fmt]} does not load outside the app: {got}",
                            path=str(targets[fmt]),
                        )
                    if got.shape != expected.shape:
                        raise ExportError(
                            f"The exported {FORMAT_LABELS[fmt]} file {targets[fmt]} gives outputs of shape {got.shape}, "
                            f"the app's model {expected.shape}.",
                            path=str(targets[fmt]),
                        )
                    parity[fmt] = float(np.max(np.abs(got.astype(np.float64) - expected.astype(np.float64))))
                    agreement[fmt] = top1_agreement(got, expected)
                    sink(LogMessage(f"{FORMAT_LABELS[fmt]}: max |Δ| = {parity[fmt]:.3g}, top-1 agreement {agreement[fmt]:.0%}"))
                _check_parity(formats, parity, agreement, targets)
                done += 1

            if cancel.cancelled:
                raise _Cancelled
            model_json = _model_json(served, class_names, meta, formats, targets, parity, agreement, tolerances, n_images)
            model_json = merge_previous(model_json, previous, stage)  # what the new folder keeps (not another model's files)
            model_json["labels_file"] = targets["labels"].name
            atomic_write_text(stage / targets["labels"].name, labels_text(class_names))
            atomic_write_json(stage / targets["metadata"].name, model_json, default=str)
            sink(Progress("export", done, steps, "Putting the new export in place"))
    except _Cancelled:
        sink(LogMessage("Export cancelled; nothing was written.", "warning"))
        return ExportResult(cancelled=True, seconds=round(time.perf_counter() - start, 3))

    for path in others:
        sink(LogMessage(f"removed {path}: it was exported from another model"))
    done += 1
    seconds = round(time.perf_counter() - start, 3)
    sink(Progress("export", done, steps, f"Exported {len(files)} file(s) to {out_dir} in {seconds:.1f} s"))
    return ExportResult(
        files=files,
        labels_path=str(targets["labels"]),
        metadata_path=str(targets["metadata"]),
        parity=parity,
        top1_agreement=agreement,
        tolerances=tolerances,
        num_verify_images=n_images,
        seconds=seconds,
        format_seconds=format_seconds,
    )


def _model_json(served, class_names, meta, formats, targets, parity, agreement, tolerances, n_images) -> dict[str, Any]:
    """``model.json`` of this export (before the files of an earlier export are merged in)."""
    model_json = build_metadata(served, class_names, meta)
    model_json["served_graph"] = SERVED_GRAPH
    model_json["files"] = {fmt: targets[fmt].name for fmt in formats}
    model_json["file_details"] = {
        fmt: {
            "file": targets[fmt].name,
            "created": model_json["created"],
            "source_model": meta.get("source_model"),
            "verified": fmt in parity,
        }
        for fmt in formats
    }
    model_json["verification"] = {
        "images": n_images,
        "max_abs_diff": parity,
        "top1_agreement": agreement,
        "tolerance": tolerances,
        "process": "fresh python -I process importing only TensorFlow/Keras" if parity else None,
    }
    return model_json


class _Cancelled(Exception):
    """Raised inside the export's write stack so that its temporaries are removed."""


def _check_parity(
    formats: tuple[str, ...], parity: Mapping[str, float], agreement: Mapping[str, float], targets: Mapping[str, Path]
) -> None:
    for fmt in formats:
        bound = FORMAT_TOLERANCES[fmt]
        ok = parity[fmt] <= bound or (fmt == "tflite_dynamic" and agreement[fmt] == 1.0)
        if not ok:
            raise ExportError(
                f"The exported {FORMAT_LABELS[fmt]} file {targets[fmt].name} does not reproduce the app's predictions: "
                f"max |Δ| of probabilities is {parity[fmt]:.3g}, above the allowed {bound:g} "
                f"(top-1 agreement {agreement[fmt]:.0%}). Nothing was written. Received: format={fmt!r}",
                path=str(targets[fmt]),
            )


def _verification_batch(images: np.ndarray | None, height: int, width: int) -> np.ndarray:
    if images is not None:
        batch = np.asarray(images, dtype=np.float32)
        if batch.ndim != 4 or batch.shape[1:] != (height, width, 3) or len(batch) == 0:
            raise ExportError(
                f"Verification images must have shape (N, {height}, {width}, 3). Received: {batch.shape}"
            )
        return batch
    return synthetic_images(NUM_VERIFY_IMAGES, height, width)


def synthetic_images(n: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """A fixed batch of test pixels: gradients, flat colours and seeded noise, 0..255."""
    rng = np.random.default_rng(seed)
    batch = rng.uniform(0, 255, size=(n, height, width, 3)).astype(np.float32)
    if n >= 1:
        ramp = np.linspace(0, 255, width, dtype=np.float32)
        batch[0] = np.broadcast_to(ramp[None, :, None], (height, width, 3))
    if n >= 2:
        batch[1] = 127.0
    return batch


# --------------------------------------------------------------------------- runs


def run_metadata(folder: str | Path) -> dict[str, Any]:
    """Facts about a run for ``model.json``, read from its folder's JSON files.

    Missing files are left out; a damaged ``run_config.json``,
    ``result.json`` or class list is refused (ProjectError / ModelFileError
    naming the file and field) before anything is exported.
    """
    folder = Path(folder)
    meta: dict[str, Any] = {}
    names = read_class_names(folder)  # checked: a damaged class list is refused, never exported
    if names:
        meta["class_names"] = names
    import json

    from tlstudio.config import to_json
    from tlstudio.run_folders import DATASET_REPORT, RUN_CONFIG, load_result, load_run_config

    if (folder / RUN_CONFIG).is_file():  # through the typed schema: a damaged field is named, not a crash later
        meta["run_config"] = json.loads(to_json(load_run_config(folder)))
    result = load_result(folder)
    if result is not None and isinstance(result.get("best_metrics"), dict):
        meta["best_metrics"] = result["best_metrics"]
    counts = class_counts_from_report(read_json(folder / DATASET_REPORT))
    if counts:
        meta["dataset_class_counts"] = counts
    if (folder / RUN_CONFIG).is_file():
        meta["run_dir"] = str(folder.resolve())
    return meta


def _sample_files(run_folder: Path, run_config: Mapping[str, Any] | None, sink: Sink) -> list[list[Path]] | None:
    """The files a run used, per class in label order, validation split first; None (said why) when unknown.

    From the run's split manifest when it has one; a run made before
    manifests existed is split again from its data config, which applies the
    project's exclusions.
    """
    from tlstudio.data.manifest import MANIFEST_FILE, read_manifest

    manifest = read_manifest(run_folder)
    if manifest is not None:
        root = Path(manifest.root)
        if not root.is_dir():
            sink(LogMessage(f"the run's dataset folder {root} is not there; verifying with synthetic images", "warning"))
            return None
        return [[root / e.path for split in ("val", "test", "train") for e in manifest.splits.get(split, ()) if e.class_name == name]
                for name in manifest.class_names]
    from tlstudio.config import DataConfig, from_dict
    from tlstudio.data import prepare_data
    from tlstudio.errors import TlStudioError

    try:
        data_config = from_dict(DataConfig, dict((run_config or {}).get("data") or {}), "data")
        if not data_config.root or not Path(data_config.root).is_dir():
            sink(LogMessage(f"{run_folder} has no {MANIFEST_FILE} and its dataset folder {data_config.root or '(none)'} "
                            "is not there; verifying with synthetic images", "warning"))
            return None
        data = prepare_data(data_config)
    except TlStudioError as exc:
        sink(LogMessage(f"the run's dataset cannot be split again ({exc}); verifying with synthetic images", "warning"))
        return None
    items = (*data.val, *data.test, *data.train)
    return [[Path(item.path) for item in items if item.label == label] for label in range(len(data.class_names))]


def validation_images(
    run_folder: str | Path, run_config: Mapping[str, Any] | None, height: int, width: int,
    n: int = NUM_VERIFY_IMAGES, sink: Sink = null_sink,
) -> np.ndarray | None:
    """Up to ``n`` real images the run used, read like training reads them.

    The files are those of the run's split manifest (excluded files never
    are): the validation split first, then test, then train, round-robin over
    the classes in label order, so the batch is the same every time. A file
    that cannot be read is left out with a warning naming it. Returns None,
    with a warning saying why, when the run's images cannot be found.
    """
    from tlstudio.imaging import load_image

    per_class = _sample_files(Path(run_folder), run_config, sink)
    if per_class is None:
        return None
    arrays: list[np.ndarray] = []
    index = 0
    while len(arrays) < n and any(index < len(files) for files in per_class):
        for files in per_class:
            if index < len(files) and len(arrays) < n:
                try:
                    arrays.append(load_image(files[index], size=(width, height)))
                except (OSError, ValueError) as exc:  # PIL.UnidentifiedImageError is an OSError
                    sink(LogMessage(f"verification skips {files[index]}: {type(exc).__name__}: {exc}", "warning"))
        index += 1
    return np.stack(arrays).astype(np.float32) if arrays else None


def export_run(
    run_dir: str | Path,
    export_cfg: ExportConfig,
    sink: Sink = null_sink,
    cancel: CancelToken | None = None,
) -> ExportResult:
    """Export the model of a run folder (or a ``.keras`` file) with its metadata.

    Reads ``model.keras`` and the run's ``class_names.json``,
    ``run_config.json``, ``result.json`` and ``dataset_report.json`` (or a
    ``labels.txt``/``model.json`` next to a ``.keras`` file). Verification uses
    up to eight real images of the run (from its split manifest) when the dataset folder is
    still there, else a fixed synthetic batch.

    Args:
        run_dir: A run folder or a ``.keras`` file.
        export_cfg: Formats, destination, name, overwrite and verify flags.
        sink: Receives progress events.
        cancel: Checked between steps.

    Returns:
        An :class:`ExportResult`.

    Raises:
        ModelFileError: the run folder or model file cannot be read.
        ExportError: see :func:`export_model`.
    """
    cancel = ensure_token(cancel)
    model_path, run_folder = find_keras_model(run_dir)
    folder = Path(run_folder) if run_folder else model_path.parent
    _check_request(export_cfg)  # refuse before the slow model load
    _check_targets(target_paths(export_cfg.out_dir, export_cfg.name, export_cfg.formats), export_cfg.overwrite)
    sink(Progress("export", 0, 0, f"Loading {model_path}"))
    meta = run_metadata(folder)
    model = load_keras_model(model_path)
    if "class_names" not in meta:
        meta["class_names"] = [f"class_{i}" for i in range(int(model.output_shape[-1]))]
        sink(LogMessage(f"No class names found next to {model_path}; using class_0, class_1, ...", "warning"))
    meta["source_model"] = str(model_path.resolve())
    images = None
    if export_cfg.verify:
        try:
            height, width = input_hw(model)
        except ValueError as exc:
            raise ExportError(f"{model_path} is not an image classifier tlstudio can export: {exc}", path=str(model_path)) from exc
        images = validation_images(folder, meta.get("run_config"), height, width, sink=sink) if "run_dir" in meta else None
    return export_model(model, export_cfg, metadata=meta, verify_images=images, sink=sink, cancel=cancel)
