"""The int8 file's activation ranges and its float head, set between the converter's calibration and quantization.

TFLite's converter works in two steps: it *calibrates* (runs the
calibration images through a float copy of the graph and records the min
and max of every activation tensor), then *quantizes* (one int8 scale per
tensor, ``max / 255`` for a ReLU output). Full-integer int8 loses twice on a
ReLU output whose values have a long tail, as VGG16's do: the rare largest
value sets a coarse step for all the others. And a head that standardises
its pooled features (``head_norm``, folded into the Dense) amplifies the
pooled tensor's rounding by ``1 / std`` of its quietest features.

:func:`calibrate` asks the converter for the calibrated model only;
:func:`clip_ranges` replaces each ReLU convolution's recorded max by the
value that minimises the int8 error on the calibration images (rounding
inside the range plus clipping above it, from a histogram of the float
values; the "MSE" calibration of other int8 toolchains); :func:`head_nodes`
names the head's ops so that :func:`quantize` keeps them in float32
(selective quantization, as TensorFlow's ``QuantizationDebugger`` does with
``denylisted_nodes``). :func:`quantize` is the converter's own second step.

Measured on the VGG16 run of issue 20 (49 validation images against the
app): mean |Δp| 0.0161 -> 0.0087, max |Δp| 0.060 -> 0.038, 47 -> 48 agreeing,
file size +3 KB (README, "float16, int8 and the certificate").
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

CLIP_IMAGES = 48
"""Calibration images (evenly spread) whose float activations set the clipped ranges."""
BINS = 2048
"""Histogram bins between 0 and a tensor's calibrated max."""
CLIPPED_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D"})
"""Ops whose non-negative (ReLU) outputs get a clipped range."""
SAME_SCALE_OPS = frozenset({"MAX_POOL_2D", "RESHAPE", "SQUEEZE"})
"""Ops whose output the int8 kernels keep at their input's scale: they take the input's clipped range."""


def calibrate(model: Any, path: Path, signature: list, representative, *, supported_ops: list) -> bytes:
    """The converter's calibrated float model (min/max recorded per tensor), written to ``path`` and returned."""
    import tensorflow as tf

    model.export(str(path), format="litert", input_signature=signature, verbose=False,
                 optimizations=[tf.lite.Optimize.DEFAULT], representative_dataset=representative,
                 target_spec={"supported_ops": supported_ops}, _experimental_calibrate_only=True)
    return Path(path).read_bytes()


def quantize(calibrated: bytes, io_type: Any, denylisted_nodes: Sequence[str] = ()) -> bytes:
    """The converter's quantization step on ``calibrated``; ``denylisted_nodes`` (op output tensors) stay float32."""
    from tensorflow.lite.python import convert

    return convert.mlir_quantize(calibrated, False, input_data_type=io_type, output_data_type=io_type,
                                 denylisted_nodes=list(denylisted_nodes) or None)


def _interpreter(model: bytes, **kwargs):
    import warnings

    import tensorflow as tf

    with warnings.catch_warnings():  # "tf.lite.Interpreter is deprecated", "preserve_all_tensors is for debugging"
        warnings.simplefilter("ignore")
        return tf.lite.Interpreter(model_content=model, **kwargs)


def _ops(interpreter) -> list[dict]:
    return interpreter._get_ops_details()  # noqa: SLF001 - the only way to see which op makes a tensor


def head_nodes(calibrated: bytes, head_name: str) -> list[str]:
    """Output tensors of the head's ops: from the first op inside ``head_name`` to the model's output.

    A tensor belongs to the head when a segment of its name is
    ``head_name`` or ``head_name_<n>`` (``model/head_1/predictions_1/MatMul``).
    Empty when no op is found inside the head.
    """
    interpreter = _interpreter(calibrated)
    names = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
    inside = re.compile(rf"(^|[/;]){re.escape(head_name)}(_\d+)?/")
    outputs = [names[int(op["outputs"][0])] for op in _ops(interpreter) if len(op.get("outputs", []))]
    first = next((i for i, name in enumerate(outputs) if inside.search(name)), None)
    return [] if first is None else outputs[first:]


def mse_clip(hist: np.ndarray, top: float, levels: int = 255) -> float:
    """The max ``c <= top`` minimising the int8 error of values with histogram ``hist`` over ``(0, top]``.

    Error of ``c``: every value at most ``c`` is rounded to a step of
    ``c / levels`` (variance ``step² / 12``); every value above is clipped
    to ``c`` (squared distance). ``c`` runs over the bin edges from
    ``top / 64`` up, so a tensor keeps at least 1/64 of its range.
    """
    hist = np.asarray(hist, dtype=np.float64)
    n = len(hist)
    if top <= 0 or hist.sum() == 0:
        return float(top)
    edges = np.linspace(0.0, top, n + 1)
    x = (edges[:-1] + edges[1:]) / 2
    # for c = edges[k]: values in bins >= k are above c
    above_n = np.cumsum(hist[::-1])[::-1]
    above_x = np.cumsum((hist * x)[::-1])[::-1]
    above_x2 = np.cumsum((hist * x * x)[::-1])[::-1]
    k = np.arange(max(1, n // 64), n)
    c = edges[k]
    inside = hist.sum() - above_n[k]
    err = inside * (c / levels) ** 2 / 12 + above_x2[k] - 2 * c * above_x[k] + c * c * above_n[k]
    err_top = hist.sum() * (top / levels) ** 2 / 12
    best = int(np.argmin(err))
    return float(c[best]) if err[best] < err_top else float(top)


def clip_ranges(calibrated: bytes, images: np.ndarray) -> tuple[bytes, str | None]:
    """``calibrated`` with the range of every ReLU convolution output clipped to its :func:`mse_clip` value.

    The histograms come from the calibrated model's own float tensors on
    :data:`CLIP_IMAGES` of ``images``. Returns the new model and a sentence
    (None when no range was clipped).
    """
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(calibrated))
    tensors = model.subgraphs[0].tensors

    def recorded(index: int) -> tuple[float, float] | None:
        q = tensors[index].quantization
        if q is None or q.min is None or q.max is None or len(q.min) != 1:
            return None
        return float(np.asarray(q.min)[0]), float(np.asarray(q.max)[0])

    interpreter = _interpreter(calibrated, experimental_preserve_all_tensors=True)  # every float tensor, for the histograms
    ops = _ops(interpreter)
    clipped: dict[int, float] = {}
    tops: dict[int, float] = {}
    for op in ops:
        if op["op_name"] in CLIPPED_OPS and len(op.get("outputs", [])) == 1:
            out = int(op["outputs"][0])
            r = recorded(out)
            if r is not None and r[0] >= 0 and r[1] > 0:
                tops[out] = r[1]
    if not tops:
        return calibrated, None
    picked = images if len(images) <= CLIP_IMAGES else images[np.linspace(0, len(images) - 1, CLIP_IMAGES).round().astype(int)]
    detail = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(detail["index"], [1, *images.shape[1:]])
    interpreter.allocate_tensors()
    hists = {t: np.zeros(BINS) for t in tops}
    for image in picked:
        interpreter.set_tensor(detail["index"], image[None].astype(np.float32))
        interpreter.invoke()
        for t, top in tops.items():
            values = interpreter.get_tensor(t).ravel()
            hists[t] += np.histogram(values[values > 0], bins=BINS, range=(0.0, top))[0]
    for t, top in tops.items():
        clip = mse_clip(hists[t], top)
        if clip < top:
            clipped[t] = clip
    for op in ops:  # a max pool of a clipped tensor keeps its scale
        if op["op_name"] in SAME_SCALE_OPS and len(op.get("inputs", [])) and int(op["inputs"][0]) in clipped:
            clipped[int(op["outputs"][0])] = clipped[int(op["inputs"][0])]
    if not clipped:
        return calibrated, None
    ratios = []
    for t, clip in clipped.items():
        r = recorded(t)
        if r is None:
            continue
        tensors[t].quantization.max = np.array([min(r[1], clip)], dtype=np.float32)
        if t in tops:
            ratios.append(clip / tops[t])
    out = bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    return out, (f"activation ranges of {len(ratios)} ReLU convolution output(s) clipped to the value that minimises "
                 f"the int8 error on {len(picked)} calibration images (rounding plus clipping; "
                 f"{min(ratios):.2f}..{max(ratios):.2f} of the calibrated max)")
