"""``tlstudio-cli sample [OUT]``: generate the synthetic shapes dataset.

Without OUT, the dataset is generated once into the tlstudio cache (one
folder per setting) and its path is printed; with OUT, it is written there
(OUT must be empty or new, unless ``--force``). Exit 0 on success, 1 when
OUT cannot be written (or is not empty), 2 for a bad command line.
"""

from __future__ import annotations

import argparse
import json
import os

from tlstudio.cli import EXIT_ERROR, EXIT_OK, EXIT_USAGE, error


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "sample",
        help="generate the synthetic sample dataset (circles, squares, triangles) and print its path",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument("out", metavar="OUT", nargs="?", default=None, help="destination folder (default: the tlstudio cache)")
    parser.add_argument("--per-class", type=int, default=60, metavar="N", help="images per class (default 60)")
    parser.add_argument("--size", type=int, default=64, metavar="PX", help="image side in pixels (default 64)")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="generator seed (default 0)")
    parser.add_argument("--force", action="store_true", help="write into OUT even if it is not empty")
    parser.add_argument("--json", action="store_true", help="print {path, classes, per_class} as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tlstudio.data.sample import CLASSES, generate_sample_dataset, sample_dataset_path

    if args.per_class < 1 or args.size < 16:
        error(f"--per-class must be >= 1 and --size >= 16. Received: --per-class {args.per_class} --size {args.size}")
        return EXIT_USAGE
    if args.out is None:
        path = sample_dataset_path(per_class=args.per_class, size=args.size, seed=args.seed)
    else:
        out = os.path.abspath(args.out)
        if os.path.isfile(out):
            error(f"{out} is a file; give a folder to write the sample dataset into")
            return EXIT_ERROR
        if os.path.isdir(out) and os.listdir(out) and not args.force:
            error(f"{out} is not empty; choose a new folder or pass --force")
            return EXIT_ERROR
        try:
            path = generate_sample_dataset(out, per_class=args.per_class, size=args.size, seed=args.seed)
        except OSError as exc:
            error(f"cannot write {out}: {exc.strerror or exc}")
            return EXIT_ERROR
    if args.json:
        print(json.dumps({"path": str(path), "classes": list(CLASSES), "per_class": args.per_class, "size": args.size}))
    else:
        print(path)
    return EXIT_OK
