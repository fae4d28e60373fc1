"""The embedding map job: a 2D projection of every image's pooled backbone features.

Features come from the pooled feature cache shared with the probe and the
audit (:mod:`tlstudio.analysis.pooled_cache`: one cut, average pooling), so a
map after an audit of the same data and backbone costs only the projection
(:mod:`tlstudio.analysis.embed`: PCA then t-SNE, or PCA alone above
``tsne_limit`` images). The dataset honours the project's exclusions and
label overrides (``DataConfig.exclude`` / ``relabel``). When a trained model
is given (``model_path``: a run folder or model file), every image is also
predicted, so the map can be coloured by predicted class or by correct/wrong.

This module is light at import: the GUI imports :class:`EmbedConfig` and
:class:`EmbedResult` from it without loading TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tlstudio.cancel import CancelToken
from tlstudio.config import DataConfig, ModelConfig
from tlstudio.errors import ConfigError
from tlstudio.events import LogMessage, Progress, Sink


@dataclass(frozen=True)
class EmbedConfig:
    """What the map is made of.

    Attributes:
        data: The dataset (every split is mapped; the split of each image is returned).
        model: Only ``backbone``, ``weights`` and ``image_size`` are used.
        cut: The cut whose pooled features are projected; empty uses the backbone's last cut.
        method: ``"auto"``, ``"tsne"`` or ``"pca"`` (see :mod:`tlstudio.analysis.embed`).
        tsne_limit: With ``"auto"``, more images than this are mapped by PCA alone.
        model_path: A trained model (run folder or file) whose predictions are
            returned; empty for none.
        batch_size: Images per forward pass while extracting features.
        cache_dir: Folder of the pooled feature cache; empty uses the app's cache folder.
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    cut: str = ""
    method: str = "auto"
    tsne_limit: int = 5000
    model_path: str = ""
    batch_size: int = 32
    cache_dir: str = ""

    def __post_init__(self) -> None:
        from tlstudio.analysis.embed import METHODS

        if self.method not in METHODS:
            raise ConfigError(f"method must be one of {METHODS}. Received: method={self.method!r}")
        if self.tsne_limit < 0:
            raise ConfigError(f"tsne_limit must be >= 0. Received: tsne_limit={self.tsne_limit!r}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1. Received: batch_size={self.batch_size!r}")


@dataclass(frozen=True)
class EmbedResult:
    """One point per image.

    Attributes:
        coords: ``[N, 2]`` float32 in [-1, 1].
        labels: ``[N]`` int labels into ``class_names`` (after the project's relabels).
        paths: The images, as the scan reports them.
        splits: The split of each image.
        class_names: Class names in label order.
        predicted: ``[N]`` int: the model's class as an index into
            ``class_names`` (-1 when unreadable or a class the dataset lacks);
            empty when no model was given.
        predicted_names: The model's class name per image ("" when unreadable); empty without a model.
        method: ``"tsne"`` or ``"pca"``.
        cut: The cut whose features were projected.
        seconds: Wall time of the job.
        cancelled: True when the job stopped early (everything is then empty).
    """

    coords: np.ndarray
    labels: np.ndarray
    paths: tuple[str, ...]
    splits: tuple[str, ...]
    class_names: tuple[str, ...]
    predicted: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    predicted_names: tuple[str, ...] = ()
    method: str = ""
    cut: str = ""
    seconds: float = 0.0
    cancelled: bool = False


def _empty(class_names, seconds: float) -> EmbedResult:
    return EmbedResult(np.zeros((0, 2), np.float32), np.zeros(0, np.int64), (), (), tuple(class_names),
                       seconds=seconds, cancelled=True)


def embed(config: EmbedConfig, *, sink: Sink, cancel: CancelToken) -> EmbedResult:
    """Project the dataset's pooled features to 2D (the job ``"embed"``); nothing on disk changes but the cache.

    Raises:
        DataError: the dataset cannot be used.
        ConfigError: an unknown backbone or cut.
        WeightsUnavailableError: the weights cannot be loaded.
        ModelFileError: ``model_path`` is not a model.
    """
    import time

    from tlstudio.analysis.dataset import analysis_data
    from tlstudio.analysis.embed import project_2d
    from tlstudio.analysis.pooled_cache import pooled_features

    start = time.perf_counter()
    data = analysis_data(config.data, sink=sink, cancel=cancel)
    if data.cancelled:
        return _empty(data.class_names, time.perf_counter() - start)
    features = pooled_features(
        data.paths, backbone=config.model.backbone, weights=config.model.weights, image_size=config.model.image_size,
        batch_size=config.batch_size, cache_dir=config.cache_dir or None, sink=sink, cancel=cancel,
    )
    if features is None:
        return _empty(data.class_names, time.perf_counter() - start)
    cut = config.cut or features.cuts[-1]
    if cut not in features.cuts:
        raise ConfigError(
            f"cut: {cut!r} is not a cut point of {config.model.backbone}; expected one of "
            f"{', '.join(features.cuts)}. Received: cut={cut!r}"
        )
    sink(Progress("embed", 0, 1, f"Projecting {len(data.paths)} images to 2D"))
    coords, method = project_2d(features[cut], method=config.method, seed=config.data.seed, tsne_limit=config.tsne_limit)
    if method == "pca" and config.method != "pca" and len(data.paths) > config.tsne_limit:
        sink(LogMessage(f"{len(data.paths)} images: the map is PCA alone (t-SNE is used up to {config.tsne_limit} images)"))
    if cancel.cancelled:
        return _empty(data.class_names, time.perf_counter() - start)
    predicted, names = np.zeros(0, np.int64), ()
    if config.model_path:
        predicted, names = _predict(config.model_path, data.paths, data.class_names, sink, cancel)
        if cancel.cancelled:
            return _empty(data.class_names, time.perf_counter() - start)
    sink(Progress("embed", 1, 1, "Map ready"))
    return EmbedResult(coords, data.labels, data.paths, data.splits, data.class_names, predicted, names, method, cut,
                       time.perf_counter() - start)


def _predict(model_path: str, paths, class_names, sink: Sink, cancel: CancelToken):
    """The model's class per image, as dataset labels (-1 when unknown) and names ("" when unreadable)."""
    from tlstudio.evaluation.runner import predict_paths
    from tlstudio.io.models import load_model

    model = load_model(model_path)
    kept, probs, skipped, _ = predict_paths(model, list(paths), sink=sink, cancel=cancel, stage="embed")
    for path, reason in skipped[:3]:
        sink(LogMessage(f"{path} could not be predicted ({reason}); it has no predicted class on the map", "warning"))
    model_names = tuple(model.source.class_names)
    index = {name: i for i, name in enumerate(class_names)}
    predicted = np.full(len(paths), -1, np.int64)
    names = [""] * len(paths)
    for row, i in enumerate(kept):
        name = model_names[int(np.argmax(probs[row]))]
        names[i] = name
        predicted[i] = index.get(name, -1)
    return predicted, tuple(names)
