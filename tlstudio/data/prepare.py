"""Scan, validate and split in one call, with the checks that make data usable."""

from __future__ import annotations

import os
from collections import Counter

from tlstudio.cancel import CancelToken
from tlstudio.config import DataConfig
from tlstudio.data.decisions import apply_decisions
from tlstudio.data.scan import scan_folder
from tlstudio.data.split import split_items
from tlstudio.api.dataset import (
    LAYOUT_PRESPLIT,
    SPLIT_ALL,
    SPLITS,
    PreparedData,
    SplitResult,
    ValidationReport,
    empty_counts,
)
from tlstudio.data.validate import validate_files
from tlstudio.errors import DataError
from tlstudio.events import LogMessage, Sink, null_sink


def _reasons(report: ValidationReport, folder: str) -> str:
    prefix = folder.rstrip(os.sep) + os.sep
    counts = Counter(s.reason for s in report.skipped if s.path.startswith(prefix))
    if not counts:
        return ""
    parts = [f"{n} {reason}" for reason, n in counts.most_common(3)]
    return f" ({sum(counts.values())} skipped: {', '.join(parts)})"


def check_usable(report: ValidationReport) -> None:
    """Raise :class:`DataError` when the validated data cannot train a classifier.

    The checks, in order: the root has class folders; there are at least two
    classes; every class has at least one valid (training) image; in a presplit
    dataset, no class exists only outside the train folder.
    """
    root = report.root
    names = report.class_names
    if not names:
        if report.layout == LAYOUT_PRESPLIT:
            raise DataError(f"Dataset folder {root} has train/val folders but no class folders inside them. Expected {root}/train/<class>/image.jpg.", path=root)
        loose = report.scan.loose_files
        found = f"has {len(loose)} file(s) but no class folders" if loose else "is empty: no class folders found"
        raise DataError(
            f"Dataset folder {root} {found}. Put images in one sub-folder per class, e.g. {root}/cats/1.jpg and {root}/dogs/1.jpg.",
            path=root,
        )
    if len(names) < 2:
        raise DataError(
            f"Dataset folder {root} has only one class ('{names[0]}'). A classifier needs at least two class folders.",
            path=root,
        )
    split = "train" if report.layout == LAYOUT_PRESPLIT else SPLIT_ALL
    empty = [n for n in names if not report.valid.get(split, {}).get(n)]
    if empty:
        name = empty[0]
        folder = report.scan.class_dir(split, name)
        more = f" (and {len(empty) - 1} more class(es): {', '.join(empty[1:4])})" if len(empty) > 1 else ""
        raise DataError(
            f"Class '{name}' has no valid images in {folder}{_reasons(report, folder)}{more}. Every class needs images to train on.",
            path=folder,
        )


def prepare_data(
    data_config: DataConfig,
    *,
    sink: Sink | None = None,
    cancel: CancelToken | None = None,
    use_cache: bool = True,
) -> PreparedData:
    """Scan, validate and split a dataset folder.

    Args:
        data_config: Folder, split fractions, seed, size limit, and the
            project's exclusions and label overrides (applied before the split).
        sink: Receives Progress events while validating and a LogMessage per
            scan warning and for the skipped-file total.
        cancel: Checked between files; a cancelled call returns
            ``PreparedData(cancelled=True)`` with empty splits.
        use_cache: Use the validation cache.

    Returns:
        The :class:`PreparedData` to train on.

    Raises:
        DataError: For an unusable dataset: missing or empty folder, a single
            class, a class without valid images, or too few images for the split.
    """
    sink = sink or null_sink
    scan = scan_folder(data_config.root)
    for warning in scan.warnings:
        sink(LogMessage(warning, "warning"))
    report = validate_files(
        scan, max_megapixels=data_config.max_megapixels, sink=sink, cancel=cancel, use_cache=use_cache
    )
    if report.cancelled:
        return PreparedData(
            class_names=scan.class_names, train=(), val=(), test=(), report=report,
            counts=empty_counts(scan.class_names), class_weights={}, layout=scan.layout,
            root=scan.root, seed=data_config.seed, cancelled=True,
        )
    if report.num_skipped:
        sink(LogMessage(f"{report.num_skipped} file(s) skipped; see the dataset report for reasons", "warning"))
    if scan.layout == LAYOUT_PRESPLIT and data_config.test_fraction > 0 and "test" not in scan.files:
        sink(LogMessage(f"{scan.root} is already split and has no test folder; test_fraction is ignored", "warning"))
    check_usable(report)
    # The report stays the files' validation; only the split sees the project's decisions.
    return assemble(report, split_items(honour_decisions(report, data_config, sink), data_config), data_config.seed)


def honour_decisions(report: ValidationReport, data_config: DataConfig, sink: Sink | None = None) -> ValidationReport:
    """Apply the project's exclusions and label overrides (:mod:`tlstudio.data.decisions`) and say what changed.

    Raises:
        DataError: an override names an unknown class, or the decisions leave a class empty.
    """
    sink = sink or null_sink
    report, applied = apply_decisions(report, data_config)
    if applied.changed:
        sink(LogMessage(
            f"the project's decisions: {len(applied.excluded)} image(s) excluded, "
            f"{len(applied.relabelled)} counted under another class (listed in the dataset report)"
        ))
    if applied.not_found:
        sink(LogMessage(
            f"{len(applied.not_found)} excluded or relabelled path(s) are not valid images of {report.root} and change "
            f"nothing, e.g. {applied.not_found[0]}", "info",
        ))
    return report


def assemble(report: ValidationReport, split: SplitResult, seed: int) -> PreparedData:
    """Bundle a validation report and its split into :class:`PreparedData`."""
    return PreparedData(
        class_names=split.class_names,
        train=split.train,
        val=split.val,
        test=split.test,
        report=report,
        counts={s: dict(split.counts[s]) for s in SPLITS},
        class_weights=dict(split.class_weights),
        layout=report.layout,
        root=report.root,
        seed=seed,
    )
