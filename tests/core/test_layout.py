"""The Keras-free freeze and head arithmetic, checked against what Keras builds and counts.

:mod:`tlstudio.layout` answers for the GUI without TensorFlow; every number
it gives is compared here with a real Keras model: the head with
:func:`tlstudio.model.build_head`, the freeze choices with
:func:`tlstudio.model.apply_freeze` on a real small backbone (32 px, random
weights), the counts with :func:`tlstudio.model.param_counts`.
"""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
import textwrap

import pytest

from tlstudio.config import DenseSpec, FreezeConfig, HeadConfig, ModelConfig
from tlstudio.errors import ConfigError
from tlstudio.jobs import run_job
from tlstudio.layout import (
    BackboneLayout,
    LayerInfo,
    ParamCounts,
    fine_tune_counts,
    freeze_config_for,
    frozen_for,
    frozen_or_all,
    head_param_count,
    head_stat_count,
    head_training_counts,
    preset_frozen,
)

SIZE = 32
NUM_CLASSES = 3


def test_importing_layout_does_not_load_tensorflow():
    code = textwrap.dedent(
        """
        import sys
        import tlstudio.layout
        print(sorted(m for m in ("tensorflow", "keras") if m in sys.modules))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"


def test_the_engine_freezes_with_the_shared_function():
    import tlstudio.layout
    import tlstudio.model

    assert tlstudio.model.resolve_freeze is tlstudio.layout.resolve_freeze
    assert tlstudio.model.ParamCounts is tlstudio.layout.ParamCounts


# ---------------------------------------------------------------- toy layout


def _toy_layout() -> BackboneLayout:
    layers = (
        LayerInfo("b1_conv1", "Conv2D", "b1", 10, 0),
        LayerInfo("b1_bn", "BatchNormalization", "b1", 0, 4),
        LayerInfo("b1_conv2", "Conv2D", "b1", 20, 0),
        LayerInfo("b2_conv1", "Conv2D", "b2", 30, 0),
        LayerInfo("b2_conv2", "Conv2D", "b2", 40, 0),
    )
    return BackboneLayout("toy", 32, layers, ("b1", "b2"), (2, 2, 8))


def test_freeze_config_for_picks_the_simplest_mode():
    layout = _toy_layout()
    assert freeze_config_for(layout, {"b1_conv1", "b1_conv2", "b2_conv1", "b2_conv2"}) == FreezeConfig(mode="all")
    assert freeze_config_for(layout, set()) == FreezeConfig(mode="none")
    assert freeze_config_for(layout, {"b1_conv1", "b1_conv2"}) == FreezeConfig(mode="blocks", blocks=("b1",))
    # a partial block cannot be said with blocks: the exact layers, in model order
    assert freeze_config_for(layout, {"b2_conv1", "b1_conv1"}) == FreezeConfig(mode="layers", layers=("b1_conv1", "b2_conv1"))


def test_presets_on_a_toy_layout():
    layout = _toy_layout()
    assert preset_frozen(layout, "all") == {"b1_conv1", "b1_conv2", "b2_conv1", "b2_conv2"}
    assert preset_frozen(layout, "none") == set()
    assert preset_frozen(layout, "last") == {"b1_conv1", "b1_conv2"}
    with pytest.raises(ValueError, match="Received: 'first'"):
        preset_frozen(layout, "first")


def test_counts_on_a_toy_layout():
    layout = _toy_layout()
    # b1 frozen: b2 trains (70) plus the head; b1's convs (30) and the BatchNorm (4) do not
    assert fine_tune_counts(layout, {"b1_conv1", "b1_conv2"}, 5) == ParamCounts(75, 34, 109)
    assert head_training_counts(layout, 5) == ParamCounts(5, 104, 109)
    assert layout.total_params == 104


# ---------------------------------------------------------------- the head


@pytest.mark.parametrize(
    "head",
    [
        HeadConfig(pooling="avg"),
        HeadConfig(pooling="max", dense=(DenseSpec(16, "relu", 0.1), DenseSpec(8, "gelu"))),
        HeadConfig(pooling="flatten", dense=(DenseSpec(5),)),
        HeadConfig(pooling="flatten"),
        HeadConfig(pooling="avg", dense=(DenseSpec(7), DenseSpec(6, dropout=0.5), DenseSpec(3, "tanh")), dropout=0.3),
    ],
    ids=["avg", "max-2-dense", "flatten-1-dense", "flatten", "avg-3-dense"],
)
def test_head_param_count_matches_a_keras_head(head):
    from tlstudio.model import build_head

    shape = (3, 3, 12)
    keras_head = build_head(head, shape, 4)
    assert head_param_count(head, shape, 4) == sum(math.prod(w.shape) for w in keras_head.trainable_weights)
    assert head_param_count(head, shape, 4) + head_stat_count(head, shape) == keras_head.count_params()


def test_head_param_count_refuses_what_the_engine_refuses():
    with pytest.raises(ConfigError, match="Received: num_classes=1"):
        head_param_count(HeadConfig(), (1, 1, 8), 1)
    with pytest.raises(ConfigError, match=r"Received: \(8,\)"):
        head_param_count(HeadConfig(), (8,), 2)


# ------------------------------------------------------- a real small backbone


@pytest.fixture(scope="module", params=["vgg16", "mobilenetv2"])
def real(request):
    """(layout from the engine job, config) of a real backbone at 32 px."""
    config = ModelConfig(backbone=request.param, weights="none", image_size=SIZE, head=HeadConfig(dropout=0.0))
    return run_job("describe_backbone", config), config


def _keras_frozen(config: ModelConfig) -> tuple[set[str], ParamCounts]:
    """Backbone layers Keras leaves non-trainable after apply_freeze, and the model's counts."""
    from tlstudio.model import apply_freeze, build_model, find_backbone, param_counts

    model = build_model(config, NUM_CLASSES)
    apply_freeze(model, config.freeze)
    frozen = {layer.name for layer in find_backbone(model).layers if not layer.trainable}
    return frozen, param_counts(model)


@pytest.mark.parametrize("preset", ["all", "last", "none"])
def test_presets_round_trip_through_the_engine_freeze(real, preset):
    layout, config = real
    wanted = preset_frozen(layout, preset)
    freeze = freeze_config_for(layout, wanted)
    assert freeze.mode == {"all": "all", "last": "blocks", "none": "none"}[preset]
    assert frozen_for(layout, freeze) == wanted
    frozen, counts = _keras_frozen(dataclasses.replace(config, freeze=freeze))
    assert frozen & set(layout.selectable_names) == wanted
    head = head_param_count(config.head, layout.feature_shape, NUM_CLASSES)
    stats = head_stat_count(config.head, layout.feature_shape)
    expected = fine_tune_counts(layout, wanted, head, stats)
    assert (counts.trainable, counts.non_trainable, counts.total) == (expected.trainable, expected.non_trainable, expected.total)
    if preset == "all":  # nothing to fine-tune: the same counts as head training
        assert expected == head_training_counts(layout, head, stats)


def test_a_partial_selection_round_trips_as_layers(real):
    layout, config = real
    names = layout.selectable_names
    wanted = {names[0], names[len(names) // 2]}  # not a whole block
    freeze = freeze_config_for(layout, wanted)
    assert freeze == FreezeConfig(mode="layers", layers=tuple(n for n in names if n in wanted))
    frozen, counts = _keras_frozen(dataclasses.replace(config, freeze=freeze))
    assert frozen & set(names) == wanted
    expected = fine_tune_counts(
        layout, wanted, head_param_count(config.head, layout.feature_shape, NUM_CLASSES), head_stat_count(config.head, layout.feature_shape)
    )
    assert (counts.trainable, counts.non_trainable, counts.total) == (expected.trainable, expected.non_trainable, expected.total)


def test_up_to_a_pooling_layer_is_resolved_like_the_engine():
    layout = run_job("describe_backbone", ModelConfig(backbone="vgg16", weights="none", image_size=SIZE))
    freeze = FreezeConfig(mode="up_to", up_to="block2_pool")  # a layer without weights
    frozen, _counts = _keras_frozen(ModelConfig(backbone="vgg16", weights="none", image_size=SIZE, freeze=freeze))
    assert frozen_for(layout, freeze) == frozen & set(layout.selectable_names) == {
        "block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2"
    }


def test_a_selection_for_another_backbone_is_dropped_with_a_note():
    layout = run_job("describe_backbone", ModelConfig(backbone="vgg16", weights="none", image_size=SIZE))
    stale = FreezeConfig(mode="blocks", blocks=("conv2_x",))
    with pytest.raises(ConfigError, match="Received: blocks=\\['conv2_x'\\]"):
        frozen_for(layout, stale)
    frozen, note = frozen_or_all(layout, stale)
    assert frozen == set(layout.selectable_names)
    assert "does not fit vgg16" in note and "conv2_x" in note

