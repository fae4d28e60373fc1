"""The project's record of its last dataset audit: when, on which files, and what it found.

A project keeps one :class:`AuditRecord` (the ``"audit"`` field of the
``.tlsproj`` file). It lets the app

* not offer the audit again before training when the dataset has not changed
  since (:meth:`AuditRecord.covers`: same folder, same file-list fingerprint);
* show the last audit's findings when the project is reopened, without
  running it again (:meth:`AuditRecord.result`).

The **fingerprint** (:func:`file_list_fingerprint`) is a SHA-256 of the
sorted paths of every valid image, as the scan reports them: adding,
removing, renaming or moving an image changes it; editing the project's
exclusions or relabels does not (the audit looked at the same files).

The findings are the audit's JSON (:meth:`tlstudio.api.audit.AuditResult.to_json`),
checked field by field when read back (:meth:`AuditRecord.from_dict`). This
module is light: no TensorFlow, no Qt.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from tlstudio.errors import ProjectError


def file_list_fingerprint(paths: Iterable[str]) -> str:
    """``"sha256:<hex>"`` of the sorted, de-duplicated ``paths`` (one per line)."""
    digest = hashlib.sha256()
    for path in sorted({str(p) for p in paths}):
        digest.update(path.encode("utf-8", "surrogatepass"))
        digest.update(b"\n")
    return "sha256:" + digest.hexdigest()


def dataset_fingerprint(prepared: Any) -> str:
    """The fingerprint of a prepared dataset's valid files (before the project's exclusions); "" without one.

    Args:
        prepared: A :class:`~tlstudio.api.dataset.PreparedData` (its ``report.valid``: split -> class -> paths), or None.
    """
    report = getattr(prepared, "report", None)
    valid = getattr(report, "valid", None)
    if valid is None or getattr(prepared, "cancelled", False):
        return ""
    return file_list_fingerprint(p for per_class in valid.values() for paths in per_class.values() for p in paths)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _same_folder(a: str, b: str) -> bool:
    return bool(a) and bool(b) and os.path.realpath(a) == os.path.realpath(b)


@dataclass
class AuditRecord:
    """The last audit of a project's dataset.

    Attributes:
        ran: When it finished, ISO 8601 UTC (``"2026-11-30T02:40:00Z"``).
        root: The dataset folder audited.
        fingerprint: :func:`file_list_fingerprint` of its valid images then ("" when unknown).
        summary: Counts for a one-line summary: ``num_images``, ``label_issues``,
            ``duplicates``, ``leaks``, ``outliers``, and the ``cut`` used.
        findings: The audit's JSON (:meth:`~tlstudio.api.audit.AuditResult.to_json`).
    """

    ran: str
    root: str
    fingerprint: str
    summary: dict[str, Any] = field(default_factory=dict)
    findings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_result(cls, result: Any, root: str, fingerprint: str, ran: str = "") -> "AuditRecord":
        """The record of an :class:`~tlstudio.api.audit.AuditResult` of ``root``."""
        return cls(
            ran=ran or _now(),
            root=str(root),
            fingerprint=fingerprint,
            summary={
                "num_images": int(result.num_images),
                "label_issues": len(result.label_issues),
                "duplicates": len(result.duplicates),
                "leaks": len(result.leaks),
                "outliers": len(result.outliers),
                "cut": str(result.cut),
            },
            findings=result.to_json(),
        )

    def covers(self, root: str, fingerprint: str) -> bool:
        """True when this audit was of ``root`` with these very files (an unknown fingerprint never matches)."""
        return _same_folder(self.root, root) and bool(fingerprint) and fingerprint == self.fingerprint

    def result(self) -> Any:
        """The findings as an :class:`~tlstudio.api.audit.AuditResult` (checked when the record was read)."""
        from tlstudio.api.audit import AuditResult, DuplicateGroup, Imbalance, LabelIssue, Outlier

        f = self.findings
        imbalance = f.get("imbalance") or {}
        return AuditResult(
            duplicates=tuple(DuplicateGroup(g["kind"], tuple(g["paths"]), tuple(g["splits"]), bool(g["cross_split"]),
                                            float(g["similarity"])) for g in f.get("duplicates", [])),
            label_issues=tuple(LabelIssue(i["path"], i["given"], i["suggested"], float(i["score"])) for i in f.get("label_issues", [])),
            outliers=tuple(Outlier(o["path"], float(o["score"]), str(o.get("kind", "features")), str(o.get("reason", "")))
                           for o in f.get("outliers", [])),
            imbalance=Imbalance({str(k): int(v) for k, v in (imbalance.get("counts") or {}).items()},
                                float(imbalance.get("ratio", 1.0)), str(imbalance.get("advice", ""))),
            class_names=tuple(f.get("class_names", ())),
            num_images=int(f.get("num_images", 0)),
            cut=str(f.get("cut", "")),
            seconds=float(f.get("seconds", 0.0)),
            cancelled=bool(f.get("cancelled", False)),
            oof_accuracy=float(f.get("oof_accuracy") or 0.0),
            label_note=str(f.get("label_note") or ""),
        )

    def to_dict(self) -> dict[str, Any]:
        """The ``"audit"`` field of the project file."""
        return {"ran": self.ran, "root": self.root, "fingerprint": self.fingerprint,
                "summary": dict(self.summary), "findings": self.findings}

    @classmethod
    def from_dict(cls, data: Any, path: Any = None) -> "AuditRecord":
        """Read and check an ``"audit"`` field.

        Raises:
            ProjectError: naming the file and the field (``audit.findings.label_issues[2].score``), what
                was expected and ``Received``.
        """
        from tlstudio.api.audit import OUTLIER_KINDS

        check = _Checker(path)
        check.mapping(data, "audit")
        for key in ("ran", "root", "fingerprint"):
            check.text(data.get(key), f"audit.{key}")
        summary = data.get("summary") or {}
        check.mapping(summary, "audit.summary")
        findings = data.get("findings") or {}
        check.mapping(findings, "audit.findings")
        where = "audit.findings"
        for n, g in enumerate(check.items(findings, "duplicates", where)):
            at = f"{where}.duplicates[{n}]"
            check.mapping(g, at)
            if g.get("kind") not in ("exact", "near"):
                check.fail(f"{at}.kind", '"exact" or "near"', g.get("kind"))
            paths, splits = g.get("paths"), g.get("splits")
            check.texts(paths, f"{at}.paths")
            check.texts(splits, f"{at}.splits")
            if len(paths) != len(splits):
                check.fail(f"{at}.splits", f"one split per path ({len(paths)})", splits)
            check.boolean(g.get("cross_split"), f"{at}.cross_split")
            check.number(g.get("similarity"), f"{at}.similarity")
        for n, i in enumerate(check.items(findings, "label_issues", where)):
            at = f"{where}.label_issues[{n}]"
            check.mapping(i, at)
            for key in ("path", "given", "suggested"):
                check.text(i.get(key), f"{at}.{key}")
            check.number(i.get("score"), f"{at}.score")
        for n, o in enumerate(check.items(findings, "outliers", where)):
            at = f"{where}.outliers[{n}]"
            check.mapping(o, at)
            check.text(o.get("path"), f"{at}.path")
            check.number(o.get("score"), f"{at}.score")
            if o.get("kind", "features") not in OUTLIER_KINDS:
                check.fail(f"{at}.kind", f"one of {', '.join(OUTLIER_KINDS)}", o.get("kind"))
            check.text(o.get("reason", ""), f"{at}.reason", empty=True)
        imbalance = findings.get("imbalance", {})
        check.mapping(imbalance, f"{where}.imbalance")
        counts = imbalance.get("counts", {})
        check.mapping(counts, f"{where}.imbalance.counts")
        for name, count in counts.items():
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                check.fail(f"{where}.imbalance.counts[{name!r}]", "a count of images (a whole number >= 0)", count)
        check.number(imbalance.get("ratio", 1.0), f"{where}.imbalance.ratio")
        check.text(imbalance.get("advice", ""), f"{where}.imbalance.advice", empty=True)
        check.texts(findings.get("class_names", []), f"{where}.class_names")
        if isinstance(findings.get("num_images", 0), bool) or not isinstance(findings.get("num_images", 0), int):
            check.fail(f"{where}.num_images", "a whole number", findings.get("num_images"))
        check.number(findings.get("oof_accuracy", 0.0), f"{where}.oof_accuracy")
        check.text(findings.get("label_note", ""), f"{where}.label_note", empty=True)
        return cls(ran=data["ran"], root=data["root"], fingerprint=data["fingerprint"], summary=dict(summary),
                   findings=dict(findings))


class _Checker:
    """Raises :class:`ProjectError` naming the file, the field, what was expected and ``Received``."""

    def __init__(self, path: Any):
        self.path = path

    def fail(self, name: str, expected: str, value: Any) -> None:
        from tlstudio.schemas import json_text

        where = f"{self.path}: " if self.path else ""
        raise ProjectError(f"{where}{name} must be {expected}. Received: {name}={json_text(value)}",
                           path=str(self.path) if self.path else None)

    def mapping(self, value: Any, name: str) -> None:
        if not isinstance(value, Mapping):
            self.fail(name, "an object", value)

    def text(self, value: Any, name: str, empty: bool = True) -> None:
        if not isinstance(value, str) or (not empty and not value):
            self.fail(name, "a text", value)

    def texts(self, value: Any, name: str) -> None:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(name, "a list of texts", value)

    def boolean(self, value: Any, name: str) -> None:
        if not isinstance(value, bool):
            self.fail(name, "true or false", value)

    def number(self, value: Any, name: str) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(name, "a number", value)

    def items(self, findings: Mapping[str, Any], key: str, where: str) -> list[Any]:
        value = findings.get(key, [])
        if not isinstance(value, list):
            self.fail(f"{where}.{key}", "a list", value)
        return value
