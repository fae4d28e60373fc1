"""Every formula of the layer table equals what Keras reports, for every registry VGG/ResNet.

Each backbone is built without weights; the formulas are computed from the
layers' configurations alone and compared with Keras' output shapes and
parameter counts, layer by layer.
"""

from __future__ import annotations

import gc

import keras
import pytest

from tlstudio.shapes import formulas as fm
from tlstudio.backbone_build import build_backbone
from tlstudio.inspection.table import is_container, layer_table

BACKBONE_SIZES = {
    "vgg16": 224,
    "vgg19": 224,
    "resnet50": 224,
    "resnet101": 160,
    "resnet152": 160,
    "resnet50v2": 224,
    "resnet101v2": 160,
    "resnet152v2": 160,
}

COVERED = {
    "Conv2D", "MaxPooling2D", "AveragePooling2D", "ZeroPadding2D", "Dense", "BatchNormalization", "Add",
    "Activation", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Flatten", "InputLayer",
}


def _leaves(model, prefix=""):
    for layer in model.layers:
        if is_container(layer):
            yield from _leaves(layer, f"{prefix}{layer.name}/")
        else:
            yield prefix + layer.name, layer


def check_table_against_keras(model) -> int:
    """Assert every row's formulas against Keras; return how many formulas were checked."""
    table = layer_table(model)
    checked = 0
    layers = dict(_leaves(model))
    assert [r.path for r in table.rows] and set(r.path for r in table.rows) == set(layers)
    for row in table.rows:
        layer = layers[row.path]
        assert row.type in COVERED, f"{row.path}: layer type {row.type} has no formulas"
        keras_out = tuple(layer.output.shape[1:])
        assert row.output_shape == keras_out
        width = row.formula("output width")
        if width is not None:
            if len(keras_out) == 3:
                assert fm.framework_output(width) == keras_out[1], f"{row.path}: {width.text} vs Keras {keras_out}"
            height = row.formula("output height") or width  # square input and kernel: one formula for both
            assert fm.framework_output(height) == keras_out[0], f"{row.path}: {height.text} vs Keras {keras_out}"
            checked += 1
        elif len(keras_out) == 3 and row.type != "InputLayer":
            first_input = row.input_shape[0] if isinstance(row.input_shape[0], tuple) else row.input_shape  # merges
            assert tuple(first_input)[:2] == keras_out[:2], f"{row.path}: size changed without a formula"
        params = row.formula("parameters")
        keras_params = int(layer.count_params())
        if params is not None:
            assert int(params.value) == keras_params, f"{row.path}: {params.text} vs Keras {keras_params}"
            checked += 1
        else:
            assert keras_params == 0, f"{row.path}: {keras_params} parameters without a formula"
        assert row.trainable_params + row.non_trainable_params == keras_params
        if row.type == "BatchNormalization":
            _, learned = fm.batchnorm_params(row.output_shape[-1])
            assert row.trainable_params == learned  # γ and β; the moving statistics never train
        assert row.act_elements == fm.prod(keras_out)
        if row.type == "Conv2D" or "Pooling2D" in row.type and "Global" not in row.type:
            assert row.formula("receptive field") is not None
    totals = table.totals
    assert totals.total_params == model.count_params()
    assert totals.trainable_params == sum(fm.prod(w.shape) for w in model.trainable_weights)
    return checked


@pytest.mark.parametrize("key", list(BACKBONE_SIZES))
def test_every_formula_equals_keras(key):
    model = build_backbone(key, BACKBONE_SIZES[key])
    checked = check_table_against_keras(model)
    assert checked > 30
    del model
    keras.backend.clear_session()
    gc.collect()


def test_vgg16_with_top_totals_and_activation_counts():
    model = build_backbone("vgg16", 224, include_top=True)
    check_table_against_keras(model)
    table = layer_table(model)
    totals = table.totals
    assert totals.total_params == 138_357_544
    assert totals.trainable_params == 138_357_544 and totals.frozen_params == 0
    expected = {
        "input_layer": 224 * 224 * 3,
        "block1_conv1": 224 * 224 * 64,
        "block1_pool": 112 * 112 * 64,
        "block2_conv1": 112 * 112 * 128,
        "block3_conv3": 56 * 56 * 256,
        "block4_conv3": 28 * 28 * 512,
        "block5_conv3": 14 * 14 * 512,
        "block5_pool": 7 * 7 * 512,
        "flatten": 25088,
        "fc1": 4096,
        "predictions": 1000,
    }
    expected[table.rows[0].name] = expected.pop("input_layer")
    got = {name: table.row(name).act_elements for name in expected}
    assert got == expected
    assert table.row("block1_conv1").act_bytes == 224 * 224 * 64 * 4
    conv = table.row("block1_conv1")
    assert conv.formula("output width").text.endswith("(224 − 3 + 2·1)/1 + 1 = 224 = ⌈224/1⌉ = 224")
    assert conv.formula("parameters").text == "(3·3·3 + 1)·64 = 1792"
    assert conv.pad == (1, 1, 1, 1) and conv.padding == "same"
    assert table.row("fc1").formula("parameters").text == "(25088 + 1)·4096 = 102764544"
    # Receptive fields (textbook values for VGG16).
    assert table.row("block1_conv2").rf == 5
    assert table.row("block5_conv3").rf == 196 and table.row("block5_conv3").jump == 16
    assert table.row("block5_pool").rf == 212 and table.row("block5_pool").jump == 32
    assert [table.row(n).group for n in ("block1_conv1", "block3_pool", "fc2")] == ["block1", "block3", "head"]


def test_resnet50_receptive_field_groups_and_freezing():
    model = build_backbone("resnet50", 224)
    for layer in model.layers:
        if layer.name.startswith(("conv1", "conv2")):
            layer.trainable = False
    table = layer_table(model)
    assert table.row("conv5_block3_out").rf == 483  # the published ResNet-50 value
    assert table.row("conv5_block3_out").jump == 32
    add = table.row("conv2_block1_add")
    assert add.formula("receptive field").text.startswith("r = max(")
    assert (add.group, add.block) == ("conv2_x", "conv2_block1")
    assert table.row("conv1_conv").group == "conv1"
    assert table.row("conv2_block1_1_conv").frozen is True
    assert table.row("conv3_block1_1_conv").frozen is False
    frozen = sum(fm.prod(w.shape) for w in model.non_trainable_weights)
    assert table.totals.frozen_params == frozen
    # conv1 in ResNet floors: (230 − 7)/2 + 1 = 112.5 → 112, and says so.
    assert "floored to 112" in table.row("conv1_conv").formula("output width").text


def test_resnet_groups_sum_to_the_totals():
    model = build_backbone("resnet50", 64)
    table = layer_table(model)
    stages = table.groups()
    assert [g.name for g in stages] == ["input", "conv1", "conv2_x", "conv3_x", "conv4_x", "conv5_x"]
    assert sum(g.params for g in stages) == table.totals.total_params
    blocks = [g.name for g in table.groups("block")]
    assert blocks[2:5] == ["conv2_block1", "conv2_block2", "conv2_block3"]
    assert len([b for b in blocks if b.startswith("conv4_block")]) == 6  # ResNet50: 3, 4, 6, 3 blocks
    assert stages[-1].output_shape == (2, 2, 2048) and stages[-1].rf == table.rows[-1].rf
