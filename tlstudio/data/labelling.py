"""File labelled images from an unsorted folder into a dataset's class folders, and undo it.

* **Where**: in a dataset with split folders (``train/``, ``val/``…) an image
  goes to ``train/CLASS/``; in a flat dataset to ``CLASS/``. A class folder
  that does not exist yet is created (a new class).
* **How**: copied by default, through the atomic writer
  (:func:`tlstudio.io.move_image.copy_image`), or moved with the safe mover
  (:func:`tlstudio.io.move_image.move_image`). A name already in the class
  folder is never overwritten: the image gets ``name-1.jpg``, ``-2``…, and
  :attr:`~tlstudio.api.label.Placed.renamed` says so.
* **Undo** (:func:`undo_batch`) reverses one batch: a moved image is moved
  back; a copy is removed only while its original is still in the unsorted
  folder with the same bytes (so no image is ever lost). The unsorted
  folder's images are never deleted.

A failure on one image (unreadable, no space) is recorded with its message
and the rest of the batch goes on. This module is light: no TensorFlow, no Qt.
"""

from __future__ import annotations

import filecmp
import os
from pathlib import Path
from typing import Iterable, Sequence

from tlstudio.api.label import AppliedBatch, Placed
from tlstudio.data.scan import SPLIT_FOLDER_NAMES, is_hidden
from tlstudio.errors import DataError
from tlstudio.io import IMAGE_EXTENSIONS
from tlstudio.io.atomic import fsync_dir
from tlstudio.io.move_image import copy_image, free_name, move_image


def pool_images(folder: str | os.PathLike) -> list[str]:
    """Every image file under ``folder`` (any depth, hidden entries skipped), absolute and sorted.

    Raises:
        DataError: the folder does not exist or is not a folder.
    """
    root = os.path.abspath(os.fspath(folder))
    if not os.path.isdir(root):
        raise DataError(f"{root}: expected a folder of unsorted images. Received: "
                        f"{'a file' if os.path.exists(root) else 'no such folder'}", path=root)
    found = []
    for base, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not is_hidden(d))
        found += [os.path.join(base, f) for f in files if not is_hidden(f) and Path(f).suffix.lower() in IMAGE_EXTENSIONS]
    return sorted(found)


def is_presplit(dataset: str | os.PathLike) -> bool:
    """True when ``dataset`` holds a ``train`` folder and another split folder (the scan's rule)."""
    root = Path(dataset)
    splits = {SPLIT_FOLDER_NAMES.get(p.name.lower()) for p in root.iterdir() if p.is_dir()} if root.is_dir() else set()
    return "train" in splits and len(splits - {None}) >= 2


def class_folder(dataset: str | os.PathLike, label: str) -> Path:
    """The folder new images of class ``label`` go to: ``train/label`` with split folders, else ``label``.

    Raises:
        DataError: ``label`` is not a plain folder name.
    """
    if not label or label.strip() != label or label in (".", "..") or "/" in label or "\\" in label or is_hidden(label):
        raise DataError(f"a class name must be a plain folder name (no slashes, not hidden, no outer spaces). "
                        f"Received: {label!r}")
    root = Path(dataset)
    if is_presplit(root):
        train = next(p for p in sorted(root.iterdir()) if p.is_dir() and SPLIT_FOLDER_NAMES.get(p.name.lower()) == "train")
        return train / label
    return root / label


def apply_labels(decisions: Iterable[tuple[str, str]], dataset: str | os.PathLike, *, move: bool = False) -> AppliedBatch:
    """File every ``(image, class)`` into the dataset; see the module's notes.

    Args:
        decisions: Images (anywhere, usually the unsorted folder) and their classes.
        dataset: The dataset folder (flat or with split folders); must exist.
        move: Move the images instead of copying them.

    Returns:
        The placed images in order, and one message per image that was not placed.

    Raises:
        DataError: the dataset folder does not exist.
    """
    root = Path(dataset).absolute()
    if not root.is_dir():
        raise DataError(f"{root}: expected the dataset folder to file labelled images into. Received: no such folder",
                        path=str(root))
    placed: list[Placed] = []
    errors: list[str] = []
    for source, label in decisions:
        try:
            folder = class_folder(root, label)
            if move:
                target = move_image(source, free_name(folder, Path(source).name))
            else:
                target = copy_image(source, folder)
        except DataError as exc:
            errors.append(f"{source}: {exc}")
            continue
        placed.append(Placed(str(source), str(target), label, move))
    return AppliedBatch(str(root), tuple(placed), tuple(errors))


def undo_batch(batch: AppliedBatch) -> AppliedBatch:
    """Reverse ``batch``, last image first.

    Returns:
        The images put back (``source`` and ``target`` as in ``batch``), and one
        message per image left where it is, saying why.
    """
    undone: list[Placed] = []
    errors: list[str] = []
    for p in reversed(batch.placed):
        target, source = Path(p.target), Path(p.source)
        try:
            if p.moved:
                move_image(target, source)
            elif not target.is_file():
                raise DataError(f"{target}: the copy is no longer there; nothing to undo. Received: no such file")
            elif not source.is_file() or not filecmp.cmp(source, target, shallow=False):
                raise DataError(f"{target}: kept, because its original {source} is gone or differs, and removing "
                                f"the copy would lose the image. Received: the copy is the only one")
            else:
                target.unlink()
                fsync_dir(target.parent)
        except (DataError, OSError) as exc:
            errors.append(str(exc))
            continue
        undone.append(p)
    return AppliedBatch(batch.dataset, tuple(reversed(undone)), tuple(errors))


def check_decisions(decisions: Sequence[tuple[str, str]], known: Iterable[str], classes: Iterable[str]) -> list[str]:
    """What is wrong in a decisions list: images not among ``known`` and classes not among ``classes``.

    Returns:
        One message per problem (empty: all fine), each naming the entry.
    """
    known, classes = set(known), set(classes)
    problems = []
    for i, (path, label) in enumerate(decisions):
        if path not in known:
            problems.append(f"[{i}] {path}: not an image of the unsorted folder or not a readable image file. Received: {path!r}")
        if label not in classes:
            problems.append(f"[{i}] {path}: unknown class {label!r}; expected one of {sorted(classes)}. Received: {label!r}")
    return problems
