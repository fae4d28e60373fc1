"""Classification metrics in plain NumPy: nothing here imports TensorFlow.

Every function takes integer true labels ``y_true`` of shape ``(N,)`` and, where
it needs them, class probabilities ``probs`` of shape ``(N, C)`` (rows of a
softmax). The predicted class is ``argmax(probs)``; ties go to the lower index,
as in :func:`numpy.argmax`.

Conventions for empty cases, chosen so that nothing ever divides by zero:

* a class that is never predicted has **precision 0** (there is no correct
  prediction to count), and a class with no true images has **recall 0**;
* F1 is 0 when precision + recall is 0;
* a confusion-matrix row with no images normalises to all zeros;
* accuracy, top-k accuracy and ECE of zero images are 0;
* a one-vs-rest ROC or precision-recall curve of a class with no true images,
  or (ROC) with no images of other classes, has no area: ``None``, and no points.

The one-vs-rest curves come from scikit-learn (imported when they are computed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np


def _as_labels(y_true: Any, num_classes: int | None = None) -> np.ndarray:
    labels = np.asarray(y_true)
    if labels.ndim != 1:
        raise ValueError(f"y_true must be a 1-D array of integer labels. Received: shape={labels.shape}")
    labels = labels.astype(np.int64, copy=False)
    if num_classes is not None and labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"labels must lie in [0, {num_classes}). Received: min={int(labels.min())}, max={int(labels.max())}"
        )
    return labels


def _as_probs(probs: Any, n: int) -> np.ndarray:
    arr = np.asarray(probs, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != n:
        raise ValueError(f"probs must have shape (N, C) with N={n} rows. Received: shape={arr.shape}")
    if arr.shape[1] < 1:
        raise ValueError(f"probs needs at least one class column. Received: shape={arr.shape}")
    return arr


def predicted_labels(probs: Any) -> np.ndarray:
    """Top-1 class of every row of ``probs``."""
    arr = np.asarray(probs)
    if arr.ndim != 2:
        raise ValueError(f"probs must have shape (N, C). Received: shape={arr.shape}")
    return np.argmax(arr, axis=1).astype(np.int64) if arr.shape[0] else np.zeros((0,), np.int64)


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int) -> np.ndarray:
    """Counts ``cm[i, j]`` of images of true class ``i`` predicted as ``j``.

    Args:
        y_true: True labels, shape ``(N,)``.
        y_pred: Predicted labels, shape ``(N,)``.
        num_classes: C; the matrix is ``(C, C)`` even for classes absent from both.
    """
    t = _as_labels(y_true, num_classes)
    p = _as_labels(y_pred, num_classes)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must have the same length. Received: {t.shape[0]} and {p.shape[0]}")
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def normalize_rows(cm: Any) -> np.ndarray:
    """Row-normalised confusion matrix: each row sums to 1 (all zeros for an empty row)."""
    counts = np.asarray(cm, dtype=np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


@dataclass(frozen=True)
class ClassReport:
    """Precision, recall, F1 and support of one class.

    Attributes:
        name: Class name.
        precision: Correct predictions of the class / all predictions of it (0 when never predicted).
        recall: Correct predictions of the class / its true images (0 when it has none).
        f1: Harmonic mean of precision and recall (0 when both are 0).
        support: Number of true images of the class.
        predicted: Number of images predicted as the class.
    """

    name: str
    precision: float
    recall: float
    f1: float
    support: int
    predicted: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "support": self.support,
            "predicted": self.predicted,
        }


def per_class_report(cm: Any, class_names: Sequence[str]) -> tuple[ClassReport, ...]:
    """Per-class precision/recall/F1/support from a confusion matrix (see the module conventions)."""
    counts = np.asarray(cm, dtype=np.int64)
    if counts.shape != (len(class_names), len(class_names)):
        raise ValueError(
            f"the confusion matrix must be ({len(class_names)}, {len(class_names)}) for the class names. Received: {counts.shape}"
        )
    tp = np.diag(counts)
    predicted = counts.sum(axis=0)
    support = counts.sum(axis=1)
    reports = []
    for i, name in enumerate(class_names):
        precision = float(tp[i] / predicted[i]) if predicted[i] else 0.0
        recall = float(tp[i] / support[i]) if support[i] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        reports.append(ClassReport(str(name), precision, recall, float(f1), int(support[i]), int(predicted[i])))
    return tuple(reports)


def top_k_accuracy(y_true: Any, probs: Any, k: int) -> float:
    """Share of images whose true class is among the ``k`` most probable.

    ``k`` larger than the number of classes counts every image as a hit.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1. Received: k={k}")
    t = _as_labels(y_true)
    p = _as_probs(probs, t.shape[0])
    if t.size == 0:
        return 0.0
    k = min(k, p.shape[1])
    # Stable sort of the negated scores keeps ties in index order, like argmax.
    top = np.argsort(-p, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == t[:, None], axis=1)))


@dataclass(frozen=True)
class CalibrationBin:
    """One confidence bin of a reliability curve.

    Attributes:
        lower: Bin lower edge (exclusive, except 0 for the first bin).
        upper: Bin upper edge (inclusive).
        count: Images whose top-1 confidence falls in the bin.
        confidence: Mean top-1 confidence of those images (0 when empty).
        accuracy: Share of those images predicted correctly (0 when empty).
    """

    lower: float
    upper: float
    count: int
    confidence: float
    accuracy: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "lower": self.lower,
            "upper": self.upper,
            "count": self.count,
            "confidence": self.confidence,
            "accuracy": self.accuracy,
        }


@dataclass(frozen=True)
class Calibration:
    """Reliability curve and expected calibration error.

    Attributes:
        bins: Equal-width bins over [0, 1] of the top-1 confidence.
        ece: Expected calibration error, ``sum_b (n_b / N) * |accuracy_b - confidence_b|``.
    """

    bins: tuple[CalibrationBin, ...]
    ece: float

    def to_dict(self) -> dict[str, Any]:
        return {"ece": self.ece, "bins": [b.to_dict() for b in self.bins]}


def calibration(y_true: Any, probs: Any, n_bins: int = 10) -> Calibration:
    """Reliability curve bins and ECE of the top-1 confidence.

    Bin ``b`` holds confidences in ``(b/n, (b+1)/n]``; a confidence of exactly 0
    goes to the first bin.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1. Received: n_bins={n_bins}")
    t = _as_labels(y_true)
    p = _as_probs(probs, t.shape[0])
    conf = p.max(axis=1) if t.size else np.zeros((0,))
    correct = (predicted_labels(p) == t) if t.size else np.zeros((0,), bool)
    index = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    bins = []
    ece = 0.0
    n = t.shape[0]
    for b in range(n_bins):
        mask = index == b
        count = int(mask.sum())
        mean_conf = float(conf[mask].mean()) if count else 0.0
        acc = float(correct[mask].mean()) if count else 0.0
        if count:
            ece += count / n * abs(acc - mean_conf)
        bins.append(CalibrationBin(b / n_bins, (b + 1) / n_bins, count, mean_conf, acc))
    return Calibration(tuple(bins), float(ece))


def cell_members(y_true: Any, probs: Any, true_class: int, pred_class: int) -> np.ndarray:
    """Indices of the images of true class ``true_class`` predicted as ``pred_class``.

    Sorted by the probability given to ``pred_class``, highest first (ties keep
    index order), so a confusion cell opens on its most confident images.
    """
    t = _as_labels(y_true)
    p = _as_probs(probs, t.shape[0])
    pred = predicted_labels(p)
    idx = np.flatnonzero((t == true_class) & (pred == pred_class))
    order = np.argsort(-p[idx, pred_class], kind="stable")
    return idx[order]


def most_confident_mistakes(y_true: Any, probs: Any, limit: int | None = None) -> np.ndarray:
    """Indices of misclassified images, most confident (top-1 probability) first.

    Args:
        y_true: True labels.
        probs: Class probabilities.
        limit: Keep at most this many; None keeps all.
    """
    t = _as_labels(y_true)
    p = _as_probs(probs, t.shape[0])
    pred = predicted_labels(p)
    idx = np.flatnonzero(pred != t)
    order = np.argsort(-p[idx, pred[idx]], kind="stable") if idx.size else np.zeros((0,), np.int64)
    idx = idx[order]
    return idx if limit is None else idx[:limit]


@dataclass(frozen=True)
class ClassCurves:
    """One-vs-rest ROC and precision-recall curves of one class, from its probability column.

    Attributes:
        name: Class name.
        fpr: False-positive rates of the ROC curve, increasing (empty without an area).
        tpr: True-positive rates at those thresholds.
        roc_auc: Area under the ROC curve, or None when the class has no true
            images or every image is of it.
        recall: Recall of the precision-recall curve, decreasing (empty without positives).
        precision: Precision at those thresholds.
        average_precision: Area under the precision-recall curve as average
            precision (scikit-learn's step-wise sum), or None without true images.
    """

    name: str
    fpr: tuple[float, ...] = ()
    tpr: tuple[float, ...] = ()
    roc_auc: float | None = None
    recall: tuple[float, ...] = ()
    precision: tuple[float, ...] = ()
    average_precision: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "roc_auc": self.roc_auc,
            "average_precision": self.average_precision,
            "roc": {"fpr": [round(v, 6) for v in self.fpr], "tpr": [round(v, 6) for v in self.tpr]},
            "pr": {"recall": [round(v, 6) for v in self.recall], "precision": [round(v, 6) for v in self.precision]},
        }


def one_vs_rest_curves(y_true: Any, probs: Any, class_names: Sequence[str]) -> tuple[ClassCurves, ...]:
    """ROC and precision-recall curves with their areas, one class against the rest, per class."""
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

    t = _as_labels(y_true, len(class_names))
    p = _as_probs(probs, t.shape[0])
    curves = []
    for i, name in enumerate(class_names):
        positive = t == i
        n_pos = int(positive.sum())
        if n_pos == 0:
            curves.append(ClassCurves(str(name)))
            continue
        score = p[:, i]
        precision, recall, _ = precision_recall_curve(positive, score)
        precision_pts, recall_pts = tuple(float(v) for v in precision), tuple(float(v) for v in recall)
        ap = float(average_precision_score(positive, score))
        fpr_pts, tpr_pts, auc = (), (), None
        if n_pos < t.shape[0]:
            fpr, tpr, _ = roc_curve(positive, score)
            fpr_pts, tpr_pts = tuple(float(v) for v in fpr), tuple(float(v) for v in tpr)
            auc = float(roc_auc_score(positive, score))
        curves.append(ClassCurves(str(name), fpr_pts, tpr_pts, auc, recall_pts, precision_pts, ap))
    return tuple(curves)


@dataclass(frozen=True)
class Metrics:
    """Every metric of one evaluated split.

    Attributes:
        class_names: Class names; index = label.
        num_images: Images evaluated.
        accuracy: Top-1 accuracy.
        per_class: Precision/recall/F1/support per class.
        macro_f1: Unweighted mean F1 over classes.
        confusion: Counts ``[true][pred]``.
        top_k: ``{k: accuracy}`` for the requested k (only those below the class count, plus 1).
        calibration: Reliability curve and ECE.
        curves: One-vs-rest ROC and precision-recall curves with their areas, per class.
    """

    class_names: tuple[str, ...]
    num_images: int
    accuracy: float
    per_class: tuple[ClassReport, ...]
    macro_f1: float
    confusion: np.ndarray = field(repr=False)
    top_k: dict[int, float] = field(default_factory=dict)
    calibration: Calibration | None = None
    curves: tuple[ClassCurves, ...] = ()

    @property
    def confusion_normalized(self) -> np.ndarray:
        """Row-normalised confusion matrix (each true class sums to 1)."""
        return normalize_rows(self.confusion)

    def to_dict(self) -> dict[str, Any]:
        return {
            "class_names": list(self.class_names),
            "num_images": self.num_images,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "per_class": [r.to_dict() for r in self.per_class],
            "confusion": self.confusion.tolist(),
            "confusion_normalized": self.confusion_normalized.round(6).tolist(),
            "top_k": {str(k): v for k, v in self.top_k.items()},
            "calibration": self.calibration.to_dict() if self.calibration else None,
            "curves": [c.to_dict() for c in self.curves],
        }


def compute_metrics(
    y_true: Any,
    probs: Any,
    class_names: Sequence[str],
    *,
    top_k: Sequence[int] = (1, 3, 5),
    n_bins: int = 10,
) -> Metrics:
    """All metrics of one split from true labels and predicted probabilities.

    Args:
        y_true: True labels, shape ``(N,)``.
        probs: Probabilities, shape ``(N, C)`` with ``C == len(class_names)``.
        class_names: Class names; index = label.
        top_k: The k values for top-k accuracy; values >= C are dropped (always 100%),
            except k=1.
        n_bins: Calibration bins.
    """
    names = tuple(str(n) for n in class_names)
    t = _as_labels(y_true, len(names))
    p = _as_probs(probs, t.shape[0])
    if p.shape[1] != len(names):
        raise ValueError(f"probs has {p.shape[1]} columns but there are {len(names)} class names. Received: {names}")
    pred = predicted_labels(p)
    cm = confusion_matrix(t, pred, len(names))
    reports = per_class_report(cm, names)
    ks = sorted({int(k) for k in top_k if k == 1 or k < len(names)})
    return Metrics(
        class_names=names,
        num_images=int(t.shape[0]),
        accuracy=float(np.mean(pred == t)) if t.size else 0.0,
        per_class=reports,
        macro_f1=float(np.mean([r.f1 for r in reports])) if reports else 0.0,
        confusion=cm,
        top_k={k: top_k_accuracy(t, p, k) for k in ks},
        calibration=calibration(t, p, n_bins),
        curves=one_vs_rest_curves(t, p, names) if t.size else tuple(ClassCurves(n) for n in names),
    )
