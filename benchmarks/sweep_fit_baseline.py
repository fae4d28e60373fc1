"""The sweep's head fits the way they ran before the sweep-fit speed-up, for ``bench_sweep.py`` to time against.

Per trial: :func:`tlstudio.model.build_head` and the optimizer of
:func:`tlstudio.training.optimizers.make_optimizer`, two ``tf.function``\\ s
(a training step, and the validation loss called after every epoch), the
weights and optimizer state reset before each fold, and after the trial
``keras.backend.clear_session(free_memory=True)`` plus another
``gc.collect()``, with every object of the process walked by each
collection. The folds, standardisation, inner split, shuffles, early
stopping and scoring are tlstudio's own (imported), so both sides fit the
same heads on the same rows and must give the same fold accuracies.
"""

from __future__ import annotations

import gc

import numpy as np


def old_run_trials(planned, x_all, labels, splits, *, num_classes, batch_size, patience, seed):
    """``[(fold accuracies, epochs per fold)]`` of every trial, fitted the old way."""
    import keras

    results = []
    for params in planned:
        try:
            results.append(_old_run_folds(params, x_all, labels, splits, num_classes=num_classes,
                                          batch_size=batch_size, patience=patience, seed=seed))
        finally:
            keras.backend.clear_session(free_memory=True)
            gc.collect()
    return results


def _old_run_folds(params, x_all, labels, splits, *, num_classes, batch_size, patience, seed):
    import keras
    import tensorflow as tf

    from tlstudio import compat
    from tlstudio.analysis.promote import head_config, train_config
    from tlstudio.analysis.sweep_trial import MIN_DELTA, inner_split, standardise
    from tlstudio.model import build_head
    from tlstudio.training.optimizers import make_optimizer

    x_all = np.asarray(x_all, np.float32)
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

    @tf.function(input_signature=[spec_x, spec_y])
    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, head(x, training=True))
        optimizer.apply(tape.gradient(loss, head.trainable_variables), head.trainable_variables)

    @tf.function(input_signature=[spec_x, spec_y])
    def val_loss_of(x, y):
        return loss_fn(y, head(x, training=False))

    accuracies, epochs_run = [], []
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
            order = rng.permutation(len(x_fit))
            for start in range(0, len(x_fit), batch_size):
                batch = order[start : start + batch_size]
                train_step(x_fit[batch], y_fit[batch])
            val_loss = float(val_loss_of(x_val, y_val))
            done = e + 1
            if inner is None:
                continue
            if val_loss < best_loss - MIN_DELTA:
                best_loss, best_weights, wait = val_loss, head.get_weights(), 0
            else:
                wait += 1
                if wait >= patience:
                    break
        if best_weights is not None:
            head.set_weights(best_weights)
        proba = np.asarray(head(x[test_rows], training=False))
        accuracies.append(float(np.mean(np.argmax(proba, axis=1) == labels[test_rows])))
        epochs_run.append(done)
    return tuple(accuracies), tuple(epochs_run)
