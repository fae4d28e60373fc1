"""The report's Reproduce command: ``tlstudio-cli train`` parses it back into the run's own config."""

from __future__ import annotations

import dataclasses
import shlex

import pytest

from tlstudio.cli import build_parser
from tlstudio.cli.train_options import build_config
from tlstudio.config import AugmentConfig, DataConfig, DenseSpec, FreezeConfig, HeadConfig, ModelConfig, RunConfig, TrainConfig
from tlstudio.report.command import shell_line, train_command

CONFIGS = {
    "defaults": RunConfig(data=DataConfig(root="/data/photos")),
    "everything": RunConfig(
        data=DataConfig(root="/data/my photos", val_fraction=0.15, test_fraction=0.1, seed=42,
                        augment=AugmentConfig(flip="horizontal_and_vertical", rotation=0.05, zoom=0.1, contrast=0.2, translation=0.1)),
        model=ModelConfig(backbone="resnet50", weights="file:/w/my weights.h5", image_size=160, cut="conv4_block6_out",
                          head=HeadConfig(pooling="max", dense=(DenseSpec(256, "gelu", 0.1), DenseSpec(64, "gelu", 0.1)), dropout=0.3),
                          freeze=FreezeConfig(mode="blocks", blocks=("conv1", "conv2_x"))),
        train=TrainConfig(epochs=4, fine_tune_epochs=3, batch_size=12, optimizer="sgd", learning_rate=3e-3, fine_tune_learning_rate=2e-6,
                          momentum=0.8, weight_decay=0.0, schedule="step", step_every=2, step_gamma=0.25, early_stopping=True, patience=2,
                          monitor="val_loss", class_weights=False, seed=42, feature_cache="off", precision="bfloat16",
                          tensorboard=False, label_smoothing=0.1, deterministic=True),
    ),
    "up_to": RunConfig(data=DataConfig(root="d", seed=9), model=ModelConfig(freeze=FreezeConfig(mode="up_to", up_to="block3_pool")),
                       train=TrainConfig(seed=9, schedule="cosine")),
    "auto head": RunConfig(data=DataConfig(root="d", seed=3), model=ModelConfig(freeze=FreezeConfig(mode="layers", layers=("a", "b"))),
                           train=TrainConfig(seed=3, auto_head=True)),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_the_command_parses_back_into_the_same_config(name):
    config = CONFIGS[name]
    argv, notes = train_command(config)
    words = shlex.split(shell_line(argv))  # through a shell's quoting, spaces in paths included
    assert words[:2] == ["tlstudio-cli", "train"]
    parsed = build_config(build_parser().parse_args(words[1:]))
    expected = config
    if config.train.auto_head:  # --head auto trains the automatic head on the default avg pooling
        expected = dataclasses.replace(config, model=dataclasses.replace(config.model, head=HeadConfig(pooling="avg")))
    if not config.train.early_stopping:  # patience means nothing without early stopping; the CLI sets 1
        expected = dataclasses.replace(expected, train=dataclasses.replace(expected.train, patience=parsed.train.patience))
    assert parsed == expected
    assert notes == []


def test_what_the_command_line_cannot_say_comes_back_as_notes():
    config = RunConfig(
        data=DataConfig(root="d", seed=1, exclude=("/d/a/x.png",), relabel=(("/d/a/y.png", "b"),), max_megapixels=10.0),
        model=ModelConfig(head=HeadConfig(dense=(DenseSpec(8, "relu"), DenseSpec(4, "tanh")))),
        train=TrainConfig(seed=2),
    )
    _, notes = train_command(config)
    text = " ".join(notes)
    assert "seed 1 and training seed 2" in text
    assert "dense layers differ" in text
    assert "10.0 megapixels" in text
    assert "left out 1 image(s) and relabelled 1" in text

