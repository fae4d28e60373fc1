"""The embedding map job: a 2D projection of every image's pooled backbone features.

Features come from the pooled feature cache shared with the probe and the
audit (:mod:`tlstudio.features.pooled_cache`: one cut, average pooling), so a
map after an audit of the same data and backbone costs only the projection
(:mod:`tlstudio.analysis.embed`: PCA then t-SNE, or PCA alone above
``tsne_limit`` images). The dataset honours the project's exclusions and
label overrides (``DataConfig.exclude`` / ``relabel``). When a trained model
is given (``model_path``: a run folder or model file) and its class names are
the dataset's, every image is also predicted, so the map can be coloured by
predicted class or by correct/wrong; a model of other classes predicts
nothing, and the result says why (``prediction_note``).

The config and result are in :mod:`tlstudio.api.embed`.
"""

from __future__ import annotations

import numpy as np

from tlstudio.api.embed import EmbedConfig, EmbedResult, class_mismatch
from tlstudio.cancel import CancelToken
from tlstudio.errors import ConfigError
from tlstudio.events import LogMessage, Progress, Sink


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
    from tlstudio.features.pooled_cache import pooled_features
    from tlstudio.precision.runtime import fast_precision

    start = time.perf_counter()
    data = analysis_data(config.data, sink=sink, cancel=cancel)
    if data.cancelled:
        return _empty(data.class_names, time.perf_counter() - start)
    features = pooled_features(
        data.paths, backbone=config.model.backbone, weights=config.model.weights, image_size=config.model.image_size,
        batch_size=config.batch_size, cache_dir=config.cache_dir or None, sink=sink, cancel=cancel,
        precision=fast_precision(config.precision, sink),
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
    predicted, names, note, used = np.zeros(0, np.int64), (), "", ""
    if config.model_path:
        from tlstudio.io.model_files import resolve_model

        note = class_mismatch(resolve_model(config.model_path, require_class_names=False).class_names, data.class_names)
        if note:
            sink(LogMessage(f"{config.model_path}: {note}", "warning"))
        else:
            predicted, names = _predict(config.model_path, data.paths, data.class_names, sink, cancel)
            used = config.model_path
        if cancel.cancelled:
            return _empty(data.class_names, time.perf_counter() - start)
    sink(Progress("embed", 1, 1, "Map ready"))
    return EmbedResult(coords, data.labels, data.paths, data.splits, data.class_names, predicted, names, method, cut,
                       time.perf_counter() - start, model_path=used, prediction_note=note, root=config.data.root)


def _predict(model_path: str, paths, class_names, sink: Sink, cancel: CancelToken):
    """The model's class per image, as dataset labels (-1 when unknown) and names ("" when unreadable)."""
    from tlstudio.evaluation.runner import predict_paths
    from tlstudio.io.model_files import load_model

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
