"""The head's Dense layer, made easier on int8: ``head_norm`` folded into it, and its bias corrected for int8 rounding.

Used by :mod:`tlstudio.export.equalize` on the copy of the model that the
int8 converter gets; the fold is float-equivalent, the bias correction
deliberately is not (it cancels the int8 kernel's rounding).
"""

from __future__ import annotations

import keras
import numpy as np


def fold_head_norm(head: keras.Model, ranges: np.ndarray | None = None) -> tuple[keras.Model, str]:
    """A new head with its Normalization folded into the first Dense after it, and a sentence saying so.

    ``Dense((x - m) / d) = x (W / d) + (b - (m / d) W)`` with ``d = max(sqrt(var), eps)``:
    in int8 the normalisation would be a SUB and a MUL by a per-tensor
    quantized vector ``1 / d`` (1.6 quantization steps of error on VGG16),
    while the Dense's kernel is quantized per output unit. A channel that was
    constant 0 when ``head_norm`` was adapted (variance and mean 0) gets a
    zero row, which is what ``head_norm`` computes for it at 0, when it is
    0 on the calibration images too (``ranges``: max |x| per pooled feature there).

    Raises:
        ValueError: the head is not pooling -> Normalization -> (Dropout) -> Dense, or a
            feature has a variance of about 0 but is not 0 on the calibration images, or float32
            could not carry the fold.
    """
    L = keras.layers
    inner = [l for l in head.layers if not isinstance(l, L.InputLayer)]
    norms = [i for i, l in enumerate(inner) if isinstance(l, L.Normalization)]
    if not norms:
        raise ValueError("the head has no normalisation")
    at = norms[0]
    norm = inner[at]
    dense = next((l for l in inner[at + 1:] if not isinstance(l, L.Dropout)), None)
    if not isinstance(dense, L.Dense) or getattr(norm, "input_mean", None) is not None or tuple(norm.axis) not in ((-1,), (1,)):
        raise ValueError(f"{norm.name} is not followed by a Dense layer (through Dropout only)")
    if any(isinstance(l, L.Normalization) for l in inner[at + 1:]) or len(head.inputs) != 1:
        raise ValueError("the head has more than one normalisation or input")
    mean = np.asarray(norm.adapt_mean, dtype=np.float64).reshape(-1)
    var = np.asarray(norm.adapt_variance, dtype=np.float64).reshape(-1)
    eps = keras.config.epsilon()
    d = np.maximum(np.sqrt(np.maximum(var, 0)), eps)
    dead = (np.sqrt(np.maximum(var, 0)) < 10 * eps) & (np.abs(mean) < eps)
    if ranges is not None:
        dead &= np.asarray(ranges).reshape(-1) == 0
    shaky = (np.sqrt(np.maximum(var, 0)) < 10 * eps) & ~dead
    if shaky.any():
        raise ValueError(f"{int(shaky.sum())} feature(s) of {norm.name} have a variance of about 0 but are not 0 "
                         f"on the calibration images, which {norm.name} would amplify by 1/eps")
    kernel, *rest = dense.get_weights()
    # x W/d and the bias's (m/d) W cancel: float32 keeps about 6e-8 of the larger of them
    cancel = 6e-8 * float(np.max(np.abs(np.where(dead, 0.0, mean / d)) @ np.abs(kernel.astype(np.float64)))) if len(mean) else 0.0
    if cancel > 1e-5:
        raise ValueError(f"folding would cost float32 precision (features whose mean is {np.max(np.abs(mean / d)):.3g} "
                         f"times their std; a logit could move by {cancel:.2g})")
    k = kernel.astype(np.float64) / d[:, None]
    k[dead] = 0.0
    shift = (np.where(dead, 0.0, mean / d)) @ kernel.astype(np.float64)
    bias = (rest[0] if dense.use_bias else np.zeros(kernel.shape[1])) - shift
    folded = L.Dense(dense.units, activation=dense.activation, dtype=dense.dtype_policy, name=dense.name)
    inputs = keras.Input(shape=head.inputs[0].shape[1:], name=head.inputs[0].name)
    x = inputs
    fresh = []  # new layers, so the new head is a graph of its own
    for layer in inner:
        if layer is norm:
            continue
        new = folded if layer is dense else layer.__class__.from_config(layer.get_config())
        x = new(x)
        fresh.append((new, layer))
    for new, layer in fresh:
        if new is folded:
            folded.set_weights([k.astype("float32"), bias.astype("float32")])
        elif layer.weights:
            new.set_weights(layer.get_weights())
    return keras.Model(inputs, x, name=head.name), (
        f"{head.name}/{norm.name} folded into {head.name}/{dense.name} (its kernel rows divided by the feature "
        f"std, the mean moved into the bias{f'; {int(dead.sum())} feature(s) constant 0 get zero rows' if dead.any() else ''})")


def correct_dense_bias(dense, input_mean: np.ndarray) -> str:
    """Bias correction (Nagel et al.) of ``dense`` for the int8 rounding of its kernel; a sentence.

    The converter quantizes the kernel per output unit with the scale
    ``max |w| / 127``; ``E[x] (W_q - W)`` is then a systematic shift of every
    output, large when the inputs have a large mean (the folded ``head_norm``
    moved the mean into the bias, but the int8 kernel still multiplies the
    raw features). Subtracting it from the bias cancels it in the int8 file;
    the float copy moves by the same amount, which is why this comes after
    the float check.
    """
    kernel, *rest = dense.get_weights()
    k = kernel.astype(np.float64)
    scale = np.abs(k).max(axis=0) / 127.0
    scale[scale == 0] = 1.0
    shift = np.asarray(input_mean, dtype=np.float64) @ (np.clip(np.round(k / scale), -127, 127) * scale - k)
    dense.set_weights([kernel, (rest[0] - shift).astype("float32")])
    return (f"bias of {dense.name} corrected for the int8 rounding of its kernel (Nagel et al.: minus E[x]·(W_q − W) "
            f"on the calibration images; up to {np.max(np.abs(shift)):.2g} per output, which the int8 file's rounding adds back)")
