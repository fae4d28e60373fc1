"""Delete a run folder only when it is certainly one: never a user's photos.

A project file records each run's folder as a plain path, and a project file
can be edited, moved or written by hand. Before a run folder is deleted,
:func:`deletable_run_folder` checks that it is a tlstudio run folder:

* it is a real folder (not a symbolic link, not a file);
* it holds a valid marker file :data:`RUN_MARKER` (``run_config.json`` or
  ``history.json`` alone prove nothing: a user's folder may hold copies);
* every file in it, at every depth, is one tlstudio writes: the run files
  (:data:`RUN_ENTRIES`, or a temporary of one left by :mod:`tlstudio.io.atomic`),
  TensorBoard event files under ``logs/``, and under ``export/`` the
  ``labels.txt``, ``model.json`` and the model files that ``model.json`` lists;
* nothing anywhere below it is an image or a symbolic link;
* it is not the dataset folder, inside it, or above it.

Anything else is refused with a :class:`~tlstudio.errors.ProjectError` that
says which rule failed and what was found, and nothing is deleted. The
delete itself removes those known files one by one and then the emptied
folders (never ``rmtree``), so a file that appears between the check and the
delete is kept, and named.
"""

from __future__ import annotations

import os
import json
import re
from pathlib import Path

from tlstudio.errors import ProjectError
from tlstudio.io import IMAGE_EXTENSIONS

from tlstudio.run_folders.run_files import EXPORT_DIR, HISTORY, LOGS, RUN_CONFIG, RUN_MARKER, has_marker  # noqa: E402,F401 - RUN_MARKER re-exported
from tlstudio.run_folders.run_files import RUN_ENTRIES as _WRITTEN  # noqa: E402 - the run folder's layout, defined once


RUN_FOLDERS = frozenset({LOGS, EXPORT_DIR})
"""Sub-folders a run folder may hold: TensorBoard logs, and exports made into the default ``<run>/export``."""

RUN_FILES = frozenset(_WRITTEN - RUN_FOLDERS - {RUN_MARKER})
"""Files tlstudio writes at the top of a run folder."""

RUN_ENTRIES = frozenset(_WRITTEN | RUN_FOLDERS)
"""Every entry a run folder may hold."""

_TEMP = re.compile(r"^\.(?P<name>.+?)\.(tmp|old)-[0-9a-zA-Z_]+")

MAX_LISTED = 5


EXPORT_FILES = frozenset({"labels.txt", "model.json"})
"""Files an export always writes beside its model files (``model.json`` lists the model files)."""

TENSORBOARD_PREFIX = "events.out.tfevents."

_SAVED_MODEL_FILE = re.compile(r"^(saved_model\.pb|fingerprint\.pb|keras_metadata\.pb|variables\.index|variables\.data-\d+-of-\d+)$")
"""Files of a SavedModel folder that an export lists in its ``model.json``."""


def _base_name(name: str) -> str:
    """The file a temporary left by :mod:`tlstudio.io.atomic` stands for, else ``name`` itself."""
    match = _TEMP.match(name)
    return match.group("name") if match else name


def _export_names(folder: Path) -> set[str]:
    """What an export folder may hold: its metadata, and the model files its ``model.json`` lists."""
    names = set(EXPORT_FILES)
    try:
        data = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return names
    files = data.get("files") if isinstance(data, dict) else None
    if isinstance(files, dict):
        names.update(str(v) for v in files.values() if isinstance(v, str) and v and "/" not in v and v not in {".", ".."})
    return names


def _walk(real: Path) -> tuple[list[Path], list[Path], list[str], list[str]]:
    """Sort everything below a run folder: (known files, folders, unknown, images or links), relative names for the last two."""
    known: list[Path] = []
    folders: list[Path] = []
    unknown: list[str] = []
    suspicious: list[str] = []

    def visit(path: Path, allowed: str) -> None:
        # allowed: "top" (the run files), "logs" (event files), "export" (one export), "tree" (inside a listed model folder)
        for entry in sorted(os.scandir(path), key=lambda e: e.name):
            child = Path(entry.path)
            rel = str(child.relative_to(real))
            if entry.is_symlink() or child.suffix.lower() in IMAGE_EXTENSIONS:
                suspicious.append(rel)
                continue
            base = _base_name(entry.name)
            if entry.is_dir(follow_symlinks=False):
                if allowed == "top" and base == LOGS:
                    folders.append(child)
                    visit(child, "logs")
                elif allowed == "top" and base == "export":
                    folders.append(child)
                    visit(child, "export")
                elif (allowed == "logs" or (allowed == "tree" and base in {"variables", "assets"})
                      or (allowed == "export" and base in export_names.get(path, set()))):
                    folders.append(child)
                    visit(child, "logs" if allowed == "logs" else "tree")
                else:
                    unknown.append(rel + "/")
                continue
            ok = (
                (allowed == "top" and base in RUN_ENTRIES - RUN_FOLDERS)
                or (allowed == "logs" and entry.name.startswith(TENSORBOARD_PREFIX))
                or (allowed == "export" and base in export_names.get(path, set()))
                or (allowed == "tree" and bool(_SAVED_MODEL_FILE.match(base)))
            )
            (known if ok else unknown).append(child if ok else rel)  # type: ignore[arg-type]

    export_names: dict[Path, set[str]] = {}

    def names_for(folder: Path) -> None:
        for entry in os.scandir(folder):
            if entry.is_dir(follow_symlinks=False) and _base_name(entry.name) == "export":
                export_names[Path(entry.path)] = _export_names(Path(entry.path))

    names_for(real)
    visit(real, "top")
    return known, folders, unknown, suspicious


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
    checked = _checked(run_dir, dataset)
    return None if checked is None else checked[0]


def _checked(run_dir: str | os.PathLike, dataset: str | os.PathLike | None) -> tuple[Path, list[Path], list[Path]] | None:
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
    if not has_marker(real):
        found = "an unreadable or foreign marker" if RUN_MARKER in entries else (_short(entries) or "an empty folder")
        raise ProjectError(
            f"{refuse} it has no {RUN_MARKER} marker written by tlstudio, so it is not certainly a tlstudio run folder "
            f"(a {RUN_CONFIG} or {HISTORY} alone is no proof). Delete the folder yourself if you are sure. Received: {found}",
            path=str(folder),
        )
    known, folders, unknown, suspicious = _walk(real)
    if suspicious:
        raise ProjectError(
            f"{refuse} it holds images or links, which tlstudio never writes in a run folder (and never deletes). "
            f"Received: {_short(suspicious)}",
            path=str(folder),
        )
    if unknown:
        raise ProjectError(
            f"{refuse} it holds files tlstudio did not write, so it may not be a run folder; expected only "
            f"{', '.join(sorted(RUN_FILES))}, TensorBoard files in logs/ and an export's files in export/. "
            f"Received: {_short(unknown)}. Delete the folder yourself if you are sure.",
            path=str(folder),
        )
    return real, known, folders


def delete_run_folder(run_dir: str | os.PathLike, dataset: str | os.PathLike | None = None) -> bool:
    """Delete a run folder after :func:`deletable_run_folder` accepts it.

    Only the files the check found to be tlstudio's are deleted, one by one,
    then the folders they leave empty; a file that appears meanwhile is kept.

    Returns:
        True when a folder was deleted, False when it no longer existed.

    Raises:
        ProjectError: the folder is not a run folder (nothing deleted), or it
            could not be deleted completely (naming what is left).
    """
    checked = _checked(run_dir, dataset)
    if checked is None:
        return False
    real, known, folders = checked
    try:
        for path in known:
            path.unlink(missing_ok=True)
        (real / RUN_MARKER).unlink(missing_ok=True)
        for path in sorted(folders, key=lambda p: len(p.parts), reverse=True) + [real]:
            path.rmdir()
    except OSError as exc:
        left = sorted(str(p.relative_to(real)) for p in real.rglob("*")) if real.is_dir() else []
        raise ProjectError(
            f"Cannot delete the run folder {real} completely: {exc.strerror or exc}; what tlstudio did not write is kept. "
            f"Received: {type(exc).__name__} on {exc.filename}" + (f"; left: {_short(left)}" if left else ""),
            path=str(real),
        ) from exc
    return True
