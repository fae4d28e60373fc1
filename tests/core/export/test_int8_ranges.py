"""The int8 file's clipped activation ranges and its float32 head (:mod:`tlstudio.export.int8_ranges`).

Tiny models laid out like tlstudio's (from ``test_equalize``) and generated images.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.int8_model import images, tiny_model
from tlstudio.export import int8_ranges
from tlstudio.export.quantize import _signature, float_tensors, write_tflite_int8
from tlstudio.io import runners


def test_mse_clip_cuts_a_long_tail_and_keeps_a_flat_range():
    flat = np.ones(2048)
    assert int8_ranges.mse_clip(flat, 100.0) > 99.0  # a flat histogram keeps (almost) all its range
    tail = np.zeros(2048)
    tail[:200] = 5000.0  # a million values below 10 % of the range
    tail[-1] = 1.0  # one value at the calibrated max
    clip = int8_ranges.mse_clip(tail, 100.0)
    # a million roundings at step c/255 against one clipped value: c²·1e6/(255²·12) + (100 - c)² is least at c ≈ 44
    assert 40.0 < clip < 48.0
    assert int8_ranges.mse_clip(np.zeros(2048), 5.0) == 5.0


def _tensor_ranges(model_bytes: bytes) -> dict[str, float]:
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(model_bytes))
    out = {}
    for t in model.subgraphs[0].tensors:
        q = t.quantization
        if q is not None and q.max is not None and len(q.max) == 1:
            out[t.name.decode()] = float(np.asarray(q.max)[0])
    return out


def test_clipped_ranges_are_the_ones_the_int8_file_uses(tmp_path):
    import tensorflow as tf

    model, cal = tiny_model(), images(64, 1)

    def representative():
        for i in range(len(cal)):
            yield [cal[i:i + 1]]

    calibrated = int8_ranges.calibrate(model, tmp_path / "c.tflite", _signature(model), representative,
                                       supported_ops=[tf.lite.OpsSet.TFLITE_BUILTINS_INT8])
    clipped, sentence = int8_ranges.clip_ranges(calibrated, cal)
    before, after = _tensor_ranges(calibrated), _tensor_ranges(clipped)
    convs = [n for n in before if "conv" in n and "Relu" in n]
    assert convs and all(after[n] <= before[n] for n in convs)
    assert any(after[n] < before[n] for n in convs) and sentence.startswith("activation ranges of")
    path = tmp_path / "q.tflite"
    path.write_bytes(int8_ranges.quantize(clipped, tf.uint8))
    interpreter = tf.lite.Interpreter(model_path=str(path))
    scales = {t["name"]: t["quantization"][0] for t in interpreter.get_tensor_details()}
    for n in convs:  # a ReLU output: 256 int8 steps from 0 to the clipped max
        assert scales[n] == pytest.approx(after[n] / 255, rel=1e-3)


def _mean_abs_diff(path, model, val) -> float:
    got = runners.open_runner("tflite", str(path))(val)
    return float(np.abs(got - np.asarray(model.predict(val, verbose=0))).mean())


def test_the_head_stays_float32_and_the_error_goes_down(tmp_path):
    model, cal, val = tiny_model(), images(64, 1), images(48, 2)
    integer = write_tflite_int8(model, tmp_path / "i.tflite", calibration=cal, float_head=False)
    floating = write_tflite_int8(model, tmp_path / "f.tflite", calibration=cal, float_head=True)
    assert integer.float_ops == () and float_tensors(tmp_path / "i.tflite") == []
    assert floating.float_ops == ("head_pool", "predictions")
    assert {op for _, op in float_tensors(tmp_path / "f.tflite")} == {"MEAN", "FULLY_CONNECTED", "SOFTMAX"}
    assert any(line.startswith("head (head) kept in float32") for line in floating.graph_changes)
    # the Dense's bias correction is for int8 rounding a float Dense does not have
    assert any("bias of predictions corrected" in line for line in integer.graph_changes)
    assert not any("bias of predictions corrected" in line for line in floating.graph_changes)
    runner = runners.open_runner("tflite", str(tmp_path / "f.tflite"))
    assert runner.input_shape[1:] == model.input_shape[1:]  # still raw pixels in (uint8), probabilities out
    assert _mean_abs_diff(tmp_path / "f.tflite", model, val) < 0.6 * _mean_abs_diff(tmp_path / "i.tflite", model, val)


def test_a_model_without_a_head_keeps_int8_and_says_why(tmp_path):
    import keras

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    out = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    built = write_tflite_int8(keras.Model(inputs, out), tmp_path / "m.tflite", calibration=images(16, 1), float_head=True)
    assert built.float_ops == () and any("head kept in int8" in line for line in built.skipped)
