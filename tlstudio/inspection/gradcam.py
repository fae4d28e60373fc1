"""Grad-CAM: which parts of the image made the model choose a class.

For a convolutional layer with maps ``A_k`` and a class score ``y_c``,
Grad-CAM weights each map by the average gradient ``w_k = mean(∂y_c/∂A_k)``
and keeps the positive part of ``Σ_k w_k·A_k`` (Selvaraju et al., 2017).
The score is the class logit: a softmax output layer is run linearly while
the gradient is taken, so a confident prediction does not flatten the map.

Works on the app's layout (input → augmentation → preprocess → nested
backbone called with training=False → head) and on any Functional model.
"""

from __future__ import annotations

import threading
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from tlstudio import compat
from tlstudio.api.inspect import GradCamResult
from tlstudio.inspection.activations import _CACHE, _run, model_inputs, prefix_models, prepare_image, suffix_models
from tlstudio.inspection.activations import _LOCK as _CACHE_LOCK
from tlstudio.inspection.table import find_layer, functional_of, is_container, layer_table

_LOCK = threading.Lock()  # guards the temporary linear output activation


def last_conv_layer(model: Any) -> str:
    """Path of the last layer with a 4-D output (the default Grad-CAM layer)."""
    rows = [r for r in layer_table(model).rows if r.output_shape is not None and len(r.output_shape) == 3 and r.type != "InputLayer"]
    convs = [r for r in rows if r.type == "Conv2D"]
    if not convs:
        raise ValueError(f"model {model.name!r} has no convolutional layer for Grad-CAM. Received: {model.name!r}")
    # The last conv's maps after its BatchNorm / activation / residual add: follow
    # the rows that keep its output shape, stopping at pooling.
    last = convs[-1]
    path = last.path
    for r in rows:
        if r.index <= last.index:
            continue
        if r.output_shape != last.output_shape or "Pool" in r.type:
            break
        path = r.path
    return path


def _output_layer(model: Any):
    """The layer producing the model's output, looking inside nested models."""
    m = model
    while True:
        fn = functional_of(m)
        out = fn.outputs[0]
        op = compat.producing_layer(out)
        if is_container(op):
            m = op
            continue
        return op


def jet(x: np.ndarray) -> np.ndarray:
    """The jet colour map: float 0..1 (H, W) → uint8 (H, W, 3)."""
    x = np.clip(x, 0, 1)
    r = np.clip(1.5 - np.abs(4 * x - 3), 0, 1)
    g = np.clip(1.5 - np.abs(4 * x - 2), 0, 1)
    b = np.clip(1.5 - np.abs(4 * x - 1), 0, 1)
    return (np.stack([r, g, b], axis=-1) * 255).round().astype(np.uint8)


def overlay_heatmap(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Blend a 0..1 heatmap (jet colours) over an RGB uint8 image of the same size."""
    colours = jet(heatmap).astype(np.float32)
    weight = alpha * (0.25 + 0.75 * heatmap[..., None])  # cold areas stay mostly the image
    out = image.astype(np.float32) * (1 - weight) + colours * weight
    return out.round().clip(0, 255).astype(np.uint8)


def _plan(model: Any, layer: str) -> tuple[list, Any, list]:
    """(prefix models, sub-model → [maps, container output], suffix models), cached per model and layer."""
    key = ("gradcam", layer)
    with _CACHE_LOCK:
        cached = _CACHE.setdefault(model, {}).get(key)
    if cached is not None:
        return cached
    chain, target = find_layer(model, layer)
    inner = functional_of(chain[-1])
    if target is chain[-1] or isinstance(target, keras.layers.InputLayer):
        raise ValueError(f"Grad-CAM needs a layer with spatial maps. Received: {layer!r}")
    plan = (prefix_models(chain), keras.Model(model_inputs(chain[-1]), [target.output, inner.outputs[0]]), suffix_models(chain))
    with _CACHE_LOCK:
        _CACHE.setdefault(model, {})[key] = plan
    return plan


def grad_cam(model: Any, image: np.ndarray, class_index: int | None = None, layer: str | None = None, alpha: float = 0.45) -> GradCamResult:
    """Grad-CAM heatmap of ``class_index`` (default: the predicted class) for ``image``.

    Args:
        model: A classifier (nested backbones are searched).
        image: RGB uint8 (H, W, 3), any size; the heatmap comes back at this size.
        class_index: Class to explain; None explains the predicted class.
        layer: Layer name/path; None uses :func:`last_conv_layer`.
        alpha: Overlay strength.
    """
    image = np.asarray(image).astype(np.uint8)
    layer = layer or last_conv_layer(model)
    pre, sub, post = _plan(model, layer)
    batch = tf.convert_to_tensor(prepare_image(image, model))
    out_shape = functional_of(model).outputs[0].shape
    if len(out_shape) != 2:
        raise ValueError(
            f"Grad-CAM needs a classifier whose output is one score per class; {model.name!r} outputs "
            f"{tuple(out_shape[1:])} (a backbone without its top?). Received: {model.name!r}"
        )
    out_layer = _output_layer(model)
    softmax = getattr(out_layer, "activation", None) is keras.activations.softmax
    with _LOCK:
        if softmax:
            out_layer.activation = keras.activations.linear
        try:
            x = _run(pre, batch)
            with tf.GradientTape() as tape:
                maps, inner_out = sub(x, training=False)
                logits = _run(post, inner_out)
                probs = tf.nn.softmax(logits) if softmax else logits
                idx = int(tf.argmax(probs[0])) if class_index is None else int(class_index)
                if not 0 <= idx < int(logits.shape[-1]):
                    raise ValueError(f"class_index must be within [0, {int(logits.shape[-1]) - 1}]. Received: {class_index}")
                score = logits[:, idx]
            grads = tape.gradient(score, maps)
        finally:
            if softmax:
                out_layer.activation = keras.activations.softmax
    if grads is None:
        raise ValueError(f"the class score does not depend on layer {layer!r}. Received: {layer!r}")
    a = maps[0].numpy()
    if a.ndim != 3:
        raise ValueError(f"Grad-CAM needs a layer with (H, W, C) maps; {layer!r} gives {a.shape}. Received: {layer!r}")
    weights = grads[0].numpy().mean(axis=(0, 1))
    cam = np.maximum((a * weights).sum(axis=-1), 0).astype(np.float32)
    peak = float(cam.max())
    cam = cam / peak if peak > 0 else cam
    h, w = image.shape[:2]
    heat = np.asarray(Image.fromarray(cam, mode="F").resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)
    heat = np.clip(heat, 0, 1)
    p = probs[0].numpy()
    return GradCamResult(
        layer=layer,
        class_index=idx,
        probability=float(p[idx]),
        probabilities=p,
        heatmap=heat,
        overlay=overlay_heatmap(image, heat, alpha),
        cam=cam,
    )


__all__ = ["grad_cam", "last_conv_layer", "overlay_heatmap", "jet"]
