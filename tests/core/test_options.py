"""One description per config option: it drives the defaults, the CLI's flags and help, and validation."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass

import pytest

from tlstudio.cli import build_parser
from tlstudio.cli.arguments import add_option, help_text
from tlstudio.cli.train_options import build_config
from tlstudio.config import DataConfig, ExportConfig, ModelConfig, TrainConfig
from tlstudio.errors import ConfigError
from tlstudio.options import check_options, option, option_of, options


@dataclass(frozen=True)
class _Knobs:
    """A config of its own, so the schema's rules are tested apart from the real configs' numbers."""

    count: int = option(2, label="Count", min=1, max=10, help="how many")
    share: float = option(0.5, label="Share", min=0.0, max=1.0, min_open=True, max_open=True, help="a share")
    mode: str = option("a", label="Mode", choices=("a", "b"), help="the mode", tooltip="Longer words for a form")
    flag: bool = option(False, label="Flag", help="a switch")

    def __post_init__(self) -> None:
        check_options(self)


def test_each_field_default_is_its_options_default():
    for cls in (TrainConfig, DataConfig, ModelConfig, ExportConfig):
        config = cls()
        described = options(cls)
        assert described, cls
        for name, opt in described.items():
            assert getattr(config, name) == opt.default, (cls.__name__, name)
    every = {f.name for f in dataclasses.fields(TrainConfig)}
    assert set(options(TrainConfig)) == every  # every training setting is described


def test_option_view_holds_label_help_tooltip_range_and_choices():
    batch = option_of(TrainConfig, "batch_size")
    assert (batch.type, batch.default, batch.label, batch.min, batch.range_text) == (int, 32, "Batch size", 0, ">= 0")
    assert batch.tooltip.startswith("Images per training step")
    assert option_of(TrainConfig, "optimizer").choices == ("adam", "sgd", "adamw")
    assert option_of(TrainConfig, "momentum").range_text == "within [0, 1)"
    assert option_of(TrainConfig, "step_gamma").range_text == "within (0, 1]"
    assert option_of(TrainConfig, "learning_rate").range_text == "> 0"
    assert option_of(TrainConfig, "seed").range_text == "within [0, 2**32)"
    knobs = option_of(_Knobs, "mode")
    assert knobs.tooltip == "Longer words for a form" and option_of(_Knobs, "count").tooltip == "how many"
    with pytest.raises(KeyError, match="has no option 'batch'"):
        option_of(TrainConfig, "batch")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"count": 0}, "count must be within [1, 10]. Received: count=0"),
        ({"count": 11}, "count must be within [1, 10]. Received: count=11"),
        ({"count": 2.5}, "count must be a whole number. Received: count=2.5"),
        ({"count": True}, "count must be a whole number. Received: count=True"),
        ({"share": 0.0}, "share must be within (0, 1). Received: share=0.0"),
        ({"share": 1}, "share must be within (0, 1). Received: share=1"),
        ({"share": "half"}, "share must be a number. Received: share='half'"),
        ({"mode": "c"}, "mode must be one of ('a', 'b'). Received: 'c'"),
        ({"flag": 1}, "flag must be true or false. Received: flag=1"),
    ],
)
def test_check_options_refuses_type_choice_and_range_with_one_message(changes, message):
    with pytest.raises(ConfigError) as info:
        _Knobs(**changes)
    assert str(info.value) == message


def test_check_options_accepts_the_bounds_that_are_closed():
    assert _Knobs(count=1).count == 1 and _Knobs(count=10).count == 10
    assert _Knobs(share=0.999).share == 0.999 and _Knobs(mode="b", flag=True).flag is True


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"batch_size": -1}, "batch_size must be >= 0. Received: batch_size=-1"),
        ({"step_gamma": 0.0}, "step_gamma must be within (0, 1]. Received: step_gamma=0.0"),
        ({"learning_rate": 0.0}, "learning_rate must be > 0. Received: learning_rate=0.0"),
        ({"monitor": "f1"}, "monitor must be one of ('val_accuracy', 'val_loss', 'accuracy', 'loss'). Received: 'f1'"),
        ({"patience": "3"}, "patience must be a whole number. Received: patience='3'"),
        ({"feature_cache": "on"}, "feature_cache must be one of ('auto', 'off'). Received: 'on'"),
    ],
)
def test_train_config_validation_comes_from_its_options(changes, message):
    with pytest.raises(ConfigError) as info:
        TrainConfig(**changes)
    assert str(info.value) == message


def test_add_option_builds_the_flag_from_the_schema():
    parser = argparse.ArgumentParser()
    add_option(parser, _Knobs, "count", metavar="N")
    add_option(parser, _Knobs, "share", "--part")
    add_option(parser, _Knobs, "mode")
    add_option(parser, _Knobs, "flag")
    args = parser.parse_args([])
    assert (args.count, args.share, args.mode, args.flag) == (2, 0.5, "a", False)
    args = parser.parse_args(["--count", "3", "--part", "0.25", "--mode", "b", "--flag"])
    assert (args.count, args.share, args.mode, args.flag) == (3, 0.25, "b", True)
    assert isinstance(args.count, int) and isinstance(args.share, float)
    with pytest.raises(SystemExit):
        parser.parse_args(["--mode", "c"])  # the option's choices
    text = parser.format_help()
    assert "how many (within [1, 10]; default 2)" in text
    assert "--part" in text and "a share (within (0, 1); default 0.5)" in text
    assert help_text(option_of(DataConfig, "val_fraction")) == "validation fraction per class (within [0, 1); default 0.2)"


def _train_parser() -> argparse.ArgumentParser:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001 - argparse's own API
    return sub.choices["train"]


def test_cli_train_defaults_choices_and_help_come_from_train_config():
    train = _train_parser()
    config = build_config(train.parse_args(["photos"]))
    # every field at its option's default; patience is what --early-stopping N sets (1 when off)
    assert dataclasses.replace(config.train, patience=TrainConfig().patience) == TrainConfig()
    assert config.data.val_fraction == DataConfig().val_fraction and config.model == ModelConfig()
    actions = {a.dest: a for a in train._actions}  # noqa: SLF001
    assert tuple(actions["optimizer"].choices) == option_of(TrainConfig, "optimizer").choices
    assert tuple(actions["monitor"].choices) == option_of(TrainConfig, "monitor").choices
    assert "--lr" in actions["learning_rate"].option_strings
    text = train.format_help()
    assert "global batch size; 0 (auto) picks the largest whose estimated memory fits (>= 0; default 32)" in " ".join(text.split())
    assert "SGD momentum (within [0, 1); default 0.9)" in " ".join(text.split())


def test_cli_train_flags_set_the_fields_and_bad_values_get_the_config_message():
    train = _train_parser()
    config = build_config(train.parse_args(["photos", "--lr", "0.01", "--batch-size", "8", "--optimizer", "sgd", "--val", "0.3"]))
    assert (config.train.learning_rate, config.train.batch_size, config.train.optimizer) == (0.01, 8, "sgd")
    assert config.data.val_fraction == 0.3
    with pytest.raises(ConfigError, match=r"momentum must be within \[0, 1\)\. Received: momentum=1\.5"):
        build_config(train.parse_args(["photos", "--momentum", "1.5"]))
    with pytest.raises(SystemExit):
        train.parse_args(["photos", "--monitor", "f1"])


# --------------------------------------------------------------------------- one description, nothing restated

_STAGES = (DataConfig, ModelConfig, TrainConfig)


def _configs_within(cls: type) -> list[type]:
    """``cls`` and every config dataclass nested in its fields' defaults (HeadConfig, AugmentConfig...), each once."""
    found = [cls]
    for f in dataclasses.fields(cls):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default) and type(default) not in found:
            found += [c for c in _configs_within(type(default)) if c not in found]
    return found


def test_every_field_a_user_sets_has_its_one_description():
    from tlstudio.config import AugmentConfig, DenseSpec, FreezeConfig, HeadConfig

    within = [c for stage in _STAGES for c in _configs_within(stage)]
    assert {AugmentConfig, HeadConfig, FreezeConfig}.issubset(within)
    for cls in [*within, DenseSpec]:
        missing = [f.name for f in dataclasses.fields(cls) if f.name not in options(cls)]
        assert not missing, f"{cls.__name__} fields without an option: {missing}"
        for name, opt in options(cls).items():
            assert opt.label and opt.help and opt.tooltip, (cls.__name__, name)
            assert opt.label[0].isupper() and not opt.label.endswith(":"), (cls.__name__, name, opt.label)
    labels = [opt.label for opt in options(TrainConfig).values()]
    assert len(labels) == len(set(labels))  # one form, no two rows named alike


def test_every_cli_train_flag_is_built_from_its_fields_description():
    from tlstudio.cli.arguments import DESCRIBES

    train = _train_parser()
    described = {}
    for action in train._actions:  # noqa: SLF001 - argparse's own API
        if isinstance(action, argparse._HelpAction) or action.dest == "json":  # noqa: SLF001
            continue
        opt = getattr(action, DESCRIBES, None)
        name = action.option_strings[0] if action.option_strings else action.metavar
        assert opt is not None, f"{name} is written by hand: build it with tlstudio.cli.arguments"
        described[name] = opt
        if action.help.startswith("the same as "):  # an alias names the flag it spells differently
            other = action.help.split()[3]
            assert getattr(next(a for a in train._actions if other in a.option_strings), DESCRIBES) is opt  # noqa: SLF001
        elif action.help.startswith("do not "):
            assert action.help == f"do not {opt.help}" and opt.default is True, name
        else:
            assert action.help.startswith(opt.help.replace("%", "%%")), (name, action.help, opt.help)
        if opt.choices is not None and action.choices is not None:
            assert tuple(action.choices) == opt.choices, name
        if action.option_strings and action.type in (int, float) and action.default is not None:
            assert action.default == opt.default, name
    # every setting of a run has its flag: patience rides on --early-stopping N, step_* on --schedule step:N,G,
    # auto_head on --head auto; the project's decisions and the size limit are not the command line's
    shown = {opt.name for opt in described.values()}
    riders = ("patience", "step_every", "step_gamma", "auto_head", "max_megapixels", "exclude", "relabel", "train_only")
    for cls in _STAGES:
        ours = {n for n in options(cls) if n not in riders}
        assert ours <= shown, f"{cls.__name__} options without a flag: {sorted(ours - shown)}"


def test_the_flags_that_parse_a_syntax_set_the_same_fields_as_before():
    train = _train_parser()
    config = build_config(train.parse_args([
        "photos", "--head", "max:dense=16", "--freeze", "none", "--augment", "flip", "--schedule", "step:2,0.5",
        "--early-stopping", "4", "--no-class-weights", "--no-feature-cache", "--no-tensorboard", "--out", "o",
    ]))
    assert config.model.head.pooling == "max" and config.model.head.dense[0].units == 16
    assert config.model.freeze.mode == "none" and config.data.augment.flip == "horizontal"
    assert (config.train.schedule, config.train.step_every, config.train.step_gamma) == ("step", 2, 0.5)
    assert config.train.early_stopping and config.train.patience == 4
    assert (config.train.class_weights, config.train.feature_cache, config.train.tensorboard) == (False, "off", False)
    assert config.run_dir == "o" and config.data.root == "photos"
    assert build_config(train.parse_args(["photos", "--feature-cache", "off"])).train.feature_cache == "off"
