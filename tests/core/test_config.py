"""Stage configs are frozen, validate their values, and round-trip through JSON."""

import dataclasses
import json

import pytest

from tlstudio.config import (
    AugmentConfig,
    DataConfig,
    DenseSpec,
    ExportConfig,
    FreezeConfig,
    HeadConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
    from_dict,
    from_json,
    to_dict,
    to_json,
)
from tlstudio.errors import ConfigError


def _full_run_config() -> RunConfig:
    return RunConfig(
        data=DataConfig(root="/data/pets", val_fraction=0.25, test_fraction=0.1, seed=7,
                        augment=AugmentConfig(flip="horizontal", rotation=0.1, zoom=0.2)),
        model=ModelConfig(
            backbone="resnet50", weights="file:/tmp/w.weights.h5", image_size=160,
            head=HeadConfig(pooling="max", dense=(DenseSpec(128, "relu", 0.3), DenseSpec(64, "gelu", 0.0)), dropout=0.1),
            freeze=FreezeConfig(mode="blocks", blocks=("conv1", "conv2_x")),
        ),
        train=TrainConfig(epochs=3, fine_tune_epochs=2, optimizer="adamw", schedule="cosine",
                          label_smoothing=0.1, auto_head=True),
        run_dir="/tmp/run1",
    )


@pytest.mark.parametrize(
    "config",
    [DataConfig(), ModelConfig(), TrainConfig(), ExportConfig(formats=("keras", "tflite")), _full_run_config()],
    ids=lambda c: type(c).__name__,
)
def test_round_trip(config):
    text = to_json(config)
    json.loads(text)  # valid JSON
    back = from_json(type(config), text)
    assert back == config
    assert type(back) is type(config)


def test_nested_types_are_restored():
    back = from_json(RunConfig, to_json(_full_run_config()))
    assert isinstance(back.model.head.dense, tuple)
    assert isinstance(back.model.head.dense[0], DenseSpec)
    assert back.model.freeze.blocks == ("conv1", "conv2_x")
    assert isinstance(back.data.augment, AugmentConfig)


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainConfig().epochs = 3  # type: ignore[misc]


def test_unknown_keys_ignored_and_missing_keys_defaulted():
    data = to_dict(TrainConfig(epochs=9))
    data["from_the_future"] = 1
    del data["batch_size"]
    cfg = from_dict(TrainConfig, data)
    assert cfg.epochs == 9 and cfg.batch_size == TrainConfig().batch_size


@pytest.mark.parametrize(
    "factory, fragment",
    [
        (lambda: TrainConfig(optimizer="rmsprop"), "Received: 'rmsprop'"),
        (lambda: TrainConfig(epochs=0, fine_tune_epochs=0), "at least one epoch"),
        (lambda: DataConfig(val_fraction=0.6, test_fraction=0.5), "leave images to train"),
        (lambda: HeadConfig(dense=(DenseSpec(),) * 4), "at most 3"),
        (lambda: ModelConfig(weights="imagenet21k"), "Received: weights='imagenet21k'"),
        (lambda: FreezeConfig(mode="up_to"), "needs a layer name"),
        (lambda: ExportConfig(formats=("pt",)), "unknown export format"),
        (lambda: AugmentConfig(rotation=2.0), "rotation must be within"),
        (lambda: TrainConfig(label_smoothing=1.0), "Received: label_smoothing=1.0"),
        (lambda: TrainConfig(label_smoothing=-0.1), "Received: label_smoothing=-0.1"),
        (lambda: TrainConfig(auto_head=1), "auto_head must be true or false. Received: auto_head=1"),
    ],
)
def test_bad_values_raise_clear_errors(factory, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        factory()


def test_invalid_json_names_the_config():
    with pytest.raises(ConfigError, match="TrainConfig JSON is not valid"):
        from_json(TrainConfig, "{not json")


@pytest.mark.parametrize(
    "cls, data, fragment",
    [
        (TrainConfig, {"batch_size": 2.5}, "batch_size must be a whole number. Received: batch_size=2.5"),
        (TrainConfig, {"seed": "x"}, 'seed must be a whole number. Received: seed="x"'),
        (TrainConfig, {"early_stopping": "yes"}, 'early_stopping must be true or false. Received: early_stopping="yes"'),
        (TrainConfig, {"epochs": True}, "epochs must be a whole number. Received: epochs=true"),
        (TrainConfig, {"learning_rate": "fast"}, 'learning_rate must be a number. Received: learning_rate="fast"'),
        (DataConfig, {"seed": -1}, "seed must be a whole number within [0, 2**32). Received: seed=-1"),
        (ModelConfig, {"weights": 5}, "weights must be a text. Received: weights=5"),
        (ModelConfig, {"head": {"dense": [{"units": "many"}]}}, 'head.dense[0].units must be a whole number. Received: head.dense[0].units="many"'),
        (ModelConfig, {"head": []}, "head must hold a JSON object (the HeadConfig settings). Received: []"),
        (TrainConfig, {"momentum": 1.5}, "momentum must be within [0, 1). Received: momentum=1.5"),
        (TrainConfig, {"label_smoothing": "a"}, 'label_smoothing must be a number. Received: label_smoothing="a"'),
        (TrainConfig, {"label_smoothing": 1}, "label_smoothing must be a number within [0, 1). Received: label_smoothing=1"),
        (TrainConfig, {"auto_head": "yes"}, 'auto_head must be true or false. Received: auto_head="yes"'),
    ],
)
def test_from_dict_refuses_wrong_types_and_ranges_naming_the_field(cls, data, fragment):
    with pytest.raises(ConfigError) as info:
        from_dict(cls, data)
    assert fragment in str(info.value)


def test_from_dict_prefixes_the_place_in_a_larger_file():
    with pytest.raises(ConfigError) as info:
        from_dict(RunConfig, {"train": {"batch_size": 2.5}})
    assert "train.batch_size must be a whole number. Received: train.batch_size=2.5" in str(info.value)
    with pytest.raises(ConfigError) as info:
        from_dict(RunConfig, {"train": {"batch_size": -1}})
    assert str(info.value).startswith("train: batch_size must be >= 0. Received: batch_size=-1")


def test_from_dict_accepts_whole_numbers_for_floats_and_lists_for_tuples():
    cfg = from_dict(TrainConfig, {"learning_rate": 1, "epochs": 2})
    assert cfg.learning_rate == 1.0 and isinstance(cfg.learning_rate, float)
    head = from_dict(HeadConfig, {"dense": [{"units": 8}]})
    assert head.dense == (DenseSpec(units=8),)


def test_label_smoothing_and_auto_head_round_trip_and_default_off():
    assert TrainConfig().label_smoothing == 0.0 and TrainConfig().auto_head is False
    back = from_json(TrainConfig, to_json(TrainConfig(label_smoothing=0.2, auto_head=True)))
    assert back.label_smoothing == 0.2 and back.auto_head is True
    assert from_dict(TrainConfig, {}).label_smoothing == 0.0  # an older file without the fields
