"""The export job's contract: :class:`ExportJobConfig` and :class:`ExportResult`. Keras-free."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from tlstudio.api.certificate import ExportCertificate
from tlstudio.config import ExportConfig
from tlstudio.errors import ConfigError


@dataclass(frozen=True)
class ExportJobConfig:
    """What the ``export`` job exports, and how.

    Attributes:
        source: A run folder or a ``.keras`` file (its folder supplies the
            class names and run metadata).
        config: Formats, destination folder, base name, overwrite and verify flags.
    """

    source: str
    config: ExportConfig

    def __post_init__(self) -> None:
        source = str(self.source) if isinstance(self.source, (str, os.PathLike)) else ""
        if not source:
            raise ConfigError(f"an export needs a run folder or a .keras file to export. Received: source={self.source!r}")
        object.__setattr__(self, "source", source)
        if not isinstance(self.config, ExportConfig):
            raise ConfigError(f"an export needs an ExportConfig. Received: {type(self.config).__name__}")


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote and how exactly each file reproduces the app.

    Attributes:
        files: Format to the final path of its file (a folder for SavedModel).
        labels_path: ``labels.txt``.
        metadata_path: ``model.json``.
        parity: Format to max |Δ| of probabilities against the in-app model
            (empty when verification was off).
        top1_agreement: Format to the share of verification images whose
            top-1 class matches the app's.
        tolerances: Format to the bound its parity had to meet.
        num_verify_images: Images the verification predicted.
        seconds: Wall time of the whole export.
        format_seconds: Format to the time its writer took.
        cancelled: True when the export was cancelled (nothing was written).
        failed: Format to why it was not written; the other formats were.
        certificate: The certificate of the written files (None when
            certification was off, cancelled or impossible; see ``certificate_note``).
        certificate_path: ``certificate.json`` in the export folder.
        certificate_note: Why there is no certificate, when there is none.
    """

    files: Mapping[str, str] = field(default_factory=dict)
    labels_path: str | None = None
    metadata_path: str | None = None
    parity: Mapping[str, float] = field(default_factory=dict)
    top1_agreement: Mapping[str, float] = field(default_factory=dict)
    tolerances: Mapping[str, float] = field(default_factory=dict)
    num_verify_images: int = 0
    seconds: float = 0.0
    format_seconds: Mapping[str, float] = field(default_factory=dict)
    cancelled: bool = False
    failed: Mapping[str, str] = field(default_factory=dict)
    certificate: ExportCertificate | None = None
    certificate_path: str | None = None
    certificate_note: str = ""

    @property
    def verified(self) -> bool:
        """True when every exported file was checked in a fresh process."""
        return bool(self.files) and set(self.parity) >= set(self.files)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (for ``--json`` and ``model.json``)."""
        data = dataclasses.asdict(self)
        data["verified"] = self.verified
        data["certificate"] = self.certificate.to_dict() if self.certificate is not None else None
        return data
