"""The full model: layout, head, parameter counts, freezing, BatchNorm, saving."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from tlstudio.config import AugmentConfig, DenseSpec, FreezeConfig, HeadConfig, ModelConfig
from tlstudio.errors import ConfigError
from tlstudio.model import (
    FreezeReport,
    ParamCounts,
    apply_freeze,
    build_head,
    build_model,
    find_backbone,
    find_head,
    freeze_all,
    param_counts,
    resolve_freeze,
)

VGG16_CONVS = {
    "block1_conv1": (3, 64),
    "block1_conv2": (64, 64),
    "block2_conv1": (64, 128),
    "block2_conv2": (128, 128),
    "block3_conv1": (128, 256),
    "block3_conv2": (256, 256),
    "block3_conv3": (256, 256),
    "block4_conv1": (256, 512),
    "block4_conv2": (512, 512),
    "block4_conv3": (512, 512),
    "block5_conv1": (512, 512),
    "block5_conv2": (512, 512),
    "block5_conv3": (512, 512),
}


def conv_params(*names: str) -> int:
    return sum(9 * VGG16_CONVS[n][0] * VGG16_CONVS[n][1] + VGG16_CONVS[n][1] for n in names)


def pixels(n: int = 2, size: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, size=(n, size, size, 3)).astype("float32")


@pytest.fixture(scope="module")
def vgg_model():
    # Head: avg pool over 512 channels -> softmax over 3 classes.
    return build_model(ModelConfig(backbone="vgg16", weights="none", image_size=32, head=HeadConfig(dropout=0.0)), 3)


VGG_HEAD = 512 * 3 + 3
VGG_HEAD_STATS = 512 * 2 + 1  # head_norm's mean, variance and count: never trained


# --------------------------------------------------------------------------- layout


def test_layout_and_output(vgg_model):
    assert [l.name for l in vgg_model.layers] == ["image", "preprocess", "backbone", "head"]
    assert vgg_model.input_shape == (None, 32, 32, 3)
    assert vgg_model.output_shape == (None, 3)
    assert find_backbone(vgg_model).name == "backbone"
    assert find_head(vgg_model).get_layer("predictions").dtype_policy.compute_dtype == "float32"
    probs = vgg_model.predict(pixels(4), verbose=0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_head_alone_on_backbone_features_equals_the_full_model(vgg_model):
    """The feature cache relies on this: backbone features + head == full model."""
    x = pixels(3)
    preprocess = vgg_model.get_layer("preprocess")
    features = find_backbone(vgg_model).predict(preprocess(x), verbose=0)
    via_head = find_head(vgg_model).predict(features, verbose=0)
    np.testing.assert_allclose(via_head, vgg_model.predict(x, verbose=0), atol=1e-5)


def test_default_image_size_comes_from_the_backbone():
    model = build_model(ModelConfig(backbone="mobilenetv2", weights="none"), 2)
    assert model.input_shape == (None, 224, 224, 3)


def test_fewer_than_two_classes_is_a_config_error():
    with pytest.raises(ConfigError, match="Received: num_classes=1"):
        build_model(ModelConfig(backbone="vgg16", weights="none", image_size=32), 1)


def test_augmentation_sits_before_preprocessing_and_is_off_in_inference():
    cfg = ModelConfig(backbone="mobilenetv2", weights="none", image_size=32, head=HeadConfig(dropout=0.0))
    model = build_model(cfg, 2, augment=AugmentConfig(flip="horizontal", rotation=0.1), seed=3)
    assert [l.name for l in model.layers] == ["image", "augmentation", "preprocess", "backbone", "head"]
    x = pixels(2)
    without_aug = find_head(model)(find_backbone(model)(model.get_layer("preprocess")(x), training=False))
    np.testing.assert_allclose(model(x, training=False), without_aug, atol=1e-5)
    plain = build_model(cfg, 2, augment=AugmentConfig())
    assert "augmentation" not in [l.name for l in plain.layers]


@pytest.mark.parametrize(
    "head_cfg, feature_shape, expected_layers, expected_params",
    [
        (HeadConfig(pooling="avg", dropout=0.0), (2, 2, 8), ["head_pool", "head_norm", "predictions"], 8 * 3 + 3),
        (HeadConfig(pooling="max", dropout=0.5), (2, 2, 8), ["head_pool", "head_norm", "head_dropout", "predictions"], 8 * 3 + 3),
        (
            HeadConfig(pooling="flatten", dense=(DenseSpec(16, "gelu", 0.25), DenseSpec(4, "tanh")), dropout=0.1),
            (2, 2, 8),
            ["head_pool", "head_norm", "head_dense_1", "head_dropout_1", "head_dense_2", "head_dropout", "predictions"],
            (32 * 16 + 16) + (16 * 4 + 4) + (4 * 3 + 3),
        ),
    ],
)
def test_build_head_options(head_cfg, feature_shape, expected_layers, expected_params):
    head = build_head(head_cfg, feature_shape, 3)
    names = [l.name for l in head.layers if not isinstance(l, keras.layers.InputLayer)]
    assert names == expected_layers
    width = 32 if head_cfg.pooling == "flatten" else 8  # head_norm: a mean and a variance per pooled feature, and a count
    stats = 2 * width + 1
    assert param_counts(head) == ParamCounts(expected_params, stats, expected_params + stats)
    features = np.random.default_rng(1).normal(size=(5, *feature_shape)).astype("float32")
    probs = np.asarray(head(features, training=False))
    assert probs.shape == (5, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_pooling_choice_changes_the_result():
    features = np.random.default_rng(2).normal(size=(2, 2, 2, 4)).astype("float32")
    avg = build_head(HeadConfig(pooling="avg", dropout=0.0), (2, 2, 4), 2, seed=5)
    mx = build_head(HeadConfig(pooling="max", dropout=0.0), (2, 2, 4), 2, seed=5)
    assert not np.allclose(avg(features), mx(features))


def test_head_seed_makes_initial_weights_repeatable():
    a = build_head(HeadConfig(dense=(DenseSpec(8),)), (1, 1, 6), 2, seed=7)
    b = build_head(HeadConfig(dense=(DenseSpec(8),)), (1, 1, 6), 2, seed=7)
    c = build_head(HeadConfig(dense=(DenseSpec(8),)), (1, 1, 6), 2, seed=8)
    for wa, wb in zip(a.trainable_weights, b.trainable_weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(wa), keras.ops.convert_to_numpy(wb))
    first = keras.ops.convert_to_numpy(a.trainable_weights[0])
    assert not np.array_equal(first, keras.ops.convert_to_numpy(c.trainable_weights[0]))


def test_find_parts_of_a_foreign_model_is_a_clear_error():
    inputs = keras.Input((4,))
    foreign = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    with pytest.raises(ConfigError, match="no 'backbone' part"):
        find_backbone(foreign)
    with pytest.raises(ConfigError, match="no 'head' part"):
        find_head(foreign)


# --------------------------------------------------------------------------- freezing (VGG16: exact counts)


def test_new_model_trains_only_the_head(vgg_model):
    freeze_all(vgg_model)
    total = conv_params(*VGG16_CONVS) + VGG_HEAD + VGG_HEAD_STATS
    assert param_counts(vgg_model) == ParamCounts(VGG_HEAD, total - VGG_HEAD, total)


@pytest.mark.parametrize(
    "freeze, trainable_convs",
    [
        (FreezeConfig(mode="all"), []),
        (FreezeConfig(mode="none"), list(VGG16_CONVS)),
        (FreezeConfig(mode="blocks", blocks=("block1", "block2", "block3")), [n for n in VGG16_CONVS if n[5] in "45"]),
        (FreezeConfig(mode="up_to", up_to="block4_conv2"), ["block4_conv3", "block5_conv1", "block5_conv2", "block5_conv3"]),
        (FreezeConfig(mode="up_to", up_to="block4"), ["block5_conv1", "block5_conv2", "block5_conv3"]),
        (FreezeConfig(mode="layers", layers=("block1_conv1", "block5_conv3")), [n for n in VGG16_CONVS if n not in ("block1_conv1", "block5_conv3")]),
    ],
    ids=["all", "none", "blocks", "up_to_layer", "up_to_block", "layers"],
)
def test_apply_freeze_trains_exactly_the_expected_parameters(vgg_model, freeze, trainable_convs):
    first = freeze_all(vgg_model)
    report = apply_freeze(vgg_model, freeze)
    assert isinstance(report, FreezeReport)
    assert report.before == first.after
    expected = conv_params(*trainable_convs) + VGG_HEAD
    assert report.after.trainable == expected
    assert param_counts(vgg_model).trainable == expected
    assert report.after.total == report.before.total
    trainable_convs_now = [n for n in report.trainable_layers if n in VGG16_CONVS]
    assert trainable_convs_now == trainable_convs
    assert set(report.frozen_layers) | set(report.trainable_layers) == {
        l.name for l in find_backbone(vgg_model).layers if not isinstance(l, keras.layers.InputLayer)
    }
    # Going back to phase 1 freezes everything again.
    assert freeze_all(vgg_model).after.trainable == VGG_HEAD


def test_freeze_change_reaches_training(vgg_model):
    """After apply_freeze + compile, a train step moves only the unfrozen layers."""
    apply_freeze(vgg_model, FreezeConfig(mode="up_to", up_to="block5_conv2"))
    vgg_model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    before = {n: vgg_model.get_layer("backbone").get_layer(n).get_weights()[0].copy() for n in ("block5_conv2", "block5_conv3")}
    vgg_model.train_on_batch(pixels(4), np.array([0, 1, 2, 0]))
    after = {n: vgg_model.get_layer("backbone").get_layer(n).get_weights()[0] for n in before}
    np.testing.assert_array_equal(before["block5_conv2"], after["block5_conv2"])
    assert not np.array_equal(before["block5_conv3"], after["block5_conv3"])
    freeze_all(vgg_model)


@pytest.mark.parametrize(
    "freeze, message",
    [
        (FreezeConfig(mode="blocks", blocks=("block9",)), "Unknown block(s) ['block9']"),
        (FreezeConfig(mode="up_to", up_to="nope"), "Received: up_to='nope'"),
        (FreezeConfig(mode="layers", layers=("block1_conv1", "conv9")), "Unknown layer(s) of vgg16: ['conv9']"),
    ],
)
def test_unknown_names_are_config_errors(vgg_model, freeze, message):
    with pytest.raises(ConfigError) as info:
        apply_freeze(vgg_model, freeze)
    assert message in str(info.value)


def test_resolve_freeze_is_a_pure_function_of_names():
    names = ["conv1_pad", "conv1_conv", "pool1_pool", "conv2_block1_1_conv", "max_pooling2d", "conv3_block1_1_conv", "post_bn"]
    assert resolve_freeze(names, "resnet50v2", FreezeConfig(mode="blocks", blocks=("conv2_x",))) == {
        "conv2_block1_1_conv",
        "max_pooling2d",  # an unnamed layer goes with the layer before it
    }
    assert resolve_freeze(names, "resnet50v2", FreezeConfig(mode="up_to", up_to="conv2_x")) == set(names[:5])
    assert resolve_freeze(names, "resnet50v2", FreezeConfig(mode="all")) == set(names)
    assert resolve_freeze(names, "resnet50v2", FreezeConfig(mode="none")) == set()


# --------------------------------------------------------------------------- BatchNorm


@pytest.fixture(scope="module")
def bn_model():
    cfg = ModelConfig(backbone="resnet50", weights="none", image_size=32, head=HeadConfig(dropout=0.0))
    return build_model(cfg, 2)


def _bn_layers(model):
    return [l for l in find_backbone(model).layers if isinstance(l, keras.layers.BatchNormalization)]


def test_batchnorm_never_trains_even_when_everything_is_unfrozen(bn_model):
    report = apply_freeze(bn_model, FreezeConfig(mode="none"))
    bns = _bn_layers(bn_model)
    assert bns and all(not l.trainable for l in bns)
    assert {l.name for l in bns} == set(report.frozen_layers) & {l.name for l in bns}
    backbone = find_backbone(bn_model)
    non_bn = sum(int(np.prod(w.shape)) for l in backbone.layers if not isinstance(l, keras.layers.BatchNormalization) for w in l.weights)
    bn = sum(int(np.prod(w.shape)) for l in bns for w in l.weights)
    head = param_counts(find_head(bn_model))
    assert report.after == ParamCounts(non_bn + head.trainable, bn + head.non_trainable, non_bn + bn + head.total)


def test_resnet_up_to_block_freezes_the_early_stages(bn_model):
    report = apply_freeze(bn_model, FreezeConfig(mode="up_to", up_to="conv3_x"))
    assert all(n.startswith(("conv4_", "conv5_")) and not n.endswith("_bn") for n in report.trainable_layers)
    assert {n for n in report.frozen_layers if n.startswith(("conv1_", "pool1_", "conv2_", "conv3_"))} == {
        l.name for l in find_backbone(bn_model).layers if l.name.startswith(("conv1_", "pool1_", "conv2_", "conv3_"))
    }


def test_backbone_is_called_with_training_false(bn_model):
    """Recorded in the model graph, so it also holds for a reloaded .keras file."""
    layers = {entry["name"]: entry for entry in bn_model.get_config()["layers"]}
    (node,) = layers["backbone"]["inbound_nodes"]
    assert node["kwargs"].get("training") is False
    (head_node,) = layers["head"]["inbound_nodes"]
    assert "training" not in head_node["kwargs"]  # dropout in the head still works in training


def test_batchnorm_runs_in_inference_mode_during_training(bn_model):
    apply_freeze(bn_model, FreezeConfig(mode="none"))
    bns = _bn_layers(bn_model)
    stats = [keras.ops.convert_to_numpy(l.moving_mean) for l in bns]
    x = pixels(4)
    first = np.asarray(bn_model(x, training=True))
    second = np.asarray(bn_model(x, training=True))
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first, bn_model(x, training=False), atol=1e-5)
    # A real train step moves the convolutions but neither BN statistics nor BN weights.
    conv = find_backbone(bn_model).get_layer("conv4_block1_1_conv")
    kernel = conv.get_weights()[0].copy()
    gamma = bns[5].get_weights()[0].copy()
    bn_model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    bn_model.train_on_batch(x, np.array([0, 1, 0, 1]))
    assert not np.array_equal(kernel, conv.get_weights()[0])
    np.testing.assert_array_equal(gamma, bns[5].get_weights()[0])
    for layer, before in zip(bns, stats):
        np.testing.assert_array_equal(before, keras.ops.convert_to_numpy(layer.moving_mean))


# --------------------------------------------------------------------------- saving


def test_keras_file_round_trip_without_tlstudio(tmp_path):
    # Cut at block2_pool: the whole VGG16 layout (augmentation, preprocessing, nested backbone, head) in a 1 MB file.
    cfg = ModelConfig(
        backbone="vgg16", weights="none", image_size=32, head=HeadConfig(dense=(DenseSpec(8, dropout=0.3),)),
        cut="block2_pool",
    )
    model = build_model(cfg, 3, augment=AugmentConfig(flip="horizontal", contrast=0.2))
    apply_freeze(model, FreezeConfig(mode="blocks", blocks=("block1",)))
    x = pixels(3)
    expected = model.predict(x, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "expected.npy", expected)

    reloaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), expected)
    assert param_counts(reloaded) == param_counts(model)

    # Export requirement: a plain Keras install can load it, tlstudio not importable.
    code = f"""
        import sys
        sys.modules["tlstudio"] = None
        import numpy as np, keras
        model = keras.saving.load_model({str(path)!r})
        out = model.predict(np.load({str(tmp_path / 'x.npy')!r}), verbose=0)
        print(float(np.max(np.abs(out - np.load({str(tmp_path / 'expected.npy')!r})))))
        import gc
        gc.freeze()  # the process ends here: its exit need not walk TensorFlow's objects
    """
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert float(proc.stdout.strip().splitlines()[-1]) <= 1e-6
