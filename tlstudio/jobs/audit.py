"""The dataset audit job: duplicates, leaks, label issues, outliers and class imbalance.

Runs on every split of the dataset. Exact duplicates come from content
hashes, near duplicates from a perceptual hash and from the cosine similarity
of pooled backbone features; a group that spans splits is a leak. Label
issues come from confident learning on out-of-fold probabilities of k-fold
head fits (:mod:`tlstudio.analysis.kfold`); outliers from the kNN distance in
feature space.

This module is light at import: the GUI imports :class:`AuditConfig` and the
result dataclasses from it without loading TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from tlstudio.cancel import CancelToken
from tlstudio.config import DataConfig, ModelConfig
from tlstudio.errors import ConfigError
from tlstudio.events import LogMessage, Progress, Sink


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
    cache_dir: str = ""

    def __post_init__(self) -> None:
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


@dataclass(frozen=True)
class Outlier:
    """An image far from every other image in feature space.

    Attributes:
        path: The image.
        score: Mean cosine distance to its k nearest neighbours (0..2, higher is stranger).
    """

    path: str
    score: float


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
            "outliers": [{"path": o.path, "score": round(o.score, 4)} for o in self.outliers],
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
        }


def audit(config: AuditConfig, *, sink: Sink, cancel: CancelToken) -> AuditResult:
    """Audit a dataset (the job ``"audit"``): every split, nothing on disk is changed.

    Prepares the dataset, takes the pooled features of every image from the
    cache (one extraction pass when missing), picks the cut (``config.cut``,
    or the one whose out-of-fold head scores best), then finds duplicates and
    leaks, label issues, outliers and the class imbalance.

    Raises:
        DataError: the dataset cannot be used, or a class has fewer than 2 images.
        ConfigError: an unknown backbone or cut.
        WeightsUnavailableError: the weights cannot be loaded.
    """
    import time

    import numpy as np

    from tlstudio.analysis import audit as find
    from tlstudio.analysis.dataset import analysis_data
    from tlstudio.analysis.kfold import kfold_fit
    from tlstudio.analysis.pooled_cache import pooled_features

    start = time.perf_counter()
    data = analysis_data(config.data, sink=sink, cancel=cancel)
    empty = Imbalance({}, 1.0, "")
    if data.cancelled:
        return AuditResult((), (), (), empty, data.class_names, seconds=time.perf_counter() - start, cancelled=True)
    features = pooled_features(
        data.paths, backbone=config.model.backbone, weights=config.model.weights, image_size=config.model.image_size,
        batch_size=config.batch_size, cache_dir=config.cache_dir or None, sink=sink, cancel=cancel,
    )
    if features is None:
        return AuditResult((), (), (), empty, data.class_names, len(data.paths), seconds=time.perf_counter() - start, cancelled=True)
    if config.cut and config.cut not in features.cuts:
        raise ConfigError(
            f"cut: {config.cut!r} is not a cut point of {config.model.backbone}; expected one of "
            f"{', '.join(features.cuts)}. Received: cut={config.cut!r}"
        )
    counts = {name: int(n) for name, n in zip(data.class_names, np.bincount(data.labels, minlength=len(data.class_names)))}
    imbalance = find.imbalance(counts)
    n_classes = len(data.class_names)

    def stopped(duplicates=(), issues=(), cut="") -> AuditResult:
        return AuditResult(tuple(duplicates), tuple(issues), (), imbalance, data.class_names, len(data.paths), cut,
                           time.perf_counter() - start, cancelled=True)

    # Label issues: the out-of-fold probabilities of the chosen (or best) cut.
    best = None
    for i, cut in enumerate([config.cut] if config.cut else features.cuts):
        sink(Progress("audit", i, len(features.cuts), f"Fitting out-of-fold heads on {cut}"))
        fit = kfold_fit(features[cut], data.labels, num_classes=n_classes, folds=config.folds, seed=config.data.seed, cancel=cancel)
        if fit.cancelled:
            return stopped()
        if best is None or fit.accuracy > best[1].accuracy:
            best = (cut, fit)
    cut, fit = best
    sink(LogMessage(f"audit uses {cut} (out-of-fold accuracy {fit.accuracy:.2f} ± {fit.std:.2f} over {fit.folds} folds)"))
    issues = find.label_issues(fit.oof_proba, data.labels, data.paths, data.class_names)
    # Duplicates and leaks.
    sink(Progress("audit", 0, len(data.paths), "Hashing files for duplicates"))
    content = []
    for i, path in enumerate(data.paths):
        if cancel.cancelled:
            return stopped(issues=issues, cut=cut)
        content.append(find.content_hash(path))
    sink(Progress("audit", 0, len(data.paths), "Perceptual hashes for near duplicates"))
    hashes = find.perceptual_hashes(data.paths, cancel)
    if cancel.cancelled:
        return stopped(issues=issues, cut=cut)
    unit = find.normalised(features[cut])
    deepest = find.normalised(features[features.cuts[-1]])  # the most invariant to resizing and recompression
    duplicates = find.duplicate_groups(
        data.paths, data.splits, content, hashes, deepest, phash_distance=config.phash_distance, similarity=config.near_similarity
    )
    outliers = find.outliers(unit, data.paths, limit=config.max_outliers)
    leaks = sum(g.cross_split for g in duplicates)
    if leaks:
        sink(LogMessage(f"{leaks} duplicate group(s) span splits: the same photo is in more than one split (a leak)", "warning"))
    sink(Progress("audit", len(data.paths), len(data.paths), "Audit finished"))
    return AuditResult(
        duplicates=tuple(duplicates),
        label_issues=tuple(issues),
        outliers=tuple(outliers),
        imbalance=imbalance,
        class_names=data.class_names,
        num_images=len(data.paths),
        cut=cut,
        seconds=time.perf_counter() - start,
    )
