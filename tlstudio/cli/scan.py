"""``tlstudio-cli scan DATA``: validate a dataset folder and show how it splits.

Prints the classes, the valid images per class, the split counts, the class
weights, every skipped file with its reason and every class folder skipped
because it has no valid training image. Exits 0 when the data can train a
classifier (at least two usable classes), 3 when it cannot (the reason goes
to stderr) and 2 for a bad command line. File names that are not valid UTF-8 are printed as their
original bytes, as ``ls`` prints them.
"""

from __future__ import annotations

import argparse
import json
import sys

from tlstudio.cli import EXIT_DATA, EXIT_OK, EXIT_USAGE, error
from tlstudio.cli.arguments import add_option
from tlstudio.config import DataConfig


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "scan",
        help="validate a dataset folder and print class counts, split and skipped files",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument("data", metavar="DATA", help="dataset folder: DATA/<class>/* or DATA/{train,val,test}/<class>/*")
    parser.add_argument("--json", action="store_true", help="print the dataset report as JSON on stdout")
    add_option(parser, DataConfig, "val_fraction", "--val", metavar="F")
    add_option(parser, DataConfig, "test_fraction", "--test", metavar="F")
    add_option(parser, DataConfig, "seed", metavar="N")
    add_option(parser, DataConfig, "max_megapixels", metavar="MP")
    parser.add_argument("--no-cache", action="store_true", help="decode every file again instead of using the validation cache")
    parser.set_defaults(func=run)


def _progress(event) -> None:
    from tlstudio.events import Progress

    if isinstance(event, Progress) and sys.stderr.isatty():
        end = "\n" if event.done >= event.total else ""
        print(f"\r{event.message}", end=end, file=sys.stderr, flush=True)


def _print_report(data: dict) -> None:
    split_counts = data.get("counts")
    print(f"Dataset: {data['root']} ({data['layout']} layout)")
    print(f"Classes: {len(data['class_names'])}; files: {data['num_files']}, valid: {data['num_valid']}, skipped: {data['num_skipped']}")
    print(f"Validated in {data['seconds']:.2f} s ({data['cache_hits']} cached)")
    names = data["class_names"]
    if names:
        width = max(8, *(len(n) for n in names))
        if split_counts:
            splits = [s for s in ("train", "val", "test") if any(split_counts[s].values())] or ["train"]
            print(f"\n{'class':<{width}}  " + "  ".join(f"{s:>6}" for s in splits) + "   weight")
            for name in names:
                cells = "  ".join(f"{split_counts[s][name]:>6}" for s in splits)
                print(f"{name:<{width}}  {cells}   {data['class_weights'][name]:.3f}")
            print(f"{'total':<{width}}  " + "  ".join(f"{sum(split_counts[s].values()):>6}" for s in splits))
        else:
            for split, per_class in data["valid_counts"].items():
                label = "" if split == "all" else f" ({split})"
                print(f"\nValid images{label}:")
                for name in names:
                    print(f"  {name:<{width}}  {per_class.get(name, 0):>6}")
    if data["warnings"]:
        print("\nWarnings:")
        for warning in data["warnings"]:
            print(f"  {warning}")
    if data.get("skipped_classes"):
        print(f"\nSkipped classes ({len(data['skipped_classes'])}):")
        for c in data["skipped_classes"]:
            print(f"  {c['name']}: {c['reason']}")
    if data["skipped"]:
        print(f"\nSkipped files ({len(data['skipped'])}):")
        for s in data["skipped"]:
            print(f"  {s['path']}: {s['reason']}")


def run(args: argparse.Namespace) -> int:
    from tlstudio.config import DataConfig
    from tlstudio.data.prepare import assemble, check_usable, usable_classes
    from tlstudio.data.scan import scan_folder
    from tlstudio.data.split import split_items
    from tlstudio.data.validate import validate_files
    from tlstudio.errors import ConfigError, DataError

    try:
        config = DataConfig(
            root=args.data, val_fraction=args.val_fraction, test_fraction=args.test_fraction, seed=args.seed, max_megapixels=args.max_megapixels
        )
    except ConfigError as exc:
        error(str(exc))
        return EXIT_USAGE
    scan = scan_folder(config.root)  # DataError for a missing folder: exit 3 via main
    report = validate_files(
        scan, max_megapixels=config.max_megapixels, use_cache=not args.no_cache, sink=None if args.json else _progress
    )
    report = usable_classes(report)  # empty class folders are skipped, listed with their reason
    problem = None
    try:
        check_usable(report)
        data = assemble(report, split_items(report, config), config.seed).to_dict()
        data.update(val_fraction=config.val_fraction, test_fraction=config.test_fraction)
    except DataError as exc:
        problem = str(exc)
        data = report.to_dict()
    data["usable"] = problem is None
    data["error"] = problem
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        _print_report(data)
    if problem is not None:
        error(problem)
        return EXIT_DATA
    return EXIT_OK
