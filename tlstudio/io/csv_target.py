"""Where a table of predictions may be written: never over an image, never among the inputs.

``predict --csv`` and ``evaluate --csv`` (and the Evaluate page's Save CSV)
write one file; a typo or a shell completion must not turn that into the
loss of a photo. :func:`csv_target_problem` is checked before any work:

* the target is not a folder, and its folder exists and is writable;
* its name does not end in an image suffix (:data:`tlstudio.io.IMAGE_EXTENSIONS`),
  and an existing file there is not an image whatever its name (by its first bytes);
* it is not one of the input files (the model included), nor inside an input folder.

:func:`check_not_an_input` is the writer's own last check: the rows it writes
name their images, and none of them is replaced.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from tlstudio.io import IMAGE_EXTENSIONS

_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")


def looks_like_image(path: str | os.PathLike) -> bool:
    """True when ``path`` names an image by its suffix, or is an existing file starting like one."""
    p = Path(path)
    if p.suffix.lower() in IMAGE_EXTENSIONS:
        return True
    try:
        with open(p, "rb") as fh:
            head = fh.read(12)
    except OSError:
        return False
    return head.startswith(_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def _real(path: str | os.PathLike) -> Path:
    return Path(os.path.realpath(os.path.expanduser(os.fspath(path))))


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def csv_target_problem(path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = (), *, flag: str = "--csv") -> str | None:
    """Why a CSV cannot be written to ``path``, or None when it can.

    Args:
        path: The CSV file asked for.
        inputs: The files and folders the work reads (images, image folders,
            the dataset, the model); the CSV may be none of them and in none of them.
        flag: How the user named the target, for the message.

    Returns:
        One sentence naming the target, what was expected and ``Received: ...``; None when it may be written.
    """
    text = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(text))
    if os.path.isdir(text):
        return f"{flag} {text} is a folder; give a file name such as {os.path.join(text, 'predictions.csv')}. Received: a folder"
    if looks_like_image(text):
        found = "an existing image file" if os.path.exists(text) else f"a name ending in {Path(text).suffix}"
        return (f"{flag} {text} is an image; the table is written to a new .csv file and never over an image. "
                f"Received: {found}")
    target = _real(text)
    for item in inputs:
        source = _real(item)
        if target == source:
            return (f"{flag} {text} is one of the inputs ({item}); write the table to another file. "
                    "Received: the same file as an input")
        if source.is_dir() and _inside(target, source):
            return (f"{flag} {text} is inside the input folder {item}; write the table outside the images it describes. "
                    f"Received: a file in {source}")
    if not os.path.isdir(folder):
        return f"{flag} {text}: the folder {folder} does not exist. Received: a missing folder"
    if not os.access(folder, os.W_OK):
        return f"{flag} {text}: the folder {folder} is not writable. Received: a read-only folder"
    return None


def check_not_an_input(path: str | os.PathLike, files: Iterable[str]) -> str | None:
    """Why ``path`` may not be replaced by a table about ``files`` (an image, or one of them); None when it may."""
    if looks_like_image(path):
        return f"{os.fspath(path)} is an image; a table is never written over an image. Received: an image file"
    target = _real(path)
    for name in files:
        if _real(name) == target:
            return f"{os.fspath(path)} is one of the images in the table; write the table to another file. Received: {name}"
    return None
