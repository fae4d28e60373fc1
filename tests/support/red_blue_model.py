"""A tiny hand-weighted Keras model that tells red images from blue ones, written by another process.

The GUI tests' process never imports Keras: :func:`tiny_model` runs the
script below in a fresh Python process.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

TINY_MODEL = """
import sys
import keras
import numpy as np

# 1x1 conv (identity) -> mean colour -> softmax((red - blue) / 50, (blue - red) / 50)
inputs = keras.Input((16, 16, 3))
x = keras.layers.Conv2D(3, 1, name="conv", use_bias=False)(inputs)
x = keras.layers.GlobalAveragePooling2D()(x)
outputs = keras.layers.Dense(2, activation="softmax", name="predictions")(x)
model = keras.Model(inputs, outputs)
model.get_layer("conv").set_weights([np.eye(3, dtype=np.float32).reshape(1, 1, 3, 3)])
kernel = np.array([[1.0, -1.0], [0.0, 0.0], [-1.0, 1.0]], np.float32) / 50.0
model.get_layer("predictions").set_weights([kernel, np.zeros(2, np.float32)])
model.save(sys.argv[1])
"""


def tiny_model(path) -> None:
    """Write the tiny model to ``path`` in another process (this one stays free of Keras)."""
    proc = subprocess.run([sys.executable, "-c", TINY_MODEL, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
