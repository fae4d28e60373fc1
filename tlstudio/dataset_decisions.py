"""What the user decided about single images of a dataset, kept in the project.

The dataset audit (:mod:`tlstudio.jobs.audit`) lists suspects; the user
answers each one on the Data page's Audit tab:

* **Relabel** records a label override: the image keeps its file and folder,
  but training, evaluation and export treat it as the class named here.
* **Exclude** adds the image to the exclusion list: the file is untouched and
  never used.
* **Looks right** dismisses the suspect: the next audit does not ask again.

Images are keyed by their path exactly as the scan reports it. Nothing here
touches a file: the decisions are plain data saved inside the project file
(``label_overrides``, ``excluded``, ``audit_dismissed``; checked by
:func:`tlstudio.schemas.check_audit_fields`). This module is light: no
TensorFlow, no Qt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass
class DatasetDecisions:
    """Label overrides, exclusions and dismissed audit suspects of one project.

    Attributes:
        label_overrides: Image path -> the class name the user gave it.
        excluded: Image paths never used for training, evaluation or export.
        dismissed: Image paths the user marked "looks right".
    """

    label_overrides: dict[str, str] = field(default_factory=dict)
    excluded: list[str] = field(default_factory=list)
    dismissed: list[str] = field(default_factory=list)

    def relabel(self, path: str, label: str) -> None:
        """Record that ``path`` belongs to class ``label``."""
        self.label_overrides[str(path)] = str(label)

    def clear_label(self, path: str) -> None:
        """Forget the override of ``path`` (no error when there is none)."""
        self.label_overrides.pop(str(path), None)

    def exclude(self, path: str) -> None:
        """Add ``path`` to the exclusion list (once)."""
        if str(path) not in self.excluded:
            self.excluded.append(str(path))

    def include(self, path: str) -> None:
        """Take ``path`` off the exclusion list (no error when it is not on it)."""
        if str(path) in self.excluded:
            self.excluded.remove(str(path))

    def dismiss(self, path: str) -> None:
        """Mark the suspect ``path`` as looking right (once)."""
        if str(path) not in self.dismissed:
            self.dismissed.append(str(path))

    def undismiss(self, path: str) -> None:
        """Ask about ``path`` again in the next audit."""
        if str(path) in self.dismissed:
            self.dismissed.remove(str(path))

    def is_decided(self, path: str) -> bool:
        """True when the user already answered for ``path`` (relabelled, excluded or dismissed)."""
        p = str(path)
        return p in self.label_overrides or p in self.excluded or p in self.dismissed

    def to_dict(self) -> dict[str, Any]:
        """The project-file fields (``label_overrides``, ``excluded``, ``audit_dismissed``)."""
        return {
            "label_overrides": dict(self.label_overrides),
            "excluded": list(self.excluded),
            "audit_dismissed": list(self.dismissed),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "DatasetDecisions":
        """Read the fields of a project dict already checked by :func:`tlstudio.schemas.check_audit_fields`."""
        return cls(
            label_overrides={str(k): str(v) for k, v in (data.get("label_overrides") or {}).items()},
            excluded=[str(p) for p in data.get("excluded") or []],
            dismissed=[str(p) for p in data.get("audit_dismissed") or []],
        )
