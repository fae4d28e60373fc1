"""Making run folders: a new run never reuses a folder.

* A folder given by the user (``RunConfig.run_dir``, the CLI's ``--out``) is
  used only when it does not exist yet or is empty; a non-empty folder is
  refused unless the run resumes it (``resume_from`` names the same folder).
* A default folder, ``runs_dir()/<YYYYmmdd-HHMMSS>-<backbone>``, is created
  with :func:`os.mkdir`, which fails when the name exists, and retried with a
  ``-2``, ``-3``... suffix; so two runs started in the same second (in two
  processes too) get two folders.
* Every run folder gets the :data:`~tlstudio.run_folders.RUN_MARKER`
  file, which a delete checks before removing anything
  (:func:`tlstudio.training.safe_delete.deletable_run_folder`).

This module is light (no TensorFlow): the CLI checks ``--out`` with it before
loading Keras.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from tlstudio import paths
from tlstudio.errors import ConfigError
from tlstudio.io.atomic import atomic_write_text
from tlstudio.run_folders import run_files

MAX_SUFFIX = 1000


def same_folder(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same folder (resolved, so ``runs/a`` and ``./runs/a/`` match)."""
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


def check_new_run_dir(run_dir: str | os.PathLike, resume_from: str | os.PathLike = "") -> None:
    """Refuse ``run_dir`` for a new run when it is a file or a non-empty folder.

    Args:
        run_dir: The folder asked for.
        resume_from: The run being resumed, if any; resuming a folder in place is allowed.

    Raises:
        ConfigError: naming the folder, what it holds and what to do instead.
    """
    folder = Path(run_dir)
    if resume_from and same_folder(folder, resume_from):
        return
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"the run folder {folder} is a file. Choose a new folder. Received: run_dir={str(folder)!r}", path=str(folder))
    if folder.is_dir():
        entries = sorted(p.name for p in folder.iterdir())
        if entries:
            shown = ", ".join(entries[:4]) + (" ..." if len(entries) > 4 else "")
            raise ConfigError(
                f"the run folder {folder} already exists and is not empty ({shown}); a new run never reuses a folder. "
                f"Choose a new folder, or resume that run (CLI: --resume {folder}). Received: run_dir={str(folder)!r}",
                path=str(folder),
            )


def write_marker(run_dir: Path) -> None:
    """Write the run marker unless the folder already has a valid one."""
    if not run_files.has_marker(run_dir):
        atomic_write_text(run_dir / run_files.RUN_MARKER, run_files.marker_text())


def create_run_dir(run_dir: str | os.PathLike = "", *, backbone: str = "model", resume_from: str | os.PathLike = "") -> Path:
    """Create (or, for a resume in place, reuse) the run folder and mark it.

    Args:
        run_dir: The folder asked for; empty makes a new default folder.
        backbone: Part of the default name.
        resume_from: The run being resumed, if any.

    Returns:
        The run folder, which exists and holds the marker.

    Raises:
        ConfigError: ``run_dir`` is a file or a non-empty folder of another run.
        OSError: the folder cannot be created.
    """
    if run_dir:
        folder = Path(run_dir)
        check_new_run_dir(folder, resume_from)
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(folder)
        except FileExistsError:
            check_new_run_dir(folder, resume_from)  # made empty by us or another process meanwhile
        write_marker(folder)
        return folder
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = paths.runs_dir() / f"{stamp}-{backbone}"
    for n in range(1, MAX_SUFFIX + 1):
        candidate = base if n == 1 else base.with_name(f"{base.name}-{n}")
        try:
            os.mkdir(candidate)
        except FileExistsError:
            continue
        write_marker(candidate)
        return candidate
    raise ConfigError(f"no free run folder name under {base.parent}: {base.name} to {base.name}-{MAX_SUFFIX} all exist.", path=str(base.parent))


WORKER_PREFIX = "tlstudio-worker-"
"""Name prefix of a non-chief worker's temporary run folder."""

KEEP_WORKER_MODEL_ENV = "TLSTUDIO_KEEP_WORKER_MODEL"
"""A folder where a non-chief worker copies its ``model.keras`` (as ``worker-<index>.keras``) before
its temporary run folder is deleted; for tests that compare the workers' weights. Unset: nothing is kept."""


def worker_scratch_dir() -> Path:
    """A new, marked temporary run folder for a non-chief worker of a multi-worker run.

    The worker writes its checkpoints and ``model.keras`` there, as the chief
    does into the real run folder (a Keras save is collective, so every worker
    must save), and :func:`remove_worker_scratch` deletes it when the run ends.
    """
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix=WORKER_PREFIX))
    write_marker(folder)
    return folder


def remove_worker_scratch(folder: str | os.PathLike, *, index: int = 0) -> bool:
    """Delete a worker's temporary run folder; first copy its model where :data:`KEEP_WORKER_MODEL_ENV` asks.

    Only a marked folder made by :func:`worker_scratch_dir` is deleted
    (:func:`tlstudio.training.safe_delete.delete_run_folder` checks it holds nothing
    tlstudio did not write).

    Args:
        folder: The worker's temporary run folder.
        index: The worker's ``TF_CONFIG`` task index, for the kept model's name.

    Returns:
        True when the folder was deleted, False when it was gone already.

    Raises:
        ProjectError: the folder is not one tlstudio made (nothing deleted).
    """
    from tlstudio.io.atomic import atomic_write_bytes
    from tlstudio.training.safe_delete import delete_run_folder

    folder = Path(folder)
    keep = os.environ.get(KEEP_WORKER_MODEL_ENV, "").strip()
    model = folder / run_files.MODEL
    if keep and model.is_file():
        Path(keep).mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(Path(keep) / f"worker-{index}.keras", model.read_bytes())
    return delete_run_folder(folder)
