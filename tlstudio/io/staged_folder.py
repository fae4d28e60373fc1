"""A folder replaced as one transaction: build the new content beside it, then swap.

A folder of several files that belong together (an export: model files,
``labels.txt``, ``model.json``) cannot be replaced file by file: a kill
between two renames leaves one export's model beside another's labels.
:func:`staged_folder` builds the complete new content in a hidden sibling
``.NAME.tmp-XXXXXXXX``: every entry of the current folder that is not being
replaced is hard-linked into it (copied where links are impossible), the
caller writes the new files there, and when the block ends normally the two
folders swap names in one atomic step (:func:`tlstudio.io.atomic.exchange_folders`).
A kill at any moment leaves the old folder whole or the new one whole; a
hidden sibling left by a killed export is removed by the next one.

An entry that appears in the folder while the new content is built (a file a
user saved there meanwhile) is moved into the new folder after the swap,
never deleted.

Where the system cannot swap two names at once (not Linux, or a file system
without ``RENAME_EXCHANGE``) the old folder is renamed aside and the new one
renamed in, a window of two renames.

Example::

    with staged_folder(out, replace={"model.keras", "labels.txt"}) as stage:
        model.save(stage / "model.keras")
        (stage / "labels.txt").write_text("cat\\ndog\\n")

Light: no TensorFlow.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from tlstudio.io.atomic import TMP_MARK, _fsync_tree, exchange_folders, fsync_dir, remove_path, remove_stale_temps

logger = logging.getLogger(__name__)


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError:
        shutil.copy2(source, target, follow_symlinks=False)


def _carry(source: Path, target: Path) -> None:
    """Put ``source`` (a file, link or folder) at ``target`` as hard links, or copies where links fail."""
    if source.is_dir() and not source.is_symlink():
        shutil.copytree(source, target, symlinks=True, copy_function=_link_or_copy)
    elif source.is_symlink():
        os.symlink(os.readlink(source), target)
    else:
        _link_or_copy(str(source), str(target))


@contextlib.contextmanager
def staged_folder(final: str | os.PathLike, replace: Iterable[str] = ()) -> Iterator[Path]:
    """Build the new content of the folder ``final`` in a hidden sibling; swap it in when the block ends.

    Args:
        final: The folder (created, empty, when missing).
        replace: Names of entries the block writes anew; every other entry of
            ``final`` is carried into the new folder as it is.

    Yields:
        The staging folder, holding the carried entries.

    Raises:
        OSError: the staging folder cannot be made beside ``final`` or the swap failed
            (the old folder is then whole, and the staging folder removed).
    """
    final = Path(final)
    if final.is_symlink():  # swap the folder the link names, never the link
        final = final.resolve()
    _recover(final)
    final.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(final)  # a killed transaction's staging folder: never swapped in, so never the only copy
    replaced = set(replace)
    stage = Path(tempfile.mkdtemp(prefix=f".{final.name}{TMP_MARK}", dir=final.parent))
    try:
        carried = set()
        for entry in sorted(os.scandir(final), key=lambda e: e.name):
            if entry.name in replaced:
                continue
            _carry(Path(entry.path), stage / entry.name)
            carried.add(entry.name)
        yield stage
        _fsync_tree(stage)
        _swap(stage, final)
    except BaseException:
        remove_path(stage)
        raise
    _keep_late_entries(stage, final, carried | replaced)
    remove_path(stage)  # now the old folder: its entries are in final (linked), or replaced
    fsync_dir(final.parent)


def _recover(final: Path) -> None:
    """Finish what a kill between the two renames of the fallback swap left: the old folder aside, none in place."""
    aside = sorted(final.parent.glob(f".{final.name}.old-*"))
    if aside and not final.exists():
        logger.warning("%s was missing after an interrupted swap: the previous folder %s is put back", final, aside[-1])
        os.replace(aside[-1], final)
        aside = aside[:-1]
    for old in aside:  # the old content of a swap that completed (what it kept is in final)
        remove_path(old)


def _swap(stage: Path, final: Path) -> None:
    """Give ``stage``'s content the name ``final``; ``stage`` then names the old folder."""
    if exchange_folders(stage, final):
        return
    aside = final.parent / f".{final.name}.old-{os.urandom(4).hex()}"
    os.replace(final, aside)
    try:
        os.replace(stage, final)
    except BaseException:
        os.replace(aside, final)
        raise
    os.replace(aside, stage)


def _keep_late_entries(old: Path, final: Path, known: set[str]) -> None:
    """Move into ``final`` what appeared in the old folder while the new one was built (never delete it)."""
    for entry in os.scandir(old):
        if entry.name in known or (final / entry.name).exists():
            continue
        logger.warning("%s appeared in %s during the export; moved into the new folder", entry.name, final)
        os.replace(entry.path, final / entry.name)
