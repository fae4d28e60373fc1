"""The report's static figures, drawn by Matplotlib (Agg) and embedded as ``data:`` URIs.

Each function takes plain numbers (the run's history, the evaluation's
:class:`~tlstudio.api.metrics.Metrics`) and returns an SVG as a
``data:image/svg+xml;base64,...`` URI, so the HTML file needs nothing beside
itself. Text is drawn as paths (no font is needed to view it) and the SVG
carries no date, so the same numbers give the same bytes.
"""

from __future__ import annotations

import base64
import io
from typing import Any, Mapping, Sequence

import numpy as np

from tlstudio.api.metrics import ClassCurves, Metrics

WIDTH_IN = 6.4
"""Figure width in inches; the HTML scales the images to its column."""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)  # no display, no GUI toolkit: the engine never loads Qt
    import matplotlib.pyplot as plt

    return plt


def _uri(fig: Any) -> str:
    plt = _pyplot()
    buf = io.BytesIO()
    with plt.rc_context({"svg.fonttype": "path", "svg.hashsalt": "tlstudio"}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": "tlstudio"})
    plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def png_uri(rgb: np.ndarray, max_side: int = 160) -> str:
    """A uint8 RGB image as a PNG ``data:`` URI, scaled down so its longer side is at most ``max_side``."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    image.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def training_curves(history: Sequence[Mapping[str, Any]]) -> str:
    """Loss, accuracy and learning rate per epoch, with the start of fine-tuning marked."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(WIDTH_IN * 1.5, 2.8))
    epochs = [int(h.get("epoch", i)) + 1 for i, h in enumerate(history)]
    for ax, (title, keys) in zip(axes, (("Loss", ("loss", "val_loss")), ("Accuracy", ("accuracy", "val_accuracy")), ("Learning rate", ("lr",)))):
        for key in keys:
            values = [h.get(key) for h in history]
            if any(v is not None for v in values):
                ax.plot(epochs, [np.nan if v is None else float(v) for v in values], marker="o", ms=3,
                        label={"loss": "train", "val_loss": "validation", "accuracy": "train", "val_accuracy": "validation", "lr": "lr"}[key])
        phase2 = [e for e, h in zip(epochs, history) if h.get("phase") == 2]
        if phase2:
            ax.axvline(phase2[0] - 0.5, color="0.4", ls="--", lw=1)
            ax.text(phase2[0] - 0.45, 0.98, "fine-tuning", transform=ax.get_xaxis_transform(), va="top", fontsize=7, color="0.3")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch", fontsize=8)
        ax.tick_params(labelsize=7)
        if key == "lr":
            ax.set_yscale("log")
        elif len(keys) > 1:
            ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _uri(fig)


def class_counts(counts: Mapping[str, Mapping[str, int]], class_names: Sequence[str]) -> str:
    """Images per class, one bar per split."""
    plt = _pyplot()
    splits = [s for s in ("train", "val", "test") if sum((counts.get(s) or {}).values())]
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 0.5 + 0.35 * max(3, len(class_names))))
    y = np.arange(len(class_names))
    height = 0.8 / max(1, len(splits))
    for i, split in enumerate(splits):
        ax.barh(y + i * height, [int((counts.get(split) or {}).get(n, 0)) for n in class_names], height, label=split)
    ax.set_yticks(y + height * (len(splits) - 1) / 2, list(class_names), fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("images", fontsize=8)
    ax.legend(fontsize=7)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return _uri(fig)


def confusion(metrics: Metrics) -> str:
    """The confusion matrix: colour by row share, counts written in each cell."""
    plt = _pyplot()
    n = len(metrics.class_names)
    side = min(7.0, 1.6 + 0.55 * n)
    fig, ax = plt.subplots(figsize=(side, side))
    ax.imshow(metrics.confusion_normalized, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            share = metrics.confusion_normalized[i, j]
            ax.text(j, i, str(int(metrics.confusion[i, j])), ha="center", va="center", fontsize=8,
                    color="white" if share > 0.5 else "black")
    ax.set_xticks(range(n), metrics.class_names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), metrics.class_names, fontsize=8)
    ax.set_xlabel("predicted", fontsize=9)
    ax.set_ylabel("true", fontsize=9)
    fig.tight_layout()
    return _uri(fig)


def _curve_axes(title: str, xlabel: str, ylabel: str):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(WIDTH_IN / 1.6, WIDTH_IN / 1.6))
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_aspect("equal")
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    return fig, ax


def roc(curves: Sequence[ClassCurves]) -> str:
    """One-vs-rest ROC curve of every class, its AUC in the legend."""
    fig, ax = _curve_axes("ROC (one vs rest)", "false-positive rate", "true-positive rate")
    ax.plot([0, 1], [0, 1], color="0.6", ls=":", lw=1)
    for c in curves:
        if c.roc_auc is not None:
            ax.plot(c.fpr, c.tpr, lw=1.5, label=f"{c.name} (AUC {c.roc_auc:.3f})", drawstyle="default")
    if any(c.roc_auc is not None for c in curves):
        ax.legend(fontsize=6, loc="lower right")
    return _uri(fig)


def precision_recall(curves: Sequence[ClassCurves]) -> str:
    """One-vs-rest precision-recall curve of every class, its average precision in the legend."""
    fig, ax = _curve_axes("Precision-recall (one vs rest)", "recall", "precision")
    for c in curves:
        if c.average_precision is not None:
            ax.step(c.recall, c.precision, where="post", lw=1.5, label=f"{c.name} (AP {c.average_precision:.3f})")
    if any(c.average_precision is not None for c in curves):
        ax.legend(fontsize=6, loc="lower left")
    return _uri(fig)


def reliability(metrics: Metrics) -> str:
    """Reliability diagram: accuracy against mean confidence per bin, the bins' image counts below."""
    plt = _pyplot()
    cal = metrics.calibration
    fig, (ax, hist) = plt.subplots(2, 1, figsize=(WIDTH_IN / 1.6, WIDTH_IN / 1.3), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], color="0.6", ls=":", lw=1, label="perfect calibration")
    if cal is not None:
        mids = [(b.lower + b.upper) / 2 for b in cal.bins]
        width = cal.bins[0].upper - cal.bins[0].lower if cal.bins else 0.1
        ax.bar(mids, [b.accuracy if b.count else 0 for b in cal.bins], width * 0.9, alpha=0.7, label="accuracy")
        filled = [b for b in cal.bins if b.count]
        ax.plot([b.confidence for b in filled], [b.accuracy for b in filled], "o-", color="C3", ms=3, lw=1, label="accuracy at mean confidence")
        hist.bar(mids, [b.count for b in cal.bins], width * 0.9, color="0.5")
        ax.set_title(f"Reliability (ECE {cal.ece:.3f})", fontsize=10)
    ax.set_ylabel("accuracy", fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=6, loc="upper left")
    hist.set_xlabel("top-1 confidence", fontsize=8)
    hist.set_ylabel("images", fontsize=8)
    for a in (ax, hist):
        a.tick_params(labelsize=7)
        a.grid(alpha=0.3)
    fig.tight_layout()
    return _uri(fig)
