"""tlstudio-cli export RUN_DIR_OR_MODEL --format ... --out DIR: write deployable model files, each with a certificate.

Exports a run folder's model (or a .keras file) to the chosen formats with
labels.txt and model.json, and checks every file in a fresh
TensorFlow-only process against the app's predictions. Unless --no-certify,
every written file then gets a certificate, measured on the run's validation
split (or --certify-folder): top-1 agreement with the app per class, accuracy
change, probability differences, size and latency with 1 and all threads.
It is stored as certificate.json in the export folder and summarised in
model.json. Existing files are not replaced unless --force is given.
Exit 0 on success; 1 when the export failed or was refused, when a format
could not be written (the others are), or when a format's agreement is below
--min-agreement; 2 for a bad command line (an unknown --format).
"""

from __future__ import annotations

import argparse
import json
import sys

from tlstudio.cli import EXIT_ERROR, EXIT_OK, EXIT_USAGE, error
from tlstudio.cli.arguments import add_option
from tlstudio.config import EXPORT_FORMATS, ExportConfig


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a trained model to .keras, SavedModel, TFLite (float32/float16/int8) and ONNX, verified and certified",
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
    quant = parser.add_argument_group("int8")
    add_option(quant, ExportConfig, "calibration", metavar="N")
    add_option(quant, ExportConfig, "int8_io", "--int8-io")
    add_option(quant, ExportConfig, "float_fallback")
    quant.add_argument("--no-int8-equalize", action="store_true",
                       help="convert the model as it is, without the channel equalization, the preprocessing "
                            "rewrite and the clipped activation ranges (for comparison)")
    quant.add_argument("--int8-integer-head", action="store_true",
                       help="quantize the head too (full-integer file) instead of keeping its pooling, Dense and "
                            "softmax in float32")
    cert = parser.add_argument_group("certificate")
    cert.add_argument("--no-certify", action="store_true", help="skip the certificate (agreement, accuracy change, latency)")
    add_option(cert, ExportConfig, "certify_folder", metavar="DIR")
    add_option(cert, ExportConfig, "latency_runs", metavar="N")
    add_option(cert, ExportConfig, "drop_threshold", metavar="POINTS")
    cert.add_argument("--min-agreement", type=float, default=None, metavar="PERCENT",
                      help="exit 1 when a format's top-1 agreement with the app is below PERCENT (0..100)")
    parser.add_argument("--json", action="store_true", help="print the export result and its certificate as JSON on stdout")
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
    if args.min_agreement is not None and not 0 <= args.min_agreement <= 100:
        error(f"--min-agreement is a percentage within [0, 100]. Received: {args.min_agreement:g}")
        return EXIT_USAGE
    if args.min_agreement is not None and 0 < args.min_agreement <= 1:  # a share typed for a percentage passes everything
        print(f"warning: --min-agreement is a percentage: {args.min_agreement:g} means {args.min_agreement:g}%, "
              f"not {100 * args.min_agreement:g}%.", file=sys.stderr, flush=True)
    if args.min_agreement is not None and args.no_certify:
        error("--min-agreement needs the certificate; leave out --no-certify. Received: --no-certify --min-agreement")
        return EXIT_USAGE
    try:
        config = ExportConfig(
            formats=formats, out_dir=args.out, name=args.name, overwrite=args.overwrite, verify=not args.no_verify,
            calibration=args.calibration, int8_io=args.int8_io, float_fallback=args.float_fallback,
            int8_equalize=not args.no_int8_equalize, int8_float_head=not args.int8_integer_head, certify=not args.no_certify, certify_folder=args.certify_folder, latency_runs=args.latency_runs,
            drop_threshold=args.drop_threshold,
        )
    except ConfigError as exc:  # --format, --name, ranges: the command line is wrong
        error(str(exc))
        return EXIT_USAGE

    from tlstudio.export import export_run

    result = export_run(args.source, config, sink=_progress)  # ExportError/ModelFileError: exit 1 via main
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        _print_result(result, config, args.out)
    return _exit_code(result, args.min_agreement)


def _exit_code(result, min_agreement: float | None) -> int:
    code = EXIT_OK
    for fmt, why in result.failed.items():
        error(f"{fmt} was not written: {why}")
        code = EXIT_ERROR
    if min_agreement is not None:
        if result.certificate is None:
            error(f"--min-agreement {min_agreement:g}: there is no certificate ({result.certificate_note}).")
            return EXIT_ERROR
        for fmt, share in result.certificate.below_agreement(min_agreement / 100.0).items():
            error(f"{fmt}: top-1 agreement with the app is {100 * share:.1f}%, below --min-agreement {min_agreement:g}%.")
            code = EXIT_ERROR
    return code


def _print_result(result, config: ExportConfig, out: str) -> None:
    print(f"Exported to {out} in {result.seconds:.1f} s")
    for fmt, path in result.files.items():
        if fmt in result.parity:
            check = f"max |Δ| {result.parity[fmt]:.2g} (limit {result.tolerances[fmt]:g})"
        else:
            check = "not verified"
        print(f"  {fmt:<15} {path}  {check}")
    print(f"  {'labels':<15} {result.labels_path}")
    print(f"  {'metadata':<15} {result.metadata_path}")
    cert = result.certificate
    if cert is None:
        if config.certify:
            print(f"No certificate: {result.certificate_note}")
        return
    print(f"Certificate ({cert.images} images, {cert.source}): {result.certificate_path}")
    print(f"  {'format':<15} {'agree':>7} {'acc Δ':>7} {'max|Δp|':>8} {'size':>10} {'1 thread ms':>16} {f'{cert.threads_all} threads ms':>16}")
    for f in cert.formats:
        lat = [f.latency_for(1), f.latency_for(cert.threads_all)]
        shown = [f"{x.median_ms:.2f}/{x.p90_ms:.2f}" if x else "-" for x in lat]
        print(f"  {f.format:<15} {100 * f.agreement:6.1f}% {f.accuracy_change_points:+7.1f} {f.max_abs_diff:8.3g} "
              f"{f.size_bytes:>10,} {shown[0]:>16} {shown[1]:>16}")
        for c in f.class_drops(config.drop_threshold):
            print(f"      class {c.name}: accuracy {100 * c.app_accuracy:.1f}% -> {100 * c.accuracy:.1f}% ({c.change_points:+.1f} points)")
        for d in f.disagreements[:10]:
            print(f"      {d.path}: app {d.app_top3[0][0]} {d.app_top3[0][1]:.2f}, {f.format} {d.format_top3[0][0]} {d.format_top3[0][1]:.2f}")
        if len(f.disagreements) > 10:
            print(f"      … {len(f.disagreements) - 10} more disagreement(s) in {result.certificate_path}")
