"""What an export wrote: :class:`ExportResult`, plain data that imports without TensorFlow.

The engine's ``export`` job returns it to the GUI process, which unpickles it;
so it lives here and not in :mod:`tlstudio.export.exporter`, which imports Keras.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping


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

    @property
    def verified(self) -> bool:
        """True when every exported file was checked in a fresh process."""
        return bool(self.files) and set(self.parity) >= set(self.files)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (for ``--json`` and ``model.json``)."""
        data = dataclasses.asdict(self)
        data["verified"] = self.verified
        return data
