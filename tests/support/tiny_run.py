"""The session's tiny trained run folder, built once and read by every test module (and xdist worker) that needs it.

:func:`tests.support.tiny_model.make_run_dir` trains a tiny model and writes a
run folder around it. Several modules only read such a folder (the export,
CLI and embedding tests, the Export page's test), so one is built per
session through :func:`tests.support.session_cache.built_once`; a test that
changes its files works on :func:`own_copy`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.session_cache import DONE, built_once

ROOT = Path(__file__).resolve().parents[2]


def _build(folder: Path, keras_free: bool) -> None:
    if not keras_free or "keras" in sys.modules:
        from tests.support.tiny_model import make_run_dir

        make_run_dir(folder)
        return
    # A process that must stay without Keras (a GUI test's) keeps it that way: another Python process trains it.
    code = "import sys; from pathlib import Path; from tests.support.tiny_model import make_run_dir; make_run_dir(Path(sys.argv[1]))"
    proc = subprocess.run([sys.executable, "-c", code, str(folder)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"making the tiny run failed: {proc.stderr[-3000:]}")


def tiny_run(tmp_path_factory, *, keras_free: bool = False) -> Path:
    """The session's run folder around the tiny trained model (read it; change only an :func:`own_copy`).

    Its ``run_config.json`` names the shared ``data/`` folder next to it by its absolute path.

    Args:
        tmp_path_factory: pytest's fixture.
        keras_free: The calling process must not import Keras (a GUI test):
            if it is the first to ask, another Python process trains the model.
    """
    return built_once(tmp_path_factory, "tiny-run", lambda folder: _build(folder, keras_free)) / "run"


def own_copy(folder: Path, destination: Path) -> Path:
    """A copy of a shared folder for a test that changes its files; returns ``destination``."""
    shutil.copytree(folder, destination, ignore=shutil.ignore_patterns(DONE))
    return destination
