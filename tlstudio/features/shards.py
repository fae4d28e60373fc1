"""Reading and writing ``.npy`` shards row by row with plain file I/O, never through a memory map.

Every page of a memory map a process has touched counts towards its
resident memory until the kernel takes it back, so filling a cache through
``np.memmap``, or reading one epoch after another through it, looks like the
whole cache in RAM. :class:`ShardWriter` fills a ``.npy`` file created by
:func:`numpy.lib.format.open_memmap` with ``write`` calls, and
:class:`RowReader` reads the rows a batch needs with ``read`` calls, so the
pages stay in the page cache only and the memory of a pass stays flat.

Used by :mod:`tlstudio.features.pooled_cache` and
:mod:`tlstudio.training.features`. NumPy only.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np


class RowReader:
    """Rows of a ``.npy`` shard read with plain file reads, never through a memory map.

    Every page of a memory map a process has touched counts towards its
    resident memory until the kernel needs it back, so one epoch over a
    memory-mapped cache would look like the whole cache in RAM. Reading the
    rows a batch needs with ``read`` keeps them in the page cache only.

    Args:
        array: A shard opened with ``np.load(path, mmap_mode="r")`` (its file, offset,
            dtype and shape are used; its pages are never touched).
    """

    def __init__(self, array: np.memmap) -> None:
        if not isinstance(array, np.memmap) or array.filename is None or not array.flags.c_contiguous:
            raise TypeError(f"RowReader reads a C-ordered memory-mapped .npy shard. Received: {type(array).__name__}")
        self.path = str(array.filename)
        self.offset = int(array.offset)
        self.dtype = array.dtype
        self.row_shape = tuple(array.shape[1:])
        self.count = int(array.shape[0])
        self.row_bytes = int(np.prod(self.row_shape, dtype=np.int64)) * self.dtype.itemsize
        self._lock = threading.Lock()
        self._file = None

    def __len__(self) -> int:
        return self.count

    def _read(self, start: int, count: int) -> bytes:
        if self._file is None:
            self._file = open(self.path, "rb")  # noqa: SIM115 - kept open for the reader's life
        self._file.seek(self.offset + start * self.row_bytes)
        data = self._file.read(count * self.row_bytes)
        if len(data) != count * self.row_bytes:
            raise OSError(f"{self.path}: the feature cache shard ended early. Expected rows {start}..{start + count - 1} "
                          f"of {self.count}. Received: {len(data)} of {count * self.row_bytes} bytes")
        return data

    def range(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` (clipped to the shard) as a new array."""
        start, stop = max(0, int(start)), min(self.count, int(stop))
        if stop <= start:
            return np.empty((0, *self.row_shape), self.dtype)
        with self._lock:
            data = self._read(start, stop - start)
        return np.frombuffer(data, self.dtype).reshape(stop - start, *self.row_shape).copy()

    def rows(self, index: Sequence[int] | np.ndarray) -> np.ndarray:
        """The rows ``index`` in that order (runs of consecutive rows are read at once)."""
        index = np.asarray(index, np.int64).reshape(-1)
        if index.size and (index.min() < 0 or index.max() >= self.count):
            raise IndexError(f"{self.path}: row index out of range. Expected 0..{self.count - 1}. "
                             f"Received: {int(index.min())}..{int(index.max())}")
        out = np.empty((len(index), *self.row_shape), self.dtype)
        order = np.argsort(index, kind="stable")
        ordered = index[order]
        with self._lock:
            i = 0
            while i < len(ordered):
                j = i + 1
                while j < len(ordered) and ordered[j] == ordered[j - 1] + 1:
                    j += 1
                data = self._read(int(ordered[i]), j - i)
                out[order[i:j]] = np.frombuffer(data, self.dtype).reshape(j - i, *self.row_shape)
                i = j
        return out

    def chunks(self, size: int = 4096) -> Iterator[np.ndarray]:
        """All rows in order, ``size`` at a time."""
        for start in range(0, self.count, max(1, int(size))):
            yield self.range(start, start + size)

    def close(self) -> None:
        """Close the file (a later read opens it again)."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


class ShardWriter:
    """A new ``.npy`` file of a known shape, filled row range by row range with file writes."""

    def __init__(self, path: Path, dtype, shape: tuple[int, ...]) -> None:
        created = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)  # header + size, no data pages
        self.offset = int(created.offset)
        self.dtype = np.dtype(dtype)
        self.row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * self.dtype.itemsize
        del created
        self._file = open(path, "r+b")  # noqa: SIM115 - closed by close()

    def write(self, start: int, rows: np.ndarray) -> None:
        self._file.seek(self.offset + start * self.row_bytes)
        self._file.write(np.ascontiguousarray(rows, self.dtype).tobytes())

    def close(self) -> None:
        self._file.close()
