"""The transfer probe's contract: :class:`ProbeConfig`, the score per cut and the result. Keras-free."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tlstudio.config import DataConfig, ModelConfig
from tlstudio.errors import ConfigError
from tlstudio.options import check_options, option, precision_option


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
        precision: Compute precision of the feature extraction (``"auto"``, ``"float32"``,
            ``"bfloat16"``, ``"float16"``); part of the feature cache key.
        cache_dir: Folder of the pooled feature cache; empty uses the app's cache folder.
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    folds: int = option(5, label="Folds", min=2, help="stratified cross-validation folds")
    cuts: tuple[str, ...] = ()
    poolings: tuple[str, ...] = ("avg", "max")
    batch_size: int = option(32, label="Batch size", min=1, help="images per forward pass while extracting features")
    precision: str = precision_option("auto", what="feature extraction")
    cache_dir: str = ""

    def __post_init__(self) -> None:
        check_options(self)
        if not self.poolings or any(p not in ("avg", "max") for p in self.poolings):
            raise ConfigError(f"poolings must be one or both of 'avg' and 'max'. Received: poolings={self.poolings!r}")


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
