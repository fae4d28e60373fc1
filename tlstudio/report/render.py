"""The report's page: the numbers arranged for ``templates/report.html.j2`` and rendered by Jinja2.

:func:`build_context` turns the run's facts, the evaluation and the user's
model card into plain values and figure URIs; :func:`render_html` fills the
template (autoescaped: every file name and note is text, never markup).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from pathlib import Path
from typing import Any

from tlstudio.api.audit import AuditResult
from tlstudio.api.report import ModelCard
from tlstudio.config import RunConfig, to_dict
from tlstudio.options import option_of
from tlstudio.report import figures
from tlstudio.report.command import shell_line, train_command
from tlstudio.report.evaluated import Evaluated
from tlstudio.report.facts import RunFacts

TEMPLATE = "report.html.j2"

SECTIONS = ("summary", "data", "training", "evaluation", "exports", "model-card", "reproduce")
"""The sections' ids, in page order (the browser test checks each renders)."""


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """``[("model.head.pooling", "avg"), ...]``: every setting of a config dict as one row."""
    if isinstance(value, dict):
        rows: list[tuple[str, str]] = []
        for key, item in value.items():
            rows += _flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return rows
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        rows = []
        for i, item in enumerate(value):
            rows += _flatten(item, f"{prefix}[{i}]")
        return rows
    if isinstance(value, list):
        return [(prefix, ", ".join(str(v) for v in value) if value else "(none)")]
    return [(prefix, "" if value is None else str(value))]


def as_trained(config: RunConfig, history: tuple[dict[str, Any], ...]) -> tuple[RunConfig, bool]:
    """``(config, resumed)``: the run's config with the epochs its history shows when later sessions added some.

    ``run_config.json`` holds the first session's settings; a resumed run that
    trained more epochs than that plan recorded them only in ``history.json``.
    """
    head = sum(1 for h in history if h.get("phase", 1) == 1)
    fine = sum(1 for h in history if h.get("phase") == 2)
    train = config.train
    if head <= train.epochs and fine <= train.fine_tune_epochs:
        return config, False
    grown = dataclasses.replace(train, epochs=max(head, train.epochs), fine_tune_epochs=max(fine, train.fine_tune_epochs))
    return dataclasses.replace(config, train=grown), True


def _status(facts: RunFacts) -> str:
    result = facts.result
    if result is None:
        return "unknown (the run's result cannot be read)"
    if result.error:
        return f"failed: {result.error}"
    if result.cancelled:
        return f"cancelled after {result.epochs_completed} epoch(s); the model holds the best weights so far"
    if not (Path(facts.run_dir) / "result.json").is_file():
        return "unfinished"
    return "finished"


def _thumb(path: str, cache: dict[str, str]) -> str:
    if path not in cache:
        from tlstudio.imaging import load_image

        try:
            cache[path] = figures.png_uri(load_image(path), max_side=96)
        except (OSError, ValueError):
            cache[path] = ""
    return cache[path]


def _audit(audit: AuditResult | None, limit: int) -> dict[str, Any] | None:
    if audit is None:
        return None
    thumbs: dict[str, str] = {}
    return {
        "num_images": audit.num_images,
        "cut": audit.cut,
        "cancelled": audit.cancelled,
        "leaks": len(audit.leaks),
        "imbalance": audit.imbalance,
        "duplicates": [
            {"group": g, "thumbs": [(p, _thumb(p, thumbs) if n < limit else "") for p in g.paths]}
            for n, g in enumerate(audit.duplicates)
        ],
        "label_issues": [{"issue": i, "thumb": _thumb(i.path, thumbs) if n < limit else ""} for n, i in enumerate(audit.label_issues)],
        "outliers": [{"outlier": o, "thumb": _thumb(o.path, thumbs) if n < limit else ""} for n, o in enumerate(audit.outliers)],
    }


def certificate_view(fields: dict[str, Any]) -> dict[str, Any]:
    """A certificate's fields arranged to read: scalars as rows, lists of objects as tables.

    In a table, a cell that is itself a list or an object shows its length
    (e.g. the number of disagreements), so a certificate of any shape reads
    as a page, not as a dump. Other lists and objects are shown as JSON.
    """
    scalars, tables, other = [], [], []
    for key, value in fields.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            columns = list(dict.fromkeys(k for row in value for k in row))
            rows = [[(len(row[c]) if isinstance(row.get(c), (list, dict)) else row.get(c, "")) for c in columns] for row in value]
            tables.append((key, columns, rows))
        elif isinstance(value, list) and not any(isinstance(v, (list, dict)) for v in value):
            scalars.append((key, ", ".join(str(v) for v in value) if value else "(none)"))
        elif isinstance(value, dict) and not any(isinstance(v, (list, dict)) for v in value.values()):
            scalars.append((key, ", ".join(f"{k}: {v}" for k, v in value.items()) if value else "(none)"))
        elif isinstance(value, (list, dict)):
            other.append((key, value))
        else:
            scalars.append((key, value))
    return {"scalars": scalars, "tables": tables, "other": other}


def _duration(facts: RunFacts) -> float | None:
    history = facts.history
    seconds = [h.get("seconds") for h in history if isinstance(h.get("seconds"), (int, float))]
    if seconds:
        return float(sum(seconds))
    return float(facts.result.seconds) if facts.result is not None and facts.result.seconds else None


def _evaluation(evaluated: Evaluated) -> dict[str, Any]:
    result = evaluated.result
    out: dict[str, Any] = {"split": evaluated.split, "problem": evaluated.problem, "mistakes": evaluated.mistakes}
    if result is None or not result.paths:
        return out
    m = result.metrics
    curves = {c.name: c for c in m.curves}
    out.update(
        metrics=m,
        rows=[(r, curves.get(r.name)) for r in m.per_class],
        images=len(result.paths),
        cancelled=result.cancelled,
        notes=list(result.notes),
        skipped=list(result.skipped),
        confusion=figures.confusion(m),
        roc=figures.roc(m.curves),
        pr=figures.precision_recall(m.curves),
        reliability=figures.reliability(m),
        class_names=result.class_names,
    )
    return out


def build_context(facts: RunFacts, evaluated: Evaluated, card: ModelCard, audit: AuditResult | None, thumbnails: int) -> dict[str, Any]:
    """Every value the template shows."""
    config, result, dataset = facts.config, facts.result, facts.dataset or {}
    counts = dataset.get("counts") or {}
    class_names = facts.class_names
    command, notes = [], []
    if config is not None:
        config, resumed = as_trained(config, facts.history)
        command, notes = train_command(config)
        if resumed:
            notes.append(f"The run was resumed: its sessions trained {len(facts.history)} epochs in all, "
                         "which the command trains in one go (the shuffles differ from the resumed sessions').")
    model_files = []
    for name in ("model.keras", "best.weights.h5", "last.weights.h5"):
        path = Path(facts.run_dir) / name
        if path.is_file():
            model_files.append((str(path), path.stat().st_size))
    return {
        "title": f"Run report: {Path(facts.run_dir).name}",
        "generated": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "sections": SECTIONS,
        "run_dir": facts.run_dir,
        "missing": facts.missing,
        "summary": {
            "task": f"Image classification into {len(class_names)} classes" if class_names else "Image classification",
            "classes": class_names,
            "status": _status(facts),
            "best": dict(result.best_metrics) if result is not None else {},
            "monitor": result.monitor if result is not None else "",
            "created": facts.created,
            "duration": _duration(facts),
            "epochs": result.epochs_completed if result is not None else 0,
            "model_files": model_files,
            "backbone": config.model.backbone if config is not None else "",
        },
        "data": {
            "known": bool(dataset),
            "root": dataset.get("root") or (config.data.root if config is not None else ""),
            "layout": dataset.get("layout", ""),
            "seed": dataset.get("seed"),
            "splits": [s for s in ("train", "val", "test") if s in counts],
            "counts": counts,
            "totals": dataset.get("totals") or {},
            "figure": figures.class_counts(counts, class_names) if counts and class_names else "",
            "skipped": dataset.get("skipped") or [],
            "warnings": dataset.get("warnings") or [],
            "decisions": dataset.get("decisions") or {},
            "manifest_sha256": facts.manifest_sha256,
            "audit": _audit(audit, thumbnails),
        },
        "training": {
            "settings": _flatten(to_dict(config)) if config is not None else [],
            "curves": figures.training_curves(facts.history) if facts.history else "",
            "advice": facts.advice,
            "devices": result.devices if result is not None else "",
            "feature_cache": result.feature_cache if result is not None else False,
            "auto_head": facts.auto_head,
        },
        "evaluation": _evaluation(evaluated),
        "exports": {"folders": facts.exports,
                    "certificates": [(c, certificate_view(c.fields)) for c in facts.certificates]},
        "model_card": [(option_of(ModelCard, name).label, value.strip()) for name, value in card.to_dict().items()],
        "reproduce": {
            "command": shell_line(command) if command else "",
            "notes": notes,
            "versions": facts.versions,
            "versions_recorded": facts.versions_recorded,
            "device": result.devices if result is not None else "",
            "seed": config.train.seed if config is not None else None,
            "data_seed": config.data.seed if config is not None else None,
            "deterministic": config.train.deterministic if config is not None else None,
        },
    }


def _environment():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("tlstudio.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a misspelt name in the template fails the tests, not silently blank
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def render_html(context: dict[str, Any]) -> str:
    """The report's HTML from :func:`build_context`'s values."""
    env = _environment()
    env.filters["size"] = _size
    env.filters["pct"] = lambda v: "" if v is None else f"{100 * float(v):.1f}%"
    env.filters["num"] = lambda v, digits=3: "—" if v is None else f"{float(v):.{digits}f}"
    return env.get_template(TEMPLATE).render(**context)
