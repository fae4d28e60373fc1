"""The dataset audit job: duplicates, leaks, label issues, outliers and class imbalance.

Runs on every split of the dataset. Exact duplicates come from content
hashes, near duplicates from a perceptual hash and from the cosine similarity
of pooled backbone features; a group that spans splits is a leak. Label
issues come from confident learning on out-of-fold probabilities of k-fold
head fits (:mod:`tlstudio.analysis.kfold`); outliers from the kNN distance in
feature space and from pixel statistics (:mod:`tlstudio.analysis.pixel_outliers`).

The config and the result dataclasses are in :mod:`tlstudio.api.audit`.
"""

from __future__ import annotations

from tlstudio.api.audit import AuditConfig, AuditResult, Imbalance
from tlstudio.cancel import CancelToken
from tlstudio.errors import ConfigError
from tlstudio.events import LogMessage, Progress, Sink


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
    from tlstudio.analysis import pixel_outliers as pixels
    from tlstudio.analysis.dataset import analysis_data
    from tlstudio.analysis.kfold import kfold_fit
    from tlstudio.features.pooled_cache import pooled_features
    from tlstudio.precision.runtime import fast_precision

    start = time.perf_counter()
    data = analysis_data(config.data, sink=sink, cancel=cancel)
    empty = Imbalance({}, 1.0, "")
    if data.cancelled:
        return AuditResult((), (), (), empty, data.class_names, seconds=time.perf_counter() - start, cancelled=True)
    features = pooled_features(
        data.paths, backbone=config.model.backbone, weights=config.model.weights, image_size=config.model.image_size,
        batch_size=config.batch_size, cache_dir=config.cache_dir or None, sink=sink, cancel=cancel,
        precision=fast_precision(config.precision, sink),
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
    issues, label_note = find.label_suspects(fit.oof_proba, data.labels, data.paths, data.class_names, fit.accuracy)
    if label_note:
        sink(LogMessage(label_note, "warning"))
    # Duplicates and leaks.
    sink(Progress("audit", 0, len(data.paths), "Hashing files for duplicates"))
    content = []
    for i, path in enumerate(data.paths):
        if cancel.cancelled:
            return stopped(issues=issues, cut=cut)
        content.append(find.content_hash(path))
    sink(Progress("audit", 0, len(data.paths), "Perceptual hashes for near duplicates"))
    hashes, pictures = find.hashes_and_pixel_statistics(data.paths, cancel)
    if cancel.cancelled:
        return stopped(issues=issues, cut=cut)
    unit = find.normalised(features[cut])
    deepest = find.normalised(features[features.cuts[-1]])  # the most invariant to resizing and recompression
    duplicates = find.duplicate_groups(
        data.paths, data.splits, content, hashes, deepest, phash_distance=config.phash_distance, similarity=config.near_similarity
    )
    outliers = pixels.merged(pixels.pixel_outliers(pictures, data.paths, limit=config.max_outliers),
                             find.outliers(unit, data.paths, limit=config.max_outliers), config.max_outliers)
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
        oof_accuracy=float(fit.accuracy),
        label_note=label_note,
    )
