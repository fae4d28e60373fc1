"""Make a run's report: read, evaluate, draw, render, write atomically."""

from __future__ import annotations

import time
from pathlib import Path

from tlstudio.api.report import ReportConfig, ReportResult
from tlstudio.cancel import CancelToken
from tlstudio.errors import ConfigError
from tlstudio.events import Progress, Sink, null_sink
from tlstudio.io.atomic import atomic_write_text
from tlstudio.report.evaluated import evaluate_run
from tlstudio.report.facts import read_run
from tlstudio.report.render import SECTIONS, build_context, render_html


def write_report(config: ReportConfig, sink: Sink = null_sink, cancel: CancelToken | None = None) -> ReportResult:
    """Write the report of ``config.run_dir`` to ``config.out_path``.

    A damaged or unfinished run gets a report of what is there, with what is
    missing named at the top. Nothing is written when cancelled.

    Raises:
        ConfigError: the run folder does not exist; the output file exists and ``config.overwrite`` is False,
            or it is a folder.
    """
    cancel = cancel or CancelToken()
    started = time.perf_counter()
    out = Path(config.out_path)
    if not Path(config.run_dir).is_dir():
        raise ConfigError(f"the run folder to report on does not exist or is not a folder. Received: {config.run_dir}")
    if out.is_dir():
        raise ConfigError(f"the report's output must be a file, not a folder. Received: {out}")
    if out.exists() and not config.overwrite:
        raise ConfigError(f"{out} exists; choose another file or allow replacing it (--force). Received: out={str(out)!r}")
    sink(Progress("report", 0, 4, f"Reading {config.run_dir}"))
    facts = read_run(config.run_dir, config.exports)
    if cancel.cancelled:
        return ReportResult(str(out), cancelled=True)
    sink(Progress("report", 1, 4, "Evaluating the model"))
    evaluated = evaluate_run(facts, config.split, config.mistakes, sink, cancel)
    if cancel.cancelled:
        return ReportResult(str(out), cancelled=True)
    sink(Progress("report", 2, 4, "Drawing the figures"))
    context = build_context(facts, evaluated, config.model_card, config.audit, config.thumbnails)
    sink(Progress("report", 3, 4, f"Writing {out}"))
    html = render_html(context)
    if cancel.cancelled:
        return ReportResult(str(out), cancelled=True)
    atomic_write_text(out, html)
    sink(Progress("report", 4, 4, "Done"))
    return ReportResult(
        path=str(out),
        size=out.stat().st_size,
        seconds=round(time.perf_counter() - started, 3),
        sections=SECTIONS,
        missing=tuple(facts.missing) + ((evaluated.problem,) if evaluated.problem else ()),
        split=evaluated.split if evaluated.result is not None else "",
    )
