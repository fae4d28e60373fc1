"""What the head trains on in phase 1: the backbone's features, computed from images or read from the cache.

:func:`feature_model` is the model's image -> backbone-output part (for the
head's normalisation statistics); :func:`features_for_head` the cached
features' datasets of a run that trains its head on them.
"""

from __future__ import annotations

import keras

from tlstudio.training import features as feature_cache


def feature_model(model: keras.Model, backbone: keras.Model) -> keras.Model:
    """Raw RGB images -> backbone output, sharing the model's layers.

    Rebuilds the model's chain from its input up to and including the
    backbone (``preprocess`` and any layer before the backbone), calling the
    backbone with ``training=False``. Augmentation is skipped: it is off
    outside training anyway.
    """
    inputs = keras.Input(shape=model.inputs[0].shape[1:], dtype=model.inputs[0].dtype, name="images")
    x = inputs
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer) or layer.name == "augmentation":
            continue
        x = layer(x, training=False)
        if layer is backbone:
            break
    else:
        raise ValueError(f"the model has no backbone layer named {backbone.name!r}. Received layers: {[l.name for l in model.layers]}")
    return keras.Model(inputs, x, name="features")


def features_for_head(model, config, data, image_size, batch_size, sink, cancel, seed, resuming, precision, held: list):
    """(train_ds, val_ds, train CachedFeatures) of cached features, or None when cancelled.

    Each split's entry is appended to ``held`` as soon as it is made: it stays
    pinned (the cache's eviction leaves it alone, in this process and in
    others) until the run releases it, so the val split's extraction, or
    another training sharing the cache, never evicts the train split's
    shards while they are read.

    Average and max heads train on cached pooled vectors, a flatten head on
    cached float16 maps (:mod:`tlstudio.training.features`); the datasets
    read them from disk batch by batch. A new run's backbone holds exactly its
    weights source, so the weights file's stamp keys the cache (shared with
    the probe and sweeps); random weights and a resumed run's backbone are
    keyed by a hash of their values.
    """
    from tlstudio.features.pooled_cache import weights_stamp

    pooling = config.model.head.pooling
    weights_id = None
    if not resuming and config.model.weights != "none":
        weights_id = weights_stamp(config.model.backbone, config.model.weights, image_size)
    out = []
    train_features = None
    for split, items, shuffle in (("train", data.train, True), ("val", data.val, False)):
        if not items:
            out.append(None)
            continue
        cached = feature_cache.cached_features(
            items, backbone=config.model.backbone, weights=config.model.weights, image_size=image_size,
            pooling=pooling, model=model, weights_id=weights_id, batch_size=batch_size, sink=sink, cancel=cancel,
            split=split, precision=precision,
        )
        if cached is None:
            return None
        held.append(cached)
        if split == "train":
            train_features = cached
        out.append(cached.dataset(batch_size, shuffle=shuffle, seed=seed))
    return out[0], out[1], train_features
