"""tlstudio-cli export RUN_DIR_OR_MODEL --format ... --out DIR: write deployable model files.

Exports a run folder's model (or a .keras file) to the chosen formats with
labels.txt and model.json, and checks every file in a fresh
TensorFlow-only process against the app's predictions. Existing files are not
replaced unless --force is given. Exit 0 on success, 1 when the export
failed or was refused, 2 for a bad command line (an unknown --format).
"""

from __future__ import annotations

import argparse
import json
import sys

from tlstudio.cli import EXIT_OK, EXIT_USAGE, error
from tlstudio.cli.arguments import add_option
from tlstudio.config import EXPORT_FORMATS, ExportConfig


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a trained model to .keras, SavedModel, TFLite (and ONNX when available), verified",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument("source", metavar="RUN_DIR_OR_MODEL", help="a run folder (with model.keras) or a .keras file")
    parser.add_argument(
        "--format",
        default="keras",
        metavar="FMT[,FMT...]",
        help=f"comma-separated formats from {','.join(EXPORT_FORMATS)} (default keras)",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="destination folder (created if missing)")
    add_option(parser, ExportConfig, "name")
    add_option(parser, ExportConfig, "overwrite", "--force")
    parser.add_argument("--no-verify", action="store_true", help="skip the fresh-process parity check")
    parser.add_argument("--json", action="store_true", help="print the export result as JSON on stdout")
    parser.set_defaults(func=run)


def _progress(event) -> None:
    from tlstudio.events import LogMessage, Progress

    if isinstance(event, Progress):
        print(event.message, file=sys.stderr, flush=True)
    elif isinstance(event, LogMessage):
        print(("warning: " if event.level == "warning" else "  ") + event.message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from tlstudio.config import ExportConfig
    from tlstudio.errors import ConfigError

    formats = tuple(f.strip().lower() for f in args.format.split(",") if f.strip())
    try:
        config = ExportConfig(
            formats=formats, out_dir=args.out, name=args.name, overwrite=args.overwrite, verify=not args.no_verify
        )
    except ConfigError as exc:  # --format, --name: the command line is wrong
        error(str(exc))
        return EXIT_USAGE

    from tlstudio.export import export_run

    result = export_run(args.source, config, sink=_progress)  # ExportError/ModelFileError: exit 1 via main
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return EXIT_OK
    print(f"Exported to {args.out} in {result.seconds:.1f} s")
    for fmt, path in result.files.items():
        if fmt in result.parity:
            check = f"max |Δ| {result.parity[fmt]:.2g} (limit {result.tolerances[fmt]:g})"
        else:
            check = "not verified"
        print(f"  {fmt:<15} {path}  {check}")
    print(f"  {'labels':<15} {result.labels_path}")
    print(f"  {'metadata':<15} {result.metadata_path}")
    return EXIT_OK
