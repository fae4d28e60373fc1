"""One training at a time per run folder: a lock file holding the owner's PID.

Two ``train --resume`` of one run would both write its checkpoints and
history, and the folder would end with whichever wrote last (one reported 5
epochs, the folder held 3). :func:`lock_run_folder` takes the folder's lock
(:data:`~tlstudio.run_file_names.RUN_LOCK`) before a training reads or writes
anything in it, and refuses a folder another training holds, naming that
process::

    with lock_run_folder(run_dir):
        ...  # train, write the result

The lock is an advisory ``flock`` on the lock file, which the kernel lets go
when its process dies, however it dies; the file also records the owner's
PID, host and start time, for the message. A lock file left by a killed
training is stale: the next training takes it over (and says so in the log).
Where ``flock`` is not available (Windows, some network file systems) the
owner's PID decides: a lock of a live process is refused, one of a dead
process is taken over.

The lock file is written in place, not through the atomic writer: the lock
is the open file itself, and it holds no user data.

Light: no TensorFlow.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from pathlib import Path

from tlstudio.errors import ConfigError
from tlstudio.run_file_names import RUN_LOCK
from tlstudio.processes import pid_alive

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

_HELD: dict[str, "RunLock"] = {}
"""Folders this process holds, by resolved path (a second lock in the same process is refused too)."""
_HELD_LOCK = threading.Lock()


class RunFolderInUse(ConfigError):
    """The run folder is held by another training; the message names its process."""


def _owner_text(owner: dict) -> str:
    pid = owner.get("pid", "?")
    host = owner.get("host") or "this machine"
    since = owner.get("since")
    when = time.strftime(" since %Y-%m-%d %H:%M:%S", time.localtime(since)) if isinstance(since, (int, float)) else ""
    return f"process {pid} on {host}{when}"


def _read_owner(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = os.read(fd, 4096)
        owner = json.loads(data.decode("utf-8")) if data.strip() else {}
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    return owner if isinstance(owner, dict) else {}


def _in_use(folder: Path, owner: dict) -> RunFolderInUse:
    return RunFolderInUse(
        f"the run folder {folder} is in use by another training ({_owner_text(owner)}). Wait until it ends or stop it, "
        f"then try again; two trainings of one run would overwrite each other's checkpoints. "
        f"Received: lock file {folder / RUN_LOCK}",
        path=str(folder),
    )


class RunLock:
    """A held run-folder lock; :meth:`release` (or leaving the ``with`` block) lets it go and removes the file."""

    def __init__(self, folder: Path, fd: int, key: str) -> None:
        self.folder = folder
        self.path = folder / RUN_LOCK
        self._fd: int | None = fd
        self._key = key

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Remove the lock file and let go of the lock (idempotent)."""
        with _HELD_LOCK:
            if self._fd is None:
                return
            fd, self._fd = self._fd, None
            _HELD.pop(self._key, None)
        try:
            os.unlink(self.path)  # while still holding it: nobody can take a lock on a file about to vanish
        except FileNotFoundError:
            pass
        except OSError as exc:
            logger.warning("could not remove the lock file %s: %s", self.path, exc)
        finally:
            os.close(fd)  # closing drops the flock

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.release()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


def _flock(fd: int) -> bool | None:
    """True when locked, False when another process holds it, None when the file system cannot lock."""
    if fcntl is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as exc:  # ENOLCK and the like: no advisory locks here
        logger.info("no file lock on %s (%s): the owner's PID decides", fd, exc)
        return None
    return True


def lock_run_folder(run_dir: str | os.PathLike) -> RunLock:
    """Take the lock of ``run_dir`` (which must exist) for this process, or refuse.

    Returns:
        The held :class:`RunLock`.

    Raises:
        RunFolderInUse: another training (another process, or this one) holds it; names its PID.
        OSError: the lock file cannot be created (e.g. a read-only folder).
    """
    folder = Path(run_dir)
    key = str(folder.resolve())
    with _HELD_LOCK:
        mine = _HELD.get(key)
        if mine is not None and mine.held:
            raise _in_use(folder, {"pid": os.getpid(), "host": socket.gethostname()})
    path = folder / RUN_LOCK
    for _ in range(20):  # the file may be removed by its owner between open and lock: open it again
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            locked = _flock(fd)
            owner = _read_owner(fd)
            if locked is False:
                raise _in_use(folder, owner)
            if locked is None:
                pid = owner.get("pid")
                if isinstance(pid, int) and pid != os.getpid() and owner.get("host") in (None, socket.gethostname()) and pid_alive(pid):
                    raise _in_use(folder, owner)
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            if owner.get("pid") not in (None, os.getpid()):
                logger.warning("took over the stale lock of %s left by %s (that process is gone)", folder, _owner_text(owner))
            record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}).encode("utf-8")
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, record)
        except BaseException:
            try:
                os.close(fd)
            except OSError:
                pass
            raise
        lock = RunLock(folder, fd, key)
        with _HELD_LOCK:
            if key in _HELD and _HELD[key].held:  # another thread of this process won meanwhile
                lock._fd = None
                os.close(fd)
                raise _in_use(folder, {"pid": os.getpid(), "host": socket.gethostname()})
            _HELD[key] = lock
        return lock
    raise OSError(f"could not take the lock of the run folder {folder}: its lock file kept changing. Received: {path}")
