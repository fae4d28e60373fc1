"""The certificate's numbers from probabilities: agreement with the app, accuracy, per class, per image.

Plain NumPy, no TensorFlow: :func:`format_certificate` turns the app's and a
file's probabilities on the same images into a
:class:`~tlstudio.api.certificate.FormatCertificate`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from tlstudio.api.certificate import ClassCertificate, Disagreement, FormatCertificate, Latency


def top3(probs: np.ndarray, class_names: Sequence[str]) -> tuple[tuple[str, float], ...]:
    """The three best ``(class, probability)`` of one probability vector, best first."""
    order = np.argsort(-probs, kind="stable")[: min(3, len(class_names))]
    return tuple((str(class_names[i]), round(float(probs[i]), 6)) for i in order)


def latency(seconds: Sequence[float], threads: int) -> Latency:
    """Median and p90 in milliseconds of single-call wall times."""
    times = np.asarray(seconds, dtype=np.float64) * 1000.0
    if times.size == 0:
        return Latency(threads=threads, calls=0, median_ms=0.0, p90_ms=0.0)
    return Latency(threads=threads, calls=int(times.size), median_ms=round(float(np.median(times)), 4),
                   p90_ms=round(float(np.percentile(times, 90)), 4))


def size_on_disk(path: str | Path) -> int:
    """Bytes of a file, or of every file under a folder (a SavedModel)."""
    p = Path(path)
    if p.is_file():
        return p.stat().st_size
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def _share(mask: np.ndarray) -> float:
    return round(float(np.mean(mask)), 6) if mask.size else 0.0


def format_certificate(
    fmt: str,
    file: str,
    app_probs: np.ndarray,
    probs: np.ndarray,
    labels: np.ndarray,
    paths: Sequence[str],
    class_names: Sequence[str],
    *,
    latencies: Sequence[Latency] = (),
    runtime: str = "",
    float_ops: Sequence[str] = (),
    graph_changes: Sequence[str] = (),
) -> FormatCertificate:
    """Compare a file's probabilities with the app's on the same images.

    Args:
        fmt: The export format.
        file: The file (its size is measured here).
        app_probs: The app's model's probabilities (N, C): the reference of agreement.
        probs: The file's probabilities (N, C).
        labels: True class index per image (N,); -1 when unknown (left out of accuracy).
        paths: The image files, for the list of disagreements.
        class_names: Class names in label order.
        latencies: Measured single-image latencies.
        runtime: The runtime and its version.
        float_ops: Layers an int8 file keeps in float.
        graph_changes: Rewrites of the graph the file was converted from.
    """
    app_probs = np.asarray(app_probs, dtype=np.float64)
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if probs.shape != app_probs.shape:
        raise ValueError(f"{fmt} gives probabilities of shape {probs.shape}, the app {app_probs.shape}. Received: {probs.shape}")
    app_top = np.argmax(app_probs, axis=-1)
    top = np.argmax(probs, axis=-1)
    agree = top == app_top
    known = labels >= 0
    diff = np.abs(probs - app_probs)
    classes = []
    for index, name in enumerate(class_names):
        # per class by the true label when known, else by the app's own top-1
        of_class = np.where(known, labels == index, app_top == index)
        labelled = of_class & known
        classes.append(ClassCertificate(
            name=str(name), images=int(of_class.sum()), agreement=_share(agree[of_class]),
            app_accuracy=_share(app_top[labelled] == labels[labelled]), accuracy=_share(top[labelled] == labels[labelled]),
        ))
    disagreements = tuple(
        Disagreement(path=os.fspath(paths[i]), label=str(class_names[labels[i]]) if labels[i] >= 0 else "",
                     app_top3=top3(app_probs[i], class_names), format_top3=top3(probs[i], class_names))
        for i in np.flatnonzero(~agree)
    )
    return FormatCertificate(
        format=fmt, file=os.fspath(file), size_bytes=size_on_disk(file), runtime=runtime, images=int(len(probs)),
        agreement=_share(agree), accuracy=_share(top[known] == labels[known]), app_accuracy=_share(app_top[known] == labels[known]),
        max_abs_diff=round(float(diff.max()), 8) if diff.size else 0.0, mean_abs_diff=round(float(diff.mean()), 8) if diff.size else 0.0,
        classes=tuple(classes), latency=tuple(latencies), disagreements=disagreements, float_ops=tuple(float_ops),
        graph_changes=tuple(graph_changes),
    )
