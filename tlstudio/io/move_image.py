"""Move or copy one image into a class folder, never overwriting and never deleting.

The dataset audit's "Relabel" may move a file from its class folder to the
suggested one after the user confirmed both full paths
(:mod:`ui.panels.audit_actions`). The move is a rename inside the dataset:
the bytes are never rewritten, a file already at the target is never
replaced (a free name ``photo-1.jpg`` is chosen instead), and both folders
are fsynced. Undo is the same move back.

A move is a hard link then an unlink, so a process killed between the two
leaves the image in both class folders. Before it starts, the move writes a
record of itself to the cache (``moves/``), removed when the move is done;
:func:`finish_interrupted_moves`, called by every scan, finishes a recorded
move whose two names are still the same file (and drops a record whose move
never linked), so the image ends in exactly one class.

The Label page files images from an unsorted folder into a class folder:
:func:`copy_image` (its default) writes the copy through the atomic writer
(:func:`tlstudio.io.atomic.atomic_write_new`, which never replaces a file),
:func:`move_image` moves it. :func:`free_name` picks the name.

This module is light: no TensorFlow, no Qt.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from pathlib import Path

from tlstudio.errors import DataError
from tlstudio.io.atomic import atomic_write_json, atomic_write_new, fsync_dir
from tlstudio.paths import cache_dir

JOURNAL = "moves"
"""Cache folder of the records of moves in progress (one JSON file per move)."""


def class_target(path: str | os.PathLike, given: str, label: str) -> Path:
    """Where ``path`` (now in class folder ``given``) goes in class folder ``label``.

    The class folder is the image's parent; the target is the sibling folder
    ``label`` (so ``train/ants/x.jpg`` goes to ``train/bees/x.jpg`` in a dataset
    with split folders). When a file of that name exists there, the name gets
    ``-1``, ``-2``… before its suffix.

    Raises:
        DataError: the image is not inside a folder named ``given``, or
            ``label`` is not a plain folder name.
    """
    source = Path(path)
    if source.parent.name != given:
        raise DataError(
            f"{source}: expected the image inside its class folder {given!r} to move it. "
            f"Received: folder {source.parent.name!r}"
        )
    if not label or label in (".", "..") or "/" in label or "\\" in label:
        raise DataError(f"{source}: the class to move it to must be a folder name. Received: {label!r}")
    folder = source.parent.parent / label
    target = folder / source.name
    n = 1
    while target.exists():
        target = folder / f"{source.stem}-{n}{source.suffix}"
        n += 1
    return target


def move_image(source: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Move ``source`` to ``target`` without ever replacing a file at ``target``.

    The target's folder is created when missing. On POSIX the move is a hard
    link then an unlink of the old name, so an existing target makes it fail
    instead of being overwritten; where links are not supported, the target is
    checked and the file renamed.

    Returns:
        The target path.

    Raises:
        DataError: the source is missing, the target exists, or the file
            system refused (the message names both paths).
    """
    src, dst = Path(source), Path(target)
    if not src.is_file():
        raise DataError(f"{src}: expected an image file to move to {dst}. Received: no such file")
    if dst.exists():
        raise DataError(f"{dst}: a file is already there; nothing was moved (the app never overwrites an image). "
                        f"Received: move from {src}")
    record = _record(src, dst)
    linked = False
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)
            linked = True
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                raise
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                raise
            if dst.exists():  # no hard links here: check, then rename
                raise FileExistsError(errno.EEXIST, "exists", str(dst)) from exc
            os.rename(src, dst)
        else:
            fsync_dir(dst.parent)  # the new name is on disk before the old one goes
            os.unlink(src)
    except FileExistsError as exc:
        _drop(record)
        raise DataError(f"{dst}: a file is already there; nothing was moved. Received: move from {src}") from exc
    except OSError as exc:
        if linked and src.exists():  # linked but the old name could not go: take the new name back, one place again
            try:
                os.unlink(dst)
            except OSError:
                pass
        _drop(record)
        raise DataError(f"could not move {src} to {dst}: expected a writable dataset folder. Received: {exc.strerror or exc}") from exc
    for folder in {src.parent, dst.parent}:
        fsync_dir(folder)
    _drop(record)
    return dst


def _record(src: Path, dst: Path) -> Path | None:
    """Write the record of a move about to start; None where the cache cannot be written (the move still runs)."""
    source, target = os.path.abspath(src), os.path.abspath(dst)
    name = hashlib.sha1(f"{source}\0{target}".encode("utf-8", "surrogateescape")).hexdigest()[:20] + ".json"
    try:
        return atomic_write_json(cache_dir(JOURNAL) / name, {"source": source, "target": target})
    except OSError:
        return None


def _drop(record: Path | None) -> None:
    if record is not None:
        try:
            record.unlink()
        except FileNotFoundError:
            pass


def _under(path: str, root: str) -> bool:
    return os.path.commonpath([path, root]) == root


def finish_interrupted_moves(root: str | os.PathLike) -> list[str]:
    """Finish the recorded moves inside ``root`` that a killed process left half done.

    A move whose two names are one file (linked, not yet unlinked) loses its
    old name, so the image ends in the class it was moved to; a move that
    never linked, or finished, only loses its record. A record whose two
    files differ changes nothing. Records of other folders are left alone.

    Returns:
        One sentence per move finished or left, naming both paths.
    """
    root = os.path.abspath(os.fspath(root))
    try:
        records = sorted(cache_dir(JOURNAL).glob("*.json"))
    except OSError:
        return []
    messages = []
    for record in records:
        try:
            data = json.loads(record.read_text(encoding="utf-8"))
            source, target = str(data["source"]), str(data["target"])
        except (OSError, ValueError, KeyError, TypeError):
            _drop(record)  # a damaged record: nothing it says can be trusted to act on
            continue
        if not (_under(source, root) and _under(target, root)):
            continue
        try:
            both = os.path.lexists(source) and os.path.lexists(target)
            if both and os.path.samefile(source, target) and not os.path.islink(source):
                os.unlink(source)
                fsync_dir(os.path.dirname(source))
                messages.append(f"finished a move that was interrupted: {source} -> {target} (the image was in both class folders)")
            elif both:
                messages.append(f"a move from {source} to {target} was interrupted, but the two files now differ; both are kept")
        except OSError as exc:
            messages.append(f"could not finish the interrupted move {source} -> {target}: {exc.strerror or exc}; both names are kept")
            continue
        _drop(record)
    return messages


def free_name(folder: str | os.PathLike, name: str) -> Path:
    """``folder/name``, or ``folder/stem-1.ext``, ``-2``… when that name is taken."""
    folder = Path(folder)
    target = folder / name
    stem, suffix = Path(name).stem, Path(name).suffix
    n = 1
    while os.path.lexists(target):
        target = folder / f"{stem}-{n}{suffix}"
        n += 1
    return target


def _chunks(path: Path):
    with open(path, "rb") as fh:
        yield from iter(lambda: fh.read(1 << 20), b"")


def copy_image(source: str | os.PathLike, folder: str | os.PathLike) -> Path:
    """Copy ``source`` into ``folder`` under its own name, or a free one (:func:`free_name`).

    The folder is created when missing. The copy is written through the
    atomic writer and committed only where no file is (a name taken in the
    meantime gets the next free name), so nothing is ever overwritten and a
    crash leaves either the whole copy or none.

    Returns:
        Where the copy is.

    Raises:
        DataError: the source is missing or the folder is not writable (names both paths).
    """
    src = Path(source)
    if not src.is_file():
        raise DataError(f"{src}: expected an image file to copy into {folder}. Received: no such file")
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for _ in range(100):
            target = free_name(folder, src.name)
            try:
                return atomic_write_new(target, _chunks(src))
            except FileExistsError:
                continue  # taken while we wrote: try the next free name
    except OSError as exc:
        raise DataError(f"could not copy {src} into {folder}: expected a writable dataset folder. "
                        f"Received: {exc.strerror or exc}") from exc
    raise DataError(f"could not copy {src} into {folder}: every free name was taken while writing. Received: 100 attempts")
