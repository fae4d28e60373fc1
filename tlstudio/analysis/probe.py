"""The transfer probe: a cross-validated linear probe at every cut point of a backbone.

Which layer transfers depends on how far the user's images are from the
backbone's training images: early layers are general, late layers specific.
For every cut and pooling, :func:`tlstudio.analysis.kfold.kfold_fit` scores
standardised pooled features with a multinomial logistic regression by
stratified k-fold cross-validation (on the same folds); a cut keeps its
better pooling, and the best cut is the one with the highest mean accuracy
(the shallower one on a tie, since it makes a smaller model).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from tlstudio.features.cuts import depth_sentence
from tlstudio.analysis.kfold import kfold_fit
from tlstudio.cancel import CancelToken
from tlstudio.events import Progress, Sink
from tlstudio.api.probe import CutScore


def score_cuts(
    arrays: dict[str, np.ndarray] | object,
    cuts: Sequence[str],
    labels: np.ndarray,
    *,
    rows: np.ndarray | None = None,
    num_classes: int,
    folds: int,
    seed: int,
    sink: Sink,
    cancel: CancelToken,
    all_cuts: Sequence[str] | None = None,
    poolings: Sequence[str] | None = None,
) -> tuple[list[CutScore], int, bool]:
    """Score ``cuts`` on ``rows`` only when given.

    Args:
        arrays: ``cut -> [N, C]`` features of one pooling; or, with ``poolings``,
            a :class:`~tlstudio.features.pooled_cache.PooledFeatures` whose
            ``pooled(cut, pooling)`` gives each pooling's features.
        poolings: Score each of these poolings at every cut and keep the better.

    Returns:
        ``(scores, folds_used, cancelled)``; ``scores`` are in the order of ``cuts``.
    """
    order = list(all_cuts or cuts)
    labels = np.asarray(labels, np.int64)
    kinds = list(poolings) if poolings else [None]
    total = len(cuts) * len(kinds)
    scores: list[CutScore] = []
    k = 0
    for i, cut in enumerate(cuts):
        tried: list[tuple[str, float, float]] = []
        for j, pooling in enumerate(kinds):
            if cancel.cancelled:
                return scores, k, True
            step = i * len(kinds) + j
            what = cut if pooling is None else f"{cut}, {pooling} pooling"
            sink(Progress("probe", step, total, f"Probing {what} ({step + 1}/{total})"))
            features = arrays[cut] if pooling is None else arrays.pooled(cut, pooling)
            x = features if rows is None else np.asarray(features[rows])
            y = labels if rows is None else labels[rows]
            fit = kfold_fit(x, y, num_classes=num_classes, folds=folds, seed=seed, cancel=cancel)
            if fit.cancelled:
                return scores, fit.folds, True
            k = fit.folds
            tried.append((pooling or "avg", float(fit.accuracy), float(fit.std)))
        pooling, accuracy, std = max(tried, key=lambda t: round(t[1], 6))  # the first listed on a tie
        scores.append(CutScore(cut, accuracy, std, int(features.shape[1]), order.index(cut), pooling,
                               tuple(tried) if poolings else ()))
    sink(Progress("probe", total, total, "Probe finished"))
    return scores, k, False


def best_cut(scores: Sequence[CutScore]) -> CutScore | None:
    """The highest mean accuracy; on a tie the shallower cut (a smaller model)."""
    if not scores:
        return None
    return max(scores, key=lambda s: (round(s.cv_accuracy, 6), -s.depth_index))


def explain(scores: Sequence[CutScore], chance: float, folds: int, num_cuts: int) -> str:
    """One sentence for the Model page: the best cut, its score against chance, and what it means."""
    best = best_cut(scores)
    if best is None:
        return "The probe stopped before scoring any cut."
    score = f"{best.cv_accuracy:.2f} ± {best.cv_std:.2f} over {folds} folds, chance {chance:.2f}"
    if best.cv_accuracy <= chance + max(2 * best.cv_std, 0.05):
        return (
            f"No cut does clearly better than chance (best {best.layer}: {score}): these features do not separate "
            "the classes; check the labels (the audit) or try other weights."
        )
    pooled = f" with {best.pooling} pooling" if len(best.by_pooling) > 1 else ""
    return f"{best.layer} transfers best{pooled} ({score}): {depth_sentence(best.depth_index, num_cuts)}."
