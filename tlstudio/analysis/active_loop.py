"""The engine side of the active-labelling loop: features of the dataset and the pool, a head's fit and scores.

Every image's features come from the pooled feature cache
(:mod:`tlstudio.training.features`), taken by the run's own model (its
preprocessing and backbone, cut where the run cut it), so they are what the
run's head was trained on. The cache is keyed by a list of images, so the
lists are kept stable from one round to the next:

* the **base** dataset: the dataset without the images the loop added
  (``DataConfig.train_only``), prepared and split as usual;
* the **pool**: every image of the unsorted folder.

An image labelled in an earlier round is a row of the pool (when it was
copied, the default) or of a small list of its own (when it was moved). So a
round computes no features after the first, except for moved images.

The head is refitted as the run fitted it in phase 1: the run's
:class:`~tlstudio.config.HeadConfig` (on a 1x1 map of the pooled vector, so
its pooling is the identity), ``head_norm`` adapted on the training rows, the
run's optimizer, learning rate, loss, batch size and class weights. Epochs
are the run's, but at least enough for :data:`MIN_STEPS` optimizer steps: a
run's 10 epochs over 200 images are 70 steps, over the loop's first 16
images only 10, and the head would stay near its random start (measured on
ants-bees: 30 steps left it below chance). No early stopping: the validation
split is the measure, so it must not choose the epoch.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from tlstudio.cancel import CancelToken
from tlstudio.config import DataConfig, RunConfig
from tlstudio.errors import ConfigError, DataError
from tlstudio.events import Sink

MIN_STEPS = 300
"""A refit takes at least this many optimizer steps (capped by ``max_epochs``), whatever the image count."""


@dataclass
class RunModel:
    """A run's configuration, classes and loaded Keras model.

    ``weights_id`` keys the feature cache: the model file's path, size and
    modification time (the run's weights, fine-tuned or not), so the values
    are not hashed again every round.
    """

    config: RunConfig
    class_names: tuple[str, ...]
    model: object
    run_dir: str
    weights_id: str = ""


def load_run(run_dir: str) -> RunModel:
    """The run's config, classes and model (from the engine's model cache).

    Raises:
        ProjectError, ModelFileError: the run folder or its model cannot be used (named).
    """
    from tlstudio.api.model_ref import ModelRef
    from tlstudio.model_cache import loaded_model
    from tlstudio.run_folders import RunFolder

    folder = RunFolder(run_dir)
    config = folder.load_config()
    loaded = loaded_model(ModelRef(path=str(run_dir)))
    if loaded.model is None:
        raise ConfigError(f"{run_dir}: the loop needs a run folder with a Keras model. Received: a {loaded.kind} model")
    stat = os.stat(folder.model)
    stamp = f"run-model|{os.path.abspath(folder.model)}|{stat.st_size}|{stat.st_mtime_ns}"
    return RunModel(config, tuple(loaded.class_names), loaded.model, str(run_dir), stamp)


def base_config(data: DataConfig, run: RunModel) -> DataConfig:
    """The dataset without the loop's images (``train_only`` excluded): its split never changes between rounds."""
    data = data if data.root else dataclasses.replace(run.config.data, train_only=data.train_only)
    return dataclasses.replace(data, exclude=tuple(dict.fromkeys(data.exclude + data.train_only)), train_only=())


def readable(paths: Sequence[str], *, max_megapixels: float, sink: Sink, cancel: CancelToken) -> tuple[list[str], dict[str, str]]:
    """The readable images of ``paths`` and why the others are not (the validation cache's check)."""
    from tlstudio.api.dataset import LAYOUT_FLAT, SPLIT_ALL, ScanResult
    from tlstudio.data.validate import validate_files

    if not paths:
        return [], {}
    root = os.path.commonpath(list(paths))
    scan = ScanResult(root, LAYOUT_FLAT, ("pool",), {SPLIT_ALL: {"pool": tuple(paths)}}, {SPLIT_ALL: root}, (), (), ())
    report = validate_files(scan, max_megapixels=max_megapixels, sink=sink, cancel=cancel)
    ok = set(report.valid.get(SPLIT_ALL, {}).get("pool", ()))
    reasons = {s.path: s.reason for s in report.skipped}
    return [p for p in paths if p in ok], {p: reasons.get(p, "not a readable image") for p in paths if p not in ok}


def features(run: RunModel, paths: Sequence[str], *, batch_size: int, cache_dir: str, sink: Sink,
             cancel: CancelToken, label: str) -> np.ndarray | None:
    """The run's head input for ``paths`` (pooled vectors, or maps for a flatten head); None when cancelled."""
    from tlstudio.api.dataset import Item
    from tlstudio.model_cache import model_lock
    from tlstudio.training.features import cached_features

    if not paths:
        return np.zeros((0, 0), np.float32)
    model = run.config.model
    with model_lock(run.model):  # the engine's cached model: one job runs it at a time
        cached = cached_features(
            [Item(p, 0) for p in paths], backbone=model.backbone, weights=model.weights, image_size=model.image_size,
            pooling=model.head.pooling, model=run.model, weights_id=run.weights_id, batch_size=batch_size,
            cache_dir=cache_dir or None, sink=sink, cancel=cancel, split=label,
        )
    return None if cached is None else np.asarray(cached.features, np.float32)


def embedding(x: np.ndarray) -> np.ndarray:
    """One vector per image: the pooled features, or a map averaged over its positions."""
    return x if x.ndim == 2 else x.mean(axis=(1, 2))


def predict_head(run: RunModel, x: np.ndarray, head_file: str = "") -> np.ndarray:
    """Class probabilities of the run's head (or of a refitted head saved at ``head_file``) on features ``x``."""
    import keras

    from tlstudio.model import find_head

    if not len(x):
        return np.zeros((0, len(run.class_names)), np.float32)
    if head_file:
        head = keras.models.load_model(head_file, compile=False)
        return predict(head, as_maps(x))
    from tlstudio.model_cache import model_lock
    from tlstudio.training.features import fit_model

    with model_lock(run.model):
        on_features = fit_model(find_head(run.model), run.config.model.head.pooling)
        return predict(on_features, x)


def as_maps(x: np.ndarray) -> np.ndarray:
    """Pooled vectors as 1x1 maps (what a head built on a ``(1, 1, C)`` input takes); maps unchanged."""
    return x if x.ndim == 4 else x[:, None, None, :]


def fit_head(run: RunModel, x: np.ndarray, y: np.ndarray, num_classes: int, *, seed: int, max_epochs: int,
             cancel: CancelToken):
    """The run's head, new, fitted on features ``x`` and labels ``y`` as the run's phase 1 was; (head, epochs)."""
    import keras
    import tensorflow as tf

    from tlstudio import compat
    from tlstudio.data.split import class_weights
    from tlstudio.model import build_head
    from tlstudio.training.head_norm import adapt_head_normalization
    from tlstudio.training.loss import make_loss
    from tlstudio.training.optimizers import make_optimizer

    if len(np.unique(y)) < 2:
        raise DataError(f"a head needs labelled images of at least 2 classes to learn from. Received: {len(np.unique(y))} class(es)")
    keras.utils.set_random_seed(seed)
    maps = as_maps(x)
    head = build_head(run.config.model.head, maps.shape[1:], num_classes, seed=seed)
    adapt_head_normalization(head, [x if x.ndim == 2 else maps])
    train = run.config.train
    steps = max(1, int(np.ceil(len(y) / train.batch_size)))
    epochs = max(1, min(max(int(train.epochs), -(-MIN_STEPS // steps)), int(max_epochs)))
    optimizer = make_optimizer(train, train.learning_rate, steps, epochs)
    loss_fn = make_loss(train)
    if isinstance(loss_fn, str):  # the plain loss is named; the step needs the object (it takes sample weights)
        loss_fn = keras.losses.SparseCategoricalCrossentropy()
    counts = np.bincount(y, minlength=num_classes)
    sample_weight = np.ones(len(y), np.float32)
    if train.class_weights:  # the run's balanced weights; an empty class weighs 0
        names = tuple(str(i) for i in range(num_classes))
        weights = class_weights({str(i): int(c) for i, c in enumerate(counts)}, names)
        sample_weight = np.array([weights[int(k)] for k in y], np.float32)
    # A compiled step and a plain epoch loop: Keras' fit costs seconds per call on a few dozen rows
    # (see tlstudio.analysis.sweep_trial, which fits its trials the same way).
    optimizer.build(head.trainable_variables)
    compat.skip_single_replica_all_reduce(optimizer)
    spec = [tf.TensorSpec([None, *maps.shape[1:]], tf.float32), tf.TensorSpec([None], tf.int64),
            tf.TensorSpec([None], tf.float32)]

    @tf.function(input_signature=spec)
    def step(xb, yb, wb):
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, head(xb, training=True), sample_weight=wb)
        optimizer.apply(tape.gradient(loss, head.trainable_variables), head.trainable_variables)

    rng = np.random.default_rng(seed)
    labels = np.asarray(y, np.int64)
    done = 0
    for _ in range(epochs):
        if cancel.cancelled:
            break
        order = rng.permutation(len(labels))
        for start in range(0, len(order), train.batch_size):
            rows = order[start : start + train.batch_size]
            step(maps[rows], labels[rows], sample_weight[rows])
        done += 1
    return head, done


def predict(model, x: np.ndarray, rows: int = 1024) -> np.ndarray:
    """``model`` called on ``x`` in chunks (no ``predict`` loop to retrace for every new batch shape)."""
    out = [np.asarray(model(x[i : i + rows], training=False), np.float32) for i in range(0, len(x), rows)]
    return np.concatenate(out) if out else np.zeros((0, int(model.outputs[0].shape[-1])), np.float32)


_HASHES: dict[tuple[str, int, int], np.uint64] = {}
"""Perceptual hashes this process computed, by (path, size, mtime): a round re-hashes only new images."""


def perceptual_hashes(paths: Sequence[str], cancel: CancelToken) -> np.ndarray:
    """The audit's 64-bit perceptual hash of every image, remembered between rounds."""
    from tlstudio.analysis.audit import perceptual_hashes as compute

    keys = []
    for path in paths:
        st = os.stat(path)
        keys.append((path, st.st_size, st.st_mtime_ns))
    missing = [k for k in keys if k not in _HASHES]
    if missing:
        fresh = compute([k[0] for k in missing], cancel)
        if cancel.cancelled:
            return np.zeros(len(paths), np.uint64)
        if len(_HASHES) > 200_000:
            _HASHES.clear()
        _HASHES.update(zip(missing, fresh))
    return np.array([_HASHES[k] for k in keys], np.uint64)
