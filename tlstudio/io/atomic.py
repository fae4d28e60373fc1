"""Write files and folders atomically: a temporary name, then one rename.

Every file the app writes goes through this module. The data is written to a
hidden temporary in the destination folder (so the rename stays on one file
system), flushed and fsynced, then renamed over the final name with
:func:`os.replace`, and the folder itself is fsynced so the rename survives a
power cut. A reader therefore sees the old content or the new one, never half
a file, and a write that fails (an exception, Ctrl+C) removes its temporary
and leaves an existing file untouched. A process killed mid-write (SIGKILL)
leaves at worst a hidden ``.NAME.tmp-XXXXXXXX`` next to the target, which
:func:`remove_stale_temps` deletes.

Example:

```python
from tlstudio.io.atomic import atomic_path, atomic_write_json

atomic_write_json("run/result.json", {"accuracy": 0.93})
with atomic_path("run/model.keras") as tmp:  # for libraries that write a path themselves
    model.save(tmp)
```
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import tempfile
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Union

TMP_MARK = ".tmp-"
"""Marks a temporary name: ``.model.keras.tmp-1a2b3c4d.keras`` for ``model.keras``."""

BytesLike = Union[bytes, bytearray, memoryview]
PathLike = Union[str, "os.PathLike[str]"]


def _read_umask() -> int:
    try:  # Linux reports it without changing it
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # read once, at import, before the app starts threads
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _extension(final: Path, suffix: str) -> str:
    if suffix:
        return suffix
    if final.name.endswith(".weights.h5"):  # Keras insists on the whole ending
        return ".weights.h5"
    return final.suffix


def _new_temp(final: Path, suffix: str) -> tuple[int, Path]:
    """Create a fresh hidden temporary next to ``final``; return its open descriptor and path."""
    fd, name = tempfile.mkstemp(prefix=f".{final.name}{TMP_MARK}", suffix=_extension(final, suffix), dir=final.parent)
    return fd, Path(name)


def _set_mode(fd: int, final: Path) -> None:
    """Give the temporary the mode a plain ``open(final, "w")`` would leave (mkstemp makes 0600)."""
    try:
        mode = stat.S_IMODE(os.stat(final).st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_UMASK
    if hasattr(os, "fchmod"):
        os.fchmod(fd, mode)


def fsync_dir(folder: PathLike) -> None:
    """Flush a folder's entries (a rename) to disk; a no-op where folders cannot be opened (Windows)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:  # some file systems (and FUSE mounts) refuse fsync on a folder
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def _fsync_tree(path: Path) -> None:
    """fsync a file, or every file and folder under a folder."""
    if path.is_dir() and not path.is_symlink():
        for root, _dirs, files in os.walk(path):
            for name in files:
                _fsync_file(Path(root) / name)
            fsync_dir(root)
    else:
        _fsync_file(path)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange_folders(a: PathLike, b: PathLike) -> bool:
    """Swap two existing folders' names in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``).

    A reader (or a kill) sees either the old pair or the swapped one, never a
    moment without ``b``. Both must be on one file system.

    Returns:
        True when swapped; False where the system or file system cannot (then nothing changed).

    Raises:
        OSError: the swap was possible but failed (a missing folder, no permission).
    """
    import sys

    if not sys.platform.startswith("linux"):
        return False
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):  # glibc before 2.28, musl
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, f"could not swap {a} and {b}: {os.strerror(err)}")


def remove_path(path: PathLike) -> None:
    """Delete a file or folder if it exists."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def remove_stale_temps(final: PathLike) -> list[Path]:
    """Delete the temporaries an earlier, killed write left for ``final``; return them.

    Only call this when no other writer of ``final`` can be running.
    """
    final = Path(final)
    removed = []
    if final.parent.is_dir():
        for entry in final.parent.glob(f".{final.name}{TMP_MARK}*"):
            remove_path(entry)
            removed.append(entry)
    return removed


def commit(temp: PathLike, final: PathLike, *, fsync: bool = True) -> None:
    """Move a finished temporary file or folder to its final name.

    A file replaces ``final`` atomically with :func:`os.replace`. A folder
    cannot replace a non-empty folder in one step, so an existing ``final``
    folder is first renamed aside, then the new one renamed in, then the old
    one deleted; if the second rename fails the old folder is put back.

    Args:
        temp: The finished temporary (same folder as ``final``).
        final: The target name.
        fsync: Flush the folder after the rename.
    """
    temp, final = Path(temp), Path(final)
    if temp.is_dir() and not temp.is_symlink():
        old = None
        if final.exists():
            old = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(final, old)
        try:
            os.replace(temp, final)
        except BaseException:
            if old is not None:
                os.replace(old, final)
            raise
        if old is not None:
            remove_path(old)
    else:
        if final.is_dir() and not final.is_symlink():
            remove_path(final)
        os.replace(temp, final)
    if fsync:
        fsync_dir(final.parent)


def atomic_write_bytes(path: PathLike, data: BytesLike | Iterable[BytesLike], *, fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically.

    Args:
        path: The target file; its folder must exist.
        data: The bytes, or an iterable of byte chunks (written as they come,
            for large files; an exception it raises aborts the write).
        fsync: Flush the file and its folder to disk. Turn off only for files
            that can be regenerated (caches, sample images).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        OSError: the folder is missing or not writable, or the disk is full.
            The temporary is removed and an existing ``path`` is unchanged.
    """
    final = Path(path)
    fd, temp = _new_temp(final, "")
    try:
        with os.fdopen(fd, "wb") as fh:
            _set_mode(fh.fileno(), final)
            if isinstance(data, (bytes, bytearray, memoryview)):
                fh.write(data)
            else:
                for chunk in data:
                    fh.write(chunk)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        commit(temp, final, fsync=fsync)
    except BaseException:
        remove_path(temp)
        raise
    return final


def atomic_write_new(path: PathLike, data: BytesLike | Iterable[BytesLike], *, fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically, only when no file is there: never replaces one.

    Like :func:`atomic_write_bytes`, but the finished temporary is committed
    with a hard link, which fails when ``path`` exists (a file that appeared
    while writing included), so an image already in a dataset is never overwritten.

    Raises:
        FileExistsError: ``path`` exists (nothing was written).
        OSError: see :func:`atomic_write_bytes`.
    """
    final = Path(path)
    if os.path.lexists(final):
        raise FileExistsError(errno.EEXIST, "a file is already there", str(final))
    fd, temp = _new_temp(final, "")
    try:
        with os.fdopen(fd, "wb") as fh:
            _set_mode(fh.fileno(), final)
            for chunk in [data] if isinstance(data, (bytes, bytearray, memoryview)) else data:
                fh.write(chunk)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        try:
            os.link(temp, final)
        except OSError as exc:
            if exc.errno == errno.EEXIST or os.path.lexists(final):
                raise FileExistsError(errno.EEXIST, "a file is already there", str(final)) from exc
            os.rename(temp, final)  # no hard links on this file system: checked just above
        if fsync:
            fsync_dir(final.parent)
    finally:
        remove_path(temp)
    return final


def atomic_write_text(path: PathLike, text: str, encoding: str = "utf-8", *, fsync: bool = True) -> Path:
    """Write ``text`` to ``path`` atomically (line endings written as given, ``\\n`` stays ``\\n``).

    See :func:`atomic_write_bytes` for ``fsync``, the return value and errors.
    """
    return atomic_write_bytes(path, text.encode(encoding), fsync=fsync)


def atomic_write_json(
    path: PathLike, obj: Any, indent: int | None = 2, *, default: Callable[[Any], Any] | None = None, fsync: bool = True
) -> Path:
    """Write ``obj`` as JSON (NaN allowed, trailing newline) to ``path`` atomically.

    Args:
        path: The target file.
        obj: A JSON-serialisable value.
        indent: Indentation (None: one line).
        default: Called for values JSON cannot encode (e.g. ``str``).
        fsync: See :func:`atomic_write_bytes`.

    Raises:
        TypeError: ``obj`` is not serialisable (nothing is written).
        OSError: see :func:`atomic_write_bytes`.
    """
    text = json.dumps(obj, indent=indent, allow_nan=True, default=default) + "\n"
    return atomic_write_text(path, text, fsync=fsync)


@contextlib.contextmanager
def atomic_path(final: PathLike, suffix: str = "", *, fsync: bool = True) -> Iterator[Path]:
    """A temporary path next to ``final`` for libraries that write a path themselves.

    For ``model.save``, ``model.save_weights``, ``np.save``, ``Image.save``
    and SavedModel folders. The temporary does not exist when the block
    starts; the block writes a file or a folder there. When the block ends
    normally the result is fsynced and renamed to ``final`` (see
    :func:`commit`); when it raises (KeyboardInterrupt too) the temporary is
    removed and ``final`` is untouched.

    Args:
        final: The target file or folder; its folder must exist.
        suffix: Ending of the temporary name. Empty keeps the ending of
            ``final`` (``.keras``, ``.npy``, ``.weights.h5``...), since many
            writers choose their format from it.
        fsync: See :func:`atomic_write_bytes`.

    Yields:
        The temporary path.

    Raises:
        FileNotFoundError: the block wrote nothing at the temporary path.
        OSError: the folder is missing or not writable.
    """
    final = Path(final)
    fd, temp = _new_temp(final, suffix)
    os.close(fd)
    os.unlink(temp)  # the name is reserved by its random part; the writer creates the file or folder
    try:
        yield temp
        if not os.path.lexists(temp):
            raise FileNotFoundError(
                f"{final}: the writer produced nothing. Expected a file or folder at {temp}. Received: no file"
            )
        if temp.is_file() and final.is_file():
            os.chmod(temp, stat.S_IMODE(os.stat(final).st_mode))
        if fsync:
            _fsync_tree(temp)
        commit(temp, final, fsync=fsync)
    except BaseException:
        remove_path(temp)
        raise
