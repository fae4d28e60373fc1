"""``tlstudio-cli probe DATA --backbone B --weights W``: which layer of a backbone transfers best.

Scores a linear probe (standardised pooled features, multinomial logistic
regression) at every cut point of the backbone by stratified k-fold
cross-validation on the training split, and names the best cut. The pooled
features of every cut are computed in one pass and cached, so a second probe
or an audit of the same data takes seconds. Exits 0 on success, 3 when the
dataset cannot be used, 1 when the weights cannot be loaded, 2 for a bad
command line and 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import sys

from tlstudio.cli import EXIT_OK, UsageError


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The dataset, backbone and feature options that ``probe`` and ``audit`` share."""
    from tlstudio.api.probe import ProbeConfig
    from tlstudio.cli.arguments import add_option, add_positional
    from tlstudio.config import DataConfig, ModelConfig

    add_positional(parser, DataConfig, "root", "DATA", required=True)
    add_option(parser, ModelConfig, "backbone", metavar="B", required=True)
    add_option(parser, ModelConfig, "weights", metavar="W", required=True)
    add_option(parser, ModelConfig, "image_size", metavar="N")
    add_option(parser, DataConfig, "val_fraction", "--val", metavar="F", extra=" of a flat folder")
    add_option(parser, DataConfig, "seed", metavar="N", extra=" (also the folds' seed)")
    add_option(parser, ProbeConfig, "batch_size", metavar="N")
    add_option(parser, ProbeConfig, "precision")  # the one description, shared with TrainConfig's
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")


def model_configs(args: argparse.Namespace):
    """``(DataConfig, ModelConfig)`` from the shared options; a bad value is a :class:`UsageError`."""
    from tlstudio import backbones
    from tlstudio.config import DataConfig, ModelConfig
    from tlstudio.errors import ConfigError

    try:
        backbones.get_spec(args.backbone)
        data = DataConfig(root=args.root, val_fraction=args.val_fraction, seed=args.seed)
        model = ModelConfig(backbone=args.backbone, weights=args.weights, image_size=args.image_size)
        backbones.resolve_image_size(args.backbone, args.image_size)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1. Received: {args.batch_size}")
    return data, model


def progress(event) -> None:
    """Print progress and warnings on stderr (progress only on a terminal)."""
    from tlstudio.events import LogMessage, Progress

    if isinstance(event, Progress) and sys.stderr.isatty():
        end = "\n" if event.total and event.done >= event.total else ""
        print(f"\r\033[K{event.message}", end=end, file=sys.stderr, flush=True)
    elif isinstance(event, LogMessage) and event.level in ("warning", "error"):
        print(f"tlstudio-cli: {event.level}: {event.message}", file=sys.stderr, flush=True)


def register(subparsers) -> None:
    from tlstudio.api.probe import ProbeConfig
    from tlstudio.cli.arguments import add_option

    parser = subparsers.add_parser(
        "probe",
        help="score a linear probe at every cut of a backbone and name the layer that transfers best",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    add_model_arguments(parser)
    add_option(parser, ProbeConfig, "folds", metavar="K")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tlstudio.cli import EXIT_CANCELLED
    from tlstudio.jobs import run_job
    from tlstudio.api.probe import ProbeConfig

    data, model = model_configs(args)
    if args.folds < 2:
        raise UsageError(f"--folds must be at least 2. Received: {args.folds}")
    result = run_job("probe", ProbeConfig(data, model, folds=args.folds, batch_size=args.batch_size, precision=args.precision), sink=progress)
    if result.cancelled:
        return EXIT_CANCELLED
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return EXIT_OK
    width = max(len(c.layer) for c in result.cuts)
    print(f"Probe of {args.backbone} ({args.weights} weights) on {result.num_images} training images, "
          f"{result.folds}-fold CV, chance {result.chance:.3f}{' (features cached)' if result.cache_hit else ''}")
    print(f"{'cut':<{width}}  features  cv_accuracy  cv_std")
    for c in result.cuts:
        mark = "  <- best" if c.layer == result.best else ""
        print(f"{c.layer:<{width}}  {c.features:>8}  {c.cv_accuracy:>11.3f}  {c.cv_std:>6.3f}{mark}")
    print(result.explanation)
    print(f"({result.seconds:.1f} s)")
    return EXIT_OK
