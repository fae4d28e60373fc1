"""Training throughput on a GPU: float32, float16, and float16 with XLA; peak memory; the batch ``auto`` picks.

Usage (only where TensorFlow sees a GPU; elsewhere it says so and exits 0)::

    .venv/bin/pip install -e ".[gpu]"
    .venv/bin/python benchmarks/bench_gpu.py [--backbone vgg16] [--image-size 224] [--batch-size 32] [--steps 30]

For each setting it builds tlstudio's model (``weights="none"``: speed does
not depend on the values), unfreezes the whole backbone (the heaviest case:
fine-tuning), sets the precision on its layers as a run does
(:func:`tlstudio.model.set_compute_precision`, loss scaling for float16),
and times ``--steps`` training steps on random images after a warm-up,
printing images/s, the ratio to float32, and the GPU's peak memory
(``tf.config.experimental.get_memory_info``). A hand-written Keras model
(``keras.applications`` + ``mixed_float16`` global policy, a float32
softmax) is timed the same way in float16 as the baseline. Last, it prints
the batch ``--batch-size auto`` chooses for that model on this GPU.

The XLA figures decide :attr:`tlstudio.precision.Choice.jit_compile`:
tlstudio compiles with XLA on a GPU. Please send the output of a run on your
GPU with an issue if XLA is slower there.
"""

from __future__ import annotations

import argparse
import math
import sys
import time


def _steps(model, batch: int, size: int, classes: int, steps: int) -> float:
    import numpy as np
    import tensorflow as tf

    x = np.random.default_rng(0).uniform(0, 255, (batch, size, size, 3)).astype("float32")
    y = np.random.default_rng(1).integers(0, classes, batch)
    ds = tf.data.Dataset.from_tensors((x, y)).repeat()
    model.fit(ds, steps_per_epoch=3, epochs=1, verbose=0)  # trace, compile, warm up
    start = time.perf_counter()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps * batch / (time.perf_counter() - start)


def _peak_mb() -> float:
    import tensorflow as tf

    return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default="vgg16")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        print("bench_gpu: TensorFlow sees no GPU here; run it on a machine with one (see the README).")
        return 0
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)

    from tlstudio.config import FreezeConfig, ModelConfig
    from tlstudio.model import apply_freeze, build_model, set_compute_precision
    from tlstudio.precision.runtime import hardware, resolve
    from tlstudio.training.batch_auto import choose_batch, free_device_memory, model_totals

    size, batch, classes = args.image_size, args.batch_size, 10
    print(f"{hardware().device}, TensorFlow {tf.__version__}, Keras {keras.__version__}")
    print(f"auto chooses: {resolve('auto').sentence()}")
    print(f"{args.backbone} at {size} px, batch {batch}, whole backbone trained, {args.steps} timed steps")
    cfg = ModelConfig(backbone=args.backbone, weights="none", image_size=size, freeze=FreezeConfig(mode="none"))
    speeds = {}
    for name, precision, xla in (("float32", "float32", False), ("float16", "float16", False), ("float16 + XLA", "float16", True)):
        keras.backend.clear_session()
        tf.config.experimental.reset_memory_stats("GPU:0")
        model = build_model(cfg, classes, seed=0)
        apply_freeze(model, cfg.freeze)
        set_compute_precision(model, precision)
        optimizer = keras.optimizers.Adam(1e-4)
        if precision == "float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", jit_compile=xla)
        speeds[name] = _steps(model, batch, size, classes, args.steps)
        print(f"  tlstudio {name:14s} {speeds[name]:8.1f} images/s  {speeds[name] / speeds['float32']:.2f}x float32  "
              f"peak {_peak_mb():,.0f} MiB")

    keras.backend.clear_session()
    tf.config.experimental.reset_memory_stats("GPU:0")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")  # the hand-written script, as the Keras guide writes it
    try:
        app = {"vgg16": keras.applications.VGG16, "resnet50": keras.applications.ResNet50}[args.backbone]
        inputs = keras.Input((size, size, 3))
        x = app(include_top=False, weights=None, input_shape=(size, size, 3))(inputs)
        x = keras.layers.GlobalAveragePooling2D()(x)
        outputs = keras.layers.Dense(classes, activation="softmax", dtype="float32")(x)
        baseline = keras.Model(inputs, outputs)
        baseline.compile(optimizer=keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy")
        base = _steps(baseline, batch, size, classes, args.steps)
    finally:
        keras.config.set_dtype_policy(previous)
    print(f"  hand-written Keras mixed_float16 {base:8.1f} images/s  peak {_peak_mb():,.0f} MiB; "
          f"tlstudio float16 is {speeds['float16'] / base:.2f}x, with XLA {speeds['float16 + XLA'] / base:.2f}x")

    keras.backend.clear_session()
    model = build_model(cfg, classes, seed=0)
    apply_freeze(model, cfg.freeze)
    free, where = free_device_memory()
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    print(choose_batch(model_totals(model, trainable), free, where=where).sentence())
    return 0


if __name__ == "__main__":
    sys.exit(main())
