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


def _open_keras(path: str) -> Runner:
    import keras

    model = keras.saving.load_model(path, compile=False)
    return Runner("keras", model.predict_on_batch, _dims(model.input_shape), _dims(model.output_shape)[-1], model)


def _open_savedmodel(path: str) -> Runner:
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


def _tflite_interpreter(path: str) -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # LiteRT is optional; TensorFlow still ships the same interpreter
        import warnings

        import tensorflow as tf

        with warnings.catch_warnings():  # "tf.lite.Interpreter is deprecated, use LiteRT" says nothing about the file
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            return tf.lite.Interpreter(model_path=path)
    return Interpreter(model_path=path)


def _open_tflite(path: str) -> Runner:
    interpreter = _tflite_interpreter(path)
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    state = {"shape": None}

    def run(batch: np.ndarray) -> np.ndarray:
        if state["shape"] != batch.shape:
            interpreter.resize_tensor_input(inp["index"], list(batch.shape))
            interpreter.allocate_tensors()
            state["shape"] = batch.shape
        interpreter.set_tensor(inp["index"], batch)
        interpreter.invoke()
        return interpreter.get_tensor(out["index"]).copy()

    shape = inp.get("shape_signature", inp["shape"])
    return Runner("tflite", run, _dims(shape), _dims(out["shape"])[-1])


def _open_onnx(path: str) -> Runner:
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]

    def run(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {inp.name: batch})[0]

    return Runner("onnx", run, _dims(inp.shape), _dims(session.get_outputs()[0].shape)[-1])


_OPENERS: dict[str, Callable[[str], Runner]] = {
    "keras": _open_keras,
    "savedmodel": _open_savedmodel,
    "tflite": _open_tflite,
    "onnx": _open_onnx,
}


def open_runner(kind: str, path: str) -> Runner:
    """Load the model file or folder ``path`` of format ``kind``.

    Args:
        kind: One of :data:`KINDS`.
        path: The ``.keras``/``.tflite``/``.onnx`` file or SavedModel folder.

    Returns:
        A :class:`Runner`.

    Raises:
        ValueError: ``kind`` is unknown.
        Exception: whatever the format's library raises for a file it cannot
            read (callers turn it into one readable error).
    """
    if kind not in _OPENERS:
        raise ValueError(f"unknown model format; expected one of {KINDS}. Received: {kind!r}")
    return _OPENERS[kind](str(path))
