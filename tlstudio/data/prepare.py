"""Scan, validate and split in one call, with the checks that make data usable."""

from __future__ import annotations

import dataclasses
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
    SkippedClass,
    SkippedFile,
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


def usable_classes(report: ValidationReport) -> ValidationReport:
    """``report`` without the classes that have no valid training image, each listed in ``skipped_classes``.

    A class is left out when its folder (its ``train`` folder in a presplit
    dataset) holds no valid image. Its unusable files stay in ``skipped`` with
    their own reasons; its valid images in other splits are added to
    ``skipped`` with the reason ``"its class '<name>' has no training images"``,
    so every file is accounted for.
    """
    names = report.class_names
    split = "train" if report.layout == LAYOUT_PRESPLIT else SPLIT_ALL
    empty = [n for n in names if not report.valid.get(split, {}).get(n)]
    if not empty:
        return report
    scan = report.scan
    classes = []
    extra: list[SkippedFile] = []
    for name in empty:
        folder = scan.class_dir(split, name)
        classes.append(SkippedClass(name, folder, f"no valid images in {folder}{_reasons(report, folder)}"))
        for other, per_class in report.valid.items():
            if other != split:
                extra.extend(SkippedFile(path, f"its class '{name}' has no training images") for path in per_class.get(name, ()))
    kept = tuple(n for n in names if n not in empty)
    scan = dataclasses.replace(
        scan,
        class_names=kept,
        files={s: {n: paths for n, paths in per.items() if n in kept} for s, per in scan.files.items()},
    )
    valid = {s: {n: paths for n, paths in per.items() if n in kept} for s, per in report.valid.items()}
    return dataclasses.replace(
        report,
        scan=scan,
        valid=valid,
        skipped=tuple(sorted((*report.skipped, *extra), key=lambda f: f.path)),
        skipped_classes=(*report.skipped_classes, *classes),
    )


def check_usable(report: ValidationReport) -> None:
    """Raise :class:`DataError` when the validated data cannot train a classifier.

    Pass the report through :func:`usable_classes` first: classes without a
    valid training image are skipped, not refused. The checks, in order: the
    root has class folders; at least two classes are usable. The message
    names every skipped class and why.
    """
    root = report.root
    names = report.class_names
    skipped = report.skipped_classes
    why = "".join(f" '{c.name}' was skipped: {c.reason}." for c in skipped[:4])
    if len(skipped) > 4:
        why += f" ({len(skipped) - 4} more class(es) skipped.)"
    if not names and not skipped:
        if report.layout == LAYOUT_PRESPLIT:
            raise DataError(f"Dataset folder {root} has train/val folders but no class folders inside them. Expected {root}/train/<class>/image.jpg.", path=root)
        loose = report.scan.loose_files
        found = f"has {len(loose)} file(s) but no class folders" if loose else "is empty: no class folders found"
        raise DataError(
            f"Dataset folder {root} {found}. Put images in one sub-folder per class, e.g. {root}/cats/1.jpg and {root}/dogs/1.jpg.",
            path=root,
        )
    if not names:
        raise DataError(f"Dataset folder {root} has no usable class: a classifier needs at least two.{why}", path=root)
    if len(names) < 2:
        what = "one usable class" if skipped else "one class"
        raise DataError(
            f"Dataset folder {root} has only {what} ('{names[0]}'). A classifier needs at least two class folders "
            f"with images.{why}",
            path=root,
        )


def examine(
    data_config: DataConfig,
    *,
    sink: Sink | None = None,
    cancel: CancelToken | None = None,
    use_cache: bool = True,
) -> PreparedData:
    """Scan, validate and split a dataset folder; an unusable one comes back ``refused``, with its report.

    Like :func:`prepare_data`, but a folder that cannot train a classifier
    (fewer than two usable classes) returns ``PreparedData(refused=<why>)``
    with empty splits and the validation report, so a front end can show what
    was found. A folder that cannot be scanned at all still raises.

    Raises:
        DataError: a missing folder, or a split the project's decisions leave empty.
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
    report = usable_classes(report)
    if report.num_skipped:
        sink(LogMessage(f"{report.num_skipped} file(s) skipped; see the dataset report for reasons", "warning"))
    if report.skipped_classes:
        names = ", ".join(c.name for c in report.skipped_classes)
        sink(LogMessage(f"{len(report.skipped_classes)} class folder(s) skipped ({names}): no valid training images; "
                        "see the dataset report", "warning"))
    if scan.layout == LAYOUT_PRESPLIT and data_config.test_fraction > 0 and "test" not in scan.files:
        sink(LogMessage(f"{scan.root} is already split and has no test folder; test_fraction is ignored", "warning"))
    try:
        check_usable(report)
    except DataError as exc:
        return PreparedData(
            class_names=report.class_names, train=(), val=(), test=(), report=report,
            counts=empty_counts(report.class_names), class_weights={}, layout=scan.layout,
            root=scan.root, seed=data_config.seed, refused=exc.message or str(exc),
        )
    # The report stays the files' validation; only the split sees the project's decisions.
    return assemble(report, split_items(honour_decisions(report, data_config, sink), data_config), data_config.seed)


def prepare_data(
    data_config: DataConfig,
    *,
    sink: Sink | None = None,
    cancel: CancelToken | None = None,
    use_cache: bool = True,
) -> PreparedData:
    """Scan, validate and split a dataset folder.

    Class folders without a valid training image are skipped (listed in
    ``report.skipped_classes`` with their reason); the other classes train.

    Args:
        data_config: Folder, split fractions, seed, size limit, and the
            project's exclusions and label overrides (applied before the split).
        sink: Receives Progress events while validating and a LogMessage per
            scan warning, for the skipped-file total and the skipped classes.
        cancel: Checked between files; a cancelled call returns
            ``PreparedData(cancelled=True)`` with empty splits.
        use_cache: Use the validation cache.

    Returns:
        The :class:`PreparedData` to train on.

    Raises:
        DataError: For an unusable dataset: missing or empty folder, fewer than
            two usable classes, or too few images for the split.
    """
    prepared = examine(data_config, sink=sink, cancel=cancel, use_cache=use_cache)
    if prepared.refused:
        raise DataError(prepared.refused, path=prepared.root)
    return prepared


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
