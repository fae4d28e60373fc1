"""What the user decided about single images of a dataset, kept in the project.

The dataset audit (:mod:`tlstudio.jobs.audit`) lists suspects; the user
answers each one on the Data page's Audit tab:

* **Relabel** records a label override: the image keeps its file and folder,
  but training, evaluation and export treat it as the class named here.
* **Exclude** adds the image to the exclusion list: the file is untouched and
  never used.
* **Looks right** dismisses one finding about an image: the next audit does
  not show it again. A dismissal is keyed by the finding's kind and the image
  (:func:`finding_key`, ``"label:/data/cats/1.jpg"``), so saying a duplicate
  is fine does not hide a label issue of the same image.

Images are keyed by their path exactly as the scan reports it. Nothing here
touches a file: the decisions are plain data saved inside the project file
(``label_overrides``, ``excluded``, ``audit_dismissed``; checked by
:func:`tlstudio.schemas.check_audit_fields`). This module is light: no
TensorFlow, no Qt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping


FINDING_KINDS = ("label", "duplicate", "outlier")
"""Kinds of audit findings a dismissal can name."""


def finding_key(kind: str, path: str) -> str:
    """The key of one finding about one image: ``"label:/data/cats/1.jpg"``.

    Raises:
        ValueError: ``kind`` is not one of :data:`FINDING_KINDS`.
    """
    if kind not in FINDING_KINDS:
        raise ValueError(f"a finding kind must be one of {list(FINDING_KINDS)}. Received: {kind!r}")
    return f"{kind}:{path}"


@dataclass
class DatasetDecisions:
    """Label overrides, exclusions and dismissed audit suspects of one project.

    Attributes:
        label_overrides: Image path -> the class name the user gave it.
        excluded: Image paths never used for training, evaluation or export.
        dismissed: Finding keys (:func:`finding_key`) the user marked "looks right".
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

    def dismiss(self, key: str) -> None:
        """Mark the finding ``key`` (:func:`finding_key`) as looking right (once)."""
        if str(key) not in self.dismissed:
            self.dismissed.append(str(key))

    def undismiss(self, key: str) -> None:
        """Show the finding ``key`` again in the next audit."""
        if str(key) in self.dismissed:
            self.dismissed.remove(str(key))

    def is_dismissed(self, kind: str, path: str) -> bool:
        """True when the user said the ``kind`` finding about ``path`` looks right."""
        return finding_key(kind, path) in self.dismissed

    def is_decided(self, path: str) -> bool:
        """True when ``path`` is relabelled or excluded."""
        p = str(path)
        return p in self.label_overrides or p in self.excluded

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
