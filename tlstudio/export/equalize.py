"""Float-equivalent rewrites of the int8 file's copy of the model, so that one int8 scale per tensor loses less.

Full-integer TFLite quantizes every activation tensor with ONE scale
(weights get one per output channel). Two parts of a tlstudio model suffer:

* **The preprocessing.** The ``"caffe"`` preprocessing (VGG, ResNet) flips RGB
  to BGR with ``keras.ops.flip``, which becomes ``REVERSE_V2``. The converter
  gives its output another scale than its input, and the int8 kernel copies
  bytes without rescaling, so every pixel reaching the backbone is off by
  the ratio (1.485 on the VGG16 run of issue 20: a pixel of -104 came out as
  -254). :func:`affine_preprocess` replaces any per-pixel affine
  preprocessing (flip, mean, scale) by the same map as one 1x1 convolution,
  which the int8 kernels rescale correctly.
* **The features the head normalises.** The last convolution's output
  channels span 0.01..1477 on VGG16; one scale for them all rounds the quiet
  channels to zero, and ``head_norm`` then amplifies what is left of them.
  :func:`equalize_channels` is cross-layer equalization (Nagel et al. 2019,
  "Data-Free Quantization Through Weight Equalization and Bias Correction"):
  ReLU, max/average pooling, global pooling and flatten are positively
  homogeneous per channel, so multiplying output channel ``i`` of the layer
  that makes the backbone's features (a Conv2D's kernel and bias, or a
  BatchNormalization's gamma and beta) by ``s_i > 0`` and dividing it out in
  the head's next linear step (``head_norm``'s mean and variance, or the
  first Dense layer's input rows) leaves the float function identical. The
  factors, from the calibration images, bring every channel to the loudest
  one's range. Where the path is not homogeneous (an ``Add`` of a residual
  block, ReLU6, swish) the step says so and changes nothing.

Both work on a copy (:func:`int8_copy`), never on the app's model, and
:func:`rewrite_for_int8` checks on the calibration images that the copy gives
the same probabilities (max |Δp| below :data:`EQUIVALENCE_TOLERANCE`); a copy
that does not is refused with a message and the unchanged model is converted.
Where the head normalises its pooled input, ``head_norm`` is first folded
into the Dense after it and, after the float check, that Dense's bias is
corrected for the rounding of its int8 kernel (:mod:`tlstudio.export.dense_fold`).
What was done is returned as sentences for ``model.json`` and the certificate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import keras
import numpy as np

from tlstudio.export.dense_fold import correct_dense_bias, fold_head_norm

EQUIVALENCE_TOLERANCE = 1e-4
"""Largest |Δp| on the calibration images for which a rewritten copy counts as the same float function."""

_BATCH = 8
RANGE_IMAGES = 64
"""Calibration images (evenly spread) whose channel ranges set the equalization factors."""
CHECK_IMAGES = 32
"""Calibration images (evenly spread) on which the rewritten copy must give the model's probabilities."""


def _spread(images: np.ndarray, n: int) -> np.ndarray:
    if len(images) <= n:
        return images
    return images[np.linspace(0, len(images) - 1, n).round().astype(int)]


@dataclass(frozen=True)
class Int8Rewrite:
    """What :func:`rewrite_for_int8` did to the copy that is converted.

    Attributes:
        changes: One sentence per rewrite kept.
        skipped: One sentence per rewrite not done, and why.
        max_abs_diff: Max |Δp| of the rewritten copy against the model on the
            calibration images (0 when nothing was rewritten).
    """

    changes: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    max_abs_diff: float = 0.0


# ------------------------------------------------------------------ the copy


def _clone(model: keras.Model) -> keras.Model:
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    for layer in copy._flatten_layers(include_self=False):  # noqa: SLF001
        if isinstance(layer, keras.layers.Normalization):  # it reads its mean and variance here, not on set_weights
            layer.finalize_state()
    return copy


def int8_copy(model: keras.Model) -> tuple[keras.Model, dict[str, Any]] | str:
    """A copy of a served tlstudio model (``image -> preprocess -> backbone -> head``) with fresh weights.

    Returns:
        ``(copy, parts)`` where ``parts`` maps ``preprocess``, ``backbone``
        and ``head`` to the copy's nested models, or a sentence saying why the
        model has not that shape (nothing can be rewritten then).
    """
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    names = [layer.name for layer in layers]
    if names != ["preprocess", "backbone", "head"] or len(model.inputs) != 1:
        return f"the model is not image -> preprocess -> backbone -> head (layers {names})"
    parts = {layer.name: _clone(layer) for layer in layers}
    inputs = keras.Input(shape=model.inputs[0].shape[1:], dtype="float32", name=model.inputs[0].name)
    out = parts["head"](parts["backbone"](parts["preprocess"](inputs)))
    return keras.Model(inputs, out, name=model.name), parts


def _rebuild(model: keras.Model, parts: dict[str, Any]) -> keras.Model:
    inputs = keras.Input(shape=model.inputs[0].shape[1:], dtype="float32", name=model.inputs[0].name)
    out = parts["head"](parts["backbone"](parts["preprocess"](inputs)))
    return keras.Model(inputs, out, name=model.name)


def _predict(fn: Callable[[Any], Any], images: np.ndarray) -> list[np.ndarray]:
    outs: list[list[np.ndarray]] = []
    for i in range(0, len(images), _BATCH):
        got = fn(images[i:i + _BATCH])
        got = got if isinstance(got, (list, tuple)) else [got]
        outs.append([np.asarray(g, dtype=np.float64) for g in got])
    return [np.concatenate(col) for col in zip(*outs)]


# ------------------------------------------------------------------ preprocessing as one 1x1 convolution


def affine_preprocess(preprocess: keras.Model, *, tolerance: float = 1e-3) -> keras.Model | str:
    """``preprocess`` as one 1x1 Conv2D named ``preprocess_affine``, or why it is not a per-pixel affine map.

    The map ``x -> A x + b`` is read from the layer at 0 and at the unit
    pixels, then checked on random pixels.
    """
    probes = np.concatenate([np.zeros((1, 3)), np.eye(3), np.random.default_rng(0).uniform(0, 255, (16, 3))])
    out = np.asarray(preprocess(probes.reshape(1, -1, 1, 3).astype("float32")), dtype=np.float64).reshape(-1, 3)
    b = out[0]
    a = (out[1:4] - b).T  # out = a @ x + b, a[j, i] = d out_j / d x_i
    predicted = probes[4:] @ a.T + b
    err = float(np.max(np.abs(predicted - out[4:])))
    if err > tolerance * max(1.0, float(np.max(np.abs(out[4:])))):
        return f"the preprocessing is not a per-pixel affine map (off by {err:.3g})"
    conv = keras.layers.Conv2D(3, 1, dtype="float32", name="preprocess_affine")
    inputs = keras.Input(shape=(None, None, 3), dtype="float32", name="preprocess_input")
    outputs = conv(inputs)
    conv.set_weights([a.T.reshape(1, 1, 3, 3).astype("float32"), b.astype("float32")])
    return keras.Model(inputs, outputs, name="preprocess")


# ------------------------------------------------------------------ channel equalization at the backbone -> head boundary


def _relu_like(fn) -> bool:
    return getattr(fn, "__name__", "") in ("relu", "linear")


def _homogeneous(layer) -> bool:
    """True when ``layer(s * x) == s * layer(x)`` per channel for every ``s > 0``."""
    L = keras.layers
    if isinstance(layer, (L.MaxPooling2D, L.AveragePooling2D, L.GlobalAveragePooling2D, L.GlobalMaxPooling2D,
                          L.ZeroPadding2D, L.Dropout, L.Identity, L.LeakyReLU)):
        return True
    if isinstance(layer, L.ReLU):
        return layer.max_value is None and float(layer.threshold) == 0.0
    if isinstance(layer, L.Activation):
        return _relu_like(layer.activation)
    return False


def _source(layer):
    nodes = layer._inbound_nodes  # noqa: SLF001 - Keras keeps the graph here
    if len(nodes) != 1 or len(nodes[0].input_tensors) != 1:
        return None
    return nodes[0].input_tensors[0]._keras_history.operation  # noqa: SLF001


def _consumers(layer) -> int:
    return len(layer._outbound_nodes)  # noqa: SLF001


@dataclass
class _Boundary:
    producer: Any  # Conv2D, DepthwiseConv2D or BatchNormalization of the backbone
    pool: Any  # the head's first layer
    absorber: Any  # head_norm (Normalization) or the first Dense
    path: tuple[str, ...]


def find_boundary(backbone: keras.Model, head: keras.Model) -> _Boundary | str:
    """The layer making the features, and the head step that can take its channel factors, or why there is none."""
    L = keras.layers
    layer = backbone.outputs[0]._keras_history.operation  # noqa: SLF001
    path: list[str] = []
    while _homogeneous(layer):
        path.append(layer.name)
        if len(path) > 1 and _consumers(layer) != 1:
            return f"{layer.name} feeds more than one layer"
        nxt = _source(layer)
        if nxt is None:
            return f"{layer.name} has more than one input"
        layer = nxt
    if path and _consumers(layer) != 1:
        return f"{layer.name} feeds more than one layer"
    if isinstance(layer, (L.Conv2D, L.DepthwiseConv2D)) and not isinstance(layer, L.Conv2DTranspose):
        if not _relu_like(layer.activation):
            return f"{layer.name} ends in {layer.activation.__name__}, which is not positively homogeneous"
        if isinstance(layer, L.DepthwiseConv2D) and layer.depth_multiplier != 1:
            return f"{layer.name} has depth multiplier {layer.depth_multiplier}"
    elif isinstance(layer, L.BatchNormalization):
        if not layer.scale:
            return f"{layer.name} has no gamma to scale"
    else:
        kind = type(layer).__name__
        return (f"the backbone's features come from {layer.name} ({kind}), not from a convolution or BatchNorm "
                "through ReLU/pooling only")
    producer = layer
    inner = [l for l in head.layers if not isinstance(l, L.InputLayer)]
    if not inner or not isinstance(inner[0], (L.GlobalAveragePooling2D, L.GlobalMaxPooling2D, L.Flatten)):
        return f"the head does not start with global pooling or flatten (it starts with {inner[0].name if inner else 'nothing'})"
    pool = inner[0]
    for nxt in inner[1:]:
        if isinstance(nxt, L.Dropout):
            continue
        if isinstance(nxt, L.Normalization) and getattr(nxt, "input_mean", None) is None and tuple(nxt.axis) in ((-1,), (1,)):
            return _Boundary(producer, pool, nxt, tuple(reversed(path)))
        if isinstance(nxt, L.Dense):
            return _Boundary(producer, pool, nxt, tuple(reversed(path)))
        return f"the head's pooled features go into {nxt.name} ({type(nxt).__name__}), which cannot take the channel factors"
    return "the head has no normalisation or Dense layer after its pooling"


def _channel_ranges(fn, images: np.ndarray, channels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Max |x| of the producer output per channel; max |x| and mean of the pooled features per feature, over ``images``."""
    prod = np.zeros(channels)
    pooled = None
    total = None
    for i in range(0, len(images), _BATCH):
        a, p = fn(images[i:i + _BATCH])
        a = np.abs(np.asarray(a, dtype=np.float64)).reshape(-1, channels)
        p = np.asarray(p, dtype=np.float64)
        p = p.reshape(len(p), -1)
        total = p.sum(axis=0) if total is None else total + p.sum(axis=0)
        p = np.abs(p).max(axis=0)
        prod = np.maximum(prod, a.max(axis=0))
        pooled = p if pooled is None else np.maximum(pooled, p)
    if pooled is None:
        return prod, np.zeros(channels), np.zeros(channels)
    return prod, pooled, total / len(images)


def channel_factors(prod: np.ndarray, pooled: np.ndarray, *, rows: np.ndarray | None = None,
                    max_factor: float = 1e4) -> np.ndarray:
    """Factors ``s`` bringing every live channel's range to the loudest one's.

    A channel's range is the geometric mean of its range at the producer's
    output and after the head's pooling (both are int8 tensors of one scale).
    With ``rows`` (the max |weight| of each input row of the Dense that takes
    the factors back, when the head has no normalisation) the range and the
    rows are balanced instead, as in Nagel et al.: ``s = sqrt(rows / range)``.
    Dead channels (range 0) keep 1; factors are clipped to ``1/max_factor .. max_factor``.
    """
    rng = np.sqrt(prod * pooled)
    live = rng > rng.max() * 1e-7 if rng.max() > 0 else np.zeros_like(rng, dtype=bool)
    s = np.ones_like(rng)
    if rows is None:
        s[live] = rng.max() / rng[live]
    else:
        ok = live & (rows > 0)
        s[ok] = np.sqrt(rows[ok] / rng[ok])
        s[ok] /= np.max(s[ok] * rng[ok]) / rng.max()  # the loudest scaled channel keeps the loudest range
    return np.clip(s, 1.0 / max_factor, max_factor)


def _apply(boundary: _Boundary, s: np.ndarray, positions: int) -> None:
    """Multiply the producer's output channels by ``s`` and divide them out of the absorber, in place."""
    L = keras.layers
    p = boundary.producer
    weights = p.get_weights()
    if isinstance(p, L.BatchNormalization):
        names = [w.path.split("/")[-1] for w in p.weights]
        weights = [w * s if n in ("gamma", "beta") else w for w, n in zip(weights, names)]
    elif isinstance(p, L.DepthwiseConv2D):
        weights[0] = weights[0] * s.reshape(1, 1, -1, 1)
        if p.use_bias:
            weights[1] = weights[1] * s
    else:
        weights[0] = weights[0] * s
        if p.use_bias:
            weights[1] = weights[1] * s
    p.set_weights(weights)
    tiled = np.tile(s, positions)  # flatten puts channel c of position k at k * C + c
    a = boundary.absorber
    if isinstance(a, L.Normalization):
        a.adapt_mean.assign(np.asarray(a.adapt_mean) * tiled)
        a.adapt_variance.assign(np.asarray(a.adapt_variance) * tiled ** 2)
        a.finalize_state()
    else:
        kernel, *rest = a.get_weights()
        a.set_weights([kernel / tiled[:, None], *rest])


def equalize_channels(backbone: keras.Model, head: keras.Model, backbone_input: Callable[[np.ndarray], Any],
                      images: np.ndarray, *, fold: bool = True, balance: bool = True
                      ) -> tuple[keras.Model, list[str], list[str], np.ndarray | None]:
    """Equalize the channels at the backbone -> head boundary (the backbone in place).

    ``backbone_input`` maps raw images to the backbone's input. With
    ``fold``, ``head_norm`` is first folded into the Dense after it
    (:func:`fold_head_norm`) and the factors go into that Dense's input rows,
    balanced against them (``balance``) as in Nagel et al.

    Returns:
        The head (a new one when folded), the changes and the steps skipped,
        as sentences, and the mean of the Dense's input on the calibration
        images when the factors went into a Dense (else None).

    Raises:
        ValueError: with the reason when the boundary cannot be equalized.
    """
    found = find_boundary(backbone, head)
    if isinstance(found, str):
        raise ValueError(found)
    L = keras.layers
    channels = int(found.producer.output.shape[-1])
    probe_b = keras.Model(backbone.inputs, [found.producer.output, backbone.outputs[0]])
    probe_h = keras.Model(head.inputs, found.pool.output)

    def ranges(x):
        a, f = probe_b(backbone_input(x), training=False)
        return a, probe_h(f, training=False)

    prod, features, feature_mean = _channel_ranges(ranges, _spread(images, RANGE_IMAGES), channels)
    positions = len(features) // channels
    pooled = features.reshape(positions, channels).max(axis=0)
    changes: list[str] = []
    skipped: list[str] = []
    if fold and isinstance(found.absorber, L.Normalization):
        try:
            head, folded = fold_head_norm(head, features)
            changes.append(folded)
            found = find_boundary(backbone, head)
            assert not isinstance(found, str), found
        except ValueError as exc:
            skipped.append(f"head_norm kept: {exc}")
    rows = None
    a = found.absorber
    if isinstance(a, L.Normalization):
        std = np.sqrt(np.maximum(np.asarray(a.adapt_variance, dtype=np.float64), 0)).reshape(positions, channels)
        quiet = (std < 10 * keras.config.epsilon()).any(axis=0)  # the layer's max(std, eps) would not scale
        prod, pooled = np.where(quiet, 0.0, prod), np.where(quiet, 0.0, pooled)
    elif balance:
        rows = np.abs(a.get_weights()[0]).max(axis=1).reshape(positions, channels).max(axis=0)
    s = channel_factors(prod, pooled, rows=rows)
    rng = np.sqrt(prod * pooled)
    live = rng > rng.max() * 1e-7
    before = rng[live]
    _apply(found, s, positions)
    into = f"{head.name}/{a.name}" + (" mean and variance" if isinstance(a, L.Normalization) else " input rows")
    spread = f"{before.min():.3g}..{before.max():.3g}" if live.any() else "-"
    how = "balanced against the rows they are divided out of" if rows is not None else "brought to one"
    changes.append(f"equalized {int(live.sum())} of {channels} channels of {backbone.name}/{found.producer.name} for int8 "
                   f"(cross-layer equalization through {', '.join(found.path) or 'nothing'}; channel ranges {spread} "
                   f"{how}; the factors are divided out in {into})")
    dense_mean = None if isinstance(a, L.Normalization) else feature_mean * np.tile(s, positions)
    return head, changes, skipped, dense_mean


# ------------------------------------------------------------------ both, checked


def rewrite_for_int8(model: keras.Model, images: np.ndarray, *, tolerance: float = EQUIVALENCE_TOLERANCE,
                     preprocess: bool = True, equalize: bool = True, fold: bool = True,
                     balance: bool = True, bias_correction: bool = True) -> tuple[keras.Model, Int8Rewrite]:
    """The model the int8 converter should get, and what was done to it.

    ``model`` itself is never changed. The copy is used only when its
    probabilities on ``images`` (the calibration images) match ``model``'s
    within ``tolerance``; otherwise ``model`` is returned and the reason is
    in ``skipped``.
    """
    made = int8_copy(model)
    if isinstance(made, str):
        return model, Int8Rewrite(skipped=(f"no int8 rewrite: {made}",))
    copy, parts = made
    changes: list[str] = []
    skipped: list[str] = []
    dense_mean = None
    if preprocess:
        affine = affine_preprocess(parts["preprocess"])
        if isinstance(affine, str):
            skipped.append(f"preprocessing kept as it is: {affine}")
        elif any(not isinstance(op, (keras.layers.InputLayer, keras.layers.Rescaling, keras.layers.Identity))
                 for op in parts["preprocess"].operations):  # a lone scale or identity quantizes well as it is
            parts["preprocess"] = affine
            changes.append("preprocessing (channel flip, mean, scale) computed as one 1x1 convolution "
                           "(TFLite's int8 REVERSE_V2 does not rescale its output)")
    if equalize:
        try:
            parts["head"], done, notes, dense_mean = equalize_channels(
                parts["backbone"], parts["head"], parts["preprocess"], images, fold=fold, balance=balance)
            changes.extend(done)
            skipped.extend(notes)
        except ValueError as exc:
            skipped.append(f"no channel equalization: {exc}")
    if not changes:
        return model, Int8Rewrite(skipped=tuple(skipped))
    rewritten = _rebuild(copy, parts)
    check = _spread(images, CHECK_IMAGES)
    before, = _predict(lambda x: model(x, training=False), check)
    after, = _predict(lambda x: rewritten(x, training=False), check)
    diff = float(np.max(np.abs(before - after))) if len(check) else 0.0
    if not np.isfinite(diff) or diff > tolerance:
        return model, Int8Rewrite(skipped=(*skipped, f"int8 rewrites refused: the rewritten copy is not the same float "
                                                     f"function (max |Δp| {diff:.3g} > {tolerance:g} on {len(check)} "
                                                     f"calibration images); converted the model unchanged"))
    changes.append(f"float check: max |Δp| {diff:.2g} on {len(check)} calibration images")
    if dense_mean is not None and bias_correction:
        dense = next(l for l in parts["head"].layers if isinstance(l, keras.layers.Dense))
        changes.append(correct_dense_bias(dense, dense_mean))
    return rewritten, Int8Rewrite(tuple(changes), tuple(skipped), diff)
