"""The transfer probe job: which cut point of a backbone transfers best to this dataset.

For every cut point (each VGG block's pool output, each ResNet stage's
output), a linear probe (standardised global-average-pooled features and a
multinomial logistic regression) is scored by stratified k-fold
cross-validation on the training split. Features come from the multi-cut
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
from tlstudio.events import Sink


@dataclass(frozen=True)
class ProbeConfig:
    """What the probe runs on.

    Attributes:
        data: The dataset and its split (the probe scores the training split only).
        model: Only ``backbone``, ``weights`` and ``image_size`` are used.
        folds: Stratified cross-validation folds (at least 2; fewer when a class is smaller).
        cuts: Cut layer names to probe; empty probes every cut of the backbone.
        batch_size: Images per forward pass while extracting features.
        cache_dir: Folder of the pooled feature cache; empty uses the app's cache folder.
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    folds: int = 5
    cuts: tuple[str, ...] = ()
    batch_size: int = 32
    cache_dir: str = ""


@dataclass(frozen=True)
class CutScore:
    """The probe's score at one cut point.

    Attributes:
        layer: The cut layer, e.g. ``"block4_pool"``.
        cv_accuracy: Mean accuracy over the folds.
        cv_std: Standard deviation of the fold accuracies.
        features: Length of the pooled feature vector (channels at that cut).
        depth_index: 0-based position of the cut from the input (the chart's x axis).
    """

    layer: str
    cv_accuracy: float
    cv_std: float
    features: int
    depth_index: int


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
                 "features": c.features, "depth_index": c.depth_index}
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
    """Score a linear probe at every cut point of the backbone (the job ``"probe"``)."""
    raise NotImplementedError("the probe job is being built")
