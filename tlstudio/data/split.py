"""Assign validated images to train, validation and test.

The split is stratified: every class is split on its own, with the requested
fractions. Inside a class, files are ordered by a hash of
``(seed, class name, file path relative to the class folder)`` and the first
ones go to test, the next ones to validation, the rest to training. So:

* the same seed always gives the same split, on any machine;
* adding or removing a file in one class leaves every other class untouched,
  and moves at most a file or two across a split boundary in its own class;
* renaming or moving the dataset folder changes nothing (paths are relative).

A split with a fraction above 0 gets at least one image of every class.

A run stores the split it trained on (:mod:`tlstudio.data.manifest`), so a
later evaluation or resume never re-splits. A file that appears after the run
was made is placed by :func:`assign_new_file`: a threshold on its own hash,
independent of every other file, so existing files never move.

A presplit dataset keeps the user's split. When it has no validation folder
and ``val_fraction > 0``, the validation images are taken from its training
folder in the same way.
"""

from __future__ import annotations

import hashlib
import os
from typing import Mapping

from tlstudio.config import DataConfig
from tlstudio.api.dataset import LAYOUT_PRESPLIT, SPLIT_ALL, SPLITS, Item, SplitResult, ValidationReport
from tlstudio.errors import DataError


def split_key(seed: int, class_name: str, relative_path: str) -> bytes:
    """The sort key that places a file in the split order of its class."""
    text = f"{seed}\x00{class_name}\x00{relative_path.replace(os.sep, '/')}"
    return hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=8).digest()


def hash_fraction(seed: int, class_name: str, relative_path: str) -> float:
    """The file's :func:`split_key` as a number in [0, 1), uniform over files."""
    return int.from_bytes(split_key(seed, class_name, relative_path), "big") / float(1 << 64)


def assign_new_file(seed: int, class_name: str, relative_path: str, val_fraction: float, test_fraction: float) -> str:
    """The split of a file that was not there when the split was made.

    The file goes to ``"test"`` when its :func:`hash_fraction` is below
    ``test_fraction``, to ``"val"`` when below ``test_fraction + val_fraction``,
    else to ``"train"``. Nothing else is looked at, so adding a file never
    moves another one.

    Args:
        seed: The split seed.
        class_name: The file's class.
        relative_path: The path relative to its class folder.
        val_fraction: Share of new files that go to validation.
        test_fraction: Share of new files that go to test.
    """
    u = hash_fraction(seed, class_name, relative_path)
    if u < test_fraction:
        return "test"
    if u < test_fraction + val_fraction:
        return "val"
    return "train"


def split_counts(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int, int]:
    """Images of a class for (train, val, test); a split with a fraction > 0 gets at least one.

    Returns counts that may leave train empty; the caller reports that.
    """
    n_test = max(1, round(n * test_fraction)) if test_fraction > 0 else 0
    n_val = max(1, round(n * val_fraction)) if val_fraction > 0 else 0
    return n - n_val - n_test, n_val, n_test


def _ordered(paths: tuple[str, ...], class_dir: str, class_name: str, seed: int) -> list[str]:
    return sorted(paths, key=lambda p: split_key(seed, class_name, os.path.relpath(p, class_dir)))


def _needed(val_fraction: float, test_fraction: float) -> int:
    return 1 + (val_fraction > 0) + (test_fraction > 0)


def _split_class(
    paths: tuple[str, ...],
    class_dir: str,
    class_name: str,
    config: DataConfig,
    val_fraction: float,
    test_fraction: float,
) -> tuple[list[str], list[str], list[str]]:
    if not paths:
        raise DataError(f"Class '{class_name}' has no valid images in {class_dir}. Every class needs images to train on.", path=class_dir)
    n_train, n_val, n_test = split_counts(len(paths), val_fraction, test_fraction)
    if n_train < 1:
        need = _needed(val_fraction, test_fraction)
        wanted = ", ".join(
            f"{name} {frac:g}" for name, frac in (("validation", val_fraction), ("test", test_fraction)) if frac > 0
        )
        raise DataError(
            f"Class '{class_name}' in {class_dir} has only {len(paths)} valid image(s); a split with {wanted} "
            f"needs at least {need} per class (one for each split). Add images or lower the fractions.",
            path=class_dir,
        )
    order = _ordered(paths, class_dir, class_name, config.seed)
    test, val, train = order[:n_test], order[n_test : n_test + n_val], order[n_test + n_val :]
    return sorted(train), sorted(val), sorted(test)


def class_weights(counts: Mapping[str, int], class_names: tuple[str, ...]) -> dict[int, float]:
    """Balanced class weights ``n_samples / (n_classes * n_c)`` by label (0 for an empty class)."""
    total = sum(counts.get(name, 0) for name in class_names)
    k = len(class_names)
    return {
        i: (total / (k * counts[name]) if counts.get(name, 0) else 0.0)
        for i, name in enumerate(class_names)
    }


def split_items(report: ValidationReport, data_config: DataConfig) -> SplitResult:
    """Split the valid files of a report into labelled train/val/test items.

    Args:
        report: Result of :func:`tlstudio.data.validate_files`.
        data_config: Supplies ``val_fraction``, ``test_fraction`` and ``seed``;
            its ``train_only`` images go to training and are left out when
            the other files are split, so adding them moves no other file.

    Returns:
        A :class:`SplitResult` with items ordered by class then path, counts per
        split and class, and balanced class weights computed on training.

    Raises:
        DataError: If a class has too few valid images for the requested split.
    """
    names = report.class_names
    scan = report.scan
    train_only = set(data_config.train_only)
    out: dict[str, list[Item]] = {s: [] for s in SPLITS}
    for label, name in enumerate(names):
        if report.layout == LAYOUT_PRESPLIT:
            parts = {s: list(report.valid.get(s, {}).get(name, ())) for s in SPLITS}
            if "val" not in report.valid and data_config.val_fraction > 0 and parts["train"]:
                train_dir = scan.class_dir("train", name)
                forced = [p for p in parts["train"] if p in train_only]
                rest = tuple(p for p in parts["train"] if p not in train_only)
                train, val, _ = (_split_class(rest, train_dir, name, data_config, data_config.val_fraction, 0.0)
                                 if rest else ([], [], []))
                parts["train"], parts["val"] = train + forced, val
        else:
            paths = report.valid.get(SPLIT_ALL, {}).get(name, ())
            forced = [p for p in paths if p in train_only]
            paths = tuple(p for p in paths if p not in train_only)
            train, val, test = _split_class(
                paths, scan.class_dir(SPLIT_ALL, name), name, data_config, data_config.val_fraction, data_config.test_fraction
            ) if paths or not forced else ([], [], [])  # a class made of labelled images only: all of it trains
            parts = {"train": train + forced, "val": val, "test": test}
        for split in SPLITS:
            out[split].extend(Item(path, label) for path in sorted(parts[split]))

    counts = {split: {name: 0 for name in names} for split in SPLITS}
    for split, items in out.items():
        for item in items:
            counts[split][names[item.label]] += 1
    return SplitResult(
        class_names=names,
        train=tuple(out["train"]),
        val=tuple(out["val"]),
        test=tuple(out["test"]),
        counts=counts,
        class_weights=class_weights(counts["train"], names),
    )
