"""Scaling benchmark: time and peak RSS of every stage as the image count grows.

Usage::

    .venv/bin/python benchmarks/bench_scale.py                      # 10k, 30k and 100k images
    .venv/bin/python benchmarks/bench_scale.py --counts 2000 6000   # a quick run

For each count it generates that many small JPEGs (32-64 px, ten classes of
coloured gradients with noise) in a temporary folder, with an empty cache
folder, then runs every stage in a fresh Python process and reads that
process's own peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) and
the stage's time measured inside it (TensorFlow's import is not counted):

* ``scan``: :func:`tlstudio.data.scan_folder`.
* ``split``: :func:`tlstudio.data.prepare_data` with a cold validation cache
  (scan, open every image once, stratified split 80/20).
* ``features``: ``run_training`` with ``feature_cache="auto"`` and one epoch on
  a tiny backbone (MobileNetV2, random weights, at ``--image-size``), so the
  training feature cache of :mod:`tlstudio.training.features` (pooled
  vectors in memory-mapped shards) is what is measured; the extraction's own
  time is read from its progress events, and the cache's size on disk.
* ``head``: ``run_training`` again in a new process with ``--head-epochs``
  epochs; the features come from the cache, and the epochs' time is the sum
  of the ``EpochEnd`` seconds.
* ``pixel build``: ``make_dataset`` on the training split with the
  decoded-image cache forced on (``tlstudio.data.pixel_cache``): each image
  decoded once by Pillow into memory-mapped shards.
* ``pixel epoch``: a new process opens that cache and reads one shuffled
  epoch from it (no model).

Then, in one process (``rates``), on the training split, each side
measured ``--repeats`` times alternately and its best kept (the machine may
be shared):

* the input pipeline alone (the second of two epochs, no model): the decoded-image cache
  pipeline and today's Pillow pipeline (what ``make_dataset`` does past the
  in-memory budget: ``tf.numpy_function`` + Pillow per image, every epoch),
  and their ratio (target >= 5x);
* the model step alone: :func:`baseline.tiny_model` (MobileNetV2 trainable)
  on one batch held in memory;
* together: one plain Keras ``fit`` epoch over each pipeline (capped at
  ``--fit-images`` images), so the bottleneck can be read off.

The machine's other load changes the figures, so compare rows of the same run.

Measured with ``--counts 2000 6000`` on 2 CPU cores shared with other jobs
(load average 4-5), 32 px, batch 32, with the pooled training feature cache
(seconds / peak RSS)::

    images   scan          split         features        head           pixel build    pixel epoch     cache/Pillow
      2000   0.00 s 39 MB  0.33 s 43 MB  9.16 s 801 MB   8.51 s 752 MB  0.75 s 661 MB  0.25 s 667 MB   10.4x
      6000   0.02 s 40 MB  1.04 s 47 MB  15.28 s 862 MB  5.14 s 787 MB  1.13 s 677 MB  0.26 s 684 MB   10.7x

Feature cache 5120 bytes per image (1280 float32: MobileNetV2 pooled). At
6000 images: input pipeline alone 32509 images/s from the decoded-image
cache against 3043 images/s through Pillow (10.7x); the model step alone 247
images/s; together (Keras fit) 264 images/s on the cache, 215 on Pillow.
An earlier run under load 8-10 with 20000 images gave 33958 against 2083
images/s (16.3x), pixel build 16.5 s and a pixel epoch 2.0 s (including
1.5 s opening it). At 32 px the tiny trainable network is the bottleneck on
a CPU, so the "together" figures differ by the machine's noise (repeated
runs under load: 92-276 vs 130-338 images/s); the cache matters where the
model step outruns Pillow (a GPU, larger photos to decode).

The default counts on a quieter machine (1-minute load about 1.5; the
"features" and "head" stages are whole 1-epoch and 3-epoch training runs)::

    images   scan          split           features          head            pixel build      pixel epoch     cache/Pillow
     10000   0.03 s 40 MB  1.76 s 51 MB    18.84 s 869 MB    6.81 s 804 MB   3.95 s 692 MB    0.47 s 693 MB   35.9x
     30000   0.09 s 43 MB  5.55 s 66 MB    41.46 s 917 MB    16.72 s 828 MB  10.11 s 764 MB   0.86 s 747 MB   27.1x
    100000   0.28 s 53 MB  16.28 s 118 MB  101.39 s 943 MB   28.93 s 876 MB  29.68 s 999 MB   2.27 s 956 MB   28.9x

Head training's peak RSS grows 9 % from 10k to 100k images (target: within
20 %); the feature cache holds 488 MB for 100k images. At 100k: input
pipeline alone 64077 images/s from the decoded-image cache against 2220
through Pillow (28.9x); the model step alone 448 images/s; together 390
images/s on the cache, 319 on Pillow.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CLASSES = 10
SEED = 1337
HERE = Path(__file__).resolve().parent


# --------------------------------------------------------------------------- generation


def _make_images(args: tuple[str, int, int]) -> int:
    import numpy as np
    from PIL import Image

    root, start, stop = args
    for i in range(start, stop):
        rng = np.random.default_rng(i)
        label = i % CLASSES
        h, w = (int(v) for v in rng.integers(32, 65, 2))
        base = np.array([(label * 37) % 256, (label * 91) % 256, (label * 53 + 80) % 256], np.float32)
        ramp = np.linspace(0, 60, w, dtype=np.float32)[None, :, None]
        noise = rng.normal(0, 25, (h, w, 3)).astype(np.float32)
        pixels = np.clip(base + ramp + noise, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(os.path.join(root, f"class_{label}", f"{i:06d}.jpg"), quality=85)
    return stop - start


def generate(root: Path, count: int, workers: int) -> float:
    """Write ``count`` JPEGs under ``root/class_k/``; return the seconds taken."""
    for k in range(CLASSES):
        (root / f"class_{k}").mkdir(parents=True, exist_ok=True)
    chunk = 1000
    jobs = [(str(root), s, min(s + chunk, count)) for s in range(0, count, chunk)]
    start = time.perf_counter()
    with Pool(workers) as pool:
        for _ in pool.imap_unordered(_make_images, jobs):
            pass
    return time.perf_counter() - start


# --------------------------------------------------------------------------- stages (child processes)


def _data_config(data: str):
    from tlstudio.config import DataConfig

    return DataConfig(root=data, val_fraction=0.2, seed=SEED)


def _run_config(args: argparse.Namespace, epochs: int, run_dir: str):
    from tlstudio.config import HeadConfig, ModelConfig, RunConfig, TrainConfig

    return RunConfig(
        data=_data_config(args.data),
        model=ModelConfig(backbone="mobilenetv2", weights="none", image_size=args.image_size, head=HeadConfig(pooling="avg", dropout=0.0)),
        train=TrainConfig(epochs=epochs, batch_size=args.batch_size, learning_rate=1e-3, seed=SEED, feature_cache="auto", tensorboard=False),
        run_dir=run_dir,
    )


def _force_pixel_cache():
    from tlstudio.data import pipeline

    pipeline.CACHE_BUDGET_BYTES = 0  # the small images of this benchmark would otherwise fit in memory
    return pipeline


def stage_scan(args: argparse.Namespace) -> dict:
    from tlstudio.data import scan_folder

    start = time.perf_counter()
    scan = scan_folder(args.data)
    files = sum(len(v) for split in scan.files.values() for v in split.values())
    return {"seconds": time.perf_counter() - start, "files": files}


def stage_split(args: argparse.Namespace) -> dict:
    from tlstudio.data import prepare_data

    start = time.perf_counter()
    data = prepare_data(_data_config(args.data))
    return {"seconds": time.perf_counter() - start, "train": len(data.train), "val": len(data.val)}


def _train(args: argparse.Namespace, epochs: int) -> dict:
    from tlstudio.events import EpochEnd, Progress
    from tlstudio.training import run_training

    marks: dict = {"feature_times": [], "epoch_seconds": 0.0, "reused": False}

    def sink(event):
        if isinstance(event, Progress) and event.stage == "features":
            marks["feature_times"].append(time.perf_counter())
            marks["reused"] |= "cached" in event.message
        elif isinstance(event, EpochEnd):
            marks["epoch_seconds"] += event.seconds

    run_dir = tempfile.mkdtemp(prefix="bench-scale-run-", dir=args.work)
    start = time.perf_counter()
    result = run_training(_run_config(args, epochs, os.path.join(run_dir, "run")), sink)
    seconds = time.perf_counter() - start
    if result.error:
        raise SystemExit(f"training failed: {result.error}\n{result.error_details}")
    times = marks["feature_times"]
    return {
        "seconds": seconds,
        "feature_seconds": (times[-1] - times[0]) if len(times) > 1 else 0.0,
        "features_reused": marks["reused"],
        "feature_cache": bool(result.feature_cache),
        "epoch_seconds": marks["epoch_seconds"],
        "epochs": epochs,
    }


def stage_features(args: argparse.Namespace) -> dict:
    out = _train(args, 1)
    from tlstudio.caches import cache_info

    out["feature_cache_bytes"] = sum(u.bytes for u in cache_info() if u.name in ("features", "pooled"))
    return out


def stage_head(args: argparse.Namespace) -> dict:
    return _train(args, args.head_epochs)


def _train_items(args: argparse.Namespace):
    from tlstudio.data import prepare_data

    return prepare_data(_data_config(args.data)).train


def stage_pixel_build(args: argparse.Namespace) -> dict:
    from tlstudio.data import pixel_cache

    pipeline = _force_pixel_cache()
    items = _train_items(args)
    plan = pixel_cache.plan([it.path for it in items], args.image_size)
    start = time.perf_counter()
    pipeline.make_dataset(items, args.image_size, args.batch_size, shuffle=True, seed=SEED)
    return {"seconds": time.perf_counter() - start, "images": len(items), "bytes_written": plan.bytes_to_write}


def stage_pixel_epoch(args: argparse.Namespace) -> dict:
    pipeline = _force_pixel_cache()
    items = _train_items(args)
    start = time.perf_counter()
    ds = pipeline.make_dataset(items, args.image_size, args.batch_size, shuffle=True, seed=SEED)
    opened = time.perf_counter() - start
    n = sum(int(x.shape[0]) for x, _ in ds)
    return {"seconds": time.perf_counter() - start, "open_seconds": opened, "images": n}


def stage_rates(args: argparse.Namespace) -> dict:
    import baseline

    pipeline = _force_pixel_cache()
    items = _train_items(args)
    size, batch = args.image_size, args.batch_size
    cached = pipeline.make_dataset(items, size, batch, shuffle=True, seed=SEED)
    pillow = pipeline.make_dataset(items, size, batch, shuffle=True, seed=SEED, cache=False)  # Pillow every epoch
    # Alternate the two sides and keep each one's best of --repeats, so another process's burst of load on
    # this shared machine does not decide the comparison.
    pixel_rate = pillow_rate = 0.0
    for _ in range(args.repeats):
        rate, n = baseline.pipeline_rate(cached)
        pixel_rate = max(pixel_rate, rate)
        pillow_rate = max(pillow_rate, baseline.pipeline_rate(pillow)[0])
    model = baseline.tiny_model(size, CLASSES)
    steps = max(1, min(n, args.fit_images) // batch)
    step_rate = fit_pixel = fit_pillow = 0.0
    for _ in range(args.repeats):
        step_rate = max(step_rate, baseline.model_step_rate(model, size, batch, CLASSES, steps=steps))
        fit_pixel = max(fit_pixel, baseline.fit_epoch_rate(model, cached.take(steps), steps * batch))
        fit_pillow = max(fit_pillow, baseline.fit_epoch_rate(model, pillow.take(steps), steps * batch))
    return {
        "images": n,
        "pixel_pipeline": pixel_rate,
        "pillow_pipeline": pillow_rate,
        "ratio": pixel_rate / pillow_rate,
        "model_step": step_rate,
        "fit_pixel": fit_pixel,
        "fit_pillow": fit_pillow,
        "fit_images": steps * batch,
    }


STAGES = {
    "scan": stage_scan,
    "split": stage_split,
    "features": stage_features,
    "head": stage_head,
    "pixel-build": stage_pixel_build,
    "pixel-epoch": stage_pixel_epoch,
    "rates": stage_rates,
}


def child(args: argparse.Namespace) -> None:
    """Run one stage in this fresh process; print its figures and peak RSS as one JSON line."""
    sys.path.insert(0, str(HERE))
    os.environ["TLSTUDIO_CACHE_DIR"] = args.cache
    out = STAGES[args.stage](args)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("BENCH " + json.dumps(out), flush=True)


# --------------------------------------------------------------------------- parent


def run_stage(stage: str, data: Path, work: Path, args: argparse.Namespace) -> dict:
    cmd = [
        sys.executable, str(Path(__file__).resolve()), "--stage", stage, "--data", str(data), "--work", str(work),
        "--cache", str(work / "cache"), "--image-size", str(args.image_size), "--batch-size", str(args.batch_size),
        "--head-epochs", str(args.head_epochs), "--fit-images", str(args.fit_images), "--repeats", str(args.repeats),
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    lines = [line for line in proc.stdout.splitlines() if line.startswith("BENCH ")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"stage {stage} failed with exit code {proc.returncode}")
    out = json.loads(lines[-1][6:])
    out["process_seconds"] = wall
    return out


def _row(name: str, r: dict, note: str = "") -> None:
    print(f"  {name:<13} {r['seconds']:>9.2f} s  {r['peak_rss_mb']:>8.0f} MB  {note}", flush=True)


def bench_count(count: int, args: argparse.Namespace) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"bench-scale-{count}-"))
    data = work / "data"
    try:
        gen = generate(data, count, args.workers)
        print(f"\n== {count} images ({CLASSES} classes, 32-64 px JPEG) in {work}; training size {args.image_size} px, "
              f"batch {args.batch_size}; generated in {gen:.1f} s")
        print(f"  {'stage':<13} {'time':>11}  {'peak RSS':>11}", flush=True)
        res: dict = {}

        def stage(name: str) -> dict:
            res[name] = run_stage(name, data, work, args)
            return res[name]

        _row("scan", stage("scan"), f"{res['scan']['files']} files")
        _row("split", stage("split"), f"validate + split: {res['split']['train']} train / {res['split']['val']} val (cold validation cache)")
        f = stage("features")
        _row("features", f, f"extraction {f['feature_seconds']:.2f} s = {count / max(f['feature_seconds'], 1e-9):.0f} images/s, "
                            f"cache {f['feature_cache_bytes'] / 2**20:.1f} MB = {f['feature_cache_bytes'] / count:.0f} bytes/image "
                            f"(whole 1-epoch run; feature cache {'on' if f['feature_cache'] else 'OFF'})")
        h = stage("head")
        _row("head", h, f"{h['epochs']} epochs on the cache {h['epoch_seconds']:.2f} s "
                        f"({'features reused' if h['features_reused'] else 'features RECOMPUTED'}; whole run)")
        b = stage("pixel-build")
        _row("pixel build", b, f"{b['images']} images decoded once, {b['bytes_written'] / 2**20:.1f} MB written")
        e = stage("pixel-epoch")
        _row("pixel epoch", e, f"{e['images'] / e['seconds']:.0f} images/s including opening the cache ({e['open_seconds']:.2f} s)")
        stage("rates")
        r = res["rates"]
        print(f"  rates ({r['images']} training images, peak RSS {r['peak_rss_mb']:.0f} MB):")
        print(f"    input pipeline alone: decoded-image cache {r['pixel_pipeline']:.0f} images/s, Pillow {r['pillow_pipeline']:.0f} "
              f"images/s -> {r['ratio']:.1f}x (target >= 5x)")
        print(f"    model step alone (MobileNetV2 trainable, {args.image_size} px): {r['model_step']:.0f} images/s")
        print(f"    together (Keras fit, {r['fit_images']} images): on the cache {r['fit_pixel']:.0f} images/s, "
              f"on Pillow {r['fit_pillow']:.0f} images/s")
        return res
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)  # only the temporary folder this run generated


def summary(results: dict[int, dict]) -> None:
    print("\n== growth (seconds / peak RSS MB per stage)")
    names = ["scan", "split", "features", "head", "pixel-build", "pixel-epoch"]
    print(f"  {'images':>8} " + " ".join(f"{n:>18}" for n in names) + f" {'cache/Pillow':>13}")
    for count, res in results.items():
        cells = " ".join(f"{res[n]['seconds']:>8.2f} s {res[n]['peak_rss_mb']:>5.0f} MB" for n in names)
        print(f"  {count:>8} {cells} {res['rates']['ratio']:>12.1f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[10_000, 30_000, 100_000], help="image counts (default 10k 30k 100k)")
    parser.add_argument("--image-size", type=int, default=32, help="training size in pixels (default 32)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--head-epochs", type=int, default=3)
    parser.add_argument("--fit-images", type=int, default=4000, help="images per 'together' fit measurement (default 4000)")
    parser.add_argument("--repeats", type=int, default=2, help="rates: alternate the sides this many times, keep each one's best")
    parser.add_argument("--workers", type=int, default=max(1, min(4, os.cpu_count() or 1)), help="processes generating images")
    parser.add_argument("--keep", action="store_true", help="keep the generated images and caches")
    parser.add_argument("--stage", choices=sorted(STAGES), help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage:
        child(args)
        return 0
    if any(c < 2 * CLASSES for c in args.counts):
        parser.error(f"--counts must each be >= {2 * CLASSES} (two images per class). Received: {args.counts}")
    results = {count: bench_count(count, args) for count in args.counts}
    summary(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
