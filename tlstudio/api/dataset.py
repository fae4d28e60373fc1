"""The dataset's typed records: what a scan, a validation, a split and the
prepare_data job return (:class:`PreparedData`, :class:`ValidationReport`, ...).

Nothing here imports TensorFlow; the GUI reads every record at start-up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping

LAYOUT_FLAT = "flat"
LAYOUT_PRESPLIT = "presplit"

SPLIT_ALL = "all"
"""The single pseudo-split of a flat layout, before the app splits it."""

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Item:
    """One validated image and its integer label.

    Attributes:
        path: Absolute path of the image file.
        label: Index into the dataset's ``class_names``.
    """

    path: str
    label: int


@dataclass(frozen=True)
class SkippedFile:
    """A file that will not be used, and why.

    Attributes:
        path: Absolute path of the file.
        reason: Short human-readable reason, e.g. ``"zero bytes"`` or ``"truncated JPEG"``.
    """

    path: str
    reason: str


@dataclass(frozen=True)
class SkippedClass:
    """A class folder that will not be trained on, and why.

    Attributes:
        name: The folder's (class) name.
        folder: The class folder (of the training split in a presplit dataset).
        reason: Short human-readable reason, e.g. ``"no valid images in /d/birds (2 skipped: 2 zero bytes)"``.
    """

    name: str
    folder: str
    reason: str


@dataclass(frozen=True)
class ScanResult:
    """What a folder scan found, before any file is opened.

    Attributes:
        root: Absolute dataset folder.
        layout: ``"flat"`` (``root/<class>/*``) or ``"presplit"``
            (``root/{train,val,test}/<class>/*``).
        class_names: Class folder names, sorted; index = label.
        files: Candidate image files per split and class. A flat layout has the
            single split ``"all"``; a presplit layout has ``"train"`` and any of
            ``"val"``, ``"test"``.
        split_dirs: The folder of each split (``root`` itself for ``"all"``).
        skipped: Files inside class folders whose extension is not an image type.
        warnings: Things ignored on purpose that a user may want to know about
            (files directly in the root, unexpected folders, symlink loops).
        loose_files: Files lying directly in the root (or next to the split
            folders), outside any class folder; they are not used.
    """

    root: str
    layout: str
    class_names: tuple[str, ...]
    files: Mapping[str, Mapping[str, tuple[str, ...]]]
    split_dirs: Mapping[str, str]
    skipped: tuple[SkippedFile, ...] = ()
    warnings: tuple[str, ...] = ()
    loose_files: tuple[str, ...] = ()

    @property
    def num_files(self) -> int:
        """Candidate image files, over all splits and classes."""
        return sum(len(paths) for per_class in self.files.values() for paths in per_class.values())

    def class_dir(self, split: str, class_name: str) -> str:
        """Folder holding ``class_name`` images of ``split``."""
        return os.path.join(self.split_dirs[split], class_name)


@dataclass(frozen=True)
class ValidationReport:
    """The result of opening and fully decoding every candidate file.

    Attributes:
        scan: The scan this report validates.
        valid: Valid files per split and class (same keys as ``scan.files``).
        skipped: Every unusable file with its reason, including the scan's
            wrong-extension files, sorted by path.
        seconds: Wall time of the validation.
        cache_hits: Files whose result came from the validation cache.
        max_megapixels: The size limit that was applied.
        cancelled: True when validation stopped early; ``valid`` is then partial.
        skipped_classes: Class folders left out because they have no valid
            training image (:func:`tlstudio.data.prepare.usable_classes`); they
            are not in ``scan.class_names``.
    """

    scan: ScanResult
    valid: Mapping[str, Mapping[str, tuple[str, ...]]]
    skipped: tuple[SkippedFile, ...]
    seconds: float = 0.0
    cache_hits: int = 0
    max_megapixels: float = 89.0
    cancelled: bool = False
    skipped_classes: tuple[SkippedClass, ...] = ()

    @property
    def root(self) -> str:
        return self.scan.root

    @property
    def layout(self) -> str:
        return self.scan.layout

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.scan.class_names

    @property
    def num_valid(self) -> int:
        return sum(len(paths) for per_class in self.valid.values() for paths in per_class.values())

    @property
    def num_skipped(self) -> int:
        return len(self.skipped)

    @property
    def num_files(self) -> int:
        """Files looked at: valid plus skipped."""
        return self.num_valid + self.num_skipped

    def counts(self) -> dict[str, dict[str, int]]:
        """Valid images per split and class, every class listed (0 when absent)."""
        return {
            split: {name: len(per_class.get(name, ())) for name in self.class_names}
            for split, per_class in self.valid.items()
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary."""
        return {
            "root": self.root,
            "layout": self.layout,
            "class_names": list(self.class_names),
            "valid_counts": self.counts(),
            "num_files": self.num_files,
            "num_valid": self.num_valid,
            "num_skipped": self.num_skipped,
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "skipped_classes": skipped_classes_json(self.skipped_classes),
            "warnings": list(self.scan.warnings),
            "seconds": round(self.seconds, 4),
            "cache_hits": self.cache_hits,
            "max_megapixels": self.max_megapixels,
            "cancelled": self.cancelled,
        }


@dataclass(frozen=True)
class SplitResult:
    """Validated images assigned to train, validation and test.

    Attributes:
        class_names: Class names; index = label.
        train: Training items, ordered by class then path.
        val: Validation items (empty when ``val_fraction`` is 0 and there is no val folder).
        test: Test items (often empty).
        counts: Images per split and class, ``{"train": {"ants": 98, ...}, ...}``.
        class_weights: Balanced weights ``n_train / (n_classes * n_train_c)`` by label.
    """

    class_names: tuple[str, ...]
    train: tuple[Item, ...]
    val: tuple[Item, ...]
    test: tuple[Item, ...]
    counts: Mapping[str, Mapping[str, int]]
    class_weights: Mapping[int, float]


@dataclass(frozen=True)
class PreparedData:
    """A dataset ready for training: validated, split, counted and weighted.

    Attributes:
        class_names: Class names; index = label.
        train: Training items.
        val: Validation items.
        test: Test items.
        report: The validation report (skipped files with reasons, timing, cache hits).
        counts: Images per split and class.
        class_weights: Balanced class weights by label, computed on the training split.
        layout: ``"flat"`` or ``"presplit"``.
        root: Absolute dataset folder.
        seed: Seed of the split.
        cancelled: True when preparation was cancelled; the splits are then empty.
        refused: Why the folder cannot train a classifier ("" when it can);
            the splits are then empty and ``report`` says what was found.
    """

    class_names: tuple[str, ...]
    train: tuple[Item, ...]
    val: tuple[Item, ...]
    test: tuple[Item, ...]
    report: ValidationReport
    counts: Mapping[str, Mapping[str, int]]
    class_weights: Mapping[int, float]
    layout: str
    root: str
    seed: int = 0
    cancelled: bool = False
    refused: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary, written as ``dataset_report.json`` and by ``scan --json``."""
        return {
            "root": self.root,
            "layout": self.layout,
            "class_names": list(self.class_names),
            "seed": self.seed,
            "counts": {split: dict(per_class) for split, per_class in self.counts.items()},
            "totals": {split: sum(per_class.values()) for split, per_class in self.counts.items()},
            "class_weights": {name: round(float(self.class_weights.get(i, 0.0)), 6) for i, name in enumerate(self.class_names)},
            "num_files": self.report.num_files,
            "num_valid": self.report.num_valid,
            "num_skipped": self.report.num_skipped,
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.report.skipped],
            "skipped_classes": skipped_classes_json(self.report.skipped_classes),
            "warnings": list(self.report.scan.warnings),
            "seconds": round(self.report.seconds, 4),
            "cache_hits": self.report.cache_hits,
            "cancelled": self.cancelled,
            **({"refused": self.refused} if self.refused else {}),
        }


def skipped_classes_json(skipped: tuple[SkippedClass, ...]) -> list[dict[str, str]]:
    """The skipped classes as JSON objects (``name``, ``folder``, ``reason``)."""
    return [{"name": c.name, "folder": c.folder, "reason": c.reason} for c in skipped]


def empty_counts(class_names: tuple[str, ...], splits: tuple[str, ...] = SPLITS) -> dict[str, dict[str, int]]:
    """``{split: {class: 0}}`` for every split and class."""
    return {split: {name: 0 for name in class_names} for split in splits}

