"""The split a run trained on, stored in the run folder as ``split_manifest.json``.

A run records the exact train/val/test file lists: for every file its path
relative to the dataset folder, its class, size and modification time. Evaluate
and Resume read the split back from this manifest instead of re-splitting the
folder as it is now, so deleting or adding images never moves a training image
into validation or test.

When the folder has changed since the run was made, :func:`reconcile` says so:

* a manifest file that is gone is counted as missing in its split
  ("2 files of the val split are missing");
* a file whose size or modification time changed keeps its split and is counted;
* a new file is left out of an evaluation ("6 new files were not evaluated"),
  and a resume places it with :func:`tlstudio.data.split.assign_new_file`, a
  threshold on its own hash, so existing files never move.

File format (version 1)::

    {"version": 1, "root": "/abs/dataset", "layout": "flat", "seed": 7,
     "val_fraction": 0.2, "test_fraction": 0.0, "class_names": ["ants", "bees"],
     "splits": {"train": [{"path": "ants/1.jpg", "class": "ants", "size": 1234, "mtime_ns": 1700000000000000000}],
                "val": [...], "test": [...]}}

This module is light: no TensorFlow.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from tlstudio.cancel import CancelToken
from tlstudio.config import DataConfig
from tlstudio.data.split import assign_new_file, class_weights
from tlstudio.api.dataset import LAYOUT_PRESPLIT, SPLIT_ALL, SPLITS, Item, PreparedData, ValidationReport
from tlstudio.errors import DataError, ProjectError
from tlstudio.events import LogMessage, Sink, null_sink
from tlstudio.io.atomic import atomic_write_json

from tlstudio.run_folders.run_files import SPLIT_MANIFEST as MANIFEST_FILE  # the run folder's names are spelled once
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class ManifestEntry:
    """One file of a stored split.

    Attributes:
        path: Path relative to the dataset folder, ``/``-separated.
        class_name: The file's class.
        size: Size in bytes when the run was made.
        mtime_ns: Modification time (ns) when the run was made.
    """

    path: str
    class_name: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class SplitManifest:
    """The train/val/test file lists of a run.

    Attributes:
        root: The dataset folder when the run was made (paths are relative to it).
        layout: ``"flat"`` or ``"presplit"``.
        seed: Split seed.
        val_fraction: Validation share (also used to place new files).
        test_fraction: Test share (also used to place new files).
        class_names: Class names in label order.
        splits: ``"train"``, ``"val"``, ``"test"`` to their entries.
    """

    root: str
    layout: str
    seed: int
    val_fraction: float
    test_fraction: float
    class_names: tuple[str, ...]
    splits: Mapping[str, tuple[ManifestEntry, ...]]

    def to_dict(self) -> dict[str, Any]:
        """The JSON content of ``split_manifest.json``."""
        return {
            "version": MANIFEST_VERSION,
            "root": self.root,
            "layout": self.layout,
            "seed": self.seed,
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
            "class_names": list(self.class_names),
            "splits": {
                split: [{"path": e.path, "class": e.class_name, "size": e.size, "mtime_ns": e.mtime_ns} for e in self.splits.get(split, ())]
                for split in SPLITS
            },
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = MANIFEST_FILE) -> "SplitManifest":
        """Read :meth:`to_dict` output back, checking every field.

        Raises:
            ProjectError: naming ``source``, the field, what was expected and what was received.
        """

        def bad(field_name: str, expected: str, value: Any) -> ProjectError:
            shown = json.dumps(value, default=str)
            shown = shown if len(shown) <= 60 else shown[:59] + "…"
            return ProjectError(f"{source}: field '{field_name}' must be {expected}. Received: {shown}", path=source)

        if not isinstance(data, dict):
            raise bad("(top level)", "a JSON object", data)
        if data.get("version") != MANIFEST_VERSION:
            raise bad("version", str(MANIFEST_VERSION), data.get("version"))
        for key in ("root", "layout"):
            if not isinstance(data.get(key), str):
                raise bad(key, "a text", data.get(key))
        seed = data.get("seed")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise bad("seed", "a whole number", seed)
        fractions = {}
        for key in ("val_fraction", "test_fraction"):
            value = data.get(key)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1:
                raise bad(key, "a number in [0, 1)", value)
            fractions[key] = float(value)
        names = data.get("class_names")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise bad("class_names", "a list of texts", names)
        raw_splits = data.get("splits")
        if not isinstance(raw_splits, dict):
            raise bad("splits", "a JSON object of train/val/test lists", raw_splits)
        splits: dict[str, tuple[ManifestEntry, ...]] = {}
        for split in SPLITS:
            rows = raw_splits.get(split, [])
            if not isinstance(rows, list):
                raise bad(f"splits.{split}", "a list", rows)
            entries = []
            for i, row in enumerate(rows):
                where = f"splits.{split}[{i}]"
                if not isinstance(row, dict):
                    raise bad(where, "a JSON object", row)
                if not isinstance(row.get("path"), str) or not isinstance(row.get("class"), str):
                    raise bad(where, "an object with texts 'path' and 'class'", row)
                for key in ("size", "mtime_ns"):
                    if not isinstance(row.get(key), int) or isinstance(row.get(key), bool):
                        raise bad(f"{where}.{key}", "a whole number", row.get(key))
                entries.append(ManifestEntry(row["path"], row["class"], row["size"], row["mtime_ns"]))
            splits[split] = tuple(entries)
        return cls(data["root"], data["layout"], seed, fractions["val_fraction"], fractions["test_fraction"], tuple(names), splits)

    def index(self) -> dict[str, tuple[str, ManifestEntry]]:
        """Relative path to (split, entry)."""
        return {e.path: (split, e) for split in SPLITS for e in self.splits.get(split, ())}


def _relative(path: str, root: str) -> str:
    return os.path.relpath(path, root).replace(os.sep, "/")


def _entry(path: str, root: str, class_name: str) -> ManifestEntry:
    st = os.stat(path)
    return ManifestEntry(_relative(path, root), class_name, int(st.st_size), int(st.st_mtime_ns))


def manifest_from_data(data: PreparedData, config: DataConfig) -> SplitManifest:
    """The manifest of a freshly prepared dataset (one ``stat`` per file)."""
    splits = {
        split: tuple(_entry(it.path, data.root, data.class_names[it.label]) for it in getattr(data, split)) for split in SPLITS
    }
    return SplitManifest(
        root=str(data.root),
        layout=data.layout,
        seed=int(config.seed),
        val_fraction=float(config.val_fraction),
        test_fraction=float(config.test_fraction),
        class_names=tuple(data.class_names),
        splits=splits,
    )


def write_manifest(run_dir: str | os.PathLike, manifest: SplitManifest) -> Path:
    """Write ``run_dir/split_manifest.json`` atomically."""
    return atomic_write_json(Path(run_dir) / MANIFEST_FILE, manifest.to_dict(), indent=1)


def read_manifest(run_dir: str | os.PathLike) -> SplitManifest | None:
    """The run's manifest, or None when the run has none (made before manifests existed).

    Raises:
        ProjectError: the file exists but is unreadable or malformed (naming the field).
    """
    path = Path(run_dir) / MANIFEST_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ProjectError(f"{path}: cannot be read ({exc.strerror or exc}). Received: {type(exc).__name__}", path=str(path)) from exc
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProjectError(f"{path}: is not valid UTF-8 JSON ({exc}). Received: {raw[:40]!r}", path=str(path)) from exc
    return SplitManifest.from_dict(data, str(path))


# --------------------------------------------------------------------------- reconcile


def _files(n: int) -> str:
    return f"{n} file" if n == 1 else f"{n} files"


@dataclass(frozen=True)
class Reconciled:
    """A stored split applied to the folder as it is now.

    Attributes:
        data: The split to use: manifest files that still exist keep their split;
            new files are in it only when they were assigned (a resume).
        manifest: The manifest to store after a resume (new files added;
            missing ones kept, so they keep their split if they come back).
        missing: Split to manifest files that are gone.
        changed: Split to manifest files whose size or modification time changed.
        new: Split to new files placed there (empty when new files were left out).
        new_left_out: New files that were not used.
        messages: The sentences reported as warnings.
        unchanged: Manifest files found with the same path and size.
    """

    data: PreparedData
    manifest: SplitManifest
    missing: Mapping[str, int] = field(default_factory=dict)
    changed: Mapping[str, int] = field(default_factory=dict)
    new: Mapping[str, int] = field(default_factory=dict)
    new_left_out: int = 0
    messages: tuple[str, ...] = ()
    unchanged: int = 0


def _current_split(report: ValidationReport, split_key: str, manifest: SplitManifest, class_name: str, rel_in_class: str) -> str:
    """Where a new file goes: its presplit folder, else a hash threshold."""
    if report.layout == LAYOUT_PRESPLIT:
        if split_key == "train" and "val" not in report.valid and manifest.val_fraction > 0:
            return assign_new_file(manifest.seed, class_name, rel_in_class, manifest.val_fraction, 0.0)
        return split_key
    return assign_new_file(manifest.seed, class_name, rel_in_class, manifest.val_fraction, manifest.test_fraction)


def reconcile(manifest: SplitManifest, report: ValidationReport, *, assign_new: bool, seed: int | None = None,
              train_only: frozenset[str] = frozenset()) -> Reconciled:
    """Apply a stored split to a fresh validation report of the same dataset.

    Args:
        manifest: The run's manifest.
        report: :func:`tlstudio.data.validate_files` of the dataset folder now.
        assign_new: Place new files with :func:`~tlstudio.data.split.assign_new_file`
            (a resume); False leaves them out (an evaluation).
        seed: Recorded in the returned data (default: the manifest's).
        train_only: New files that go to training, not where their hash would
            place them (``DataConfig.train_only``: the images the Label page added).

    Returns:
        The :class:`Reconciled` split.
    """
    names = report.class_names
    label = {n: i for i, n in enumerate(names)}
    index = manifest.index()
    out: dict[str, list[Item]] = {s: [] for s in SPLITS}
    seen: set[str] = set()
    changed: Counter[str] = Counter()
    same_size = 0
    new: Counter[str] = Counter()
    added: dict[str, list[ManifestEntry]] = {s: [] for s in SPLITS}
    left_out = 0
    for split_key, per_class in report.valid.items():
        for class_name, paths in per_class.items():
            class_dir = report.scan.class_dir(split_key, class_name)
            for path in paths:
                rel = _relative(path, report.root)
                known = index.get(rel)
                if known is not None:
                    split, entry = known
                    seen.add(rel)
                    try:
                        st = os.stat(path)
                        if st.st_size != entry.size or st.st_mtime_ns != entry.mtime_ns:
                            changed[split] += 1
                        same_size += st.st_size == entry.size
                    except OSError:
                        pass  # gone since the scan: it is still counted where it was; its read reports it
                    out[split].append(Item(path, label[class_name]))
                elif assign_new:
                    split = "train" if path in train_only else _current_split(
                        report, split_key if split_key != SPLIT_ALL else "train", manifest, class_name, os.path.relpath(path, class_dir))
                    new[split] += 1
                    out[split].append(Item(path, label[class_name]))
                    added[split].append(_entry(path, report.root, class_name))
                else:
                    left_out += 1
    missing = Counter(split for rel, (split, _) in index.items() if rel not in seen)
    for split in SPLITS:
        out[split].sort(key=lambda it: (it.label, it.path))
    counts = {split: {n: 0 for n in names} for split in SPLITS}
    for split, items in out.items():
        for it in items:
            counts[split][names[it.label]] += 1
    data = PreparedData(
        class_names=names,
        train=tuple(out["train"]),
        val=tuple(out["val"]),
        test=tuple(out["test"]),
        report=report,
        counts=counts,
        class_weights=class_weights(counts["train"], names),
        layout=report.layout,
        root=report.root,
        seed=manifest.seed if seed is None else seed,
    )
    messages = [
        f"{_files(missing[s])} of the {s} split {'is' if missing[s] == 1 else 'are'} missing since the run was made" for s in SPLITS if missing[s]
    ]
    messages += [
        f"{_files(changed[s])} of the {s} split changed (size or modification time) since the run was made; they stay in the {s} split"
        for s in SPLITS
        if changed[s]
    ]
    if left_out:
        messages.append(f"{_files(left_out)} new since the run was made {'was' if left_out == 1 else 'were'} not evaluated")
    if sum(new.values()):
        where = ", ".join(f"{new[s]} to {s}" for s in SPLITS if new[s])
        messages.append(f"{_files(sum(new.values()))} new since the run was made {'was' if sum(new.values()) == 1 else 'were'} added ({where}); no earlier file moved")
    updated = SplitManifest(
        root=manifest.root,  # where the run was made; a session on a moved copy never rewrites it
        layout=manifest.layout,
        seed=manifest.seed,
        val_fraction=manifest.val_fraction,
        test_fraction=manifest.test_fraction,
        class_names=tuple(names),
        splits={s: tuple(manifest.splits.get(s, ())) + tuple(added[s]) for s in SPLITS},
    )
    return Reconciled(data, updated, dict(missing), dict(changed), dict(new), left_out, tuple(messages), same_size)


def _check_same_dataset(manifest: SplitManifest, report: ValidationReport, result: Reconciled) -> None:
    """Refuse a folder that is not the run's dataset: other classes, or most of its files not there.

    Raises:
        DataError: naming the folder, the run's folder and what differs.
    """
    now = list(report.class_names)
    if now != list(manifest.class_names):
        gone = [n for n in manifest.class_names if n not in now]
        added = [n for n in now if n not in manifest.class_names]
        what = "; ".join(part for part in (f"new: {', '.join(added)}" if added else "", f"gone: {', '.join(gone)}" if gone else "") if part)
        raise DataError(
            f"{report.root} has other classes than the run was trained on, so its labels would not mean the model's classes. "
            f"Expected the classes {list(manifest.class_names)} (the run's dataset was {manifest.root}). "
            f"Received: {now}" + (f" ({what})" if what else " (another order)"),
            path=report.root,
        )
    total = sum(len(v) for v in manifest.splits.values())
    if total and result.unchanged * 2 < total:
        missing = sum(result.missing.values())
        raise DataError(
            f"{report.root} is not the dataset this run was made on: only {result.unchanged} of the {total} files in its "
            f"{MANIFEST_FILE} are there with the same path and size. Expected the folder {manifest.root}; "
            "to train on this folder, start a new run. "
            f"Received: {missing} missing, {total - missing - result.unchanged} of another size, "
            f"{sum(result.new.values()) + result.new_left_out} the run never saw",
            path=report.root,
        )


def dataset_root(recorded: str, manifest: SplitManifest | None, where: str | os.PathLike = "") -> str:
    """The absolute dataset folder of a run whose ``run_config.json`` records ``recorded``.

    Runs store an absolute folder. A run made before that may record a
    relative one, which meant the folder tlstudio was started in: it is read
    as the run's manifest root (absolute since manifests exist), never against
    today's working folder.

    Raises:
        DataError: a relative folder and no manifest to say where it was.
    """
    if not recorded or os.path.isabs(recorded):
        return recorded
    if manifest is not None and os.path.isabs(manifest.root):
        return manifest.root
    raise DataError(
        f"{Path(where) / 'run_config.json'} records the dataset folder as the relative path {recorded!r}, which depends on the "
        f"folder tlstudio was started in, and the run has no {MANIFEST_FILE} saying where it was. Give the dataset folder "
        f"(tlstudio-cli evaluate RUN DATA, or tlstudio-cli train DATA --resume RUN). Received: data.root={recorded!r}",
        path=str(where),
    )


def prepare_from_manifest(
    manifest: SplitManifest,
    data_config: DataConfig,
    *,
    assign_new: bool,
    sink: Sink | None = None,
    cancel: CancelToken | None = None,
) -> Reconciled | None:
    """Scan and validate ``data_config.root`` and apply the stored split.

    Sends one warning :class:`~tlstudio.events.LogMessage` per difference.

    Returns:
        The :class:`Reconciled` split, or None when validation was cancelled.

    Raises:
        DataError: the folder cannot be used (see :func:`tlstudio.data.check_usable`),
            it is not the run's dataset (other classes, or fewer than half of
            the stored files there with their size), or no file of the stored split is left.
    """
    from tlstudio.data.prepare import check_usable, usable_classes
    from tlstudio.data.scan import scan_folder
    from tlstudio.data.validate import validate_files

    sink = sink or null_sink
    scan = scan_folder(data_config.root)
    for warning in scan.warnings:
        sink(LogMessage(warning, "warning"))
    report = validate_files(scan, max_megapixels=data_config.max_megapixels, sink=sink, cancel=cancel)
    if report.cancelled:
        return None
    report = usable_classes(report)  # an empty class folder is skipped, as the run skipped it
    check_usable(report)
    from tlstudio.data.prepare import honour_decisions

    report = honour_decisions(report, data_config, sink)  # the project's exclusions and label overrides
    result = reconcile(manifest, report, assign_new=assign_new, train_only=frozenset(data_config.train_only))
    _check_same_dataset(manifest, report, result)
    for message in result.messages:
        sink(LogMessage(message, "warning"))
    if not (result.data.train or result.data.val or result.data.test):
        raise DataError(
            f"none of the files of the stored split is left in {scan.root}. Expected the files listed in {MANIFEST_FILE}. "
            f"Received: {scan.num_files} file(s), none of them in the split",
            path=scan.root,
        )
    return result
