"""Autosave side files of a project, one per session, and finding them again after a crash.

:meth:`~tlstudio.project.project.Project.autosave` writes the project's content
to a side file of its own session (``<name>.tlsproj.<session>.autosave``;
untitled projects autosave into the cache as
``untitled.tlsproj.<session>.autosave``), so two sessions never write over
each other's autosave. After a crash, :func:`pending_autosaves` lists the side
files of other sessions newer than the project, :func:`recover` gives the
newest, and :meth:`~tlstudio.project.project.Project.recover` opens it. Only a
save, or an explicit "discard", removes a side file.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from tlstudio.errors import ProjectError

PROJECT_SUFFIX = ".tlsproj"
"""The suffix of project files."""

AUTOSAVE_SUFFIX = ".autosave"
UNTITLED_AUTOSAVE = "untitled" + PROJECT_SUFFIX + AUTOSAVE_SUFFIX
"""The autosave of untitled projects before autosaves were per session (still offered)."""


def new_session_id() -> str:
    """A fresh session id: the process id and a random part (``"4242-1a2b3c4d"``)."""
    return f"{os.getpid()}-{uuid.uuid4().hex[:8]}"


SESSION_ID = new_session_id()
"""This process's session; every project autosaves to a file of its own session."""


def autosave_path(path: str | os.PathLike | None, session: str | None = SESSION_ID) -> Path:
    """The autosave side file of a project file for one session.

    Args:
        path: The project file; None for an untitled project (its autosave
            lives in the cache).
        session: The session id; None gives the name used before autosaves
            were per session (``<name>.tlsproj.autosave``).
    """
    tail = f".{session}{AUTOSAVE_SUFFIX}" if session else AUTOSAVE_SUFFIX
    if path is None:
        from tlstudio.paths import cache_dir

        return cache_dir("autosave") / f"untitled{PROJECT_SUFFIX}{tail}"
    p = Path(path)
    return p.with_name(p.name + tail)


def _session_of(side: Path, base: str) -> str | None:
    """The session id in a side file's name (``""`` for the old shared name), or None if it is not one."""
    name = side.name
    if not (name.startswith(base) and name.endswith(AUTOSAVE_SUFFIX)):
        return None
    middle = name[len(base) : -len(AUTOSAVE_SUFFIX)]
    if middle == "":
        return ""
    return middle[1:] if middle.startswith(".") and "." not in middle[1:] else None


def pending_autosaves(path: str | os.PathLike | None, own_session: str | None = SESSION_ID) -> list[Path]:
    """Autosaves of ``path`` left by other sessions and worth offering, newest first.

    An autosave is offered when it is newer than the project file (or the
    project file is missing). A clean save removes its session's autosave,
    so after a normal exit there is nothing to offer. ``own_session``'s file
    is never offered: it is this session's current work.
    """
    if path is None:
        from tlstudio.paths import cache_dir

        folder, base = cache_dir("autosave"), f"untitled{PROJECT_SUFFIX}"
        project_mtime = None
    else:
        p = Path(path)
        folder, base = p.parent, p.name
        project_mtime = p.stat().st_mtime_ns if p.is_file() else None
    if not folder.is_dir():
        return []
    found = []
    for side in folder.glob(f"{glob_escape(base)}*{AUTOSAVE_SUFFIX}"):
        session = _session_of(side, base)
        if session is None or (own_session and session == own_session) or not side.is_file():
            continue
        try:
            mtime = side.stat().st_mtime_ns
        except OSError:
            continue
        if project_mtime is None or mtime > project_mtime:
            found.append((mtime, side))
    return [side for _, side in sorted(found, reverse=True)]


def glob_escape(text: str) -> str:
    """``text`` with glob's special characters escaped."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def recover(path: str | os.PathLike | None, own_session: str | None = SESSION_ID) -> Path | None:
    """The newest autosave of ``path`` from another session to offer after a crash, or None."""
    pending = pending_autosaves(path, own_session)
    return pending[0] if pending else None


def discard_autosave(path: str | os.PathLike | None, side: str | os.PathLike | None = None, session: str | None = SESSION_ID) -> None:
    """Delete one autosave side file: ``side``, or ``session``'s file for ``path``.

    Only autosave files are ever deleted: ``side`` must be an autosave of ``path``.

    Raises:
        ProjectError: ``side`` is not an autosave of ``path``.
    """
    target = Path(side) if side is not None else autosave_path(path, session)
    base = Path(path).name if path is not None else f"untitled{PROJECT_SUFFIX}"
    if _session_of(target, base) is None:
        raise ProjectError(f"refusing to delete {target}: expected an autosave of {base}. Received: {target.name}", path=str(target))
    try:
        target.unlink()
    except FileNotFoundError:
        pass
