"""A folder made once per test session and read by every pytest-xdist worker (or the one process).

An expensive artefact that several test modules only read (a small trained
run folder) is made by whichever worker asks first, under a file lock, in a
folder of this session: the parent of the workers' own temporary folders
(``pytest-N/`` above ``pytest-N/popen-gw0/``), or the session's temporary
folder without xdist. It never outlives the session, so no test reads what
older code made. A test that changes the folder's files works on its own copy
(:func:`own_copy`).
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path
from typing import Callable

COMPLETE = ".complete"
"""Written into a shared folder once its maker returned: a folder without it is made again."""


def session_folder(tmp_path_factory) -> Path:
    """The folder this test session's workers share."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    shared = base / "shared"
    shared.mkdir(exist_ok=True)
    return shared


def shared_folder(tmp_path_factory, name: str, make: Callable[[Path], object]) -> Path:
    """The session's folder ``name``, made by ``make(folder)`` the first time any worker asks.

    ``make`` fills the folder in place (its files may record their absolute
    paths). Other workers asking meanwhile wait on the lock; a maker that
    failed or died leaves no ``.complete`` mark, and the next caller makes
    the folder again from empty.
    """
    root = session_folder(tmp_path_factory)
    folder = root / name
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released by the OS if this process dies
        try:
            if not (folder / COMPLETE).is_file():
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir()
                make(folder)
                (folder / COMPLETE).write_text("")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return folder


def own_copy(folder: Path, destination: Path) -> Path:
    """A copy of a shared folder for a test that changes its files; returns ``destination``."""
    shutil.copytree(folder, destination, ignore=shutil.ignore_patterns(COMPLETE))
    return destination


TINY_RUN = "tiny-run"
"""The shared folder of :func:`tiny_run`: ``data/`` and ``run/`` as :func:`tests.support.tiny_model.make_run_dir` writes them."""


def _make_tiny_run(folder: Path, keras_free: bool) -> None:
    import subprocess
    import sys

    if not keras_free or "keras" in sys.modules:
        from tests.support.tiny_model import make_run_dir

        make_run_dir(folder)
        return
    # A process that must stay without Keras (a GUI test's) keeps it that way: another Python process trains it.
    root = Path(__file__).resolve().parents[2]
    code = "import sys; from pathlib import Path; from tests.support.tiny_model import make_run_dir; make_run_dir(Path(sys.argv[1]))"
    proc = subprocess.run([sys.executable, "-c", code, str(folder)], cwd=root, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"making the tiny run failed: {proc.stderr[-3000:]}")


def tiny_run(tmp_path_factory, *, keras_free: bool = False) -> Path:
    """The session's run folder around the tiny trained model (read it; change only an :func:`own_copy`).

    Its ``run_config.json`` names the shared ``data/`` folder by its absolute path.

    Args:
        tmp_path_factory: pytest's fixture.
        keras_free: The calling process must not import Keras (a GUI test):
            if it is the first to ask, another Python process trains the model.
    """
    return shared_folder(tmp_path_factory, TINY_RUN, lambda folder: _make_tiny_run(folder, keras_free)) / "run"
