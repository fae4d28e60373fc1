"""One sweep trial: a small Keras head fitted on each training fold and scored on the held-out fold.

For every fold of :func:`tlstudio.analysis.kfold.fold_splits`:

* the features are standardised with the mean and spread of the training
  fold only (what the head's ``head_norm`` layer does once adapted on the
  training features), so nothing of the held-out fold leaks in;
* an inner stratified split of the training fold (its first fold, about
  1/5) is held out for early stopping on the validation loss; the weights of
  the best epoch are kept (as the run's best checkpoint is);
* the head (:func:`tlstudio.model.build_head` of the trial's
  :class:`~tlstudio.config.HeadConfig`, on a ``(1, 1, C)`` input so its
  pooling is the identity on a pooled vector) is trained with the optimizer
  of :func:`tlstudio.training.optimizers.make_optimizer` and a categorical
  cross-entropy with the trial's label smoothing.

Speed: the trial's model, optimizer and compiled functions are built once
and reused by every fold, with the weights and optimizer state reset to
their initial values before each fold. An epoch of one batch (a small
dataset: 24 training images give folds of about 15 rows to fit) is one
call of one compiled function, the training step followed by the
validation loss: one trace a trial and one call an epoch instead of two
each, whose fixed costs dominated there. A longer epoch calls a
training-step function per batch and a validation-loss function after
them (fusing the last step with the validation loss would trace the
training step twice, which costs more than the call it saves on short
trials). Functions are traced on their first call only. Keras' ``fit``
costs 5-20 times more on these tiny problems (its per-epoch overhead
dominates). The functions hold no graph
loop on purpose: TensorFlow keeps the ``while`` bodies of a traced loop
registered in its eager context for the life of the process, which made
memory grow by about 4 MB per trial. The optimizer skips the one-replica
gradient all-reduce (:func:`tlstudio.compat.skip_single_replica_all_reduce`), whose traced
custom gradient TensorFlow registered for good with the whole train step
graph: another 2 MB per trial. Nothing else outlives the trial: the caller
clears the Keras session after it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from tlstudio import compat
from tlstudio.analysis.kfold import fold_splits
from tlstudio.cancel import CancelToken
from tlstudio.errors import DataError
from tlstudio.api.sweep import TrialParams

logger = logging.getLogger(__name__)

INNER_FOLDS = 5
"""The inner validation split holds out about 1 / INNER_FOLDS of each training fold."""

MIN_DELTA = 1e-4
"""Smallest decrease of the validation loss that counts as an improvement."""


@dataclass(frozen=True)
class FoldScores:
    """The held-out accuracy and epochs of each fold (partial when cancelled)."""

    accuracies: tuple[float, ...]
    epochs: tuple[int, ...]
    cancelled: bool = False


def standardise(x: np.ndarray, train_rows: np.ndarray) -> np.ndarray:
    """``x`` standardised with the mean and standard deviation of ``train_rows`` only (float32)."""
    fit = np.asarray(x[train_rows], np.float64)
    mean = fit.mean(axis=0)
    std = fit.std(axis=0)
    std[std < 1e-6] = 1.0  # a constant feature stays 0 rather than exploding
    return ((np.asarray(x, np.float64) - mean) / std).astype(np.float32)


def inner_split(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """``(fit_rows, val_rows)`` positions within a training fold, or None when a class is too small to split."""
    try:
        return fold_splits(labels, INNER_FOLDS, seed)[0]
    except DataError:
        return None


def run_folds(
    params: TrialParams,
    features: np.ndarray,
    labels: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    *,
    num_classes: int,
    batch_size: int,
    patience: int,
    seed: int,
    cancel: CancelToken,
) -> FoldScores:
    """Train and score the trial's head on every fold.

    Args:
        params: The trial.
        features: ``[N, C]`` pooled features of the training rows (a memmap is fine).
        labels: ``[N]`` integer labels.
        splits: The folds, from :func:`~tlstudio.analysis.kfold.fold_splits`.
        num_classes: Softmax units.
        batch_size: Training batch size.
        patience: Early-stopping patience in epochs.
        seed: Seed of the initialisation, the shuffles and the inner split.
        cancel: Checked between epochs.

    Returns:
        The fold scores.
    """
    import keras
    import tensorflow as tf

    from tlstudio.analysis.promote import head_config, train_config
    from tlstudio.model import build_head
    from tlstudio.training.optimizers import make_optimizer

    x_all = np.asarray(features, np.float32)
    labels = np.asarray(labels, np.int64)
    channels = int(x_all.shape[1])
    onehot = np.eye(num_classes, dtype=np.float32)[labels]
    train = train_config(params, batch_size=batch_size, patience=patience, seed=seed)
    head = build_head(head_config(params), (1, 1, channels), num_classes, seed=seed)
    steps = max(1, -(-max(len(s[0]) for s in splits) // batch_size))
    optimizer = make_optimizer(train, train.learning_rate, steps, train.epochs)
    optimizer.build(head.trainable_variables)
    compat.skip_single_replica_all_reduce(optimizer)
    loss_fn = keras.losses.CategoricalCrossentropy(label_smoothing=float(params.label_smoothing))
    initial = [np.array(w) for w in head.get_weights()]
    initial_opt = [np.array(v.numpy()) for v in optimizer.variables]
    spec_x = tf.TensorSpec([None, 1, 1, channels], tf.float32)
    spec_y = tf.TensorSpec([None, num_classes], tf.float32)

    def train_step_body(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, head(x, training=True))
        optimizer.apply(tape.gradient(loss, head.trainable_variables), head.trainable_variables)

    @tf.function(input_signature=[spec_x, spec_y])
    def train_step(x, y):
        train_step_body(x, y)

    @tf.function(input_signature=[spec_x, spec_y])
    def val_loss_of(x, y):
        return loss_fn(y, head(x, training=False))

    @tf.function(input_signature=[spec_x, spec_y, spec_x, spec_y])
    def step_and_val_loss(x, y, x_val, y_val):
        train_step_body(x, y)  # the variables' updates come before the reads below (automatic control dependencies)
        return loss_fn(y_val, head(x_val, training=False))

    def epoch(x, y, x_val, y_val, rng):
        order = rng.permutation(len(x))
        if len(x) <= batch_size:  # one batch: one call (and one trace for the trial)
            return float(step_and_val_loss(x[order], y[order], x_val, y_val))
        for start in range(0, len(x), batch_size):
            batch = order[start : start + batch_size]
            train_step(x[batch], y[batch])
        return float(val_loss_of(x_val, y_val))

    accuracies: list[float] = []
    epochs_run: list[int] = []
    for fold, (train_rows, test_rows) in enumerate(splits):
        head.set_weights(initial)
        for variable, value in zip(optimizer.variables, initial_opt):
            variable.assign(value)
        x = standardise(x_all, train_rows).reshape(-1, 1, 1, channels)
        inner = inner_split(labels[train_rows], seed + 1)
        fit_rows, val_rows = (train_rows, train_rows) if inner is None else (train_rows[inner[0]], train_rows[inner[1]])
        x_fit, y_fit, x_val, y_val = x[fit_rows], onehot[fit_rows], x[val_rows], onehot[val_rows]
        rng = np.random.default_rng([seed, fold])
        best_loss, best_weights, wait, done = np.inf, None, 0, 0
        for e in range(int(params.epochs)):
            if cancel.cancelled:
                return FoldScores(tuple(accuracies), tuple(epochs_run), cancelled=True)
            val_loss = epoch(x_fit, y_fit, x_val, y_val, rng)
            done = e + 1
            if inner is None:
                continue  # no inner validation: the whole epoch budget
            if not np.isfinite(val_loss):
                raise FloatingPointError(f"the validation loss became {val_loss} at epoch {done} of fold {fold + 1}")
            if val_loss < best_loss - MIN_DELTA:
                best_loss, best_weights, wait = val_loss, head.get_weights(), 0
            else:
                wait += 1
                if wait >= patience:
                    break
        if best_weights is not None:
            head.set_weights(best_weights)
        proba = np.asarray(head(x[test_rows], training=False))
        if not np.all(np.isfinite(proba)):
            raise FloatingPointError(f"the head predicts non-finite probabilities on fold {fold + 1}")
        accuracies.append(float(np.mean(np.argmax(proba, axis=1) == labels[test_rows])))
        epochs_run.append(done)
    return FoldScores(tuple(accuracies), tuple(epochs_run))
