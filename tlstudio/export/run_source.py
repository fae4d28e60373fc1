"""What an export reads from a run folder: its metadata, its verification images, its certificate and calibration images.

Keras-free (NumPy and Pillow): the exporter calls these before and after the
slow model work.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from tlstudio.events import LogMessage, Sink, null_sink
from tlstudio.export.metadata import class_counts_from_report
from tlstudio.io.model_files import read_class_names, read_json

NUM_VERIFY_IMAGES = 8
"""Images used for verification when the caller passes none."""


@dataclass(frozen=True)
class CertifySet:
    """The images a certificate is measured on.

    Attributes:
        images: Raw RGB pixels (N, H, W, 3) float32.
        labels: True class index per image (-1 unknown).
        paths: The image files.
        source: ``"validation split"`` or the folder.
        image_hash: SHA-256 of the files (relative path, size).
        manifest_hash: SHA-256 of the run's split manifest ("" for a folder).
    """

    images: np.ndarray
    labels: np.ndarray
    paths: tuple[str, ...]
    source: str
    image_hash: str
    manifest_hash: str


def certify_set(run_folder: Path | None, certify_folder: str, class_names: list[str], height: int, width: int,
                sink: Sink = null_sink) -> CertifySet:
    """The run's validation split, or ``certify_folder`` when given.

    Raises:
        ExportError: no images to certify on (the message says what to do).
    """
    from tlstudio.errors import ExportError
    from tlstudio.export.certify import folder_images, image_set_hash, read_images, split_images

    if certify_folder:
        files, labels = folder_images(certify_folder, class_names, sink)
        root, manifest_hash, source = certify_folder, "", str(certify_folder)
    elif run_folder is None:
        raise ExportError("A model file without its run folder has no validation split: choose a folder to certify on. "
                          "Received: no run folder")
    else:
        files, labels, root, manifest_hash = split_images(run_folder, class_names)
        source = "validation split"
    images, kept, paths = read_images(files, labels, height, width, sink)
    return CertifySet(images, kept, tuple(paths), source, image_set_hash(root, paths), manifest_hash)


def calibration_for(run_folder: Path | None, run_config: Mapping[str, Any] | None, n: int, height: int, width: int,
                    sink: Sink = null_sink) -> np.ndarray:
    """``n`` stratified training images of the run for the int8 calibration.

    Raises:
        ExportError: the run's training images cannot be found.
    """
    from tlstudio.errors import ExportError
    from tlstudio.export.quantize import calibration_files, calibration_images

    if run_folder is None:
        raise ExportError("tflite_int8 calibrates on the run's training images: export a run folder, not a bare model file. "
                          "Received: no run folder")
    files = calibration_files(run_folder, run_config, n)
    sink(LogMessage(f"int8 calibration: {len(files)} training image(s) of {len({c for _, c in files})} class(es)"))
    return calibration_images(files, height, width)

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

