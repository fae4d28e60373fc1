"""``tlstudio-cli evaluate MODEL_OR_RUN [DATA]``: accuracy, per-class table and confusion matrix.

MODEL_OR_RUN is a run folder or an exported model (.keras, .tflite, SavedModel
folder) with the labels.txt or model.json written next to it. Without DATA a
run folder is evaluated on its own dataset and split; a DATA folder given with
a run folder is split with the run's seed and fractions, and with an exported
model with the default ones (use --split all to evaluate every image).

--csv is refused (exit 2, before any work) when it names an image, the model
or a file inside the dataset folder.

Exit 0 on success, 1 when the model or run folder cannot be used, 2 for a bad
command line, 3 when there is no usable dataset to evaluate on.
"""

from __future__ import annotations

import argparse
import json
import sys

from tlstudio.cli import EXIT_OK, UsageError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate a run or an exported model: accuracy, per-class table, confusion matrix",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument("model", metavar="MODEL_OR_RUN", help="run folder, .keras/.tflite file or SavedModel folder")
    parser.add_argument("data", metavar="DATA", nargs="?", default=None, help="dataset folder (default: the run's own dataset)")
    parser.add_argument("--split", choices=("val", "test", "train", "all"), default="val", help="which images to evaluate (default val)")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON on stdout")
    parser.add_argument("--csv", metavar="FILE", default=None, help="write one row per image (path, true, predicted, probabilities)")
    parser.add_argument("--mistakes", type=int, default=5, metavar="N", help="list the N most confident mistakes (default 5, 0 = none)")
    from tlstudio.api.evaluate import EvaluateConfig
    from tlstudio.cli.arguments import add_option

    add_option(parser, EvaluateConfig, "precision", extra="; anything but float32 is an opt-in")
    parser.set_defaults(func=run)


def _progress(event) -> None:
    from tlstudio.events import Progress

    if isinstance(event, Progress) and sys.stderr.isatty():
        end = "\n" if event.done >= event.total else ""
        print(f"\r{event.stage}: {event.message}", end=end, file=sys.stderr, flush=True)


def _print_text(result, mistakes: int) -> None:
    m = result.metrics
    names = m.class_names
    print(f"Model: {result.model_path}")
    print(f"Split: {result.split}, images: {m.num_images}" + (f", unreadable: {len(result.skipped)}" if result.skipped else ""))
    if result.precision != "float32":
        print(f"Precision: {result.precision} (opted in; exported files compute in float32)")
    print(f"Accuracy: {m.accuracy:.4f}   macro F1: {m.macro_f1:.4f}", end="")
    for k, v in m.top_k.items():
        if k > 1:
            print(f"   top-{k}: {v:.4f}", end="")
    if m.calibration is not None:
        print(f"   ECE: {m.calibration.ece:.4f}", end="")
    print()
    width = max(8, *(len(n) for n in names))
    print(f"\n{'class':<{width}}  precision  recall      f1  support  roc_auc      ap")
    areas = {c.name: c for c in m.curves}
    for r in m.per_class:
        c = areas.get(r.name)
        auc = "—" if c is None or c.roc_auc is None else f"{c.roc_auc:.3f}"
        ap = "—" if c is None or c.average_precision is None else f"{c.average_precision:.3f}"
        print(f"{r.name:<{width}}  {r.precision:>9.3f}  {r.recall:>6.3f}  {r.f1:>6.3f}  {r.support:>7}  {auc:>7}  {ap:>6}")
    col = max(6, *(len(n) for n in names))
    print("\nConfusion matrix (rows: true, columns: predicted)")
    print(" " * width + "  " + "  ".join(f"{n:>{col}}" for n in names))
    for i, name in enumerate(names):
        print(f"{name:<{width}}  " + "  ".join(f"{int(c):>{col}}" for c in m.confusion[i]))
    wrong = result.mistakes(mistakes) if mistakes > 0 else []
    if wrong:
        print("\nMost confident mistakes:")
        for r in wrong:
            print(f"  {r.confidence:.3f}  {names[r.true]} -> {names[r.pred]}  {r.path}")
    for path, reason in result.skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)


def _dataset_of(model: str) -> str:
    """The dataset folder a run folder was trained on ("" for an exported model or an unreadable run)."""
    from tlstudio.errors import TlStudioError
    from tlstudio.io.model_files import resolve_model
    from tlstudio.run_folders import RunFolder

    try:
        source = resolve_model(model)
        return RunFolder(source.run_dir).load_config().data.root if source.run_dir else ""
    except TlStudioError:
        return ""  # evaluate_model reports it in its own words


def run(args: argparse.Namespace) -> int:
    if args.csv:  # never over an image, never into the dataset or onto the model: checked before any work
        from tlstudio.io.csv_target import csv_target_problem

        inputs = [args.model, args.data or _dataset_of(args.model)]
        problem = csv_target_problem(args.csv, [i for i in inputs if i])
        if problem:
            raise UsageError(problem)
    if args.data is None:
        from tlstudio.io.model_files import resolve_model

        source = resolve_model(args.model)  # ModelFileError: exit 1 via main
        if not source.run_dir:  # only a run folder knows its own dataset: DATA is a missing argument
            raise UsageError(
                f"{source.model_path} is an exported model, not a run folder: give the DATA folder to evaluate on. "
                "Received: no DATA argument"
            )

    if args.precision == "float32":  # the exported files' numbers
        from tlstudio.evaluation import evaluate_model

        result = evaluate_model(args.model, args.data, split=args.split, sink=_progress)
    else:  # the opt-in: the job makes a private copy of the model in that precision and says what it used
        from tlstudio.api.evaluate import EvaluateConfig
        from tlstudio.jobs import run_job

        def sink(event) -> None:
            from tlstudio.events import LogMessage

            if isinstance(event, LogMessage):
                print(event.message, file=sys.stderr)
            _progress(event)

        result = run_job("evaluate", EvaluateConfig(args.model, args.data, (args.split,), precision=args.precision), sink=sink)[args.split]
    if args.csv:
        result.write_csv(args.csv)
    if args.json:
        data = result.to_dict()
        data["mistakes"] = [
            {"path": r.path, "true": result.class_names[r.true], "pred": result.class_names[r.pred], "confidence": r.confidence}
            for r in result.mistakes(args.mistakes if args.mistakes > 0 else None)
        ]
        print(json.dumps(data, indent=2))
    else:
        _print_text(result, args.mistakes)
    return EXIT_OK
