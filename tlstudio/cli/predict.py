"""tlstudio-cli predict MODEL IMG_OR_DIR...: top-k classes for image files.

MODEL is an exported .keras file, a SavedModel folder, a .tflite or
.onnx file, or a run folder. Folders of images are searched recursively.
Images are read like training reads them (EXIF orientation, RGB, resize).
A file that cannot be read gets a row with its error and does not stop the
others. Exit 0 when every file was predicted, 1 when some could not be read
(or the model could not be loaded), 2 for a bad command line, 3 when no image
files were found. --csv is refused (exit 2, before any prediction) when it
names an image, one of the inputs or a file inside an input folder. When the
file's export certificate (model.json next to it) shows a class whose accuracy
dropped by more than --drop-threshold points against the app, a warning names
it. --csv is written to a temporary file next to OUT.csv and
renamed at the end, so an existing OUT.csv is replaced only by a complete
table. File names that are not valid UTF-8 keep their original bytes in the
CSV and in the printed rows.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys

from tlstudio.cli import EXIT_DATA, EXIT_ERROR, EXIT_OK, EXIT_USAGE, error
from tlstudio.errors import DataError, TlStudioError
from tlstudio.io.atomic import atomic_write_bytes
from tlstudio.io.csv_target import check_not_an_input, csv_target_problem


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="predict the top-k classes of images with an exported model",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument("model", metavar="MODEL", help=".keras, SavedModel folder, .tflite, .onnx or run folder")
    parser.add_argument("images", metavar="IMG_OR_DIR", nargs="+", help="image files or folders")
    parser.add_argument("--top-k", type=int, default=3, metavar="K", help="classes per image (default 3)")
    parser.add_argument("--batch-size", type=int, default=32, metavar="N", help="images per forward pass (default 32)")
    parser.add_argument("--csv", metavar="OUT.csv", help="also write the rows to a CSV file")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON on stdout")
    parser.add_argument("--drop-threshold", type=float, default=1.0, metavar="POINTS",
                        help="warn when the served file's export certificate shows a class accuracy drop above POINTS (default 1)")
    parser.set_defaults(func=run)


def _progress(event) -> None:
    from tlstudio.events import Progress

    if isinstance(event, Progress):
        end = "\n" if event.total and event.done >= event.total else ""
        prefix = "\r" if sys.stderr.isatty() else ""
        if end or prefix:
            print(f"{prefix}{event.message}", end=end, file=sys.stderr, flush=True)


def write_csv(path: str, rows, top_k: int) -> None:
    """Write the rows as CSV: path, then class_i/prob_i pairs, then error.

    The table goes to a temporary file in the same folder, renamed over
    ``path`` once complete (:func:`tlstudio.io.atomic.atomic_write_bytes`):
    an existing file is never truncated before the new table exists, and a
    failed write leaves it as it was. Paths that are not valid UTF-8 are
    written as their original bytes (``surrogateescape``).

    Args:
        path: The CSV file to write.
        rows: :class:`~tlstudio.export.Prediction` rows.
        top_k: The number of class/probability column pairs.

    Raises:
        OSError: The folder is missing or not writable, or the disk is full.
        DataError: ``path`` is an image, or one of the rows' images (nothing written).
    """
    problem = check_not_an_input(path, [row.path for row in rows])
    if problem:
        raise DataError(problem, path=str(path))
    header = ["path"]
    for i in range(1, top_k + 1):
        header += [f"class_{i}", f"prob_{i}"]
    header.append("error")
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for row in rows:
        cells = [row.path]
        for i in range(top_k):
            if i < len(row.top):
                cells += [row.top[i][0], f"{row.top[i][1]:.6f}"]
            else:
                cells += ["", ""]
        cells.append(row.error or "")
        writer.writerow(cells)
    atomic_write_bytes(path, buf.getvalue().encode("utf-8", "surrogateescape"))


GRAPH_CODE_KINDS = {"savedmodel": "SavedModel", "tflite": "TFLite model", "onnx": "ONNX model"}
"""Model formats that execute the computation graph stored in the file (not only weights)."""


def run(args: argparse.Namespace) -> int:
    if args.top_k < 1:
        error(f"--top-k must be at least 1. Received: {args.top_k}")
        return EXIT_USAGE
    if args.batch_size < 1:
        error(f"--batch-size must be at least 1. Received: {args.batch_size}")
        return EXIT_USAGE
    # never over an image, never among the inputs (the model included): checked before any work
    problem = csv_target_problem(args.csv, [*args.images, args.model]) if args.csv else None
    if problem:
        error(problem)
        return EXIT_USAGE

    from tlstudio.export.prediction import collect_images, predict
    from tlstudio.io.model_files import find_model

    try:
        _path, kind, _run_dir = find_model(args.model)
    except TlStudioError:
        kind = ""  # predict() reports the missing or unreadable model in its own words
    if kind in GRAPH_CODE_KINDS:
        print(
            f"note: {args.model} is a {GRAPH_CODE_KINDS[kind]}, which runs the graph code stored in it; "
            "only predict with such files from a source you trust.",
            file=sys.stderr,
        )

    from tlstudio.export.certificate_check import certificate_warnings

    for line in certificate_warnings(args.model, args.drop_threshold):
        print(f"warning: {line}", file=sys.stderr)
    files = collect_images(args.images)
    if not files:
        error(f"no image files found in {' '.join(args.images)}. Received: {len(args.images)} path(s) without image files")
        return EXIT_DATA
    rows = predict(args.model, files, top_k=args.top_k, batch_size=args.batch_size, sink=_progress)
    if args.csv:
        try:
            write_csv(args.csv, rows, args.top_k)
        except OSError as exc:
            error(f"--csv {args.csv}: cannot write the table ({exc.strerror or exc}); any earlier file there is unchanged. "
                  f"Received: {type(exc).__name__}")
            return EXIT_ERROR
    if args.json:
        print(json.dumps([r.to_dict() for r in rows], indent=2))
    else:
        for row in rows:
            if row.error:
                print(f"{row.path}\terror: {row.error}")
            else:
                print(f"{row.path}\t" + "\t".join(f"{c} {p:.3f}" for c, p in row.top))
    failed = [r for r in rows if r.error]
    if failed:
        print(f"{len(failed)} of {len(rows)} file(s) could not be read", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK
