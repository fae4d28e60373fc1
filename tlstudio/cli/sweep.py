"""``tlstudio-cli sweep DATA --backbone B --weights W --trials N``: the best small head, in seconds per trial.

Tries heads over the cut point, pooling (average or max), hidden layers,
dropout, learning rate, weight decay, label smoothing and epochs (with
early stopping), each trained on the cached pooled features of the
backbone and scored by stratified k-fold cross-validation on the training
split. ``--seed`` seeds the split, the folds, the trial plan and every
trial's initialisation, so a sweep repeats exactly. ``--resume FILE`` keeps every trial in FILE as it finishes and skips
the trials FILE already holds, so an interrupted sweep continues where it
stopped; a FILE of another sweep is refused and left untouched. Exits 0 on
success, 3 when the dataset cannot be used, 1 when the weights cannot be
loaded or no trial could be scored, 2 for a bad command line and 130 on
Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import math

from tlstudio.cli import EXIT_ERROR, EXIT_OK, UsageError, error
from tlstudio.cli.probe import add_model_arguments, model_configs, progress


def register(subparsers) -> None:
    from tlstudio.api.sweep import SweepConfig
    from tlstudio.cli.arguments import add_option

    parser = subparsers.add_parser(
        "sweep",
        help="search small heads on the cached features by k-fold CV and name the best one",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    add_model_arguments(parser)
    add_option(parser, SweepConfig, "trials", metavar="N", required=True)
    add_option(parser, SweepConfig, "search")
    add_option(parser, SweepConfig, "folds", metavar="K")
    add_option(parser, SweepConfig, "trials_file", "--resume", metavar="FILE")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tlstudio.analysis.promote import promote
    from tlstudio.cli import EXIT_CANCELLED
    from tlstudio.config import to_dict
    from tlstudio.errors import ConfigError
    from tlstudio.jobs import run_job
    from tlstudio.api.sweep import SweepConfig

    data, model = model_configs(args)
    if args.folds < 2:
        raise UsageError(f"--folds must be at least 2. Received: {args.folds}")
    if args.trials < 0 or (args.trials == 0 and args.search != "grid"):
        raise UsageError(f"--trials must be at least 1 (0 only with --search grid). Received: {args.trials}")
    try:
        config = SweepConfig(data, model, trials=args.trials, search=args.search, seed=args.seed, folds=args.folds,
                             trials_file=args.trials_file, feature_batch_size=args.batch_size, precision=args.precision)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    result = run_job("sweep", config, sink=progress)
    if result.cancelled:
        return EXIT_CANCELLED
    best = result.best
    if args.json:
        out = result.to_json()
        out["promoted"] = to_dict(promote(best, config)) if best else None
        print(json.dumps(out, indent=2))
    else:
        _print_table(args, result)
    if best is None:
        error(f"no trial could be scored; every one of the {len(result.trials)} trials failed. "
              f"Received: {result.trials[0].error if result.trials else 'no trials'}")
        return EXIT_ERROR
    return EXIT_OK


def _print_table(args: argparse.Namespace, result) -> None:
    print(f"Sweep of {args.backbone} ({args.weights} weights) heads on {result.num_images} training images, "
          f"{result.folds}-fold CV, chance {result.chance:.3f}{' (features cached)' if result.cache_hit else ''}")
    order = sorted(range(len(result.trials)), key=lambda i: (not result.trials[i].ok,
                   -(result.trials[i].cv_accuracy if not math.isnan(result.trials[i].cv_accuracy) else -1)))
    print(f"{'#':>3}  cv_accuracy  cv_std  seconds  settings")
    for i in order:
        t = result.trials[i]
        score = "     failed        " if not t.ok else f"{t.cv_accuracy:>11.3f}  {t.cv_std:>6.3f}"
        mark = "  <- best" if i == result.best_index else ""
        resumed = " (resumed)" if t.resumed else ""
        tail = f"  {t.error}" if not t.ok else ""
        print(f"{i + 1:>3}  {score}  {t.seconds:>7.1f}  {t.params.label()}{resumed}{mark}{tail}")
    rate = len([t for t in result.trials if not t.resumed]) / result.trials_seconds if result.trials_seconds else 0.0
    print(f"({result.seconds:.1f} s; trials {result.trials_seconds:.1f} s, {rate:.2f} trials/s)")
