"""Open a model file of one format and run it on batches: one runner per format.

The formats are the ones the export writes: ``"keras"`` (a ``.keras`` file),
``"savedmodel"`` (a TensorFlow SavedModel folder with a ``serving_default``
signature), ``"tflite"`` (LiteRT, float or quantized) and ``"onnx"``
(onnxruntime on the CPU). Every runner takes float32 RGB pixels
``(N, H, W, 3)`` in 0..255 and returns the model's output ``(N, C)``.

This file is self-contained on purpose: it imports NumPy at the top and
TensorFlow, Keras, LiteRT or onnxruntime inside the functions, and nothing
from tlstudio. :mod:`tlstudio.io.model_files` builds the app's loader on it, and
the export verification executes this same file in a fresh ``python -I``
process that never imports tlstudio (:mod:`tlstudio.export.verify`), so the
check that an exported file works without the app runs the app's own code.
Keep it that way: no ``tlstudio`` imports, no dataclasses (the file is run
with :func:`runpy.run_path`, outside any package).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

KINDS = ("keras", "savedmodel", "tflite", "onnx")
"""Model formats a runner exists for."""


class Runner:
    """A loaded model file that maps a batch of images to outputs.

    Attributes:
        kind: One of :data:`KINDS`.
        input_shape: The model's input shape; unknown dimensions are None.
        num_classes: Size of the last output dimension, or None when the
            file does not fix it.
        model: The Keras model for ``"keras"``, else None (Grad-CAM and the
            layer table need the layers).
    """

    __slots__ = ("kind", "input_shape", "num_classes", "model", "_run")

    def __init__(
        self,
        kind: str,
        run: Callable[[np.ndarray], Any],
        input_shape: tuple,
        num_classes: int | None,
        model: Any = None,
    ):
        self.kind = kind
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.model = model
        self._run = run

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """The model's float32 output for float32 pixels ``(N, H, W, 3)`` in 0..255."""
        return np.asarray(self._run(np.ascontiguousarray(batch, dtype=np.float32)), dtype=np.float32)


def _dims(shape: Any) -> tuple:
    """A shape with unknown dimensions (None, -1, symbolic names) as None."""
    return tuple(int(d) if isinstance(d, (int, np.integer)) and int(d) >= 0 else None for d in shape)


def _open_keras(path: str, threads: int | None = None) -> Runner:  # threads: set TensorFlow's before its first op
    import keras

    model = keras.saving.load_model(path, compile=False)
    return Runner("keras", model.predict_on_batch, _dims(model.input_shape), _dims(model.output_shape)[-1], model)


def _open_savedmodel(path: str, threads: int | None = None) -> Runner:
    import tensorflow as tf

    loaded = tf.saved_model.load(path)
    if "serving_default" not in loaded.signatures:
        raise ValueError("it has no serving_default signature")
    fn = loaded.signatures["serving_default"]
    ((arg_name, spec),) = fn.structured_input_signature[1].items()
    out_spec = next(iter(fn.structured_outputs.values()))

    def run(batch: np.ndarray, _keep_alive: Any = loaded) -> np.ndarray:  # the signature needs its object alive
        outputs = fn(**{arg_name: tf.constant(batch)})
        return next(iter(outputs.values())).numpy()

    return Runner("savedmodel", run, _dims(spec.shape.as_list()), _dims(out_spec.shape.as_list())[-1])


def _tflite_interpreter(path: str, threads: int | None = None) -> Any:
    kwargs = {"model_path": path} if threads is None else {"model_path": path, "num_threads": int(threads)}
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # LiteRT is optional; TensorFlow still ships the same interpreter
        import warnings

        import tensorflow as tf

        with warnings.catch_warnings():  # "tf.lite.Interpreter is deprecated, use LiteRT" says nothing about the file
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            return tf.lite.Interpreter(**kwargs)
    return Interpreter(**kwargs)


def _quantize(batch: np.ndarray, detail: dict) -> np.ndarray:
    """Float pixels to an integer input tensor with its scale and zero point (uint8/int8 I/O)."""
    dtype = np.dtype(detail["dtype"])
    if dtype.kind == "f":
        return batch.astype(dtype, copy=False)
    scale, zero = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(batch / (scale or 1.0) + zero), info.min, info.max).astype(dtype)


def _dequantize(values: np.ndarray, detail: dict) -> np.ndarray:
    if np.asarray(values).dtype.kind == "f":
        return values
    scale, zero = detail["quantization"]
    return (values.astype(np.float32) - zero) * (scale or 1.0)


def _open_tflite(path: str, threads: int | None = None) -> Runner:
    interpreter = _tflite_interpreter(path, threads)
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    state = {"shape": None}

    def run(batch: np.ndarray) -> np.ndarray:
        if state["shape"] != batch.shape:
            interpreter.resize_tensor_input(inp["index"], list(batch.shape))
            interpreter.allocate_tensors()
            state["shape"] = batch.shape
        interpreter.set_tensor(inp["index"], _quantize(batch, inp))  # an int8/uint8 file takes its quantized pixels
        interpreter.invoke()
        return _dequantize(interpreter.get_tensor(out["index"]).copy(), out)

    shape = inp.get("shape_signature", inp["shape"])
    return Runner("tflite", run, _dims(shape), _dims(out["shape"])[-1])


def _open_onnx(path: str, threads: int | None = None) -> Runner:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]

    def run(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {inp.name: batch})[0]

    return Runner("onnx", run, _dims(inp.shape), _dims(session.get_outputs()[0].shape)[-1])


_OPENERS: dict[str, Callable[..., Runner]] = {
    "keras": _open_keras,
    "savedmodel": _open_savedmodel,
    "tflite": _open_tflite,
    "onnx": _open_onnx,
}


def open_runner(kind: str, path: str, threads: int | None = None) -> Runner:
    """Load the model file or folder ``path`` of format ``kind``.

    Args:
        kind: One of :data:`KINDS`.
        path: The ``.keras``/``.tflite``/``.onnx`` file or SavedModel folder.
        threads: Threads for the TFLite interpreter and ONNX Runtime (None:
            their default). TensorFlow's own threads (``keras``,
            ``savedmodel``) are process-wide: :func:`set_tensorflow_threads`
            before the first TensorFlow op.

    Returns:
        A :class:`Runner`.

    Raises:
        ValueError: ``kind`` is unknown.
        Exception: whatever the format's library raises for a file it cannot
            read (callers turn it into one readable error).
    """
    if kind not in _OPENERS:
        raise ValueError(f"unknown model format; expected one of {KINDS}. Received: {kind!r}")
    return _OPENERS[kind](str(path), threads)


def set_tensorflow_threads(threads: int) -> None:
    """Give TensorFlow ``threads`` intra-op threads and one inter-op thread; call before its first op."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(int(threads))
    tf.config.threading.set_inter_op_parallelism_threads(1)
