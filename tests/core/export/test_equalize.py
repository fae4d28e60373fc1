"""The int8 file's float-equivalent rewrites: preprocessing as a 1x1 convolution, channel equalization.

Tiny models laid out like tlstudio's (:mod:`tests.support.int8_model`), whose
last convolution's output channels are deliberately spread over five
decades, as VGG16's are (0.01..1477).
"""

from __future__ import annotations

import numpy as np
import pytest

import keras

from tests.support.int8_model import CHANNELS, images, tiny_model
from tlstudio.backbones.preprocessing import preprocess_layer
from tlstudio.export import equalize as eq
from tlstudio.export.equalize import affine_preprocess, rewrite_for_int8
from tlstudio.export.quantize import write_tflite_int8
from tlstudio.io import runners


def _probs(model, x):
    return np.asarray(model(x, training=False), dtype=np.float64)


@pytest.mark.parametrize("pooling", ["avg", "max", "flatten"])
def test_rewritten_copy_is_the_same_float_function_and_the_model_is_untouched(pooling):
    model = tiny_model(pooling)
    before = [w.copy() for w in model.get_weights()]
    x = images(24, 3)
    rewritten, done = rewrite_for_int8(model, x, bias_correction=False)  # the one step meant to move the float function
    assert rewritten is not model
    assert np.max(np.abs(_probs(rewritten, x) - _probs(model, x))) < 1e-5
    assert done.max_abs_diff < 1e-5
    assert any("1x1 convolution" in c for c in done.changes)
    folded = any(c.startswith("head/head_norm folded into head/predictions") for c in done.changes)
    if pooling == "flatten":  # a corner position that is 0 in head_norm's statistics but not on these images
        assert not folded and any("head_norm kept" in s and "amplify by 1/eps" in s for s in done.skipped)
    else:
        assert folded and not any(isinstance(l, keras.layers.Normalization) for l in rewritten.get_layer("head").layers)
    into = "head/predictions input rows" if folded else "head/head_norm mean and variance"
    assert any(c.startswith("equalized ") and "of 16 channels of backbone/block2_conv1" in c and into in c for c in done.changes)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # the app's model is not changed
    conv = rewritten.get_layer("backbone").get_layer("block2_conv1").get_weights()[0]
    ranges = np.abs(conv).reshape(-1, CHANNELS).max(axis=0)
    assert ranges.max() / ranges.min() < 1e4  # was 1e5 before


def test_batchnorm_producer_and_a_head_without_normalisation():
    model = tiny_model("avg", last="bn_relu", norm=False)
    x = images(24, 3)
    rewritten, done = rewrite_for_int8(model, x, bias_correction=False)
    assert np.max(np.abs(_probs(rewritten, x) - _probs(model, x))) < 1e-5
    assert any("backbone/block2_bn" in c and "predictions input rows" in c for c in done.changes)


def test_a_path_that_is_not_homogeneous_is_left_alone_and_says_why():
    model = tiny_model("avg", last="relu6")
    rewritten, done = rewrite_for_int8(model, images(8, 3), bias_correction=False)
    assert any("no channel equalization" in s and "block2_relu6" in s for s in done.skipped)
    assert any("1x1 convolution" in c for c in done.changes)  # the preprocessing rewrite still applies
    assert np.max(np.abs(_probs(rewritten, images(8, 4)) - _probs(model, images(8, 4)))) < 1e-5


def test_a_copy_that_is_not_equivalent_is_refused(monkeypatch):
    model = tiny_model("avg")
    real = eq._apply

    def forgets_the_head(boundary, s, positions):  # scale the convolution only: a different function
        boundary.absorber = keras.layers.Dense(1)  # nothing absorbs the factors
        boundary.absorber.build((None, len(s) * positions))
        real(boundary, s, positions)

    monkeypatch.setattr(eq, "_apply", forgets_the_head)
    got, done = rewrite_for_int8(model, images(8, 3))
    assert got is model and not done.changes
    assert any("refused" in s and "not the same float function" in s for s in done.skipped)


@pytest.mark.parametrize("key", ["vgg16", "mobilenetv2"])
def test_preprocessing_as_a_1x1_convolution(key):
    pre = preprocess_layer(key)
    conv = affine_preprocess(pre)
    x = images(4, 5)
    assert np.max(np.abs(np.asarray(conv(x)) - np.asarray(pre(x)))) < 1e-3

    inputs = keras.Input((None, None, 3))
    not_affine = keras.Model(inputs, keras.ops.sqrt(inputs))
    assert "not a per-pixel affine map" in affine_preprocess(not_affine)


def test_int8_agreement_goes_up_with_the_rewrites(tmp_path):
    """The point: one int8 scale for channels spread over five decades loses the quiet ones."""
    model = tiny_model("avg", classes=4)
    calibration, test = images(48, 11), images(64, 12)
    app = _probs(model, test)

    def agreement(equalize: bool) -> tuple[float, float]:
        path = tmp_path / f"{equalize}.tflite"
        built = write_tflite_int8(model, path, calibration=calibration, equalize=equalize)
        assert bool(built.graph_changes) == equalize
        run = runners.open_runner("tflite", str(path))
        probs = np.concatenate([run(test[i:i + 16]) for i in range(0, len(test), 16)])
        return float(np.mean(probs.argmax(1) == app.argmax(1))), float(np.mean(np.abs(probs - app)))

    plain, plain_diff = agreement(False)
    equalized, equalized_diff = agreement(True)
    assert equalized >= 0.95 and equalized > plain + 0.1, (plain, equalized)
    assert equalized_diff < plain_diff / 2, (plain_diff, equalized_diff)


def test_bias_correction_comes_after_the_float_check_and_is_said():
    model = tiny_model("avg")
    x = images(24, 3)
    plain, _ = rewrite_for_int8(model, x, bias_correction=False)
    corrected, done = rewrite_for_int8(model, x)
    assert done.changes[-1].startswith("bias of predictions corrected for the int8 rounding")
    assert done.changes[-2].startswith("float check")
    kernel = corrected.get_layer("head").get_layer("predictions").get_weights()[0]
    assert np.array_equal(kernel, plain.get_layer("head").get_layer("predictions").get_weights()[0])  # only the bias moves
