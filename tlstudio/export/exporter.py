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
from typing import Any, Mapping

import keras
import numpy as np

from tlstudio.api.export import ExportResult
from tlstudio.cancel import CancelToken, ensure_token
from tlstudio.config import ExportConfig
from tlstudio.errors import ExportError
from tlstudio.events import LogMessage, Progress, Sink, null_sink
from tlstudio.export.formats import AGREEMENT_PASSES, FORMAT_LABELS, FORMAT_TOLERANCES, available_formats, other_model_files, target_paths
from tlstudio.export.inference import augmentation_layers, inference_model
from tlstudio.export.metadata import SERVED_GRAPH, build_metadata, input_hw, is_export_metadata, labels_text, merge_previous, previous_export
from tlstudio.export.verify import predict_in_fresh_process, top1_agreement
from tlstudio.io.atomic import atomic_write_json, atomic_write_text, remove_path
from tlstudio.export.certify_step import certificate_summary, certify_step
from tlstudio.export.quantize import INT8_FORMAT
from tlstudio.export.run_source import NUM_VERIFY_IMAGES, CertifySet, calibration_for, certify_set, run_metadata, validation_images
from tlstudio.export.writers import WRITERS
from tlstudio.io.model_files import find_keras_model, load_keras_model, read_json
from tlstudio.io.staged_folder import staged_folder

__all__ = ["WRITERS", "export_model", "export_run", "run_metadata", "synthetic_images", "validation_images"]


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
    shared = {targets.get("labels"), targets.get("metadata"), targets.get("certificate")}
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
    calibration: np.ndarray | None = None,
    certify_on: CertifySet | None = None,
    certify_note: str = "",
    sink: Sink = null_sink,
    cancel: CancelToken | None = None,
) -> ExportResult:
    """Export an in-memory model to every format of ``export_cfg``.

    Args:
        model: A Keras model taking raw RGB float pixels (None, H, W, 3) in
            0..255 and returning softmax probabilities.
        export_cfg: Formats, destination, base name, overwrite, verify and
            certificate settings.
        metadata: Must hold ``"class_names"`` (label order); may hold
            ``"run_config"``, ``"best_metrics"``, ``"dataset_class_counts"``
            and other JSON values to record in ``model.json``.
        verify_images: Raw RGB pixels (N, H, W, 3) for verification; None uses
            a fixed, seeded batch of synthetic images.
        calibration: Raw RGB pixels that calibrate ``tflite_int8``.
        certify_on: The images of the certificate (with ``export_cfg.certify``);
            None skips it with ``certify_note`` (why there are no images).
        sink: Receives :class:`~tlstudio.events.Progress` and
            :class:`~tlstudio.events.LogMessage` events.
        cancel: Checked between steps; a cancelled export removes its
            temporaries and returns ``ExportResult(cancelled=True)``. Cancel
            during the certificate keeps the written files without one.

    Returns:
        An :class:`ExportResult`. A format whose writer or verification
        failed is named in ``failed`` and the other formats are written.

    Raises:
        ExportError: a target exists (and ``overwrite`` is off), a format is
            unavailable, or no format could be written. Nothing new is left on disk.
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
    try:  # another model's files (confirmed by overwrite) are left out of the new folder: nothing of them is kept
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
    failed: dict[str, str] = {}
    float_ops: dict[str, tuple[str, ...]] = {}
    graph_changes: dict[str, tuple[str, ...]] = {}
    rewrite_skipped: tuple[str, ...] = ()
    n_images = 0
    try:
        # The whole folder is one transaction: the new files, labels.txt and model.json are written
        # into a hidden sibling holding the rest of the folder, which then takes the folder's place in
        # one step; an exception (or a kill) leaves the old folder whole. Another model's files
        # (confirmed by overwrite) are left out of the new folder: they go with the old one. A format
        # whose writer or check fails is dropped alone (its file removed) and named in `failed`.
        replaced = {path.name for path in targets.values()} | {path.name for path in others}
        with staged_folder(out_dir, replace=replaced) as stage:
            temps: dict[str, Path] = {}
            for fmt in formats:
                if cancel.cancelled:
                    raise _Cancelled
                final = targets[fmt]
                temp = stage / final.name
                sink(Progress("export", done, steps, f"Writing {FORMAT_LABELS[fmt]}: {final.name}"))
                t0 = time.perf_counter()
                try:
                    if fmt == INT8_FORMAT:
                        if export_cfg.int8_equalize and calibration is not None:
                            sink(Progress("export", done, steps, f"Writing {FORMAT_LABELS[fmt]}: equalizing a copy of the "
                                                                 f"model for int8 and checking it on the calibration images"))
                        built = WRITERS[fmt](served, temp, calibration=calibration, int8_io=export_cfg.int8_io,
                                             float_fallback=export_cfg.float_fallback, equalize=export_cfg.int8_equalize,
                                             float_head=export_cfg.int8_float_head)
                        kept = built.float_ops
                        float_ops[fmt], graph_changes[fmt], rewrite_skipped = kept, built.graph_changes, built.skipped
                        for line in (*built.graph_changes, *built.skipped):
                            sink(LogMessage(f"{FORMAT_LABELS[fmt]}: {line}"))
                        if kept:
                            why = "float head" if export_cfg.int8_float_head and not export_cfg.float_fallback else "float fallback"
                            sink(LogMessage(f"{FORMAT_LABELS[fmt]} keeps {', '.join(kept)} in float32 ({why})",
                                            "info" if why == "float head" else "warning"))
                    else:
                        WRITERS[fmt](served, temp)
                    if not temp.exists():
                        raise ExportError(f"Writing {final} produced no file.", path=str(final))
                except Exception as exc:
                    message = str(exc) if isinstance(exc, ExportError) else f"Writing {final} failed: {type(exc).__name__}: {exc}"
                    _drop(temp, fmt, message, failed, sink)
                    done += 1
                    continue
                temps[fmt] = temp
                format_seconds[fmt] = round(time.perf_counter() - t0, 3)
                done += 1
            if not temps:
                raise ExportError(_all_failed(failed), path=str(targets[formats[0]]))

            if export_cfg.verify:
                if cancel.cancelled:
                    raise _Cancelled
                images = _verification_batch(verify_images, height, width)
                n_images = len(images)
                sink(Progress("export", done, steps, f"Verifying {len(temps)} file(s) in a fresh TensorFlow process"))
                # The app's own model in inference mode (augmentation off), not the served copy.
                expected = np.asarray(model.predict(images, batch_size=16, verbose=0), dtype=np.float32)
                results = predict_in_fresh_process(temps, images)
                for fmt in list(temps):
                    problem = _parity_problem(fmt, results.get(fmt, "no result"), expected, targets[fmt], parity, agreement)
                    if problem:
                        _drop(temps[fmt], fmt, problem, failed, sink)
                        del temps[fmt]
                if not temps:
                    raise ExportError(_all_failed(failed), path=str(targets[formats[0]]))
                done += 1

            if cancel.cancelled:
                raise _Cancelled
            written = tuple(f for f in formats if f not in failed)
            model_json = _model_json(served, class_names, meta, written, targets, parity, agreement, n_images)
            if export_cfg.int8_io and INT8_FORMAT in written:
                model_json["int8"] = {"io": export_cfg.int8_io, "calibration_images": int(len(calibration)) if calibration is not None else 0,
                                      "float_ops": list(float_ops.get(INT8_FORMAT, ())),
                                      "graph_changes": list(graph_changes.get(INT8_FORMAT, ())),
                                      "graph_changes_skipped": list(rewrite_skipped)}
            if failed:
                model_json["failed"] = dict(failed)
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

    files = {fmt: str(targets[fmt]) for fmt in written}
    tolerances = {fmt: FORMAT_TOLERANCES[fmt] for fmt in written}
    # The certificate measures the files in place. It comes after the swap, so a cancel (or a kill)
    # while it runs keeps a whole export without one; certificate.json never survives from an older export.
    certificate, note = None, certify_note
    certificate_path = targets["certificate"]
    if export_cfg.certify and certify_on is not None:
        certificate, note = certify_step(model, files, certify_on, class_names, export_cfg, float_ops, sink, cancel,
                                         graph_changes)
    elif export_cfg.certify and not note:
        note = "no images to certify on were given"
    if certificate is not None:
        atomic_write_json(certificate_path, certificate.to_dict())
        model_json.update(certificate_summary(certificate, export_cfg.drop_threshold))
        atomic_write_json(targets["metadata"], model_json, default=str)
    done += 1
    seconds = round(time.perf_counter() - start, 3)
    sink(Progress("export", done, steps, f"Exported {len(files)} file(s) to {out_dir} in {seconds:.1f} s"))
    return ExportResult(
        files=files,
        labels_path=str(targets["labels"]),
        metadata_path=str(targets["metadata"]),
        parity={f: parity[f] for f in written if f in parity},
        top1_agreement={f: agreement[f] for f in written if f in agreement},
        tolerances=tolerances,
        num_verify_images=n_images,
        seconds=seconds,
        format_seconds=format_seconds,
        failed=failed,
        certificate=certificate,
        certificate_path=str(certificate_path) if certificate is not None else None,
        certificate_note=note,
    )


def _drop(temp: Path, fmt: str, message: str, failed: dict[str, str], sink: Sink) -> None:
    """Remove format ``fmt``'s file from the staged folder and record why it is not written."""
    if temp.exists() or temp.is_symlink():
        remove_path(temp)  # only the stage's own new file: the other formats go on
    failed[fmt] = message
    sink(LogMessage(f"{FORMAT_LABELS[fmt]} not written: {message}", "warning"))


def _all_failed(failed: Mapping[str, str]) -> str:
    if len(failed) == 1:
        return next(iter(failed.values()))
    return "No format could be written: " + " | ".join(f"{fmt}: {why}" for fmt, why in failed.items())


class _Cancelled(Exception):
    """Raised inside the export's write stack so that its temporaries are removed."""


def _parity_problem(
    fmt: str, got: np.ndarray | str, expected: np.ndarray, target: Path, parity: dict[str, float], agreement: dict[str, float]
) -> str | None:
    """None when format ``fmt``'s verification passed (its numbers recorded), else why not."""
    label = FORMAT_LABELS[fmt]
    if isinstance(got, str):
        return f"The exported {label} file {target} does not load outside the app: {got}"
    if got.shape != expected.shape:
        return f"The exported {label} file {target} gives outputs of shape {got.shape}, the app's model {expected.shape}."
    parity[fmt] = float(np.max(np.abs(got.astype(np.float64) - expected.astype(np.float64))))
    agreement[fmt] = top1_agreement(got, expected)
    bound = FORMAT_TOLERANCES[fmt]
    if parity[fmt] <= bound or (fmt in AGREEMENT_PASSES and agreement[fmt] == 1.0):
        return None
    return (
        f"The exported {label} file {target.name} does not reproduce the app's predictions: "
        f"max |Δ| of probabilities is {parity[fmt]:.3g}, above the allowed {bound:g} "
        f"(top-1 agreement {agreement[fmt]:.0%}). This file was not written. Received: format={fmt!r}"
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
    try:
        height, width = input_hw(model)
    except ValueError as exc:
        raise ExportError(f"{model_path} is not an image classifier tlstudio can export: {exc}", path=str(model_path)) from exc
    images = None
    in_run = "run_dir" in meta
    if export_cfg.verify:
        images = validation_images(folder, meta.get("run_config"), height, width, sink=sink) if in_run else None
    calibration = None
    if INT8_FORMAT in export_cfg.formats:
        try:
            calibration = calibration_for(folder if in_run else None, meta.get("run_config"), export_cfg.calibration, height, width, sink)
        except ExportError as exc:  # the int8 writer reports it for its format; the others are still written
            sink(LogMessage(str(exc), "warning"))
    certify_on, certify_note = None, ""
    if export_cfg.certify:
        try:
            sink(Progress("export", 0, 0, "Reading the images of the certificate"))
            certify_on = certify_set(folder if in_run else None, export_cfg.certify_folder, list(meta["class_names"]), height, width, sink)
        except ExportError as exc:
            sink(LogMessage(f"No certificate: {exc}", "warning"))
            certify_note = str(exc)
    return export_model(model, export_cfg, metadata=meta, verify_images=images, calibration=calibration,
                        certify_on=certify_on, certify_note=certify_note, sink=sink, cancel=cancel)


def _model_json(served, class_names, meta, written, targets, parity, agreement, n_images) -> dict[str, Any]:
    """``model.json`` of this export (before the files of an earlier export are merged in)."""
    model_json = build_metadata(served, class_names, meta)
    model_json["served_graph"] = SERVED_GRAPH
    model_json["files"] = {fmt: targets[fmt].name for fmt in written}
    model_json["file_details"] = {
        fmt: {
            "file": targets[fmt].name,
            "created": model_json["created"],
            "source_model": meta.get("source_model"),
            "verified": fmt in parity,
        }
        for fmt in written
    }
    model_json["verification"] = {
        "images": n_images,
        "max_abs_diff": {f: parity[f] for f in written if f in parity},
        "top1_agreement": {f: agreement[f] for f in written if f in agreement},
        "tolerance": {fmt: FORMAT_TOLERANCES[fmt] for fmt in written},
        "process": "fresh python -I process importing only TensorFlow/Keras" if parity else None,
    }
    return model_json
