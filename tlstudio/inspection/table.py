"""The layer table of a Keras model, nested backbones expanded.

:func:`layer_table` walks a model's graph in execution order. A nested model
(the app's ``backbone`` and ``head``, a ``Sequential`` augmentation block) is
expanded into its own layers, its rows carrying a ``path`` such as
``"resnet50/conv2_block1_1_conv"``. ResNet layers are grouped by stage
(``conv2_x``) and residual block (``conv2_block1``), VGG layers by block.

Each row's formulas are computed by :mod:`~tlstudio.shapes.formulas`
from the layer's configuration alone; the row's shapes and parameter counts
are what Keras reports, so a test can check that the two agree everywhere.
"""

from __future__ import annotations

import re
from typing import Any

import keras

from tlstudio import compat
from tlstudio.shapes import formulas as fm
from tlstudio.shapes.formulas import Formula, LayerRow, LayerTable

_RESNET = re.compile(r"^(conv\d)_block(\d+)_")
_VGG = re.compile(r"^(block\d+)_")
_STEM = re.compile(r"^(conv1|pool1)_")


def functional_of(model: Any) -> Any:
    """The functional graph behind ``model`` (a Sequential's inner Functional), or None (see :mod:`tlstudio.compat`)."""
    return compat.functional_graph(model)


def is_container(layer: Any) -> bool:
    """True for a nested model that the table expands."""
    return isinstance(layer, keras.Model) and functional_of(layer) is not None


def graph_nodes(model: Any) -> list:
    """The nodes of ``model``'s own graph in execution (topological) order."""
    fn = functional_of(model)
    if fn is None:
        raise TypeError(f"expected a Functional or built Sequential model. Received: {type(model).__name__}")
    return compat.graph_nodes(fn)


def group_of(name: str, parent: str) -> tuple[str, str]:
    """``(group, block)`` for a layer name, e.g. ``("conv2_x", "conv2_block1")``."""
    m = _RESNET.match(name)
    if m:
        return f"{m.group(1)}_x", f"{m.group(1)}_block{m.group(2)}"
    m = _VGG.match(name)
    if m:
        return m.group(1), ""
    if _STEM.match(name):
        return "conv1", ""
    if name.startswith("post_"):
        return "post", ""
    if name.startswith("head") or name in ("predictions", "flatten", "fc1", "fc2"):
        return "head", ""
    if name.startswith(("augment", "preprocess", "random_", "rescaling", "normalization")) or parent.startswith(("augment", "preprocess")):
        return "input", ""
    return parent or "", ""


def _shape(tensor: Any) -> tuple:
    return tuple(None if v is None else int(v) for v in tensor.shape[1:])


def _activation_name(layer: Any) -> str:
    act = getattr(layer, "activation", None)
    if act is None:
        return ""
    name = getattr(act, "__name__", "") or type(act).__name__
    return "" if name == "linear" else name


def _weights_count(weights) -> int:
    return int(sum(fm.prod(w.shape) for w in weights))


def _spatial_formulas(layer, in_shape, kind: str) -> tuple[list[Formula], tuple[int, int, int, int]]:
    """Output-size formulas (width, and height when different) and the effective padding."""
    h, w = in_shape[0], in_shape[1]
    if kind == "conv":
        (fh, fw), (sh, sw) = layer.kernel_size, layer.strides
        dh, dw = layer.dilation_rate
    else:
        (fh, fw), (sh, sw) = layer.pool_size, layer.strides
        dh = dw = 1
    forms = []
    pads = {}
    for axis, size, f, s, d in (("width", w, fw, sw, dw), ("height", h, fh, sh, dh)):
        if layer.padding == "same":
            formula, before, after = fm.conv_output_same(size, f, s, d, axis=axis)
        elif kind == "pool":
            formula, before, after = fm.pool_output(size, f, s, axis=axis), 0, 0
        else:
            formula, before, after = fm.conv_output(size, f, s, 0, 0, d, axis=axis), 0, 0
        pads[axis] = (before, after)
        if not float(formula.value).is_integer() and layer.padding != "same":
            floor = fm.framework_output(formula)
            formula = Formula(
                formula.name,
                f"{formula.text}, floored to {floor}: the pixels past the last full stride are ignored",
                formula.value,
                formula.general,
            )
        if axis == "width" or (h, fh, sh, dh) != (w, fw, sw, dw):
            forms.append(formula)
    return forms, (*pads["height"], *pads["width"])


def _fill(shape: tuple, known: tuple | None) -> tuple:
    """``shape`` with its unknown dimensions taken from ``known`` (same rank), if any."""
    if known is None or len(known) != len(shape):
        return shape
    return tuple(k if s is None else s for s, k in zip(shape, known))


def _row_for(layer: Any, node: Any, ins: list[tuple[int, int]], known: list[tuple | None] | None = None) -> LayerRow:
    """A row for a leaf layer; ``ins`` are the (rf, jump) of its inputs.

    ``known`` are the concrete input shapes seen from the outer model: a
    sub-model built for any image size (the app's preprocessing) reports
    ``None`` sizes that the outer graph knows.
    """
    known = known or [None] * len(node.input_tensors)
    in_shapes = [_fill(_shape(t), k) for t, k in zip(node.input_tensors, known)]
    out_shape = _shape(node.output_tensors[0])
    if None in out_shape and in_shapes and len(in_shapes[0]) == len(out_shape):
        if all(o is None or o == i for o, i in zip(out_shape, in_shapes[0])):  # shape-preserving op
            out_shape = _fill(out_shape, in_shapes[0])
    in_shape = in_shapes[0] if in_shapes else out_shape
    trainable = _weights_count(getattr(layer, "trainable_weights", ()))  # a raw keras.ops op has none
    non_trainable = _weights_count(getattr(layer, "non_trainable_weights", ()))
    row = LayerRow(
        index=0,
        name=layer.name,
        type=type(layer).__name__,
        input_shape=in_shape if len(in_shapes) <= 1 else tuple(in_shapes),
        output_shape=out_shape,
        activation=_activation_name(layer),
        trainable_params=trainable,
        non_trainable_params=non_trainable,
        act_elements=fm.prod(out_shape),
        frozen=(trainable == 0) if (trainable + non_trainable) else None,
    )
    r, j = ins[0] if ins else (1, 1)
    forms: list[Formula] = []
    if isinstance(layer, keras.layers.Conv2D) and not isinstance(
        layer, (keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D, keras.layers.Conv2DTranspose)
    ):
        sizes, row.pad = _spatial_formulas(layer, in_shape, "conv")
        forms += sizes
        row.kernel, row.strides = tuple(layer.kernel_size), tuple(layer.strides)
        row.dilation, row.padding, row.filters = tuple(layer.dilation_rate), layer.padding, layer.filters
        forms.append(fm.conv_params(row.kernel[0], row.kernel[1], in_shape[-1], layer.filters, layer.use_bias))
        r, j, rf = fm.receptive_field(r, j, row.kernel[1], row.strides[1], row.dilation[1])
        forms.append(rf)
        if layer.padding == "same" and row.pad[0] != row.pad[1]:
            row.note = "'same' padding here is asymmetric: TensorFlow adds the odd pixel at the bottom/right."
    elif isinstance(layer, keras.layers.DepthwiseConv2D):
        sizes, row.pad = _spatial_formulas(layer, in_shape, "conv")
        forms += sizes
        row.kernel, row.strides = tuple(layer.kernel_size), tuple(layer.strides)
        row.dilation, row.padding = tuple(layer.dilation_rate), layer.padding
        fh, fw = row.kernel
        d_in, mult = in_shape[-1], layer.depth_multiplier
        row.filters = d_in * mult
        value = (fh * fw + int(layer.use_bias)) * d_in * mult
        bias = " + 1" if layer.use_bias else ""
        forms.append(Formula("parameters", f"({fh}·{fw}{bias})·{d_in}·{mult} = {value}", value, "(F·F + 1)·D_in·multiplier"))
        r, j, rf = fm.receptive_field(r, j, fw, row.strides[1], row.dilation[1])
        forms.append(rf)
        row.note = "Depthwise: one filter per input channel, so no sum over channels."
    elif isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
        sizes, row.pad = _spatial_formulas(layer, in_shape, "pool")
        forms += sizes
        row.kernel, row.strides, row.padding = tuple(layer.pool_size), tuple(layer.strides), layer.padding
        forms.append(Formula("parameters", "pooling has no parameters = 0", 0, "0"))
        r, j, rf = fm.receptive_field(r, j, row.kernel[1], row.strides[1])
        forms.append(rf)
    elif isinstance(layer, keras.layers.ZeroPadding2D):
        (t, b), (left, right) = layer.padding
        row.pad, row.padding = (t, b, left, right), "explicit"
        w = in_shape[1]
        forms.append(Formula("output width", f"{w} + {left} + {right} = {w + left + right}", w + left + right, "W + P_left + P_right"))
        row.note = "Explicit zero padding, so that the next layer can use 'valid' and the padding is visible."
    elif isinstance(layer, keras.layers.Dense):
        n_in = in_shape[-1]
        row.filters = layer.units
        forms.append(fm.dense_params(n_in, layer.units, layer.use_bias))
    elif isinstance(layer, keras.layers.BatchNormalization):
        c = in_shape[-1]
        formula, learned = fm.batchnorm_params(c, layer.center, layer.scale)
        forms.append(formula)
        row.note = (
            "BatchNorm runs in inference mode (training=False): it uses the stored moving mean/variance, "
            "even when its γ and β are unfrozen."
        )
    elif isinstance(layer, (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D, keras.layers.Flatten)):
        if len(in_shape) == 3:
            r, j, rf = fm.receptive_field(r, j, in_shape[1], 1)
            forms.append(rf)
            n = fm.prod(out_shape)
            if isinstance(layer, keras.layers.Flatten):
                forms.append(Formula("output", "·".join(map(str, in_shape)) + f" = {n}", n, "H·W·C"))
            else:
                forms.append(Formula("output", "one value per channel: " + "·".join(map(str, in_shape)) + f" → {n}", n, "C"))
            row.note = "Every output sees the whole input: the window is the full feature map."
    elif len(ins) > 1:
        r, j, rf = fm.merge_receptive_field(ins)
        forms.append(rf)
    row.rf, row.jump = r, j
    row.formulas = tuple(forms)
    return row


def layer_table(model: Any, name: str | None = None) -> LayerTable:
    """The layer table of ``model``, nested models expanded.

    Args:
        model: A built Functional or Sequential Keras model.
        name: Table title; defaults to the model name.

    Returns:
        A :class:`~tlstudio.shapes.formulas.LayerTable`; the first row is
        the input, then every leaf layer in execution order.
    """
    fn = functional_of(model)
    if fn is None:
        raise TypeError(
            f"the inspector needs a built Functional or Sequential model (call it on data or give an Input first). "
            f"Received: {type(model).__name__}"
        )
    input_shape = _shape(fn.inputs[0])
    table = LayerTable(name=name or model.name, input_shape=input_shape)
    rows: list[LayerRow] = table.rows

    shapes: dict[int, tuple] = {}  # concrete per-image shapes by tensor id, across nesting levels

    def walk(m: Any, in_states: list[tuple[int, int]], prefix: str, depth: int, in_shapes: list | None = None) -> list[tuple[int, int]]:
        f = functional_of(m)
        state: dict[int, tuple[int, int]] = {id(t): s for t, s in zip(f.inputs, in_states)}
        for t, known in zip(f.inputs, in_shapes or []):
            if known is not None:
                shapes[id(t)] = _fill(_shape(t), known)
        parent = prefix.rstrip("/").split("/")[-1] if prefix else ""
        for node in graph_nodes(m):
            op = node.operation
            if isinstance(op, keras.layers.InputLayer):
                if depth == 0:
                    shape = _shape(node.output_tensors[0])
                    rows.append(
                        LayerRow(
                            index=0, name=op.name, type="InputLayer", path=op.name, group="input", output_shape=shape,
                            act_elements=fm.prod(shape), rf=1, jump=1,
                        )
                    )
                    state.setdefault(id(node.output_tensors[0]), (1, 1))
                    shapes.setdefault(id(node.output_tensors[0]), shape)
                continue
            ins = [state.get(id(t), (1, 1)) for t in node.input_tensors]
            known = [shapes.get(id(t)) for t in node.input_tensors]
            if is_container(op):
                outs = walk(op, ins, f"{prefix}{op.name}/", depth + 1, known)
                for t_out, t_in in zip(node.output_tensors, functional_of(op).outputs):
                    if id(t_in) in shapes:
                        shapes[id(t_out)] = _fill(_shape(t_out), shapes[id(t_in)])
            else:
                row = _row_for(op, node, ins, known)
                shapes[id(node.output_tensors[0])] = row.output_shape
                row.path = prefix + op.name
                row.depth = depth
                row.group, row.block = group_of(op.name, parent)
                rows.append(row)
                outs = [(row.rf, row.jump)] * len(node.output_tensors)
            for t, s in zip(node.output_tensors, outs):
                state[id(t)] = s
        return [state.get(id(t), (1, 1)) for t in f.outputs]

    walk(model, [(1, 1)] * len(fn.inputs), "", 0)
    for i, row in enumerate(rows):
        row.index = i
    return table


def find_layer(model: Any, name: str) -> tuple[list[Any], Any]:
    """Find a layer by name or path anywhere in ``model``.

    Returns:
        ``(containers, layer)``: the chain of models from ``model`` down to the
        one that holds the layer, and the layer.

    Raises:
        KeyError: No such layer; the message lists a few names.
    """
    parts = name.split("/")

    def search(m, chain):
        for layer in m.layers:
            if layer.name == parts[-1] and (len(parts) == 1 or [c.name for c in chain[1:]] == parts[:-1]):
                return chain, layer
            if is_container(layer):
                found = search(layer, chain + [layer])
                if found:
                    return found
        return None

    found = search(model, [model])
    if not found:
        names = [r.path for r in layer_table(model).rows]
        raise KeyError(f"no layer {name!r} in model {model.name!r}; some layers: {', '.join(names[:6])}… Received: {name!r}")
    return found


def conv_layers(model: Any) -> list[str]:
    """Paths of every Conv2D layer, in execution order."""
    return [r.path for r in layer_table(model).rows if r.type == "Conv2D"]
