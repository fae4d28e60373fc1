"""Delete a run folder only when it is certainly one: never a user's photos.

A project file records each run's folder as a plain path, and a project file
can be edited, moved or written by hand. Before a run folder is deleted,
:func:`deletable_run_folder` checks that it is a tlstudio run folder:

* it is a real folder (not a symbolic link, not a file);
* it holds the marker file :data:`RUN_MARKER`, or (a run made before the
  marker existed) a ``run_config.json`` or ``history.json``;
* every entry in it is one tlstudio writes (:data:`RUN_ENTRIES`, or a
  temporary of one left by :mod:`tlstudio.io.atomic`);
* nothing anywhere below it is an image or a symbolic link;
* it is not the dataset folder, inside it, or above it.

Anything else is refused with a :class:`~tlstudio.errors.ProjectError` that
says which rule failed and what was found, and nothing is deleted.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from tlstudio.errors import ProjectError
from tlstudio.io import IMAGE_EXTENSIONS

from tlstudio.run_folders.run_files import EXPORT_DIR, HISTORY, LOGS, RUN_CONFIG, RUN_MARKER  # noqa: E402,F401 - RUN_MARKER re-exported
from tlstudio.run_folders.run_files import RUN_ENTRIES as _WRITTEN  # noqa: E402 - the run folder's layout, defined once


RUN_FOLDERS = frozenset({LOGS, EXPORT_DIR})
"""Sub-folders a run folder may hold: TensorBoard logs, and exports made into the default ``<run>/export``."""

RUN_FILES = frozenset(_WRITTEN - RUN_FOLDERS - {RUN_MARKER})
"""Files tlstudio writes at the top of a run folder."""

RUN_ENTRIES = frozenset(_WRITTEN | RUN_FOLDERS)
"""Every entry a run folder may hold."""

_TEMP = re.compile(r"^\.(?P<name>.+?)\.(tmp|old)-[0-9a-zA-Z_]+")

MAX_LISTED = 5


def _is_known(name: str) -> bool:
    if name in RUN_ENTRIES:
        return True
    match = _TEMP.match(name)  # a temporary of a known file, left by a killed write
    return bool(match and match.group("name") in RUN_ENTRIES)


def _short(names: list[str]) -> str:
    text = ", ".join(names[:MAX_LISTED])
    return text + (f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.relative_to(parent)
    except ValueError:
        return False
    return True


def deletable_run_folder(run_dir: str | os.PathLike, dataset: str | os.PathLike | None = None) -> Path | None:
    """Check that ``run_dir`` is a tlstudio run folder that may be deleted.

    Args:
        run_dir: The folder a project records for a run.
        dataset: The project's dataset folder, which is never deleted.

    Returns:
        The folder's resolved path, or None when it no longer exists.

    Raises:
        ProjectError: saying why the folder is not deleted and what was found.
    """
    folder = Path(run_dir).expanduser()
    if not os.path.lexists(folder):
        return None
    refuse = f"Not deleting {folder}:"
    if folder.is_symlink():
        raise ProjectError(f"{refuse} it is a symbolic link, not a run folder. Received: a link to {os.readlink(folder)}", path=str(folder))
    if not folder.is_dir():
        raise ProjectError(f"{refuse} it is a file, not a run folder. Received: a file of {folder.stat().st_size:,} bytes", path=str(folder))
    real = folder.resolve()
    if real == Path(real.anchor) or real == Path.home().resolve():
        raise ProjectError(f"{refuse} it is the root or home folder. Received: {real}", path=str(folder))
    if dataset:
        data = Path(dataset).expanduser().resolve()
        if real == data or _inside(data, real) or _inside(real, data):
            raise ProjectError(
                f"{refuse} it is the dataset folder or overlaps it ({data}); a run folder lives outside the dataset. "
                f"Received: run folder {real}",
                path=str(folder),
            )
    entries = sorted(os.listdir(real))
    unknown = [name for name in entries if not _is_known(name)]
    if unknown:
        raise ProjectError(
            f"{refuse} it holds files tlstudio did not write, so it may not be a run folder; expected only "
            f"{', '.join(sorted(RUN_FILES))}, logs/ and export/. Received: {_short(unknown)}. "
            "Delete the folder yourself if you are sure.",
            path=str(folder),
        )
    if RUN_MARKER not in entries and not ({RUN_CONFIG, HISTORY} & set(entries)):
        raise ProjectError(
            f"{refuse} it has no {RUN_MARKER} marker and no {RUN_CONFIG}, so it is not a tlstudio run folder. "
            f"Received: {_short(entries) or 'an empty folder'}",
            path=str(folder),
        )
    suspicious = []
    for root, dirs, files in os.walk(real):
        for name in dirs + files:
            path = Path(root) / name
            if path.is_symlink() or path.suffix.lower() in IMAGE_EXTENSIONS:
                suspicious.append(str(path.relative_to(real)))
    if suspicious:
        raise ProjectError(
            f"{refuse} it holds images or links, which tlstudio never writes in a run folder (and never deletes). "
            f"Received: {_short(suspicious)}",
            path=str(folder),
        )
    return real


def delete_run_folder(run_dir: str | os.PathLike, dataset: str | os.PathLike | None = None) -> bool:
    """Delete a run folder after :func:`deletable_run_folder` accepts it.

    Returns:
        True when a folder was deleted, False when it no longer existed.

    Raises:
        ProjectError: the folder is not a run folder (nothing deleted), or it
            could not be deleted completely.
    """
    real = deletable_run_folder(run_dir, dataset)
    if real is None:
        return False
    try:
        shutil.rmtree(real)
    except OSError as exc:
        raise ProjectError(
            f"Cannot delete the run folder {real}: {exc.strerror or exc}. Received: {type(exc).__name__} on {exc.filename}",
            path=str(real),
        ) from exc
    return True
