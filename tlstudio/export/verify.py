"""Reload exported files in a fresh Python process and compare their predictions.

The check runs ``python -I`` (isolated mode: no user site, no current folder on
``sys.path``) with a script that imports only NumPy, TensorFlow, Keras and, for
ONNX, onnxruntime. It never imports tlstudio and fails if anything pulled it
in, so a passing export is known to work on a machine without the app.

The script loads each file with the app's own per-format runners: it executes
the self-contained file :mod:`tlstudio.io.runners` with :func:`runpy.run_path`
(a file, not the tlstudio package), so there is one model loader to keep right.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Mapping

import numpy as np

from tlstudio.errors import ExportError
from tlstudio.io import runners

FRESH_PROCESS_SCRIPT = r'''
import json, os, runpy, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np

spec = json.load(open(sys.argv[1], encoding="utf-8"))
images = np.load(spec["images"]).astype("float32")
open_runner = runpy.run_path(spec["runners"], run_name="tlstudio_runners")["open_runner"]
report = {}

for fmt, path in spec["files"].items():
    try:
        kind = "tflite" if fmt.startswith("tflite") else fmt
        probs = np.asarray(open_runner(kind, path)(images), dtype="float32")
        out = os.path.join(spec["out_dir"], fmt + ".npy")
        np.save(out, probs)
        report[fmt] = {"probs": out}
    except Exception as exc:
        report[fmt] = {"error": f"{type(exc).__name__}: {exc}"}

report["_tlstudio_loaded"] = "tlstudio" in sys.modules
with open(spec["report"], "w", encoding="utf-8") as fh:
    json.dump(report, fh)
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)  # the report is written and closed; skip TensorFlow's interpreter teardown (1.2-1.8 s)
'''
"""The script the fresh process runs: ``python -I -c SCRIPT spec.json``.

It ends with :func:`os._exit` once its report is written: with TensorFlow
loaded, the normal interpreter shutdown took 1.2-1.8 s more on 2 cores,
which every verified export waited for.
"""


def predict_in_fresh_process(
    paths: Mapping[str, str | Path], images: np.ndarray, *, timeout: float = 900
) -> dict[str, np.ndarray | str]:
    """Load every file in one fresh TensorFlow/Keras-only process and predict ``images``.

    Args:
        paths: Export format (``"keras"``, ``"savedmodel"``, ``"tflite"``,
            ``"tflite_dynamic"``, ``"onnx"``) to file or folder.
        images: Raw RGB pixels, shape (N, H, W, 3), values 0..255.
        timeout: Seconds before the process is given up on.

    Returns:
        Format to probabilities (N, num_classes), or to an error string when
        that file could not be loaded or run.

    Raises:
        ExportError: when the process itself fails, or when tlstudio was
            imported in it.
    """
    with tempfile.TemporaryDirectory(prefix="tlstudio-verify-") as tmp:
        tmp_path = Path(tmp)
        np.save(tmp_path / "images.npy", np.asarray(images, dtype=np.float32))
        spec = {
            "images": str(tmp_path / "images.npy"),
            "files": {fmt: str(Path(p).resolve()) for fmt, p in paths.items()},
            "out_dir": str(tmp_path),
            "report": str(tmp_path / "report.json"),
            "runners": runners.__file__,
        }
        (tmp_path / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        try:
            proc = subprocess.run(
                [sys.executable, "-I", "-c", FRESH_PROCESS_SCRIPT, str(tmp_path / "spec.json")],
                cwd=tmp,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            raise ExportError(f"Verification did not finish within {timeout:.0f} s. Received: {sorted(paths)}") from exc
        report_file = tmp_path / "report.json"
        if proc.returncode != 0 or not report_file.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ExportError(
                f"Verification process failed (exit {proc.returncode}): {tail[0]}. Received: {sorted(paths)}"
            )
        report = json.loads(report_file.read_text(encoding="utf-8"))
        if report.pop("_tlstudio_loaded", False):
            raise ExportError("Verification process imported tlstudio; the check would not prove independence.")
        out: dict[str, np.ndarray | str] = {}
        for fmt, entry in report.items():
            out[fmt] = np.load(entry["probs"]) if "probs" in entry else entry["error"]
        return out


def verify_export(
    paths: Mapping[str, str | Path], images: np.ndarray, expected: np.ndarray, *, timeout: float = 900
) -> dict[str, float]:
    """Max |Δ| of probabilities between each exported file and ``expected``.

    Every file is reloaded in a fresh process that imports only
    TensorFlow/Keras (see :func:`predict_in_fresh_process`).

    Args:
        paths: Export format to file or folder.
        images: Raw RGB pixels, shape (N, H, W, 3), values 0..255.
        expected: The in-app model's probabilities for ``images``.
        timeout: Seconds before the process is given up on.

    Returns:
        Format to max |Δ|.

    Raises:
        ExportError: when a file cannot be loaded or gives a different shape.
    """
    results = predict_in_fresh_process(paths, images, timeout=timeout)
    deltas: dict[str, float] = {}
    for fmt, path in paths.items():
        got = results.get(fmt, "no result")
        if isinstance(got, str):
            raise ExportError(f"The exported {fmt} file {path} does not load outside the app: {got}", path=str(path))
        if got.shape != expected.shape:
            raise ExportError(
                f"The exported {fmt} file {path} gives outputs of shape {got.shape}, the app's model "
                f"{expected.shape}. Received: {got.shape}",
                path=str(path),
            )
        deltas[fmt] = float(np.max(np.abs(got.astype(np.float64) - expected.astype(np.float64))))
    return deltas


def top1_agreement(paths_probs: np.ndarray, expected: np.ndarray) -> float:
    """Share of images whose top-1 class is the same in both probability arrays."""
    return float(np.mean(np.argmax(paths_probs, axis=-1) == np.argmax(expected, axis=-1)))
