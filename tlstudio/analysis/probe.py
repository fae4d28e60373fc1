"""The transfer probe: a cross-validated linear probe at every cut point of a backbone.

Which layer transfers depends on how far the user's images are from the
backbone's training images: early layers are general, late layers specific.
For every cut, :func:`tlstudio.analysis.kfold.kfold_fit` scores standardised
pooled features with a multinomial logistic regression by stratified k-fold
cross-validation; the best cut is the one with the highest mean accuracy
(the shallower one on a tie, since it makes a smaller model).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from tlstudio.analysis.cuts import depth_sentence
from tlstudio.analysis.kfold import kfold_fit
from tlstudio.cancel import CancelToken
from tlstudio.events import Progress, Sink
from tlstudio.jobs.probe import CutScore


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
) -> tuple[list[CutScore], int, bool]:
    """Score ``cuts`` of ``arrays`` (``cut -> [N, C]``), on ``rows`` only when given.

    Returns:
        ``(scores, folds_used, cancelled)``; ``scores`` are in the order of ``cuts``.
    """
    order = list(all_cuts or cuts)
    labels = np.asarray(labels, np.int64)
    scores: list[CutScore] = []
    k = 0
    for i, cut in enumerate(cuts):
        if cancel.cancelled:
            return scores, k, True
        sink(Progress("probe", i, len(cuts), f"Probing {cut} ({i + 1}/{len(cuts)})"))
        features = arrays[cut]
        x = features if rows is None else np.asarray(features[rows])
        y = labels if rows is None else labels[rows]
        fit = kfold_fit(x, y, num_classes=num_classes, folds=folds, seed=seed, cancel=cancel)
        if fit.cancelled:
            return scores, fit.folds, True
        k = fit.folds
        scores.append(CutScore(cut, fit.accuracy, fit.std, int(features.shape[1]), order.index(cut)))
    sink(Progress("probe", len(cuts), len(cuts), "Probe finished"))
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
    return f"{best.layer} transfers best ({score}): {depth_sentence(best.depth_index, num_cuts)}."
