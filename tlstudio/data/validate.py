"""Open and fully decode every candidate image, in parallel, with a cache.

Each file goes through the same Pillow path that training uses
(:mod:`tlstudio.imaging`): the header is read, the size is checked against the
megapixel limit *before* decoding, the image is fully decoded
(``Image.load()``), and it is converted to RGB with EXIF orientation applied.
A file that fails any step is skipped with a short reason:

* ``"zero bytes"``
* ``"not an image"`` (Pillow cannot identify the content, whatever the extension)
* ``"truncated JPEG"`` / ``"truncated image"``
* ``"larger than N megapixels (WxH)"``
* ``"unreadable (permission denied)"``, ``"unreadable (file not found)"``
* ``"unreadable: <error>"`` for anything else

Decoding runs in a thread pool: Pillow releases the GIL while it decodes and
converts, so threads use every core without the start-up and pickling cost of
processes (``benchmarks/bench_scan.py`` measures both). Results are cached by
(path, size, mtime_ns), so validating an unchanged folder again only costs a
``stat`` per file.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import re
import time
from typing import Callable

from PIL import Image, UnidentifiedImageError

from tlstudio import imaging
from tlstudio.cancel import CancelToken, ensure_token
from tlstudio.data.cache import FileCheck, ValidationCache
from tlstudio.api.dataset import ScanResult, SkippedFile, ValidationReport
from tlstudio.events import Progress, Sink, null_sink

STAGE = "validate"
_ORIENTATION = 0x0112  # EXIF tag
CHUNK_FILES = 16
"""Most files one decoding task checks."""


def too_large_reason(max_megapixels: float, width: int = 0, height: int = 0) -> str:
    """The skip reason for an image over the size limit."""
    size = f" ({width}x{height})" if width and height else ""
    return f"larger than {max_megapixels:g} megapixels{size}"


def _bomb_reason(exc: Exception, max_megapixels: float) -> str:
    """Reason for Pillow's DecompressionBombError, which states only the pixel count."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    size = f" ({int(found.group(1)) / 1e6:.0f} megapixels)" if found else ""
    pillow_limit = 2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6  # Pillow refuses images above this
    if pillow_limit and max_megapixels > pillow_limit:
        return f"larger than Pillow's limit of {pillow_limit:.0f} megapixels{size}"
    return f"larger than {max_megapixels:g} megapixels{size}"


def _describe(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text.strip().rstrip(".")


def check_file(path: str, max_megapixels: float = 89.0) -> FileCheck:
    """Check that one file is a readable image within the size limit.

    Args:
        path: File to check.
        max_megapixels: Images with more pixels than this (in millions) are
            rejected from their header, without decoding.

    Returns:
        A :class:`~tlstudio.data.cache.FileCheck`; ``reason`` is None for a
        valid image. Never raises for a bad file.
    """
    max_pixels = max_megapixels * 1_000_000
    try:
        if os.stat(path).st_size == 0:
            return FileCheck("zero bytes")
        with open(path, "rb") as fh:
            try:
                img = Image.open(fh)
            except UnidentifiedImageError:
                return FileCheck("not an image")
            except Image.DecompressionBombError as exc:
                return FileCheck(_bomb_reason(exc, max_megapixels))
            with img:
                width, height = img.size
                if width * height > max_pixels:
                    return FileCheck(too_large_reason(max_megapixels, width, height), width, height, decoded=False)
                try:
                    img.load()
                except OSError as exc:
                    if "truncated" in str(exc).lower():
                        kind = "JPEG" if img.format == "JPEG" else "image"
                        return FileCheck(f"truncated {kind}", width, height)
                    return FileCheck(f"unreadable: {_describe(exc)}", width, height)
                if img.mode != "RGB" or img.getexif().get(_ORIENTATION, 1) != 1:
                    imaging.to_rgb(img)  # otherwise to_rgb would only copy the pixels
                return FileCheck(None, width, height)
    except PermissionError:
        return FileCheck("unreadable (permission denied)")
    except FileNotFoundError:
        return FileCheck("unreadable (file not found)")
    except Image.DecompressionBombError as exc:
        return FileCheck(_bomb_reason(exc, max_megapixels))
    except Exception as exc:  # noqa: BLE001 - a bad file must never crash validation
        if "truncated" in str(exc).lower():  # cut off inside the header
            kind = "JPEG" if os.path.splitext(path)[1].lower() in (".jpg", ".jpeg") else "image"
            return FileCheck(f"truncated {kind}")
        return FileCheck(f"unreadable: {_describe(exc)}")


def _from_cache(check: FileCheck, max_megapixels: float) -> FileCheck | None:
    """Re-apply the current size limit to a cached check; None means decode again."""
    if check.width * check.height > max_megapixels * 1_000_000:
        return FileCheck(too_large_reason(max_megapixels, check.width, check.height), check.width, check.height, decoded=False)
    if not check.decoded:
        return None  # too large last time, within the limit now: never decoded
    if check.reason and check.reason.startswith("larger than"):
        return None  # limit changed; re-check
    return check


def _cacheable(check: FileCheck) -> bool:
    """Whether a result may be reused while the file's size and mtime stay the same.

    "unreadable" results are not: fixing permissions changes no mtime, and an
    I/O error on a network drive may be gone on the next try.
    """
    return not (check.reason or "").startswith("unreadable")


def default_workers() -> int:
    """Threads used for decoding: one per CPU core, at most 8."""
    return max(1, min(8, os.cpu_count() or 1))


def validate_files(
    scan: ScanResult,
    *,
    max_megapixels: float = 89.0,
    workers: int | None = None,
    sink: Sink | None = None,
    cancel: CancelToken | None = None,
    use_cache: bool = True,
) -> ValidationReport:
    """Fully decode every candidate file of a scan and report what is usable.

    Args:
        scan: Result of :func:`tlstudio.data.scan_folder`.
        max_megapixels: Size limit; larger images are skipped from their header.
        workers: Decoding threads; None uses one per core (at most 8).
        sink: Receives :class:`~tlstudio.events.Progress` events (stage ``"validate"``).
        cancel: Checked between files; when set, validation stops early and the
            report has ``cancelled=True``.
        use_cache: Read and update the validation cache.

    Returns:
        A :class:`ValidationReport`: valid files per split and class, every
        skipped file with its reason (the scan's wrong-extension files included).
    """
    if max_megapixels <= 0:
        raise ValueError(f"max_megapixels must be positive. Received: max_megapixels={max_megapixels!r}")
    sink = sink or null_sink
    cancel = ensure_token(cancel)
    workers = workers or default_workers()
    start = time.perf_counter()

    order = [path for per_class in scan.files.values() for paths in per_class.values() for path in paths]
    total = len(order)
    results: dict[str, FileCheck] = {}
    stats: dict[str, tuple[int, int]] = {}
    for path in order:
        try:
            st = os.stat(path)
            stats[path] = (st.st_size, st.st_mtime_ns)
        except OSError:
            pass  # check_file reports why

    cache = ValidationCache() if use_cache else None
    cache_hits = 0
    try:
        if cache is not None:
            for path, check in cache.lookup(stats).items():
                current = _from_cache(check, max_megapixels)
                if current is not None:
                    results[path] = current
            cache_hits = len(results)
        todo = [p for p in order if p not in results]
        reporter = _Reporter(sink, total)
        reporter(len(results), force=True)
        fresh: list[tuple[str, int, int, FileCheck]] = []
        if todo and not cancel.cancelled:
            _run_checks(todo, max_megapixels, workers, cancel, results, stats, fresh, reporter)
        if cache is not None:
            cache.store(fresh)
    finally:
        if cache is not None:
            cache.close()

    cancelled = cancel.cancelled and len(results) < total
    valid: dict[str, dict[str, tuple[str, ...]]] = {}
    skipped: list[SkippedFile] = list(scan.skipped)
    for split, per_class in scan.files.items():
        valid[split] = {}
        for name, paths in per_class.items():
            ok = []
            for path in paths:
                check = results.get(path)
                if check is None:
                    continue  # not checked: cancelled
                if check.reason is None:
                    ok.append(path)
                else:
                    skipped.append(SkippedFile(path, check.reason))
            valid[split][name] = tuple(ok)
    seconds = time.perf_counter() - start
    sink(Progress(STAGE, len(results), total, f"validated {len(results)}/{total} files, {len(skipped)} skipped"))
    return ValidationReport(
        scan=scan,
        valid=valid,
        skipped=tuple(sorted(skipped, key=lambda s: s.path)),
        seconds=seconds,
        cache_hits=cache_hits,
        max_megapixels=max_megapixels,
        cancelled=cancelled,
    )


def _check_chunk(paths: list[str], max_megapixels: float) -> list[FileCheck]:
    return [check_file(path, max_megapixels) for path in paths]


def _run_checks(
    todo: list[str],
    max_megapixels: float,
    workers: int,
    cancel: CancelToken,
    results: dict[str, FileCheck],
    stats: dict[str, tuple[int, int]],
    fresh: list[tuple[str, int, int, FileCheck]],
    reporter: Callable[..., None],
) -> None:
    """Check ``todo`` in a thread pool, a few files per task, a bounded number of tasks in flight.

    Several files per task keep the per-task overhead small next to decoding a
    thumbnail; few enough that cancel is noticed within milliseconds.
    """
    chunk = max(1, min(CHUNK_FILES, len(todo) // (workers * 4) or 1))
    chunks = (todo[i : i + chunk] for i in range(0, len(todo), chunk))
    window = workers * 2
    pending: dict[cf.Future, list[str]] = {}
    with cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tlstudio-validate") as pool:
        while True:
            while len(pending) < window and not cancel.cancelled:
                paths = next(chunks, None)
                if paths is None:
                    break
                pending[pool.submit(_check_chunk, paths, max_megapixels)] = paths
            if not pending:
                break
            done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for future in done:
                paths = pending.pop(future)
                for path, check in zip(paths, future.result()):
                    results[path] = check
                    if path in stats and _cacheable(check):
                        fresh.append((path, *stats[path], check))
            reporter(len(results))


class _Reporter:
    """Send Progress events at most every ``interval`` seconds (and the first and last)."""

    interval = 0.1

    def __init__(self, sink: Sink, total: int):
        self.sink = sink
        self.total = total
        self.last = 0.0

    def __call__(self, done: int, force: bool = False) -> None:
        now = time.perf_counter()
        if force or now - self.last >= self.interval or done == self.total:
            self.last = now
            self.sink(Progress(STAGE, done, self.total, f"validating {done}/{self.total} files"))
