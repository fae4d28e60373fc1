"""``tlstudio-cli label suggest|apply``: grow a dataset from an unsorted folder, the images the model is unsure of first.

``label suggest POOL --run RUN`` ranks the images of the unsorted folder POOL
(any sub-folders) for labelling with the run's model and prints the batch;
copies of images already in the dataset are listed as skipped, with the
labelled image they copy. ``label apply DECISIONS.json --dataset DATA`` files
the labelled images (``[{"path": ..., "label": ...}]``) into the dataset's class
folders (``train/CLASS`` when it has split folders), copying them unless
``--move`` is given; a name already there is never overwritten (the new name
is printed). Exits 0 on success, 3 when the decisions name an unknown image or
class (nothing is filed then) or the dataset cannot be used, 1 when some
images could not be filed, 2 for a bad command line and 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json

from tlstudio.cli import EXIT_OK, UsageError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "label",
        help="suggest which unsorted images to label next, and file labelled images into a dataset",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    _suggest_parser(actions)
    _apply_parser(actions)


def _suggest_parser(actions) -> None:
    from tlstudio.api.label import SuggestConfig
    from tlstudio.cli.arguments import add_option

    parser = actions.add_parser("suggest", help="rank the unsorted images for labelling")
    parser.add_argument("pool", metavar="POOL", help="folder of unsorted images (any sub-folders)")
    parser.add_argument("--run", required=True, metavar="RUN", help="run folder whose model scores the images")
    parser.add_argument("--dataset", default="", metavar="DATA", help="the labelled dataset (default: the run's)")
    add_option(parser, SuggestConfig, "n", metavar="N")
    add_option(parser, SuggestConfig, "strategy")
    add_option(parser, SuggestConfig, "seed", metavar="S")
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    parser.set_defaults(func=run_suggest)


def _apply_parser(actions) -> None:
    parser = actions.add_parser("apply", help="copy (or move) labelled images into the dataset's class folders")
    parser.add_argument("decisions", metavar="DECISIONS.json", help='a JSON list [{"path": IMAGE, "label": CLASS}, ...]')
    parser.add_argument("--dataset", required=True, metavar="DATA", help="the dataset folder to file the images into")
    parser.add_argument("--move", action="store_true", help="move the images instead of copying them (copying is the default)")
    parser.add_argument("--new-class", action="append", default=[], metavar="NAME",
                        help="allow this class, which the dataset does not have yet (repeatable)")
    parser.add_argument("--json", action="store_true", help="print what was filed where as JSON on stdout")
    parser.set_defaults(func=run_apply)


def run_suggest(args: argparse.Namespace) -> int:
    from tlstudio.api.label import SuggestConfig
    from tlstudio.cli import EXIT_CANCELLED
    from tlstudio.cli.probe import progress
    from tlstudio.config import DataConfig
    from tlstudio.errors import ConfigError
    from tlstudio.jobs import run_job

    try:
        config = SuggestConfig(pool=args.pool, run_dir=args.run, data=DataConfig(root=args.dataset), n=args.n,
                               strategy=args.strategy, seed=args.seed)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    result = run_job("label_suggest", config, sink=progress)
    if result.cancelled:
        return EXIT_CANCELLED
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return EXIT_OK
    print(f"{len(result.suggestions)} of {result.pool_size} images to label ({result.strategy}), {result.seconds:.1f} s")
    for s in result.suggestions:
        print(f"  {s.rank:3d}  {s.suggested} {s.probability:.2f} (margin {s.margin:.2f})  {s.path}")
    if result.skipped:
        print(f"\nSkipped: {len(result.skipped)}")
        for s in result.skipped:
            print(f"  {s.path}: {s.reason}")
    return EXIT_OK


def read_decisions(path: str) -> list[tuple[str, str]]:
    """``[(image, class)]`` from a decisions file.

    Raises:
        DataError: the file cannot be read or is not a list of ``{"path", "label"}`` objects (names the entry).
    """
    import os

    from tlstudio.errors import DataError

    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: expected a JSON list of {{\"path\", \"label\"}} objects. Received: {exc}") from None
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of {{\"path\", \"label\"}} objects. Received: {type(data).__name__}")
    out = []
    for i, entry in enumerate(data):
        ok = isinstance(entry, dict) and all(isinstance(entry.get(k), str) and entry.get(k) for k in ("path", "label"))
        if not ok:
            raise DataError(f"{path}: entry [{i}] must be {{\"path\": IMAGE, \"label\": CLASS}}. Received: {json.dumps(entry)[:80]}")
        out.append((os.path.abspath(entry["path"]), entry["label"]))
    return out


def run_apply(args: argparse.Namespace) -> int:
    import os

    from tlstudio.cli import EXIT_DATA, EXIT_ERROR, error
    from tlstudio.data.labelling import apply_labels, check_decisions
    from tlstudio.data.scan import scan_folder

    decisions = read_decisions(args.decisions)
    scan = scan_folder(args.dataset)
    classes = set(scan.class_names) | set(args.new_class)
    images = [p for p, _ in decisions if os.path.isfile(p)]
    problems = check_decisions(decisions, images, classes)
    if problems:
        for line in problems:
            error(f"{args.decisions}: {line}")
        error("nothing was filed. Received: " + f"{len(problems)} problem(s)")
        return EXIT_DATA
    batch = apply_labels(decisions, args.dataset, move=args.move)
    if args.json:
        print(json.dumps(batch.to_json(), indent=2))
    else:
        verb = "moved" if args.move else "copied"
        for p in batch.placed:
            note = "  (renamed: a file of that name was there)" if p.renamed else ""
            print(f"{verb} {p.source} -> {p.target}{note}")
    for message in batch.errors:
        error(message)
    return EXIT_ERROR if batch.errors else EXIT_OK
