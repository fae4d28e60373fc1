"""Measure an export's certificate: every written file against the app, on the run's validation split.

:func:`certify_export` predicts the certificate's images with the app's own
model in this (the engine's) process, then runs every file in fresh
processes that import only its runtime (:mod:`tlstudio.export.certify_worker`):
one with a single thread, which also gives the probabilities, and one with
all threads. Progress is reported per format, and cancel stops the measuring
process at once (the export's files are already written; only the
certificate is missing).

The images are the run's stored validation split (``split_manifest.json``;
its test split when it has no validation images), or a folder of
``<class>/<image>`` files the user picks.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from tlstudio.api.certificate import ExportCertificate, FormatCertificate
from tlstudio.cancel import CancelToken
from tlstudio.errors import ExportError
from tlstudio.events import LogMessage, Progress, Sink
from tlstudio.export import certify_worker
from tlstudio.export.certificate_stats import format_certificate, latency
from tlstudio.io import runners
from tlstudio.io import IMAGE_EXTENSIONS


class CertifyCancelled(Exception):
    """The user cancelled while the certificate was being measured."""


def file_hash(path: str | Path) -> str:
    """SHA-256 of a file's bytes ("" when it is not there)."""
    p = Path(path)
    return hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""


def image_set_hash(root: str | Path, paths: Sequence[str | Path]) -> str:
    """SHA-256 over the sorted (relative path, size) of the certified files."""
    digest = hashlib.sha256()
    for p in sorted(str(x) for x in paths):
        rel = os.path.relpath(p, root) if root else p
        size = Path(p).stat().st_size if Path(p).is_file() else -1
        digest.update(f"{rel.replace(os.sep, '/')}\t{size}\n".encode())
    return digest.hexdigest()


def split_images(run_folder: str | Path, class_names: Sequence[str]) -> tuple[list[Path], list[int], str, str]:
    """The run's stored validation split (test when it has none): files, labels, root, manifest hash.

    Raises:
        ExportError: the run has no split manifest, or its images are gone.
    """
    from tlstudio.data.manifest import MANIFEST_FILE, read_manifest

    manifest = read_manifest(run_folder)
    if manifest is None:
        raise ExportError(
            f"{run_folder} has no {MANIFEST_FILE}, so its validation split is unknown; "
            "choose a folder of <class>/<image> files to certify on. Received: no split manifest", path=str(run_folder))
    entries = manifest.splits.get("val") or manifest.splits.get("test") or ()
    root = Path(manifest.root)
    index = {name: i for i, name in enumerate(class_names)}
    files = [root / e.path for e in entries if e.class_name in index and (root / e.path).is_file()]
    labels = [index[e.class_name] for e in entries if e.class_name in index and (root / e.path).is_file()]
    if not files:
        raise ExportError(
            f"None of the {len(entries)} validation images of the run are in {root}; choose a folder to certify on. "
            f"Received: {len(entries)} listed, 0 found", path=str(root))
    return files, labels, str(root), file_hash(Path(run_folder) / MANIFEST_FILE)


def folder_images(folder: str | Path, class_names: Sequence[str], sink: Sink) -> tuple[list[Path], list[int]]:
    """``<folder>/<class>/<image>`` files of the model's classes, with their labels.

    Raises:
        ExportError: the folder is missing or holds no sub-folder named after a class.
    """
    root = Path(folder)
    if not root.is_dir():
        raise ExportError(f"The folder to certify on does not exist. Received: {root}", path=str(root))
    files: list[Path] = []
    labels: list[int] = []
    others = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        if sub.name not in class_names:
            others.append(sub.name)
            continue
        for f in sorted(sub.iterdir()):
            if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS:
                files.append(f)
                labels.append(list(class_names).index(sub.name))
    if others:
        sink(LogMessage(f"certificate: folders that are not classes of the model were left out: {', '.join(others)}", "warning"))
    if not files:
        raise ExportError(
            f"{root} has no images in sub-folders named after the model's classes {list(class_names)}. "
            f"Received: sub-folders {sorted(p.name for p in root.iterdir() if p.is_dir())}", path=str(root))
    return files, labels


def read_images(files: Sequence[Path], labels: Sequence[int], height: int, width: int, sink: Sink) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Pixels (N, H, W, 3) float32 read like training reads them; an unreadable file is skipped with a warning."""
    from tlstudio.imaging import load_image

    arrays, kept, paths = [], [], []
    for f, label in zip(files, labels):
        try:
            arrays.append(load_image(f, size=(width, height)))
        except (OSError, ValueError) as exc:
            sink(LogMessage(f"certificate skips {f}: {type(exc).__name__}: {exc}", "warning"))
            continue
        kept.append(label)
        paths.append(str(f))
    if not arrays:
        raise ExportError(f"None of the {len(files)} images to certify on could be read. Received: {len(files)} files")
    return np.stack(arrays).astype(np.float32), np.asarray(kept, dtype=np.int64), paths


def run_worker(
    files: Mapping[str, str], images: np.ndarray, *, threads: int, runs: int, predict: bool,
    sink: Sink, cancel: CancelToken, step: tuple[int, int], timeout: float = 3600,
) -> dict[str, Any]:
    """Run :mod:`certify_worker` on ``files``; its progress lines become :class:`Progress` events.

    Raises:
        CertifyCancelled: cancel was set (the process is stopped).
        ExportError: the process failed or imported tlstudio.
    """
    with tempfile.TemporaryDirectory(prefix="tlstudio-certify-") as tmp:
        tmp_path = Path(tmp)
        np.save(tmp_path / "images.npy", images)
        spec = {"images": str(tmp_path / "images.npy"), "files": {f: str(Path(p).resolve()) for f, p in files.items()},
                "threads": threads, "runs": runs, "predict": predict, "out_dir": tmp, "report": str(tmp_path / "report.json"),
                "runners": runners.__file__}
        (tmp_path / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
        proc = subprocess.Popen([sys.executable, "-I", certify_worker.__file__, str(tmp_path / "spec.json")], cwd=tmp, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines: queue.Queue[str | None] = queue.Queue()
        errors: list[str] = []

        def pump_stdout() -> None:
            for line in proc.stdout:
                lines.put(line)
            lines.put(None)

        def pump_stderr() -> None:
            errors.extend(proc.stderr)

        threading.Thread(target=pump_stdout, daemon=True).start()
        threading.Thread(target=pump_stderr, daemon=True).start()
        base, total = step
        try:
            while True:
                if cancel.cancelled:
                    raise CertifyCancelled
                try:
                    line = lines.get(timeout=0.2)
                except queue.Empty:
                    continue
                if line is None:
                    break
                parts = line.strip().split(" ", 3)
                if parts[0] == "progress" and len(parts) == 4:
                    sink(Progress("certify", base + int(parts[1]), total, f"Certificate: timing {parts[3]}"))
            proc.wait(timeout=timeout)
        except BaseException:
            proc.kill()  # the process this function started
            proc.wait()
            raise
        report_file = tmp_path / "report.json"
        if proc.returncode != 0 or not report_file.exists():
            tail = [e.strip() for e in errors if e.strip()][-1:] or ["no output"]
            raise ExportError(f"The certificate's measuring process failed (exit {proc.returncode}): {tail[0]}")
        report = json.loads(report_file.read_text(encoding="utf-8"))
        if report.pop("_tlstudio_loaded", False):
            raise ExportError("The certificate's measuring process imported tlstudio; it would not prove independence.")
        for entry in report.values():
            if "probs" in entry:
                entry["probs"] = np.load(entry["probs"])
        return report


def runtime_versions() -> dict[str, str]:
    """Versions of the libraries the certificate depends on."""
    import importlib.metadata as md

    out = {"python": sys.version.split()[0]}
    for name in ("tensorflow", "keras", "numpy", "onnxruntime", "ai-edge-litert", "tlstudio"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return out


def certify_export(
    app_probs: np.ndarray, files: Mapping[str, str], images: np.ndarray, labels: np.ndarray, paths: Sequence[str],
    class_names: Sequence[str], *, source: str, image_hash: str, manifest_hash: str, latency_runs: int,
    float_ops: Mapping[str, Sequence[str]], sink: Sink, cancel: CancelToken,
    graph_changes: Mapping[str, Sequence[str]] | None = None,
) -> ExportCertificate:
    """Every file of ``files`` against the app's probabilities ``app_probs`` on ``images``.

    Raises:
        CertifyCancelled: cancel was set.
        ExportError: a measuring process failed as a whole.
    """
    threads_all = os.cpu_count() or 1
    settings = [1] if threads_all == 1 else [1, threads_all]
    total = len(files) * len(settings)
    reports = []
    for i, threads in enumerate(settings):
        reports.append(run_worker(files, images, threads=threads, runs=latency_runs, predict=i == 0, sink=sink, cancel=cancel,
                                  step=(i * len(files), total)))
    formats: list[FormatCertificate] = []
    failed: dict[str, str] = {}
    for fmt, file in files.items():
        first = reports[0].get(fmt, {"error": "no result"})
        if "error" in first:
            failed[fmt] = first["error"]
            continue
        lats = [latency(r[fmt]["seconds"], t) for r, t in zip(reports, settings) if "seconds" in r.get(fmt, {})]
        try:
            formats.append(format_certificate(fmt, file, app_probs, first["probs"], labels, paths, class_names, latencies=lats,
                                              runtime=first.get("runtime", ""), float_ops=float_ops.get(fmt, ()),
                                              graph_changes=(graph_changes or {}).get(fmt, ())))
        except ValueError as exc:
            failed[fmt] = str(exc)
    for fmt, why in failed.items():
        sink(LogMessage(f"certificate: {fmt} could not be measured: {why}", "warning"))
    return ExportCertificate(
        class_names=tuple(class_names), source=source, images=int(len(images)), image_set_hash=image_hash,
        split_manifest_hash=manifest_hash, formats=tuple(formats), failed=failed, runtime_versions=runtime_versions(),
        threads_all=threads_all, latency_runs=latency_runs,
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )
