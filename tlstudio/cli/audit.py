"""``tlstudio-cli audit DATA --backbone B --weights W``: find duplicates, leaks, mislabelled images and outliers.

Reads every split and changes no file. Lists exact and near duplicates
(groups spanning splits are leaks), images whose folder the out-of-fold head
disagrees with (given and suggested class, most suspicious first),
outliers in feature space, and the class balance with advice. Exits 0 on
success (findings are not errors), 3 when the dataset cannot be used, 1 when
the weights cannot be loaded, 2 for a bad command line and 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json

from tlstudio.cli import EXIT_OK, UsageError
from tlstudio.cli.probe import add_model_arguments, model_configs, progress


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "audit",
        help="find duplicates, train/val leaks, mislabelled images, outliers and class imbalance",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    add_model_arguments(parser)
    parser.add_argument("--folds", type=int, default=5, metavar="K", help="folds of the out-of-fold head fits (default 5)")
    parser.add_argument("--cut", default="", metavar="LAYER", help="cut layer whose features are used (default: the best-scoring cut)")
    parser.add_argument("--limit", type=int, default=20, metavar="N", help="suspects listed per finding in text output (default 20)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tlstudio.cli import EXIT_CANCELLED
    from tlstudio.errors import ConfigError
    from tlstudio.jobs import run_job
    from tlstudio.api.audit import AuditConfig

    data, model = model_configs(args)
    if args.limit < 1:
        raise UsageError(f"--limit must be at least 1. Received: {args.limit}")
    try:
        config = AuditConfig(data, model, cut=args.cut, folds=args.folds, batch_size=args.batch_size, precision=args.precision)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    result = run_job("audit", config, sink=progress)
    if result.cancelled:
        return EXIT_CANCELLED
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return EXIT_OK
    _print(result, args.limit)
    return EXIT_OK


def _print(result, limit: int) -> None:
    print(f"Audit of {result.num_images} images ({len(result.class_names)} classes) on {result.cut} features, {result.seconds:.1f} s")
    leaks = result.leaks
    print(f"\nDuplicates: {len(result.duplicates)} group(s), {len(leaks)} spanning splits (leaks)")
    for g in result.duplicates[:limit]:
        tag = "LEAK " if g.cross_split else ""
        print(f"  {tag}{g.kind} (similarity {g.similarity:.3f}):")
        for path, split in zip(g.paths, g.splits):
            print(f"    [{split}] {path}")
    print(f"\nLabel issues: {len(result.label_issues)} suspect(s), most suspicious first")
    for issue in result.label_issues[:limit]:
        print(f"  {issue.score:.3f}  {issue.path}  given '{issue.given}', looks like '{issue.suggested}'")
    print(f"\nOutliers: {len(result.outliers)}")
    for o in result.outliers[:limit]:
        print(f"  {o.path}: {o.describe()}")
    counts = ", ".join(f"{name} {n}" for name, n in result.imbalance.counts.items())
    print(f"\nClass balance: {counts} (ratio {result.imbalance.ratio:.2f})")
    print(f"  {result.imbalance.advice}")
