"""Stratified k-fold fits of a linear head on cached features: the one fitting code of the probe and the audit.

Each fold fits a :class:`sklearn.pipeline.Pipeline` of a
:class:`~sklearn.preprocessing.StandardScaler` and a multinomial
:class:`~sklearn.linear_model.LogisticRegression` on the other folds only,
so neither the scaling statistics nor the weights ever see the held-out
images (no leakage across folds). The result gives the mean and spread of
the fold accuracies and the out-of-fold predicted probabilities: for every
image, the probabilities of a head that never saw it, which is what
confident learning needs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from tlstudio.cancel import CancelToken
from tlstudio.errors import DataError

logger = logging.getLogger(__name__)

DEFAULT_C = 0.1
"""Inverse L2 strength of the logistic regression on standardised features.

Stronger than scikit-learn's default of 1.0: the probe has hundreds of
features and often only hundreds of images, where a weak penalty overfits.
"""


@dataclass(frozen=True)
class KFoldResult:
    """The cross-validated score of a linear head and its out-of-fold probabilities.

    Attributes:
        accuracy: Mean fold accuracy.
        std: Standard deviation of the fold accuracies.
        fold_accuracies: Accuracy of each fold.
        oof_proba: ``[N, num_classes]`` probabilities, row ``i`` from the fold that held ``i`` out.
        folds: Folds used.
        cancelled: True when stopped early (the other fields are then partial).
    """

    accuracy: float
    std: float
    fold_accuracies: tuple[float, ...]
    oof_proba: np.ndarray
    folds: int
    cancelled: bool = False


def usable_folds(labels: np.ndarray, folds: int) -> int:
    """The folds stratification allows: at most ``folds``, at most the smallest class's count.

    Raises:
        DataError: a class has fewer than 2 images, or there are fewer than 2 classes.
    """
    counts = np.bincount(np.asarray(labels, np.int64))
    present = counts[counts > 0]
    if len(present) < 2:
        raise DataError(f"cross-validation needs at least 2 classes with images. Received: {len(present)} class(es)")
    smallest = int(present.min())
    if smallest < 2:
        raise DataError(
            "cross-validation needs at least 2 images in every class. "
            f"Received: a class with {smallest} image (label {int(np.flatnonzero(counts == smallest)[0])})"
        )
    return max(2, min(int(folds), smallest))


def fold_splits(labels: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The stratified, shuffled ``(train_rows, test_rows)`` of every fold: the one fold assignment.

    The probe, the audit and the head sweep all split with this, so the same
    labels, folds and seed give the same folds everywhere.

    Args:
        labels: ``[N]`` integer labels.
        folds: Wanted folds (reduced by :func:`usable_folds`).
        seed: Seed of the shuffle.

    Raises:
        DataError: too few images per class for cross-validation.
    """
    from sklearn.model_selection import StratifiedKFold

    labels = np.asarray(labels, np.int64)
    splitter = StratifiedKFold(n_splits=usable_folds(labels, folds), shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels))


def make_head(C: float = DEFAULT_C, seed: int = 0):
    """The linear head: standardise, then multinomial logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000, random_state=seed))


def kfold_fit(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    num_classes: int | None = None,
    folds: int = 5,
    seed: int = 0,
    C: float = DEFAULT_C,
    cancel: CancelToken | None = None,
) -> KFoldResult:
    """Score a linear head by stratified k-fold cross-validation.

    Args:
        features: ``[N, D]`` features (a memmap is read one fold at a time).
        labels: ``[N]`` integer labels.
        num_classes: Columns of the probabilities; None uses ``labels.max() + 1``.
        folds: Wanted folds (reduced to the smallest class's count, see :func:`usable_folds`).
        seed: Seed of the fold assignment and the solver.
        C: Inverse regularisation strength.
        cancel: Checked between folds.

    Returns:
        The :class:`KFoldResult`.

    Raises:
        DataError: too few images per class for cross-validation.
    """
    labels = np.asarray(labels, np.int64)
    splits = fold_splits(labels, folds, seed)
    k = len(splits)
    classes = int(num_classes if num_classes is not None else labels.max() + 1)
    oof = np.zeros((len(labels), classes), np.float32)
    scores: list[float] = []
    with one_blas_thread():
        for train_idx, test_idx in splits:
            if cancel is not None and cancel.cancelled:
                return _result(scores, oof, k, cancelled=True)
            head = make_head(C, seed)
            head.fit(np.asarray(features[train_idx], np.float32), labels[train_idx])
            proba = head.predict_proba(np.asarray(features[test_idx], np.float32))
            fitted = head[-1].classes_
            oof[np.ix_(test_idx, fitted)] = proba  # a class absent from a training fold keeps probability 0
            scores.append(float(np.mean(fitted[np.argmax(proba, axis=1)] == labels[test_idx])))
    return _result(scores, oof, k)


def one_blas_thread():
    """A context in which NumPy's and SciPy's BLAS (OpenBLAS) use one thread: the k-fold fits run inside it.

    The solver's products are small (images x features times features x
    classes), too small for a second BLAS thread to pay for the hand-over,
    and OpenBLAS threads wait for work by spinning: on a busy machine, or in
    the engine process that runs at a lower priority than the GUI, the
    waiting thread took the core from the one it waited for. Measured on 2
    cores at load 7-8, a 5-fold fit took 0.07-0.95 s with one thread against
    0.35-9.2 s with two, from 16x512 to 4,000x512 features. One thread also
    makes the result the same on every machine: with several threads,
    OpenBLAS may split a sum differently (from about 1,000x2,048 features
    the probabilities differed in their last bits); up to a few hundred
    images they are bit-identical either way.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _result(scores: list[float], oof: np.ndarray, k: int, cancelled: bool = False) -> KFoldResult:
    acc = float(np.mean(scores)) if scores else 0.0
    std = float(np.std(scores)) if scores else 0.0
    return KFoldResult(acc, std, tuple(scores), oof, k, cancelled)
