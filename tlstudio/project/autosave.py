"""Autosave side files of a project, one per session, and finding them again after a crash.

:meth:`~tlstudio.project.project.Project.autosave` writes the project's content
to a side file of its own session (``<name>.tlsproj.<session>.autosave``;
untitled projects autosave into the cache as
``untitled.tlsproj.<session>.autosave``), so two sessions never write over
each other's autosave. After a crash, :func:`pending_autosaves` lists the side
files of other sessions newer than the project, :func:`recover` gives the
newest, and :meth:`~tlstudio.project.project.Project.recover` opens it. Only a
save, or an explicit "discard", removes a side file.

**Live sessions.** A running window claims its session (:func:`claim_session`):
a lock file ``<cache>/sessions/<session>.lock`` holding its PID and the
project it has open, locked (``flock``) for as long as the process lives. The
operating system drops the lock when the process ends, crash or ``kill -9``
included, so :func:`session_alive` tells a live instance from a crashed one
without trusting a PID that may have been reused. A live session's autosave is
never offered as a crash (:func:`pending_autosaves`), and
:func:`sessions_with_project` names the other live instances that have a
project open.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

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
        if session and session_alive(session):
            continue  # another window that is still open: its current work, not a crash
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


# ----------------------------------------------------------------- live sessions

_HELD: dict[str, Any] = {}
"""Session id -> the open, locked lock file of a session this process claimed."""


def _lock_path(session: str) -> Path:
    from tlstudio.paths import cache_dir

    return cache_dir("sessions") / f"{session}.lock"


def _try_lock(fh: Any) -> bool:
    """Lock ``fh`` exclusively without waiting; False when another open file holds the lock."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: an OS without flock counts the lock file alone
        return True
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def claim_session(session: str = SESSION_ID, project: str | os.PathLike | None = None) -> None:
    """Mark ``session`` as live for this process's lifetime, with the project it has open.

    Calling it again for a held session only records the new project.
    """
    info = json.dumps({"pid": os.getpid(), "project": os.path.abspath(project) if project else ""})
    fh = _HELD.get(session)
    if fh is None:
        path = _lock_path(session)
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held open: the lock lives as long as the file
        if not _try_lock(fh):
            fh.close()
            raise RuntimeError(f"session {session} is already claimed by another process. Received: {path}")
        _HELD[session] = fh
    fh.seek(0)
    fh.truncate()
    fh.write(info)
    fh.flush()


def release_session(session: str = SESSION_ID) -> None:
    """End ``session``'s claim (the window closed): its lock file goes."""
    fh = _HELD.pop(session, None)
    if fh is None:
        return
    try:
        _lock_path(session).unlink()
    except OSError:
        pass
    fh.close()


def _read_claim(session: str) -> dict[str, Any] | None:
    """The claim of a live ``session`` (``pid``, ``project``), or None when it is not live.

    A lock file nobody holds is a crashed session's: it is removed.
    """
    if session in _HELD:
        fh = _HELD[session]
        fh.seek(0)
        text = fh.read()
    else:
        path = _lock_path(session)
        try:
            fh = open(path, "r+", encoding="utf-8")  # noqa: SIM115
        except OSError:
            return None
        with fh:
            if _try_lock(fh):  # nobody holds it: that process is gone
                try:
                    path.unlink()
                except OSError:
                    pass
                return None
            text = fh.read()
    try:
        data = json.loads(text or "{}")
    except ValueError:
        data = {}
    return data if isinstance(data, dict) else {}


def session_alive(session: str) -> bool:
    """True while the process that claimed ``session`` runs (this one included)."""
    return bool(session) and _read_claim(session) is not None


def sessions_with_project(path: str | os.PathLike, own_session: str | None = SESSION_ID) -> list[str]:
    """The other live sessions that have the project file ``path`` open."""
    from tlstudio.paths import cache_dir

    folder = cache_dir("sessions")
    if not folder.is_dir():
        return []
    target = os.path.abspath(path)
    found = []
    for lock in sorted(folder.glob("*.lock")):
        session = lock.name[: -len(".lock")]
        if session == own_session:
            continue
        claim = _read_claim(session)
        if claim is not None and claim.get("project") == target:
            found.append(session)
    return found


def session_pid(session: str) -> int | None:
    """The PID that claimed a live ``session``, or None."""
    claim = _read_claim(session)
    pid = claim.get("pid") if claim else None
    return pid if isinstance(pid, int) else None
