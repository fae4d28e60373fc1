"""The layer calculator: a hand-written CNN spec to its full table, no Keras needed.

A student writes a plain network (convolution, pooling, flatten and dense rows
with F, S, P, K and an activation, plus an input shape) and gets every output
shape, parameter count and receptive field with the formulas substituted. It
is how one checks a hand calculation. :func:`cross_check` builds the same
network in Keras and compares, to show that the arithmetic is what the
framework does.

An impossible configuration (an output size that is not a whole number, or a
filter larger than its padded input) raises :class:`CalculatorError` naming
the layer and the arithmetic, with a fix that would work.

Example:

```python
spec = CalcSpec(input_shape=(32, 32, 3), layers=(
    CalcLayer("conv", f=3, s=1, p=1, k=16),
    CalcLayer("pool", f=2, s=2),
    CalcLayer("flatten"),
    CalcLayer("dense", k=10, activation="softmax"),
))
table = calculate(spec)
table.rows[1].output_shape   # (32, 32, 16)
```
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from tlstudio.errors import ConfigError
from tlstudio.inspection import formulas as fm
from tlstudio.inspection.formulas import Formula, LayerRow, LayerTable

LAYER_KINDS = ("conv", "pool", "flatten", "dense")
POOL_TYPES = ("max", "avg")


class CalculatorError(ConfigError):
    """A calculator spec describes a layer that cannot be computed."""


@dataclass(frozen=True)
class CalcLayer:
    """One row of a calculator spec.

    Attributes:
        kind: ``"conv"``, ``"pool"``, ``"flatten"`` or ``"dense"``.
        f: Filter (window) size F, square.
        s: Stride S.
        p: Zero-padding P on each side, or ``"same"`` / ``"valid"`` (= 0).
        k: Filters K (conv) or units (dense).
        activation: Activation name (conv and dense), e.g. ``"relu"``, ``"linear"``, ``"softmax"``.
        pool: ``"max"`` or ``"avg"`` (pool rows).
        bias: Whether conv/dense rows have a bias.
        name: Optional layer name; defaults to ``"<kind><index>"``.
    """

    kind: str = "conv"
    f: int = 3
    s: int = 1
    p: int | str = 0
    k: int = 0
    activation: str = "relu"
    pool: str = "max"
    bias: bool = True
    name: str = ""

    def label(self, index: int) -> str:
        """How errors name this row, e.g. ``"Layer 2 (conv, F=3, S=2, P=0)"``."""
        if self.kind in ("conv", "pool"):
            return f"Layer {index} ({self.kind}, F={self.f}, S={self.s}, P={self.p})"
        if self.kind == "dense":
            return f"Layer {index} (dense, {self.k} units)"
        return f"Layer {index} ({self.kind})"


@dataclass(frozen=True)
class CalcSpec:
    """A plain CNN: an input shape ``(H, W, C)`` and its layers in order."""

    input_shape: tuple[int, int, int] = (224, 224, 3)
    layers: tuple[CalcLayer, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"input_shape": list(self.input_shape), "layers": [asdict(layer) for layer in self.layers]}

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CalcSpec":
        """Build a spec from :meth:`to_dict` output (unknown keys are an error)."""
        if not isinstance(data, dict) or "layers" not in data:
            raise CalculatorError(
                'a calculator spec is a JSON object with "input_shape" and "layers". '
                f"Received: {str(data)[:80]!r}"
            )
        shape = tuple(int(v) for v in data.get("input_shape", (224, 224, 3)))
        if len(shape) != 3:
            raise CalculatorError(f"input_shape must be [height, width, channels]. Received: {list(shape)}")
        layers = []
        allowed = set(CalcLayer.__dataclass_fields__)
        for i, row in enumerate(data["layers"], start=1):
            unknown = set(row) - allowed
            if unknown:
                raise CalculatorError(f"Layer {i} has unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}. Received: {row}")
            layers.append(CalcLayer(**row))
        return cls(input_shape=shape, layers=tuple(layers))  # type: ignore[arg-type]

    @classmethod
    def from_json(cls, text: str) -> "CalcSpec":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CalculatorError(f"the calculator spec is not valid JSON: {exc}. Received: {text[:80]!r}") from exc
        return cls.from_dict(data)


def example_spec() -> CalcSpec:
    """A small VGG-style network, the calculator's starting point."""
    return CalcSpec(
        input_shape=(32, 32, 3),
        layers=(
            CalcLayer("conv", f=3, s=1, p=1, k=16),
            CalcLayer("conv", f=3, s=1, p=1, k=16),
            CalcLayer("pool", f=2, s=2, p=0),
            CalcLayer("conv", f=3, s=1, p=1, k=32),
            CalcLayer("pool", f=2, s=2, p=0),
            CalcLayer("flatten"),
            CalcLayer("dense", k=10, activation="softmax"),
        ),
    )


# ------------------------------------------------------------------ validation


def _check_row(layer: CalcLayer, index: int) -> None:
    where = layer.label(index)
    if layer.kind not in LAYER_KINDS:
        raise CalculatorError(f"Layer {index}: kind must be one of {LAYER_KINDS}. Received: kind={layer.kind!r}")
    if layer.kind in ("conv", "pool"):
        if not isinstance(layer.f, int) or layer.f < 1:
            raise CalculatorError(f"{where}: the filter size F must be a whole number >= 1. Received: F={layer.f!r}")
        if not isinstance(layer.s, int) or layer.s < 1:
            raise CalculatorError(f"{where}: the stride S must be a whole number >= 1. Received: S={layer.s!r}")
        p = layer.p
        if not (p in ("same", "valid") or (isinstance(p, int) and not isinstance(p, bool) and p >= 0)):
            raise CalculatorError(f"{where}: the padding P must be a whole number >= 0, 'same' or 'valid'. Received: P={p!r}")
    if layer.kind in ("conv", "dense") and (not isinstance(layer.k, int) or layer.k < 1):
        what = "filters K" if layer.kind == "conv" else "units"
        raise CalculatorError(f"{where}: the number of {what} must be >= 1. Received: K={layer.k!r}")
    if layer.kind == "pool" and layer.pool not in POOL_TYPES:
        raise CalculatorError(f"{where}: pool must be one of {POOL_TYPES}. Received: pool={layer.pool!r}")


def _suggestions(w: int, f: int, s: int, p: int) -> list[str]:
    tips = []
    for cand in range(0, f + s + 1):
        if cand != p and (w - f + 2 * cand) >= 0 and (w - f + 2 * cand) % s == 0:
            tips.append(f"P={cand} (→ {(w - f + 2 * cand) // s + 1})")
            break
    if s != 1:
        tips.append(f"S=1 (→ {w - f + 2 * p + 1})")
    for cand in (f - 1, f + 1):
        if cand >= 1 and (w - cand + 2 * p) >= 0 and (w - cand + 2 * p) % s == 0:
            tips.append(f"F={cand} (→ {(w - cand + 2 * p) // s + 1})")
            break
    tips.append("'same' padding, which pads just enough for ⌈W/S⌉ outputs")
    return tips


def _spatial(layer: CalcLayer, index: int, size: int, axis: str, strict: bool) -> tuple[int, Formula, int, int]:
    """Output size along one axis; returns ``(out, formula, pad_before, pad_after)``."""
    f, s = layer.f, layer.s
    if layer.p == "same":
        formula, before, after = fm.conv_output_same(size, f, s, axis=axis)
        return fm.same_padding(size, f, s)[0], formula, before, after
    p = 0 if layer.p == "valid" else int(layer.p)
    if layer.kind == "pool" and p == 0:
        formula = fm.pool_output(size, f, s, axis=axis)
    else:
        formula = fm.conv_output(size, f, s, p, p, axis=axis)
    span = size + 2 * p
    if span < f:
        raise CalculatorError(
            f"{layer.label(index)} on {axis} {size}: {formula.text}. The {f}-pixel filter does not fit in the "
            f"padded input of {size} + 2·{p} = {span} pixels, so there is no position to place it. "
            f"Use a smaller F, more padding (P={(f - size + 1) // 2}), or remove a pooling layer before this one."
        )
    if not float(formula.value).is_integer():
        left = (size - f + 2 * p) % s
        message = (
            f"{layer.label(index)} on {axis} {size}: {formula.text}, which is not a whole number, so the filter "
            f"cannot tile the input evenly: stepping {s} pixels at a time from the first edge, the last "
            f"{left} pixel{'s' if left != 1 else ''} at the far edge {'are' if left != 1 else 'is'} never reached. "
            f"Keras would silently floor this to {fm.framework_output(formula)}. Try "
            + ", or ".join(_suggestions(size, f, s, p))
            + "."
        )
        if strict:
            raise CalculatorError(message)
    return fm.framework_output(formula), formula, p, p


def calculate(spec: CalcSpec, strict: bool = True) -> LayerTable:
    """Compute the full layer table of ``spec`` by arithmetic alone.

    Args:
        spec: The network.
        strict: Refuse non-integer output sizes (the default, for teaching).
            When False they are floored as Keras does, and the row's note says so.

    Returns:
        A :class:`~tlstudio.inspection.formulas.LayerTable`; row 0 is the input.

    Raises:
        CalculatorError: A row is invalid or its arithmetic is impossible.
    """
    h, w, c = (int(v) for v in spec.input_shape)
    if min(h, w, c) < 1:
        raise CalculatorError(f"input_shape must be positive [height, width, channels]. Received: {list(spec.input_shape)}")
    table = LayerTable(name="calculator", input_shape=(h, w, c))
    shape: tuple[int, ...] = (h, w, c)
    r, j = 1, 1
    table.rows.append(
        LayerRow(index=0, name="input", type="Input", output_shape=shape, act_elements=fm.prod(shape), rf=1, jump=1)
    )
    for i, layer in enumerate(spec.layers, start=1):
        _check_row(layer, i)
        name = layer.name or f"{layer.kind}{i}"
        row = LayerRow(index=i, name=name, type=layer.kind, input_shape=shape)
        forms: list[Formula] = []
        if layer.kind in ("conv", "pool"):
            if len(shape) != 3:
                raise CalculatorError(
                    f"{layer.label(i)} needs a (height, width, channels) input, but the previous layer gives {shape}. "
                    "Convolution and pooling must come before Flatten. Received: input shape " + str(shape)
                )
            hh, ww, cc = shape
            out_w, f_w, pl, pr = _spatial(layer, i, ww, "width", strict)
            out_h, f_h, pt, pb = _spatial(layer, i, hh, "height", strict)
            forms += [f_w] if hh == ww else [f_h, f_w]
            k = layer.k if layer.kind == "conv" else cc
            shape = (out_h, out_w, k)
            row.kernel, row.strides, row.dilation = (layer.f, layer.f), (layer.s, layer.s), (1, 1)
            row.padding = layer.p if isinstance(layer.p, str) else ("valid" if layer.p == 0 else "explicit")
            row.pad = (pt, pb, pl, pr)
            if layer.kind == "conv":
                row.filters = layer.k
                row.activation = layer.activation
                pf = fm.conv_params(layer.f, layer.f, cc, layer.k, layer.bias)
                forms.append(pf)
                row.trainable_params = int(pf.value)
            else:
                row.type = f"{layer.pool}pool"
                forms.append(Formula("parameters", "pooling has no parameters = 0", 0, "0"))
            if float(f_w.value) != out_w or float(f_h.value) != out_h:
                row.note = "The output size was floored, as Keras does: the last pixels are ignored."
            r, j, rf = fm.receptive_field(r, j, layer.f, layer.s)
            forms.append(rf)
        elif layer.kind == "flatten":
            n = fm.prod(shape)
            forms.append(Formula("output", " · ".join(map(str, shape)) + f" = {n}", n, "H·W·C"))
            if len(shape) == 3:
                r, j, rf = fm.receptive_field(r, j, shape[1], 1)
                forms.append(rf)
                row.note = "After Flatten every unit sees the whole input."
            shape = (n,)
        else:  # dense
            n_in = shape[-1]
            pf = fm.dense_params(n_in, layer.k, layer.bias)
            forms.append(pf)
            row.trainable_params = int(pf.value)
            row.filters = layer.k
            row.activation = layer.activation
            if len(shape) > 1:
                row.note = "Dense on a feature map acts on the last axis only (a 1×1 convolution); add Flatten first to use every value."
            shape = (*shape[:-1], layer.k)
        row.output_shape = shape
        row.act_elements = fm.prod(shape)
        row.rf, row.jump = r, j
        row.frozen = False if row.trainable_params else None
        row.formulas = tuple(forms)
        table.rows.append(row)
    return table


# ---------------------------------------------------------------- cross-check


@dataclass(frozen=True)
class CheckRow:
    """Calculator vs Keras for one spec row."""

    name: str
    calc_shape: tuple
    keras_shape: tuple
    calc_params: int
    keras_params: int

    @property
    def ok(self) -> bool:
        return tuple(self.calc_shape) == tuple(self.keras_shape) and self.calc_params == self.keras_params


@dataclass(frozen=True)
class CrossCheck:
    """Result of :func:`cross_check`: one :class:`CheckRow` per spec row."""

    rows: tuple[CheckRow, ...]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    def mismatches(self) -> list[str]:
        return [
            f"{r.name}: calculator {r.calc_shape}, {r.calc_params} params; Keras {r.keras_shape}, {r.keras_params} params"
            for r in self.rows
            if not r.ok
        ]


def build_keras(spec: CalcSpec):
    """The Keras model equivalent to ``spec`` (explicit P as ZeroPadding2D + ``valid``).

    Returns:
        ``(model, names)``: the model and, per spec row, the name of the Keras
        layer whose output that row describes.
    """
    import keras  # heavy: only when asked

    inputs = keras.Input(shape=tuple(spec.input_shape), name="input")
    x = inputs
    names = []
    for i, layer in enumerate(spec.layers, start=1):
        _check_row(layer, i)
        name = layer.name or f"{layer.kind}{i}"
        if layer.kind in ("conv", "pool"):
            if isinstance(layer.p, int) and layer.p > 0:
                x = keras.layers.ZeroPadding2D(layer.p, name=f"{name}_pad")(x)
            padding = "same" if layer.p == "same" else "valid"
            if layer.kind == "conv":
                x = keras.layers.Conv2D(
                    layer.k, layer.f, strides=layer.s, padding=padding, activation=layer.activation,
                    use_bias=layer.bias, name=name,
                )(x)
            else:
                cls = keras.layers.MaxPooling2D if layer.pool == "max" else keras.layers.AveragePooling2D
                x = cls(pool_size=layer.f, strides=layer.s, padding=padding, name=name)(x)
        elif layer.kind == "flatten":
            x = keras.layers.Flatten(name=name)(x)
        else:
            x = keras.layers.Dense(layer.k, activation=layer.activation, use_bias=layer.bias, name=name)(x)
        names.append(name)
    return keras.Model(inputs, x, name="calculator"), names


def cross_check(spec: CalcSpec, strict: bool = True) -> CrossCheck:
    """Compare the calculator with the equivalent Keras model, row by row.

    Raises:
        CalculatorError: When ``strict`` and the spec is impossible (Keras would floor).
    """
    table = calculate(spec, strict=strict)
    model, names = build_keras(spec)
    rows = []
    for calc_row, name in zip(table.rows[1:], names):
        layer = model.get_layer(name)
        rows.append(
            CheckRow(
                name=name,
                calc_shape=tuple(calc_row.output_shape),
                keras_shape=tuple(int(v) for v in layer.output.shape[1:]),
                calc_params=calc_row.params,
                keras_params=int(layer.count_params()),
            )
        )
    return CrossCheck(tuple(rows))
