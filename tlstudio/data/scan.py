"""Find the classes and candidate image files of a dataset folder.

Two layouts are recognised:

* flat: ``root/<class>/...``; the app splits the images later;
* presplit: ``root/{train,val,test}/<class>/...`` (folder names in any letter
  case, ``validation`` accepted for ``val``); the user's split is kept.

Class folders are searched recursively. Hidden files and folders (names that
start with a dot, such as ``.DS_Store``, ``._photo.jpg`` or ``.git``) and
operating-system clutter (``__MACOSX``, ``Thumbs.db``, ``desktop.ini``) are
ignored. Symbolic links are followed, but a folder already visited (by its
resolved path) is not entered again, so link loops end.

Files inside a class folder whose extension is not an image type (``.txt``,
``.csv``...) are reported as skipped, never dropped silently. Files lying
directly in the root are ignored and mentioned in ``ScanResult.warnings``.
The scan opens no file; :func:`tlstudio.data.validate_files` decides by
content whether a file really is an image.

Before listing, the scan finishes a relabel move that a killed process left
half done (:func:`tlstudio.io.move_image.finish_interrupted_moves`), and it
warns about one file (hard links) listed in two classes or splits.
"""

from __future__ import annotations

import os

from tlstudio.api.dataset import LAYOUT_FLAT, LAYOUT_PRESPLIT, SPLIT_ALL, ScanResult, SkippedFile
from tlstudio.errors import DataError
from tlstudio.io import IMAGE_EXTENSIONS  # noqa: F401  (the scan's candidate images; re-exported by tlstudio.data)
from tlstudio.io.class_names import look_alike, name_problem, shown
from tlstudio.io.move_image import finish_interrupted_moves

SPLIT_FOLDER_NAMES = {"train": "train", "val": "val", "validation": "val", "test": "test"}
"""Folder name (lower case) -> split, for the presplit layout."""


SYSTEM_NAMES = frozenset({"__macosx", "thumbs.db", "desktop.ini", "$recycle.bin", "system volume information"})
"""Operating-system clutter (lower case), ignored like hidden files. ``__MACOSX``
is the folder of ``._`` files that unzipping a macOS archive leaves behind."""


def is_hidden(name: str) -> bool:
    """Whether a name is hidden (``.DS_Store``, ``._x.jpg``, ``.git``) or system clutter (``__MACOSX``, ``Thumbs.db``)."""
    return name.startswith(".") or name.lower() in SYSTEM_NAMES


def _list_dir(path: str) -> list[os.DirEntry]:
    with os.scandir(path) as it:
        return sorted((e for e in it if not is_hidden(e.name)), key=lambda e: e.name)


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=True)
    except OSError:
        return False


def _walk_class(
    folder: str,
    visited: set[str],
    images: list[str],
    skipped: list[SkippedFile],
    warnings: list[str],
    inodes: dict[str, int],
) -> None:
    """Collect files under ``folder`` recursively, entering each real folder once (with their inode numbers, read for free)."""
    real = os.path.realpath(folder)
    if real in visited:
        warnings.append(f"{folder}: already visited (symbolic link loop or duplicate link); not entered again")
        return
    visited.add(real)
    try:
        entries = _list_dir(folder)
    except OSError as exc:
        skipped.append(SkippedFile(folder, f"unreadable folder: {exc.strerror or exc}"))
        return
    for entry in entries:
        path = os.path.join(folder, entry.name)
        if _is_dir(entry):
            _walk_class(path, visited, images, skipped, warnings, inodes)
            continue
        ext = os.path.splitext(entry.name)[1].lower()
        if ext in IMAGE_EXTENSIONS:
            images.append(path)
            try:
                inodes[path] = entry.inode()
            except OSError:
                pass
        else:
            shown = ext or "no extension"
            skipped.append(SkippedFile(path, f"not an image file type ({shown})"))


def _scan_classes(
    parent: str,
    visited: set[str],
    skipped: list[SkippedFile],
    warnings: list[str],
    loose: list[str],
    inodes: dict[str, int],
) -> dict[str, tuple[str, ...]]:
    """Map each class folder directly under ``parent`` to its candidate files."""
    files: dict[str, tuple[str, ...]] = {}
    stray: list[str] = []
    for entry in _list_dir(parent):
        path = os.path.join(parent, entry.name)
        if _is_dir(entry):
            images: list[str] = []
            _walk_class(path, visited, images, skipped, warnings, inodes)
            files[entry.name] = tuple(images)
        else:
            stray.append(entry.name)
            loose.append(path)
    if stray:
        shown = ", ".join(stray[:5]) + (f" and {len(stray) - 5} more" if len(stray) > 5 else "")
        warnings.append(f"{parent}: ignored {len(stray)} file(s) outside class folders ({shown}); put images in one folder per class")
    return files


def _one_file_in_two_places(files: dict[str, dict[str, tuple[str, ...]]], inodes: dict[str, int]) -> list[str]:
    """Warnings for one file (hard links) listed in two classes or splits; checked by ``stat`` only where inode numbers collide."""
    where: dict[int, list[tuple[str, str, str]]] = {}
    for split, per_class in files.items():
        for name, paths in per_class.items():
            for path in paths:
                if path in inodes:
                    where.setdefault(inodes[path], []).append((split, name, path))
    out = []
    for places in where.values():
        if len({(split, name) for split, name, _ in places}) < 2:
            continue
        first = places[0]
        for other in places[1:]:
            if (other[0], other[1]) == (first[0], first[1]):
                continue
            try:
                same = os.path.samefile(first[2], other[2])
            except OSError:
                continue
            if same:
                label = lambda p: p[1] if p[0] == SPLIT_ALL else f"{p[0]}/{p[1]}"  # noqa: E731
                out.append(
                    f"{first[2]} and {other[2]} are one file (hard links) in both {label(first)} and {label(other)}; "
                    "it is used in both. Keep it in one class and delete the other name"
                )
    return out


def _check_class_names(root: str, folders: dict[str, str], per_split: dict[str, dict[str, tuple[str, ...]]]) -> None:
    """Refuse class folder names that labels.txt cannot hold one per line, or that look like another class.

    Raises:
        DataError: naming the folder, what is wrong and ``Received: 'the name'``.
    """
    problems = []
    for split, per_class in per_split.items():
        names = sorted(per_class)
        where = "" if folders[split] == root else f" in {folders[split]}"
        for name in names:
            problem = name_problem(name)
            if problem:
                problems.append(f"the class folder {shown(name)}{where} {problem}")
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                if look_alike(a, b):
                    problems.append(
                        f"the class folders {shown(a, True)} and {shown(b, True)}{where} look the same "
                        "but are written with other Unicode characters, so they would be two classes"
                    )
    if problems:
        first = problems[0] + (f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else "")
        bad = sorted({repr(n) for per_class in per_split.values() for n in per_class if name_problem(n)}
                     | {f"{shown(a, True)} / {shown(b, True)}" for pc in per_split.values() for a in pc for b in pc if a < b and look_alike(a, b)})
        raise DataError(
            f"{root}: {first}; rename the folder so each class is one plain line in labels.txt. Received: {', '.join(bad)}",
            path=root,
        )


def scan_folder(root: str | os.PathLike) -> ScanResult:
    """List the classes and candidate image files of a dataset folder.

    Args:
        root: Dataset folder in the flat or presplit layout.

    Returns:
        A :class:`ScanResult`. An empty folder gives a result without classes;
        :func:`tlstudio.data.prepare_data` turns that into a :class:`DataError`.

    Raises:
        DataError: If ``root`` is empty, does not exist or is not a folder.
    """
    if not str(root).strip():
        raise DataError("No dataset folder was given. Choose a folder with one sub-folder per class.")
    root = os.path.abspath(os.fspath(root))
    if not os.path.exists(root):
        raise DataError(f"Dataset folder {root} does not exist.", path=root)
    if not os.path.isdir(root):
        raise DataError(f"Dataset path {root} is not a folder. Received a file; choose the folder that holds the class folders.", path=root)
    try:
        top = _list_dir(root)
    except OSError as exc:
        raise DataError(f"Dataset folder {root} cannot be read: {exc.strerror or exc}.", path=root) from exc

    skipped: list[SkippedFile] = []
    # a relabel move killed between its link and its unlink left the image in two classes: finish it first
    warnings: list[str] = finish_interrupted_moves(root)
    visited: set[str] = {os.path.realpath(root)}
    inodes: dict[str, int] = {}

    top_dirs = [e for e in top if _is_dir(e)]
    split_of = {e.name: SPLIT_FOLDER_NAMES.get(e.name.lower()) for e in top_dirs}
    splits_present = {s for s in split_of.values() if s}
    if "train" in splits_present and len(splits_present) >= 2:
        files: dict[str, dict[str, tuple[str, ...]]] = {}
        split_dirs: dict[str, str] = {}
        for entry in top_dirs:
            split = split_of[entry.name]
            path = os.path.join(root, entry.name)
            if split is None:
                warnings.append(f"{path}: ignored; a presplit dataset holds only train, val and test folders")
                continue
            if split in files:
                warnings.append(f"{path}: ignored; {split_dirs[split]} is already the {split} folder")
                continue
            real = os.path.realpath(path)
            visited.add(real)
            files[split] = _scan_classes(path, visited, skipped, warnings, [], inodes)
            split_dirs[split] = path
        stray = [e.name for e in top if not _is_dir(e)]
        if stray:
            warnings.append(f"{root}: ignored {len(stray)} file(s) next to the split folders ({', '.join(stray[:5])})")
        warnings.extend(_one_file_in_two_places(files, inodes))
        _check_class_names(root, split_dirs, files)
        names = sorted({name for per_class in files.values() for name in per_class})
        ordered = {s: files[s] for s in ("train", "val", "test") if s in files}
        loose = tuple(os.path.join(root, name) for name in stray)
        return ScanResult(root, LAYOUT_PRESPLIT, tuple(names), ordered, split_dirs, tuple(skipped), tuple(warnings), loose)

    loose_files: list[str] = []
    per_class = _scan_classes(root, visited, skipped, warnings, loose_files, inodes)
    warnings.extend(_one_file_in_two_places({SPLIT_ALL: per_class}, inodes))
    _check_class_names(root, {SPLIT_ALL: root}, {SPLIT_ALL: per_class})
    return ScanResult(
        root,
        LAYOUT_FLAT,
        tuple(sorted(per_class)),
        {SPLIT_ALL: per_class},
        {SPLIT_ALL: root},
        tuple(skipped),
        tuple(warnings),
        tuple(loose_files),
    )
