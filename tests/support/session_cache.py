"""Expensive test artefacts built once per test session, shared by every pytest-xdist worker.

``make test`` runs the suite on two xdist workers with ``--dist loadfile``, so
two test modules that need the same costly artefact (a multi-worker training,
say: two fresh TensorFlow processes) often run on different workers. The
first one to ask builds it in a folder the whole session shares, under an
exclusive file lock; the others wait for the lock and read what it built.

An artefact is read only: a test that changes it copies it first. A build that
fails leaves no completion mark, so the next test to ask builds it again (and
meets the same error in its own report).
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path
from typing import Callable

DONE = ".built"
"""Written into an artefact's folder after its build returned: the folder is complete."""


def session_folder(tmp_path_factory) -> Path:
    """A folder every worker of this pytest session shares (the session's own base folder without xdist)."""
    base = Path(tmp_path_factory.getbasetemp())
    if os.environ.get("PYTEST_XDIST_WORKER"):  # each worker's base is <session>/popen-gwN
        base = base.parent
    folder = base / "shared-artefacts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def built_once(tmp_path_factory, name: str, build: Callable[[Path], None]) -> Path:
    """The folder ``<session>/shared-artefacts/<name>``, filled by ``build(folder)`` once per session.

    Args:
        tmp_path_factory: pytest's fixture, to find the session's folder.
        name: The artefact's folder name; one name, one recipe.
        build: Fills the empty folder it is given; runs at most once per session unless it raises.
    """
    shared = session_folder(tmp_path_factory)
    folder = shared / name
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)  # released when the file closes, or when its process dies
        try:
            if not (folder / DONE).is_file():
                if folder.exists():  # a build that failed half-way
                    shutil.rmtree(folder)
                folder.mkdir()
                build(folder)
                (folder / DONE).write_text("", encoding="utf-8")
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
    return folder
