"""The job ``describe_backbone``: a real backbone described as plain, picklable values."""

from __future__ import annotations

import pickle

import pytest

from tlstudio.cancel import CancelToken
from tlstudio.config import FreezeConfig, ModelConfig
from tlstudio.errors import ConfigError
from tlstudio.events import LogMessage, Progress
from tlstudio.jobs import run_job
from tlstudio.jobs.layers import describe_backbone
from tlstudio.model_cache import CACHE
from tlstudio.layout import BackboneLayout

VGG_CONVS = [f"block{b}_conv{c}" for b, n in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3)) for c in range(1, n + 1)]


def _describe(config: ModelConfig) -> tuple[BackboneLayout, list[object]]:
    events: list[object] = []
    layout = describe_backbone(config, sink=events.append, cancel=CancelToken())
    return layout, events


def test_vgg16_layers_blocks_counts_and_shape():
    config = ModelConfig(backbone="vgg16", weights="none", image_size=32, freeze=FreezeConfig(mode="blocks", blocks=("block1",)))
    layout, events = _describe(config)
    assert (layout.key, layout.image_size, layout.feature_shape) == ("vgg16", 32, (1, 1, 512))
    assert layout.selectable_names == VGG_CONVS
    assert layout.blocks == ("block1", "block2", "block3", "block4", "block5")
    assert layout.layers[0].kind == "Conv2D" and layout.layers[0].trainable == 3 * 3 * 3 * 64 + 64
    assert layout.total_params == 14_714_688  # VGG16 without its top, as Keras counts it
    assert "block1_pool" in layout.names and "block1_pool" not in layout.selectable_names
    assert layout.frozen == {"block1_conv1", "block1_conv2"} and layout.note == ""
    assert isinstance(events[0], Progress) and "VGG16" in events[0].message
    assert not any(isinstance(e, LogMessage) for e in events)
    assert pickle.loads(pickle.dumps(layout)) == layout  # plain data: it crosses the process boundary


def test_batchnorm_is_listed_as_fixed_and_not_selectable():
    layout, _events = _describe(ModelConfig(backbone="mobilenetv2", weights="none", image_size=32))
    bn = [layer for layer in layout.layers if layer.kind == "BatchNormalization"]
    assert bn and all(layer.trainable == 0 and layer.fixed > 0 and not layer.selectable for layer in bn)
    assert not set(layout.selectable_names) & {layer.name for layer in bn}
    assert layout.blocks[0] == "stem" and layout.blocks[-1] == "top"
    assert layout.frozen == set(layout.selectable_names)  # the default config freezes everything


def test_a_freeze_selection_for_another_backbone_is_reported_not_swallowed():
    config = ModelConfig(backbone="vgg16", weights="none", image_size=32, freeze=FreezeConfig(mode="blocks", blocks=("conv3_x",)))
    layout, events = _describe(config)
    assert layout.frozen == set(layout.selectable_names)
    assert "does not fit vgg16" in layout.note and "conv3_x" in layout.note
    warnings = [e for e in events if isinstance(e, LogMessage)]
    assert [w.level for w in warnings] == ["warning"] and warnings[0].message == layout.note


def test_the_second_description_reuses_the_cached_backbone():
    config = ModelConfig(backbone="vgg16", weights="none", image_size=48)
    first = run_job("describe_backbone", config)
    loads = CACHE.loads
    second = run_job("describe_backbone", config)
    assert CACHE.loads == loads
    assert second == first


def test_unknown_backbone_is_a_readable_error():
    with pytest.raises(ConfigError, match="Received: backbone='vgg17'"):
        _describe(ModelConfig(backbone="vgg17", weights="none"))


def test_the_job_module_imports_without_tensorflow():
    """The GUI imports job modules for their config dataclasses: they must stay light."""
    import subprocess
    import sys

    code = "import sys, tlstudio.jobs.layers, tlstudio.jobs.data; print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"
