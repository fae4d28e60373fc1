"""One writer per export format: ``writer(model, temp_path)`` writes exactly ``temp_path``.

The model is the served graph (:func:`tlstudio.export.inference.inference_model`):
raw RGB pixels in, probabilities out, preprocessing inside, augmentation out.
``tflite_int8`` also takes its calibration images and options
(:func:`tlstudio.export.quantize.write_tflite_int8`) and returns the layers it
kept in float32.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import keras

from tlstudio.export.metadata import input_hw
from tlstudio.export.quantize import write_tflite_float16, write_tflite_int8


def _signature(model: keras.Model) -> list[keras.InputSpec]:
    height, width = input_hw(model)
    return [keras.InputSpec(shape=(None, height, width, 3), dtype="float32", name="image")]


def _write_keras(model: keras.Model, path: Path) -> None:
    model.save(str(path))


def _write_savedmodel(model: keras.Model, path: Path) -> None:
    model.export(str(path), format="tf_saved_model", input_signature=_signature(model), verbose=False)


def _write_tflite(model: keras.Model, path: Path) -> None:
    model.export(str(path), format="litert", input_signature=_signature(model), verbose=False)


def _write_tflite_dynamic(model: keras.Model, path: Path) -> None:
    import tensorflow as tf

    model.export(
        str(path),
        format="litert",
        input_signature=_signature(model),
        verbose=False,
        optimizations=[tf.lite.Optimize.DEFAULT],
    )


def _write_onnx(model: keras.Model, path: Path) -> None:
    from tlstudio import compat

    with compat.normalization_as_constants(model):  # the head's input statistics as graph constants
        model.export(str(path), format="onnx", input_signature=_signature(model), verbose=False)


WRITERS: dict[str, Callable[..., object]] = {
    "keras": _write_keras,
    "savedmodel": _write_savedmodel,
    "tflite": _write_tflite,
    "tflite_dynamic": _write_tflite_dynamic,
    "tflite_float16": write_tflite_float16,
    "tflite_int8": write_tflite_int8,
    "onnx": _write_onnx,
}
"""Format to ``writer(model, temp_path)``; a writer writes exactly ``temp_path``."""

