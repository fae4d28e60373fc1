"""What a run folder says about its run, read once and checked, for the report. Keras-free.

:func:`read_run` never raises on a damaged or unfinished folder: each file
that is missing or cannot be read becomes one sentence in
:attr:`RunFacts.missing`, and the report shows what is left.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tlstudio.api.certificate import CERTIFICATE_FILE  # an export folder holding it: the report shows the certificate
from tlstudio.api.train import RunResult
from tlstudio.config import RunConfig
from tlstudio.errors import TlStudioError
from tlstudio.events import TrainingAdvice
from tlstudio.run_folders import RunFolder
from tlstudio.training.advice import Advisor
from tlstudio.training.result import load_run, software_versions


@dataclass(frozen=True)
class ExportedFile:
    """One file of an export folder (a SavedModel folder counts as one, hashed over its files)."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Certificate:
    """An export certificate file found in an export folder, with its fields as read (issue 20's hook)."""

    path: str
    fields: dict[str, Any]
    problem: str = ""


@dataclass
class RunFacts:
    """Everything the report shows that the run folder holds.

    Attributes:
        run_dir: The run folder.
        config: The checked ``run_config.json``, or None.
        result: ``result.json`` with ``history.json`` (:func:`~tlstudio.training.result.load_run`), or None.
        dataset: ``dataset_report.json``, or None.
        manifest_sha256: SHA-256 of ``split_manifest.json``, or "".
        auto_head: ``auto_head.json``, or None.
        created: When the run folder was made (its marker), or "".
        model_path: ``model.keras`` when present.
        advice: The "not learning" advice the run's history triggers, replayed epoch by epoch.
        exports: Export folders -> their files.
        certificates: Certificate files found in the export folders.
        versions: The versions that trained (``result.json``), else this machine's.
        versions_recorded: True when the run recorded its versions.
        missing: One sentence per file that is missing or damaged.
    """

    run_dir: str
    config: RunConfig | None = None
    result: RunResult | None = None
    dataset: dict[str, Any] | None = None
    manifest_sha256: str = ""
    auto_head: dict[str, Any] | None = None
    created: str = ""
    model_path: str | None = None
    advice: list[TrainingAdvice] = field(default_factory=list)
    exports: dict[str, list[ExportedFile]] = field(default_factory=dict)
    certificates: list[Certificate] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    versions_recorded: bool = False
    missing: list[str] = field(default_factory=list)

    @property
    def class_names(self) -> tuple[str, ...]:
        if self.result is not None and self.result.class_names:
            return tuple(self.result.class_names)
        return tuple((self.dataset or {}).get("class_names") or ())

    @property
    def history(self) -> tuple[dict[str, Any], ...]:
        return tuple(dict(h) for h in self.result.history) if self.result is not None else ()


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def sha256_of(path: str | os.PathLike) -> str:
    """SHA-256 of a file, or of a folder's files (relative path and bytes, in sorted order)."""
    digest = hashlib.sha256()
    target = Path(path)
    files = sorted(p for p in target.rglob("*") if p.is_file()) if target.is_dir() else [target]
    for file in files:
        if target.is_dir():
            digest.update(str(file.relative_to(target)).encode("utf-8", "surrogateescape") + b"\0")
        with open(file, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def read_exports(folder: str | os.PathLike) -> tuple[list[ExportedFile], Certificate | None]:
    """The files of an export folder with size and SHA-256, and its certificate when it holds one."""
    base = Path(folder)
    files = [ExportedFile(str(p), _size(p), sha256_of(p)) for p in sorted(base.iterdir()) if not p.name.startswith(".")]
    cert_path = base / CERTIFICATE_FILE
    certificate = None
    if cert_path.is_file():
        try:
            data = _read_json(cert_path)
            if not isinstance(data, dict):
                raise ValueError(f"expected a JSON object. Received: {type(data).__name__}")
            certificate = Certificate(str(cert_path), data)
        except (OSError, ValueError) as exc:
            certificate = Certificate(str(cert_path), {}, f"cannot be read: {exc}")
    return files, certificate


def replay_advice(history: tuple[dict[str, Any], ...], num_classes: int, augmentation: bool | None) -> list[TrainingAdvice]:
    """The epoch advice the run's history triggers, as the live run's advisor gave it (each rule once)."""
    if not history or num_classes < 2:
        return []
    advisor = Advisor(num_classes, augmentation)
    fired: list[TrainingAdvice] = []
    for end in range(1, len(history) + 1):
        fired += advisor.epoch(list(history[:end]))
    return fired


def read_run(run_dir: str | os.PathLike, export_dirs: tuple[str, ...] = ()) -> RunFacts:
    """Read the run folder ``run_dir`` and the export folders; never raises for a damaged run."""
    folder = RunFolder(run_dir)
    facts = RunFacts(run_dir=str(folder.path))
    if not folder.path.is_dir():
        facts.missing.append(f"The run folder {folder.path} does not exist.")
        return facts
    try:
        facts.config = folder.load_config()
    except TlStudioError as exc:
        facts.missing.append(f"The run's settings cannot be read: {exc}")
    try:
        facts.result = load_run(folder.path)
        if not folder.result.is_file():
            facts.missing.append(f"{folder.result.name} is missing: the run did not finish (it was stopped or is still going).")
    except TlStudioError as exc:
        facts.missing.append(f"The run's result and history cannot be read: {exc}")
    for path, what in ((folder.dataset_report, "dataset report"), (folder.auto_head, "auto-head record")):
        if path.is_file():
            try:
                data = _read_json(path)
                if not isinstance(data, dict):
                    raise ValueError(f"expected a JSON object. Received: {type(data).__name__}")
            except (OSError, ValueError) as exc:
                facts.missing.append(f"The {what} {path} cannot be read: {exc}")
                continue
            if path == folder.dataset_report:
                facts.dataset = data
            else:
                facts.auto_head = data
        elif path == folder.dataset_report:
            facts.missing.append(f"{path.name} is missing: the data the run saw is unknown.")
    if folder.split_manifest.is_file():
        facts.manifest_sha256 = sha256_of(folder.split_manifest)
    else:
        facts.missing.append(f"{folder.split_manifest.name} is missing: the split cannot be pinned by a hash.")
    try:
        marker = _read_json(folder.marker)
        facts.created = str(marker.get("created", "")) if isinstance(marker, dict) else ""
    except (OSError, ValueError):
        pass
    if folder.model.is_file():
        facts.model_path = str(folder.model)
    else:
        facts.missing.append(f"{folder.model.name} is missing: the model cannot be evaluated.")
    recorded = dict(facts.result.versions) if facts.result is not None else {}
    facts.versions_recorded = bool(recorded)
    facts.versions = recorded or software_versions()
    augmentation = facts.config.data.augment.enabled if facts.config is not None else None
    facts.advice = replay_advice(facts.history, len(facts.class_names), augmentation)
    for export_dir in export_dirs:
        if not Path(export_dir).is_dir():
            facts.missing.append(f"The export folder {export_dir} does not exist.")
            continue
        files, certificate = read_exports(export_dir)
        facts.exports[str(export_dir)] = files
        if certificate is not None:
            facts.certificates.append(certificate)
    return facts
