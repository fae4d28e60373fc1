"""Write files and folders under a temporary name, then rename them into place.

A temporary name lives in the destination folder (so the final rename stays on
one file system and is atomic) and starts with a dot: ``.model.tmp-1a2b3c.keras``
for ``model.keras``. A process killed mid-write leaves at worst such a hidden
temporary, never a half file under the final name; the next export to the same
name removes stale temporaries.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

TMP_MARK = ".tmp-"


def temp_path_for(final: Path) -> Path:
    """A fresh hidden temporary path next to ``final`` that keeps its suffix.

    The suffix is kept because Keras picks the writer from it (``.keras``,
    ``.tflite``, ``.onnx``).
    """
    token = uuid.uuid4().hex[:8]
    suffix = final.suffix if not final.name.endswith("_savedmodel") else ""
    stem = final.name[: len(final.name) - len(suffix)] if suffix else final.name
    return final.parent / f".{stem}{TMP_MARK}{token}{suffix}"


def remove_path(path: Path) -> None:
    """Delete a file or folder if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def remove_stale_temps(final: Path) -> list[Path]:
    """Delete temporaries an earlier, killed export left for ``final``; return them."""
    suffix = final.suffix if not final.name.endswith("_savedmodel") else ""
    stem = final.name[: len(final.name) - len(suffix)] if suffix else final.name
    removed = []
    if final.parent.is_dir():
        for entry in final.parent.glob(f".{stem}{TMP_MARK}*{suffix}"):
            remove_path(entry)
            removed.append(entry)
    return removed


def commit(temp: Path, final: Path) -> None:
    """Move a finished temporary file or folder to its final name.

    A file replaces ``final`` atomically with :func:`os.replace`. A folder
    cannot replace a non-empty folder in one step, so an existing ``final``
    folder is first renamed aside, then the new one renamed in, then the old
    one deleted.
    """
    if temp.is_dir():
        old = None
        if final.exists():
            old = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(final, old)
        try:
            os.replace(temp, final)
        except OSError:
            if old is not None:
                os.replace(old, final)
            raise
        if old is not None:
            remove_path(old)
    else:
        if final.is_dir():
            remove_path(final)
        os.replace(temp, final)


def write_text_atomic(final: Path, text: str) -> None:
    """Write a small text file through a temporary name and :func:`os.replace`."""
    temp = temp_path_for(final)
    try:
        with open(temp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, final)
    except BaseException:
        remove_path(temp)
        raise
