"""Benchmark: scan + validate a dataset folder, cold then warm (cached).

For each folder it prints:

* ``scan``: listing the folder (no file opened);
* ``naive``: a sequential loop of ``PIL.Image.open(path).load()``, the obvious
  hand-written check, as the baseline;
* ``threads`` / ``processes``: the same full validation (header size check,
  full decode, RGB conversion) on a thread pool and on a process pool, with
  the validation cache off, to pick the executor;
* ``cold``: ``validate_files`` with an empty validation cache (what a first
  scan costs in the app);
* ``warm``: ``validate_files`` again, answered from the cache.

File contents are in the OS page cache for every timed run (a first read is
done before timing), so "cold" means "no validation cache", not "cold disk".

Run::

    .venv/bin/python benchmarks/bench_scan.py [--count 5000] [--repeat 3] [--data PATH ...] [--pipeline]

``--pipeline`` adds the epoch times of ``make_dataset`` (first epoch decodes
with Pillow, later ones come from the in-memory cache).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from tlstudio.data import generate_sample_dataset, scan_folder, validate_files
from tlstudio.data.validate import check_file, default_workers

ANTS_BEES = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "ants-bees"


def _files(scan) -> list[str]:
    return [p for per_class in scan.files.values() for paths in per_class.values() for p in paths]


def naive(paths: list[str]) -> int:
    """Sequential PIL open + load: the baseline."""
    ok = 0
    for path in paths:
        try:
            with Image.open(path) as img:
                img.load()
            ok += 1
        except Exception:  # noqa: BLE001
            pass
    return ok


def processes(paths: list[str], workers: int) -> int:
    """check_file on a process pool; "spawn", since the app cannot fork once TensorFlow or Qt run threads."""
    context = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return sum(c.reason is None for c in pool.map(check_file, paths, chunksize=64))


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def bench(root: Path, repeat: int) -> dict[str, float]:
    print(f"\n== {root}")
    start = time.perf_counter()
    scan = scan_folder(root)
    scan_s = time.perf_counter() - start
    paths = _files(scan)
    n = len(paths)
    workers = default_workers()
    naive(paths)  # warm the OS page cache
    print(f"{n} files, {len(scan.class_names)} classes, {workers} worker threads (cpu_count={os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f})")

    def cold():
        with tempfile.TemporaryDirectory() as cache:
            os.environ["TLSTUDIO_CACHE_DIR"] = cache
            validate_files(scan, use_cache=True)

    methods = {
        "naive": lambda: naive(paths),
        "threads": lambda: validate_files(scan, use_cache=False, workers=workers),
        "processes": lambda: processes(paths, workers),
        "cold": cold,
    }
    wall = {name: float("inf") for name in methods}
    cpu = {name: float("inf") for name in methods}
    for _ in range(repeat):  # interleaved, so every method sees the same machine load
        for name, fn in methods.items():
            c0, t0 = _cpu(), time.perf_counter()
            fn()
            wall[name] = min(wall[name], time.perf_counter() - t0)
            cpu[name] = min(cpu[name], _cpu() - c0)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["TLSTUDIO_CACHE_DIR"] = cache
        first = validate_files(scan)
        warm_times = []
        for _ in range(repeat):
            start = time.perf_counter()
            warm = validate_files(scan)
            warm_times.append(time.perf_counter() - start)
        assert warm.cache_hits == n and warm.valid == first.valid, "warm run must come from the cache"
    wall["warm"] = min(warm_times)
    wall["scan"] = scan_s
    print(f"  {'':<10} {'wall s':>8} {'images/s':>10} {'cpu s':>8}")
    for name in ("scan", "naive", "threads", "processes", "cold", "warm"):
        s = wall[name]
        c = f"{cpu[name]:8.3f}" if name in cpu else f"{'':>8}"
        print(f"  {name:<10} {s:8.3f} {n / s if s else float('inf'):10.0f} {c}")
    print(f"  cold vs naive baseline: {wall['naive'] / wall['cold']:.2f}x the speed (cold also converts to RGB and writes the cache)")
    print(f"  threads vs processes:   {wall['processes'] / wall['threads']:.2f}x the speed")
    print(f"  warm vs cold:           {wall['cold'] / wall['warm']:.0f}x faster ({wall['warm'] * 1000:.0f} ms for {n} files)")
    return wall


def bench_pipeline(root: Path, image_size: int = 224, batch_size: int = 32) -> None:
    """Epoch times of make_dataset: first epoch (Pillow decode), then from the memory cache."""
    from tlstudio.config import DataConfig
    from tlstudio.data import make_dataset, prepare_data

    data = prepare_data(DataConfig(root=str(root), val_fraction=0.0))
    n = len(data.train)
    print(f"\n== make_dataset on {root}: {n} images at {image_size}x{image_size}, batch {batch_size}")
    for cache in (True, False):
        ds = make_dataset(data.train, image_size, batch_size, shuffle=True, seed=0, cache=cache)
        for epoch in (1, 2, 3):
            start = time.perf_counter()
            count = sum(int(x.shape[0]) for x, _ in ds)
            s = time.perf_counter() - start
            assert count == n
            print(f"  cache={str(cache):<5} epoch {epoch}: {s:6.2f} s  {n / s:7.0f} images/s")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=5000, help="images in the generated folder (0 skips it)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per measurement, interleaved; the best is shown")
    parser.add_argument("--data", nargs="*", default=None, help="folders to benchmark (default: ants-bees)")
    parser.add_argument("--pipeline", action="store_true", help="also time make_dataset epochs (loads TensorFlow)")
    args = parser.parse_args(argv)
    folders = [Path(p) for p in args.data] if args.data is not None else [ANTS_BEES.resolve()]
    for folder in folders:
        if folder.is_dir():
            bench(folder, args.repeat)
            if args.pipeline:
                bench_pipeline(folder)
        else:
            print(f"skipping {folder}: not found", file=sys.stderr)
    if args.count > 0:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            root = generate_sample_dataset(Path(tmp) / "generated", per_class=max(1, args.count // 3), size=64)
            print(f"\n(generated {args.count // 3 * 3} 64x64 PNG files in {time.perf_counter() - start:.1f} s)")
            bench(root, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
