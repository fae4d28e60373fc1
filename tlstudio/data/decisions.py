"""The project's dataset decisions applied to a validated dataset: exclusions and label overrides.

The Audit tab records what the user decided about single images
(:mod:`tlstudio.dataset_decisions`); the GUI copies them into
:class:`~tlstudio.config.DataConfig` (``exclude`` and ``relabel``), so every
job that prepares the dataset (training, evaluation of a run, the audit, the
embedding map) honours them without knowing about projects:

* an **excluded** image is left out of every split; its file is untouched;
* a **relabelled** image counts under its new class wherever its file lies.

They are applied to the :class:`~tlstudio.api.dataset.ValidationReport`,
before the split. A relabelled image is placed in the split order of its new
class (by its path relative to that class folder, ``../ants/1.jpg``), so like
any added or removed file it can move at most a file or two across a split
boundary in the two classes it touches (see :mod:`tlstudio.data.split`).

A decision about a file that is not a valid image of this dataset (another
dataset's decision, a file moved or deleted since) changes nothing; it is
listed as ``not_found`` in the run's ``dataset_report.json``.

This module is light: no TensorFlow.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from tlstudio.config import DataConfig
from tlstudio.api.dataset import SPLITS, PreparedData, ValidationReport
from tlstudio.errors import DataError


@dataclass(frozen=True)
class AppliedDecisions:
    """What the exclusions and label overrides changed in one dataset.

    Attributes:
        excluded: Valid images left out of every split.
        relabelled: ``(path, folder class, new class)`` of every image that changed class.
        not_found: Decided paths that are not valid images of this dataset (nothing changed for them).
    """

    excluded: tuple[str, ...] = ()
    relabelled: tuple[tuple[str, str, str], ...] = ()
    not_found: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        """True when the decisions changed the dataset."""
        return bool(self.excluded or self.relabelled)


def apply_decisions(report: ValidationReport, config: DataConfig) -> tuple[ValidationReport, AppliedDecisions]:
    """The report with ``config.exclude`` removed and ``config.relabel`` moved to their new classes.

    Args:
        report: The validated dataset (its ``scan`` is kept unchanged).
        config: Supplies ``exclude`` and ``relabel``.

    Returns:
        The filtered report (a new object; ``report`` is unchanged) and what changed.

    Raises:
        DataError: an override names a class the dataset does not have, or the
            decisions leave a class without images.
    """
    if not config.exclude and not config.relabel:
        return report, AppliedDecisions()
    names = report.class_names
    excluded = set(config.exclude)
    relabel = dict(config.relabel)
    for path, label in relabel.items():
        if label not in names:
            raise DataError(
                f"relabel: the project records {path} as class '{label}', which is not a class of {report.root}. "
                f"Expected one of {list(names)}. Received: '{label}'",
                path=path,
            )
    valid: dict[str, dict[str, list[str]]] = {split: {n: [] for n in names} for split in report.valid}
    dropped: list[str] = []
    moved: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for split, per_class in report.valid.items():
        for name, paths in per_class.items():
            for path in paths:
                seen.add(path)
                if path in excluded:
                    dropped.append(path)
                    continue
                target = relabel.get(path, name)
                if target != name:
                    moved.append((path, name, target))
                valid[split][target].append(path)
    for split, per_class in valid.items():
        for name in names:
            if not per_class[name] and report.valid.get(split, {}).get(name):
                folder = report.scan.class_dir(split, name)
                raise DataError(
                    f"Class '{name}' has no images left in {folder} after the project's exclusions and relabels "
                    f"({sum(1 for p in dropped if os.path.dirname(p) == folder)} excluded, "
                    f"{sum(1 for m in moved if m[1] == name)} relabelled away). Every class needs images: "
                    f"take some images off the exclusion list on the Audit tab. Received: 0 images",
                    path=folder,
                )
    not_found = sorted((excluded | set(relabel)) - seen)
    filtered = ValidationReport(
        scan=report.scan,
        valid={split: {n: tuple(sorted(p)) for n, p in per_class.items() if p or n in report.valid[split]}
               for split, per_class in valid.items()},
        skipped=report.skipped,
        seconds=report.seconds,
        cache_hits=report.cache_hits,
        max_megapixels=report.max_megapixels,
        cancelled=report.cancelled,
    )
    return filtered, AppliedDecisions(tuple(sorted(dropped)), tuple(sorted(moved)), tuple(not_found))


def decisions_report(config: DataConfig, data: PreparedData) -> dict[str, Any]:
    """The ``"decisions"`` section of a run's ``dataset_report.json``: counts and paths.

    Read back from the prepared data and its scan, so it says what the run
    really used: ``{"excluded": {"count", "paths"}, "relabelled": {"count",
    "items": [{"path", "from", "to", "split"}]}, "not_found": {"count", "paths"}}``.
    """
    folder_class: dict[str, str] = {}
    for per_class in data.report.scan.files.values():
        for name, paths in per_class.items():
            for path in paths:
                folder_class[path] = name
    split_of = {item.path: (split, data.class_names[item.label]) for split in SPLITS for item in getattr(data, split)}
    excluded = sorted(p for p in set(config.exclude) if p in folder_class and p not in split_of)
    relabelled = [
        {"path": path, "from": folder_class[path], "to": split_of[path][1], "split": split_of[path][0]}
        for path, _ in sorted(config.relabel)
        if path in split_of and path in folder_class and split_of[path][1] != folder_class[path]
    ]
    used = set(excluded) | {r["path"] for r in relabelled}
    not_found = sorted(p for p in set(config.exclude) | {p for p, _ in config.relabel} if p not in used and p not in split_of)
    return {
        "excluded": {"count": len(excluded), "paths": excluded},
        "relabelled": {"count": len(relabelled), "items": relabelled},
        "not_found": {"count": len(not_found), "paths": not_found},
    }
