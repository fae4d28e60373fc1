"""The ``tlstudio-cli train`` command line that repeats a run, from its :class:`~tlstudio.config.RunConfig`.

:func:`train_command` writes every setting the CLI takes as a flag, so that
``tlstudio-cli train`` parses it back into the same config
(``tests/core/report/test_command.py`` checks the round trip); what a flag
cannot say (the project's exclusions and relabels, a data seed apart from the
training seed, dense layers that differ from each other) comes back as notes.
"""

from __future__ import annotations

import shlex

from tlstudio.config import AUTO_BATCH, AugmentConfig, DataConfig, FreezeConfig, HeadConfig, RunConfig, TrainConfig


def _num(value: float) -> str:
    """A float as the shortest text that reads back to the same float."""
    return repr(float(value))


def head_spec(head: HeadConfig) -> str:
    """``avg:dense=256,128:dropout=0.2:activation=relu:dense-dropout=0.1``, the ``--head`` syntax."""
    parts = [head.pooling]
    if head.dense:
        parts.append("dense=" + ",".join(str(d.units) for d in head.dense))
    parts.append(f"dropout={_num(head.dropout)}")
    if head.dense:
        parts.append(f"activation={head.dense[0].activation}")
        if head.dense[0].dropout:
            parts.append(f"dense-dropout={_num(head.dense[0].dropout)}")
    return ":".join(parts)


def freeze_spec(freeze: FreezeConfig) -> str:
    """``all | none | blocks:a,b | up-to:LAYER | layers:a,b``, the ``--freeze`` syntax."""
    if freeze.mode == "blocks":
        return "blocks:" + ",".join(freeze.blocks)
    if freeze.mode == "up_to":
        return f"up-to:{freeze.up_to}"
    if freeze.mode == "layers":
        return "layers:" + ",".join(freeze.layers)
    return freeze.mode


def augment_spec(augment: AugmentConfig) -> str:
    """``flip,rotation=0.1,...`` or ``none``, the ``--augment`` syntax."""
    items = []
    if augment.flip != "none":
        items.append("flip" if augment.flip == "horizontal" else f"flip={augment.flip}")
    for name in ("rotation", "zoom", "contrast", "translation"):
        if getattr(augment, name) > 0:
            items.append(f"{name}={_num(getattr(augment, name))}")
    return ",".join(items) or "none"


def schedule_spec(train: TrainConfig) -> str:
    """``constant | cosine | step:EVERY,GAMMA``, the ``--schedule`` syntax."""
    return f"step:{train.step_every},{_num(train.step_gamma)}" if train.schedule == "step" else train.schedule


def train_command(config: RunConfig) -> tuple[list[str], list[str]]:
    """``(argv, notes)``: the ``tlstudio-cli train`` words that repeat the run, and what they cannot say.

    The command trains the run's planned epochs from scratch, into a new folder
    (``--out`` is left for the user to choose).
    """
    data, model, train = config.data, config.model, config.train
    argv = ["tlstudio-cli", "train", data.root]
    argv += ["--backbone", model.backbone, "--weights", model.weights, "--image-size", str(model.image_size)]
    argv += ["--head", "auto" if train.auto_head else head_spec(model.head), "--freeze", freeze_spec(model.freeze)]
    if model.cut:
        argv += ["--cut", model.cut]
    batch = "auto" if train.batch_size == AUTO_BATCH else str(train.batch_size)
    argv += ["--epochs", str(train.epochs), "--fine-tune-epochs", str(train.fine_tune_epochs), "--batch-size", batch]
    argv += ["--optimizer", train.optimizer, "--lr", _num(train.learning_rate), "--fine-tune-lr", _num(train.fine_tune_learning_rate)]
    argv += ["--momentum", _num(train.momentum), "--weight-decay", _num(train.weight_decay)]
    argv += ["--label-smoothing", _num(train.label_smoothing), "--schedule", schedule_spec(train), "--monitor", train.monitor]
    if train.early_stopping:
        argv += ["--early-stopping", str(max(1, train.patience))]
    if not train.class_weights:
        argv.append("--no-class-weights")
    argv += ["--seed", str(train.seed)]
    if train.deterministic:
        argv.append("--deterministic")
    if train.feature_cache == "off":
        argv.append("--no-feature-cache")
    argv += ["--precision", train.precision]
    argv += ["--val", _num(data.val_fraction), "--test", _num(data.test_fraction), "--augment", augment_spec(data.augment)]
    if not train.tensorboard:
        argv.append("--no-tensorboard")
    notes = []
    if data.seed != train.seed:
        notes.append(f"The split used seed {data.seed} and training seed {train.seed}; the command line has one --seed for both.")
    if len({(d.activation, d.dropout) for d in model.head.dense}) > 1:
        notes.append("The head's dense layers differ in activation or dropout; --head gives them all the first layer's.")
    if data.max_megapixels != DataConfig().max_megapixels:
        notes.append(f"Images above {data.max_megapixels} megapixels were skipped; the command line uses the default limit.")
    if data.exclude or data.relabel:
        notes.append(
            f"The project left out {len(data.exclude)} image(s) and relabelled {len(data.relabel)}; "
            "the command line cannot say so: train from the project in the app, or apply them to the folder."
        )
    if train.early_stopping and train.patience < 1:
        notes.append("Early stopping ran with patience 0; the command line's --early-stopping takes 1 or more.")
    if config.resume_from or config.resume_plan is not None:
        notes.append("The run was resumed; the command trains all its planned epochs in one go.")
    return argv, notes


def shell_line(argv: list[str]) -> str:
    """The words as one line a POSIX shell reads back unchanged."""
    return " ".join(shlex.quote(word) for word in argv)
