"""The precision set on real (tiny, 32 px) models: layers, the saved model, the feature cache and a training run."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tlstudio.config import DataConfig, HeadConfig, ModelConfig, RunConfig, TrainConfig
from tlstudio.events import LogMessage, RunStarted
from tlstudio.model import PREPROCESS_NAME, build_model, find_backbone, find_head, set_compute_precision
from tlstudio.precision.runtime import copy_with_policy, resolve, set_policy

from tests.support.events import Recorder
from tests.support.images import write_images

SIZE = 32
# VGG16 cut at block2_pool: the same layers and precision code path, 1/50 of the weights.
MODEL = ModelConfig(backbone="vgg16", weights="none", image_size=SIZE, head=HeadConfig(dropout=0.0), cut="block2_pool")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("colours")
    for i, colour in enumerate([(200, 40, 40), (40, 40, 200)]):
        write_images(root / f"class_{i}", 12, colour, size=SIZE, seed=i)
    return root


def test_the_backbone_computes_in_bfloat16_and_the_output_stays_float32():
    model = build_model(MODEL, 2, seed=1)
    x = np.random.default_rng(0).uniform(0, 255, (2, SIZE, SIZE, 3)).astype("float32")
    before = model.predict(x, verbose=0)
    set_compute_precision(model, "bfloat16")
    conv = find_backbone(model).get_layer("block1_conv1")
    assert conv.compute_dtype == "bfloat16" and conv.kernel.dtype == "float32"  # weights stay float32
    assert find_head(model).get_layer("predictions").compute_dtype == "float32"
    assert model.get_layer(PREPROCESS_NAME).compute_dtype == "float32"
    fast = model.predict(x, verbose=0)
    assert fast.dtype == np.float32 and np.allclose(fast.sum(axis=1), 1.0, atol=1e-3)
    assert np.abs(fast - before).max() < 0.05


def test_the_saved_model_computes_in_float32_with_the_same_numbers(tmp_path):
    model = build_model(MODEL, 2, seed=1)
    x = np.random.default_rng(0).uniform(0, 255, (2, SIZE, SIZE, 3)).astype("float32")
    reference = model.predict(x, verbose=0)
    set_compute_precision(model, "bfloat16")
    set_compute_precision(model, "float32")
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert {l.compute_dtype for l in find_backbone(loaded).layers} == {"float32"}
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), reference)


def test_a_shared_model_is_copied_not_changed():
    net = keras.applications.VGG16(weights=None, include_top=False, input_shape=(SIZE, SIZE, 3))
    copy = copy_with_policy(net, "bfloat16")
    assert copy is not net and net.layers[1].compute_dtype == "float32" and copy.layers[1].compute_dtype == "bfloat16"
    assert copy_with_policy(copy, "bfloat16") is copy and copy_with_policy(net, "float32") is net
    with pytest.raises(ValueError, match="resolved precision"):
        set_policy(net.layers, "auto")


def test_the_feature_cache_keys_by_precision_and_bfloat16_features_agree(folder, tmp_path):
    from tlstudio.features.pooled_cache import pooled_features

    paths = sorted(str(p) for p in folder.rglob("*.png"))
    common = dict(backbone="vgg16", weights="none", image_size=SIZE, cache_dir=tmp_path, cuts=("block3_pool",),
                  poolings=("avg",), batch_size=8)
    exact = pooled_features(paths, precision="float32", **common)
    fast = pooled_features(paths, precision="bfloat16", **common)
    assert exact.key != fast.key and not fast.cache_hit
    assert pooled_features(paths, precision="bfloat16", **common).cache_hit
    a, b = np.asarray(exact.pooled("block3_pool", "avg")), np.asarray(fast.pooled("block3_pool", "avg"))
    assert a.dtype == b.dtype == np.float32
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert cosine.min() > 0.99


def test_a_bfloat16_run_says_so_and_saves_a_float32_model(folder, tmp_path):
    config = RunConfig(
        data=DataConfig(root=str(folder), val_fraction=0.25, seed=1), model=MODEL,
        train=TrainConfig(epochs=1, fine_tune_epochs=1, batch_size=8, seed=2, tensorboard=False, precision="bfloat16"),
        run_dir=str(tmp_path / "run"),
    )
    from tlstudio.training import run_training

    rec = Recorder()
    result = run_training(config, rec)
    assert result.error is None, result.error_details
    assert "bfloat16 (asked for)" in rec.of(RunStarted)[0].devices
    assert any(m.message.startswith("precision: CPU") and "bfloat16" in m.message for m in rec.of(LogMessage))
    loaded = keras.models.load_model(result.model_path)
    assert {l.compute_dtype for l in find_backbone(loaded).layers} == {"float32"}


def test_auto_on_this_machine_names_its_reason():
    choice = resolve("auto")
    assert choice.precision in ("float32", "bfloat16", "float16") and choice.reason
    assert choice.sentence().startswith(("CPU: ", "GPU: "))


def test_opt_in_fast_evaluation_copies_the_model_and_leaves_the_loaded_one_float32(tmp_path):
    from tlstudio.evaluation.runner import fast_precision_copy
    from tlstudio.io.model_files import load_model

    model = build_model(MODEL, 2, seed=1)
    model.save(tmp_path / "model.keras")
    (tmp_path / "labels.txt").write_text("a\nb\n")
    loaded = load_model(tmp_path / "model.keras")
    x = np.random.default_rng(0).uniform(0, 255, (2, SIZE, SIZE, 3)).astype("float32")
    rec = Recorder()
    fast, used = fast_precision_copy(loaded, "bfloat16", rec)
    assert used == "bfloat16" and fast is not loaded and not rec.events
    assert find_backbone(loaded.model).layers[1].compute_dtype == "float32"
    assert np.abs(fast.run(x) - loaded.run(x)).max() < 0.05
    assert fast_precision_copy(loaded, "float32") == (loaded, "float32")


def test_the_micro_benchmark_returns_a_ratio():
    from tlstudio.precision.runtime import measure

    ratio = measure("bfloat16", size=16, batch=2, repeats=1, rounds=1)
    assert 0 < ratio < 100


def test_the_device_job_tells_the_status_bar_what_auto_computes_in():
    from tlstudio.cancel import CancelToken
    from tlstudio.jobs.device import device_info

    info = device_info(None, sink=lambda e: None, cancel=CancelToken())
    choice = resolve("auto")
    assert (info.precision, info.precision_reason) == (choice.precision, choice.reason)
    assert info.summary().startswith(("CPU: ", "GPU: ")) and f", {choice.precision} (" in info.summary()
