"""The dataset audit's contract: :class:`AuditConfig` and the findings it returns. Keras-free."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from tlstudio.config import DataConfig, ModelConfig
from tlstudio.errors import ConfigError
from tlstudio.options import check_options, precision_option


@dataclass(frozen=True)
class AuditConfig:
    """What the audit runs on.

    Attributes:
        data: The dataset and its split (every split is audited; splits mark leaks).
        model: Only ``backbone``, ``weights`` and ``image_size`` are used.
        cut: The cut layer whose pooled features the audit uses; empty picks the
            backbone's last cut.
        folds: Stratified folds of the out-of-fold head fits.
        near_similarity: Cosine similarity of the standardised pooled features of
            the backbone's last cut at or above which two images are near
            duplicates (see :mod:`tlstudio.analysis.audit`).
        phash_distance: Perceptual-hash Hamming distance (of 64 bits) at or below
            which two images are near duplicates.
        max_outliers: At most this many outliers are reported.
        batch_size: Images per forward pass while extracting features.
        precision: Compute precision of the feature extraction (``"auto"``, ``"float32"``,
            ``"bfloat16"``, ``"float16"``); part of the feature cache key.
        cache_dir: Folder of the pooled feature cache; empty uses the app's cache folder.
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    cut: str = ""
    folds: int = 5
    near_similarity: float = 0.98
    phash_distance: int = 6
    max_outliers: int = 20
    batch_size: int = 32
    precision: str = precision_option("auto", what="feature extraction")
    cache_dir: str = ""

    def __post_init__(self) -> None:
        check_options(self)
        checks = (
            (self.folds >= 2, f"folds must be at least 2. Received: folds={self.folds!r}"),
            (0.0 < self.near_similarity <= 1.0, f"near_similarity must be within (0, 1]. Received: {self.near_similarity!r}"),
            (0 <= self.phash_distance <= 64, f"phash_distance must be within [0, 64]. Received: {self.phash_distance!r}"),
            (self.max_outliers >= 0, f"max_outliers must be >= 0. Received: {self.max_outliers!r}"),
            (self.batch_size >= 1, f"batch_size must be at least 1. Received: {self.batch_size!r}"),
        )
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)


@dataclass(frozen=True)
class DuplicateGroup:
    """Images that are the same photo.

    Attributes:
        kind: ``"exact"`` (same bytes) or ``"near"`` (resized, recompressed, lightly edited).
        paths: The images, as the scan reports them (absolute paths), sorted.
        splits: The split of each path, in the same order.
        cross_split: True when the group spans splits: a train/val leak.
        similarity: 1.0 for exact copies; for near copies the lowest feature
            cosine similarity inside the group.
    """

    kind: str
    paths: tuple[str, ...]
    splits: tuple[str, ...]
    cross_split: bool
    similarity: float


@dataclass(frozen=True)
class LabelIssue:
    """An image whose folder (label) the out-of-fold head disagrees with.

    Attributes:
        path: The image.
        given: The class folder it is in.
        suggested: The class the head predicts.
        score: How suspicious, 0..1, higher first: ``1 - p(given)`` out of fold.
    """

    path: str
    given: str
    suggested: str
    score: float


OUTLIER_KINDS = ("features", "pixels")


@dataclass(frozen=True)
class Outlier:
    """An image unlike the others: far from every other image in feature space, or in its pixels' make-up.

    Attributes:
        path: The image.
        score: ``kind`` "features": the mean cosine distance to its k nearest
            neighbours (0..2, higher is stranger); "pixels": how many robust
            standard deviations its most unusual pixel statistic is from the
            dataset's median.
        kind: ``"features"`` or ``"pixels"`` (colourfulness, flat area or
            number of colours unlike the other images': placeholders, blank
            frames, drawings, black-and-white photos).
        reason: What is unusual, in words ("" for a feature outlier).
    """

    path: str
    score: float
    kind: str = "features"
    reason: str = ""

    def __post_init__(self) -> None:
        if self.kind not in OUTLIER_KINDS:
            raise ValueError(f"Outlier.kind must be one of {', '.join(OUTLIER_KINDS)}. Received: {self.kind!r}")

    def describe(self) -> str:
        """One line: what is unusual (pixels) or how far it is from its neighbours (features)."""
        if self.kind == "pixels":
            return f"{self.reason} ({self.score:.1f} robust SD from the dataset's median)"
        return f"distance to its neighbours {self.score:.2f}"


@dataclass(frozen=True)
class Imbalance:
    """Images per class and what to do about an imbalance.

    Attributes:
        counts: Images per class, over every split.
        ratio: Largest class over smallest class (1.0 is balanced).
        advice: One or two plain sentences.
    """

    counts: Mapping[str, int]
    ratio: float
    advice: str


@dataclass(frozen=True)
class AuditResult:
    """Everything the audit found, most important first in each list.

    Attributes:
        duplicates: Exact groups first, then near groups; cross-split groups first within each kind.
        label_issues: Most suspicious first.
        outliers: Strangest first.
        imbalance: Class counts, ratio and advice.
        class_names: Class names in label order.
        num_images: Images audited.
        cut: The cut layer whose features were used.
        seconds: Wall time of the whole job.
        cancelled: True when the job stopped early; the lists are then partial.
        oof_accuracy: Out-of-fold accuracy of the head fitted on ``cut`` (how well the features separate the classes).
        label_note: Why ``label_issues`` is a ranking of the least certain images rather than flags
            (the features separate the classes too weakly), else "".
    """

    duplicates: tuple[DuplicateGroup, ...]
    label_issues: tuple[LabelIssue, ...]
    outliers: tuple[Outlier, ...]
    imbalance: Imbalance
    class_names: tuple[str, ...] = ()
    num_images: int = 0
    cut: str = ""
    seconds: float = 0.0
    cancelled: bool = False
    oof_accuracy: float = 0.0
    label_note: str = ""

    @property
    def leaks(self) -> tuple[DuplicateGroup, ...]:
        """The duplicate groups that span splits."""
        return tuple(g for g in self.duplicates if g.cross_split)

    def to_json(self) -> dict[str, Any]:
        """The JSON of ``tlstudio-cli audit --json``."""
        return {
            "duplicates": [
                {"kind": g.kind, "paths": list(g.paths), "splits": list(g.splits),
                 "cross_split": g.cross_split, "similarity": round(g.similarity, 4)}
                for g in self.duplicates
            ],
            "label_issues": [
                {"path": i.path, "given": i.given, "suggested": i.suggested, "score": round(i.score, 4)}
                for i in self.label_issues
            ],
            "outliers": [{"path": o.path, "score": round(o.score, 4), "kind": o.kind, "reason": o.reason} for o in self.outliers],
            "imbalance": {
                "counts": dict(self.imbalance.counts),
                "ratio": round(self.imbalance.ratio, 3),
                "advice": self.imbalance.advice,
            },
            "class_names": list(self.class_names),
            "num_images": self.num_images,
            "cut": self.cut,
            "seconds": round(self.seconds, 3),
            "cancelled": self.cancelled,
            "oof_accuracy": round(self.oof_accuracy, 4),
            "label_note": self.label_note,
        }
