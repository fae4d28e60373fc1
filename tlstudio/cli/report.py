"""``tlstudio-cli report RUN [--out report.html] [--open]``: one self-contained HTML report of a run.

The report has the run's summary, data (counts per class and split, skipped
files, the audit's findings, exclusions and relabels, the split manifest's
hash), training (every setting, the curves, the advice that fired),
evaluation (confusion matrix, per-class precision/recall/F1, one-vs-rest ROC
and precision-recall curves with their areas, reliability diagram with ECE,
the most confident mistakes with Grad-CAM), exports (files, sizes, SHA-256,
certificate), the model card and the command that repeats the run. It needs
nothing beside itself: no network, every image inside, printable from a browser.
A damaged or unfinished run gets a shorter report that names what is missing.

Exit 0 when the report was written, 1 when it could not be (the output file
exists without --force, a project file cannot be read), 2 for a bad command line.
"""

from __future__ import annotations

import argparse
import json
import sys

from tlstudio.cli import EXIT_CANCELLED, EXIT_OK


def register(subparsers) -> None:
    from tlstudio.api.report import ReportConfig
    from tlstudio.cli.arguments import add_option

    parser = subparsers.add_parser(
        "report",
        help="write a self-contained HTML report (model card) of a run",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run", metavar="RUN", help="the run folder")
    parser.add_argument("--out", default="", metavar="FILE", help="the HTML file to write (default RUN/report.html)")
    parser.add_argument("--force", action="store_true", help="replace the output file when it exists")
    parser.add_argument("--open", action="store_true", help="open the report in the default browser when written")
    parser.add_argument("--project", default="", metavar="FILE.tlsproj",
                        help="take the model card and the last dataset audit from this project (as the app does)")
    parser.add_argument("--export", dest="export_dirs", action="append", default=[], metavar="DIR",
                        help="an export folder of this run: list its files with size and SHA-256, and its certificate (repeatable)")
    add_option(parser, ReportConfig, "split")
    add_option(parser, ReportConfig, "mistakes", metavar="N")
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    parser.set_defaults(func=run)


def _progress(event) -> None:
    from tlstudio.events import LogMessage, Progress

    if isinstance(event, Progress) and event.stage == "report":
        print(f"report: {event.message}", file=sys.stderr, flush=True)
    elif isinstance(event, LogMessage) and event.level != "info":
        print(f"{event.level}: {event.message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from tlstudio.api.report import ModelCard, ReportConfig
    from tlstudio.jobs import run_job

    card, audit = ModelCard(), None
    if args.project:
        from tlstudio.project import Project

        project = Project.load(args.project)  # ProjectError: exit 1, naming the file and field
        card = project.model_card
        audit = project.audit.result() if project.audit is not None else None
    config = ReportConfig(run_dir=args.run, out=args.out, overwrite=args.force, split=args.split, model_card=card,
                          audit=audit, export_dirs=tuple(args.export_dirs), mistakes=args.mistakes)
    result = run_job("report", config, sink=_progress)
    if result.cancelled:
        return EXIT_CANCELLED
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(f"Report: {result.path} ({result.size / 1024:.0f} KB, {result.seconds:.1f} s)")
        for line in result.missing:
            print(f"  missing: {line}")
    if args.open:
        import webbrowser
        from pathlib import Path

        webbrowser.open(Path(result.path).resolve().as_uri())
    return EXIT_OK
