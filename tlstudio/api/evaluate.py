"""The evaluation's contract: the splits, one image's prediction, a split's result, and the predictions CSV. Keras-free."""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from tlstudio.api.metrics import Metrics, cell_members, most_confident_mistakes, predicted_labels
from tlstudio.api.model_ref import ModelRef
from tlstudio.config import DataConfig
from tlstudio.errors import ConfigError, DataError
from tlstudio.io.atomic import atomic_write_bytes
from tlstudio.io.csv_target import check_not_an_input
from tlstudio.options import check_options, precision_option


SPLIT_CHOICES = ("val", "test", "train", "all")


@dataclass(frozen=True)
class ImagePrediction:
    """One evaluated image.

    Attributes:
        index: Row in the :class:`EvaluationResult` arrays.
        path: Image file.
        true: True label (-1 when unknown).
        pred: Predicted label.
        confidence: Probability of the predicted label.
        probs: Probabilities of every class.
    """

    index: int
    path: str
    true: int
    pred: int
    confidence: float
    probs: tuple[float, ...]

    @property
    def correct(self) -> bool:
        return self.true == self.pred

    def top(self, k: int) -> list[tuple[int, float]]:
        """The ``k`` most probable (label, probability), highest first."""
        order = np.argsort(-np.asarray(self.probs), kind="stable")[:k]
        return [(int(i), float(self.probs[i])) for i in order]


@dataclass(frozen=True)
class EvaluationResult:
    """Predictions and metrics of one model on one split.

    Attributes:
        model_path: The evaluated model file.
        split: ``"val"``, ``"test"``, ``"train"`` or ``"all"``.
        class_names: The model's class names; index = label.
        paths: Image files in evaluation order.
        y_true: True labels ``(N,)``.
        probs: Predicted probabilities ``(N, C)``.
        metrics: Accuracy, per-class table, confusion matrix, top-k, calibration.
        skipped: ``(path, reason)`` of images that could not be read.
        cancelled: True when cancelled; arrays then hold the images done so far.
        seconds: Wall time.
        notes: How the folder differs from the run's stored split, e.g.
            ``"2 files of the val split are missing since the run was made"``.
        missing: Files of this split in the run's manifest that are gone.
        not_evaluated: Files new since the run was made, left out.
        precision: What the model computed in: ``"float32"`` (the exported
            files' numbers), or the fast precision the user opted in to.
    """

    model_path: str
    split: str
    class_names: tuple[str, ...]
    paths: tuple[str, ...]
    y_true: np.ndarray = field(repr=False)
    probs: np.ndarray = field(repr=False)
    metrics: Metrics = field(repr=False)
    skipped: tuple[tuple[str, str], ...] = ()
    cancelled: bool = False
    seconds: float = 0.0
    notes: tuple[str, ...] = ()
    missing: int = 0
    not_evaluated: int = 0
    precision: str = "float32"

    @property
    def y_pred(self) -> np.ndarray:
        return predicted_labels(self.probs) if len(self.paths) else np.zeros((0,), np.int64)

    @property
    def accuracy(self) -> float:
        return self.metrics.accuracy

    def image(self, index: int) -> ImagePrediction:
        """The record of image ``index``."""
        pred = int(self.y_pred[index])
        row = self.probs[index]
        return ImagePrediction(index, self.paths[index], int(self.y_true[index]), pred, float(row[pred]), tuple(float(v) for v in row))

    def cell(self, true_class: int, pred_class: int) -> list[ImagePrediction]:
        """Images behind confusion cell (true, pred), most confident first."""
        return [self.image(int(i)) for i in cell_members(self.y_true, self.probs, true_class, pred_class)]

    def mistakes(self, limit: int | None = None) -> list[ImagePrediction]:
        """Misclassified images across every class, most confident first."""
        return [self.image(int(i)) for i in most_confident_mistakes(self.y_true, self.probs, limit)]

    def to_dict(self, include_images: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "model_path": self.model_path,
            "split": self.split,
            "cancelled": self.cancelled,
            "seconds": round(self.seconds, 3),
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "notes": list(self.notes),
            "missing": self.missing,
            "not_evaluated": self.not_evaluated,
            "precision": self.precision,
            **self.metrics.to_dict(),
        }
        if include_images:
            data["images"] = [
                {"path": r.path, "true": self.class_names[r.true], "pred": self.class_names[r.pred], "confidence": r.confidence}
                for r in (self.image(i) for i in range(len(self.paths)))
            ]
        return data

    def write_csv(self, path: str | os.PathLike) -> None:
        """Write one row per image: path, true, predicted, confidence, correct, one column per class."""
        write_predictions_csv(path, [self.image(i) for i in range(len(self.paths))], self.class_names)


def write_predictions_csv(path: str | os.PathLike, rows: Sequence[ImagePrediction], class_names: Sequence[str]) -> None:
    """Write per-image predictions to CSV, atomically (see :mod:`tlstudio.io.atomic`).

    Rows whose ``true`` is -1 (unlabelled images) leave ``true`` and ``correct`` empty.
    File names that are not UTF-8 are written as their original bytes
    (``surrogateescape``), so they never stop the export.

    Raises:
        DataError: ``path`` is an image or one of the rows' images; nothing is written.
        OSError: the file cannot be written.
    """
    problem = check_not_an_input(path, [r.path for r in rows])
    if problem:
        raise DataError(problem, path=os.fspath(path))
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["path", "true", "predicted", "confidence", "correct", *[f"p_{n}" for n in class_names]])
    for r in rows:
        labelled = r.true >= 0
        writer.writerow([
            r.path,
            class_names[r.true] if labelled else "",
            class_names[r.pred],
            f"{r.confidence:.6f}",
            ("1" if r.correct else "0") if labelled else "",
            *[f"{p:.6f}" for p in r.probs],
        ])
    atomic_write_bytes(path, buf.getvalue().encode("utf-8", errors="surrogateescape"))


def _as_ref(model: ModelRef | str | os.PathLike) -> ModelRef:
    """``model`` as a :class:`ModelRef` (a path becomes ``ModelRef(path=...)``)."""
    if isinstance(model, ModelRef):
        return model
    if isinstance(model, (str, os.PathLike)) and str(model):
        return ModelRef(path=str(model))
    raise ConfigError(f"the model to evaluate must be a model reference or a path to a model. Received: {model!r}")


@dataclass(frozen=True)
class EvaluateConfig:
    """What the ``evaluate`` job evaluates.

    Attributes:
        model: The model: a run folder or exported model file, as a
            :class:`ModelRef` or a path (turned into one).
        data: Where the labelled images are: None (a run folder's own dataset
            and split), a dataset folder, or a :class:`~tlstudio.config.DataConfig`.
        splits: Splits to evaluate, in order (``"val"``, ``"test"``,
            ``"train"``, ``"all"``); splits after the first that have no
            images are left out of the result.
        precision: ``"float32"`` (the default) computes exactly what the
            exported files compute. A fast precision (``"auto"``,
            ``"bfloat16"``, ``"float16"``) is an opt-in for a ``.keras`` model
            or run folder; each result's ``precision`` says what was used.
    """

    model: ModelRef
    data: DataConfig | str | None = None
    splits: tuple[str, ...] = ("val", "test")
    precision: str = precision_option("float32", what="evaluation (float32 gives the exported files' numbers)")

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", _as_ref(self.model))
        check_options(self)
        if isinstance(self.data, os.PathLike):
            object.__setattr__(self, "data", str(self.data))
        splits = (self.splits,) if isinstance(self.splits, str) else tuple(self.splits)
        object.__setattr__(self, "splits", splits)
        bad = [s for s in splits if s not in SPLIT_CHOICES]
        if not splits or bad:
            raise ConfigError(f"splits must be one or more of {SPLIT_CHOICES}. Received: splits={splits!r}")


@dataclass(frozen=True)
class PredictConfig:
    """What the ``predict`` job predicts.

    Attributes:
        model: A run folder or exported model file, as a :class:`ModelRef`
            or a path (turned into one).
        paths: Image files to predict.
        gradcam: Also compute a Grad-CAM overlay when exactly one image is
            predicted (Keras models only).
    """

    model: ModelRef
    paths: tuple[str, ...]
    gradcam: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", _as_ref(self.model))
        paths = (self.paths,) if isinstance(self.paths, (str, os.PathLike)) else self.paths
        object.__setattr__(self, "paths", tuple(str(p) for p in paths))
        if not self.paths:
            raise ConfigError("prediction needs at least one image file. Received: paths=()")


@dataclass(frozen=True)
class PredictResult:
    """Predictions of image files by one model.

    Attributes:
        model_path: The model file that predicted.
        class_names: The model's class names; index = label.
        rows: One prediction per readable image, in the order of the request
            (``true`` is -1: the images are unlabelled).
        skipped: ``(path, reason)`` of the files that could not be read.
        overlay: Grad-CAM of the single image over it, RGB uint8 ``(H, W, 3)``,
            or None when not asked for or not available.
        gradcam_error: Why the asked-for Grad-CAM is missing, else None.
    """

    model_path: str
    class_names: tuple[str, ...]
    rows: tuple[ImagePrediction, ...]
    skipped: tuple[tuple[str, str], ...] = ()
    overlay: np.ndarray | None = None
    gradcam_error: str | None = None
