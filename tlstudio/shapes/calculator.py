"""The layer calculator: a hand-written CNN spec to its full table, no Keras needed.

A student writes a plain network (convolution, pooling, flatten and dense rows
with F, S, P, K and an activation, plus an input shape) and gets every output
shape, parameter count and receptive field with the formulas substituted. It
is how one checks a hand calculation. :func:`cross_check` builds the same
network in Keras and compares, to show that the arithmetic is what the
framework does.

The calculator accepts every network Keras accepts. An output size that is
not a whole number, e.g. a 2×2 pool with stride 2 on 13 pixels,
``(13 − 2)/2 + 1 = 6.5``, is floored as Keras does (6) and the row is flagged:
``row.floored`` is True, ``row.exact_output_shape`` holds the exact sizes
(``(6.5, 6.5, 64)``), ``row.output_shape`` the floor and ``row.fix`` the
changes that would make it whole (``"padding 'same' (→ 7)"``, ``"an input of
30×30"``); ``table.floored_rows`` lists those rows. With ``strict=True`` (for
teaching) such a row raises :class:`CalculatorError` instead. A filter larger
than its padded input is impossible in Keras too and always raises. Every
error names the layer, the arithmetic and ends with ``Received: ...``.

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

cnn = CalcSpec(input_shape=(32, 32, 3), layers=(
    CalcLayer("conv", f=3, k=32), CalcLayer("pool", f=2, s=2),
    CalcLayer("conv", f=3, k=64), CalcLayer("pool", f=2, s=2),   # 13 → 6.5, floored to 6
    CalcLayer("conv", f=3, k=64), CalcLayer("flatten"),
    CalcLayer("dense", k=64), CalcLayer("dense", k=10, activation="softmax"),
))
table = calculate(cnn)                      # calculate(cnn, strict=True) raises instead
table.totals.total_params                   # 122570, as Keras counts
[r.name for r in table.floored_rows]        # ['pool4']
```
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tlstudio.errors import ConfigError
from tlstudio.shapes import formulas as fm
from tlstudio.shapes.formulas import Formula, LayerRow, LayerTable

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
    def from_dict(cls, data: Any) -> "CalcSpec":
        """Build a spec from :meth:`to_dict` output, checking every field's type and range.

        Args:
            data: ``{"input_shape": [H, W, C], "layers": [{...}, ...]}``; a
                missing ``input_shape`` means ``[224, 224, 3]``.

        Returns:
            The spec. Row values are checked for type here; ranges (F >= 1...)
            are checked again by :func:`calculate`.

        Raises:
            CalculatorError: Naming the field (``input_shape``, ``layers[2].f``),
                what was expected and ``Received: ...``.
        """
        if not isinstance(data, dict) or "layers" not in data:
            raise CalculatorError(
                'a calculator spec is a JSON object with "input_shape" and "layers". '
                f"Received: {_short(data)}"
            )
        shape = _input_shape(data.get("input_shape", [224, 224, 3]))
        rows = data["layers"]
        if not isinstance(rows, list):
            raise CalculatorError(f'"layers" must be a list of layer objects. Received: {_short(rows)}')
        layers = []
        allowed = set(CalcLayer.__dataclass_fields__)
        for i, row in enumerate(rows, start=1):
            if not isinstance(row, dict):
                raise CalculatorError(
                    f'layers[{i}] (Layer {i}) must be an object such as {{"kind": "conv", "f": 3, "k": 16}}. '
                    f"Received: {_short(row)}"
                )
            unknown = set(row) - allowed
            if unknown:
                raise CalculatorError(f"Layer {i} has unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}. Received: {row}")
            for key, value in row.items():
                problem = _field_problem(key, value)
                if problem:
                    raise CalculatorError(f"layers[{i}].{key} (Layer {i}) must be {problem}. Received: {key}={_short(value)}")
            layers.append(CalcLayer(**row))
        return cls(input_shape=shape, layers=tuple(layers))

    @classmethod
    def from_json(cls, text: str) -> "CalcSpec":
        """Parse the JSON text of a spec (see :meth:`from_dict`).

        Raises:
            CalculatorError: The text is not JSON, or a field is wrong.
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CalculatorError(f"the calculator spec is not valid JSON: {exc}. Received: {text[:80]!r}") from exc
        return cls.from_dict(data)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "CalcSpec":
        """Read a spec file; every error names the file.

        Args:
            path: A UTF-8 JSON file as :meth:`to_json` writes it.

        Raises:
            CalculatorError: The file cannot be read, is not UTF-8 or JSON, or
                a field is wrong; the message starts with the file name.
        """
        name = os.fsdecode(path)
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise CalculatorError(
                f"{name}: cannot read the calculator spec ({exc.strerror or exc}). Received: {type(exc).__name__}"
            ) from exc
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
            from tlstudio.io.json_text import field_with_bad_bytes

            field = field_with_bad_bytes(raw, one_based=("layers",))
            where = f"{field} (line {line}, column {column})" if field else f"line {line}, column {column}"
            raise CalculatorError(
                f"{name}: the calculator spec must be UTF-8 JSON text, but {where} holds byte "
                f"0x{raw[exc.start]:02x}, which is not UTF-8; save the file as UTF-8. "
                f"Received: {raw[max(0, exc.start - 20) : exc.start + 20]!r}"
            ) from exc
        try:
            return cls.from_json(text)
        except CalculatorError as exc:
            raise CalculatorError(f"{name}: {exc}") from exc


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _input_shape(value: Any) -> tuple[int, int, int]:
    if not isinstance(value, (list, tuple)) or len(value) != 3 or not all(_whole(v) and v >= 1 for v in value):
        raise CalculatorError(
            "input_shape must be [height, width, channels], three whole numbers >= 1, e.g. [32, 32, 3]. "
            f"Received: input_shape={_short(value)}"
        )
    return (int(value[0]), int(value[1]), int(value[2]))


_FIELD_TYPES = {
    "kind": (lambda v: isinstance(v, str), f"one of {LAYER_KINDS}"),
    "f": (_whole, "a whole number >= 1 (the filter size F)"),
    "s": (_whole, "a whole number >= 1 (the stride S)"),
    "p": (lambda v: _whole(v) or v in ("same", "valid"), "a whole number >= 0, 'same' or 'valid' (the padding P)"),
    "k": (_whole, "a whole number >= 1 (filters K or units)"),
    "activation": (lambda v: isinstance(v, str), 'an activation name such as "relu", "linear" or "softmax"'),
    "pool": (lambda v: isinstance(v, str), f"one of {POOL_TYPES}"),
    "bias": (lambda v: isinstance(v, bool), "true or false"),
    "name": (lambda v: isinstance(v, str), "a text"),
}


def _field_problem(key: str, value: Any) -> str | None:
    """What ``value`` of row field ``key`` should be, or None when its type is right."""
    ok, expected = _FIELD_TYPES[key]
    return None if ok(value) else expected


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
        if not _whole(layer.f) or layer.f < 1:
            raise CalculatorError(f"{where}: the filter size F must be a whole number >= 1. Received: F={layer.f!r}")
        if not _whole(layer.s) or layer.s < 1:
            raise CalculatorError(f"{where}: the stride S must be a whole number >= 1. Received: S={layer.s!r}")
        p = layer.p
        if not (p in ("same", "valid") or (_whole(p) and p >= 0)):
            raise CalculatorError(f"{where}: the padding P must be a whole number >= 0, 'same' or 'valid'. Received: P={p!r}")
    if layer.kind in ("conv", "dense") and (not _whole(layer.k) or layer.k < 1):
        what = "filters K" if layer.kind == "conv" else "units"
        raise CalculatorError(f"{where}: the number of {what} must be >= 1. Received: K={layer.k!r}")
    if layer.kind == "pool" and layer.pool not in POOL_TYPES:
        raise CalculatorError(f"{where}: pool must be one of {POOL_TYPES}. Received: pool={layer.pool!r}")


def _tips(w: int, f: int, s: int, p: int) -> list[str]:
    """Changes to one conv/pool row that make ``(W − F + 2P)/S + 1`` whole, each with its result."""
    tips = [f"padding 'same' (→ {-(-w // s)}, pads just enough for ⌈W/S⌉ outputs)"]
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
    return tips


def _axis_is_whole(layers: tuple[CalcLayer, ...], size: int) -> bool:
    """Whether every conv/pool output along one axis is whole, starting from ``size`` input pixels."""
    for layer in layers:
        if layer.kind == "flatten":
            return True
        if layer.kind not in ("conv", "pool"):
            continue
        f, s, p = layer.f, layer.s, layer.p
        if not (_whole(f) and _whole(s) and f >= 1 and s >= 1):
            return True  # an invalid row: calculate() reports it; nothing to judge past it
        if p == "same":
            size = -(-size // s)
            continue
        p = 0 if p == "valid" else p
        if not (_whole(p) and p >= 0):
            return True
        span = size + 2 * p - f
        if span < 0 or span % s:
            return False
        size = span // s + 1
    return True


def _nearest_whole_input(layers: tuple[CalcLayer, ...], size: int) -> int | None:
    """The input size closest to ``size`` (the smaller on a tie) for which every size along the axis is whole."""
    if _axis_is_whole(layers, size):
        return size
    for delta in range(1, max(64, size) + 1):
        for cand in (size - delta, size + delta):
            if cand >= 1 and _axis_is_whole(layers, cand):
                return cand
    return None


def _input_tip(spec: CalcSpec) -> str:
    """E.g. ``"an input of 30×30"``, the nearest input for which no row needs flooring, or ``""``."""
    h, w = int(spec.input_shape[0]), int(spec.input_shape[1])
    new_h, new_w = _nearest_whole_input(spec.layers, h), _nearest_whole_input(spec.layers, w)
    if new_h is None or new_w is None or (new_h, new_w) == (h, w):
        return ""
    if new_h == h:
        return f"an input width of {new_w} (every size then whole)"
    if new_w == w:
        return f"an input height of {new_h} (every size then whole)"
    return f"an input of {new_h}×{new_w} (every size then whole)"


@dataclass(frozen=True)
class _Axis:
    """One spatial axis of a conv/pool row."""

    axis: str
    size: int
    out: int
    formula: Formula
    before: int
    after: int
    same: bool = False

    @property
    def floored(self) -> bool:
        """The explicit-padding arithmetic gave a fraction (``'same'`` is ⌈W/S⌉ by definition, never floored)."""
        return not self.same and not float(self.formula.value).is_integer()

    @property
    def exact(self) -> float | int:
        value = float(self.formula.value)
        return int(value) if value.is_integer() else round(value, 6)


def _spatial(layer: CalcLayer, index: int, size: int, axis: str) -> _Axis:
    """Output size along one axis (floored as Keras does); raises when the filter does not fit."""
    f, s = layer.f, layer.s
    if layer.p == "same":
        formula, before, after = fm.conv_output_same(size, f, s, axis=axis)
        return _Axis(axis, size, fm.same_padding(size, f, s)[0], formula, before, after, same=True)
    p = 0 if layer.p == "valid" else int(layer.p)
    if layer.kind == "pool" and p == 0:
        formula = fm.pool_output(size, f, s, axis=axis)
    else:
        formula = fm.conv_output(size, f, s, p, p, axis=axis)
    span = size + 2 * p
    if span < f:
        raise CalculatorError(
            f"{layer.label(index)} on {axis} {size}: {formula.text}. The {f}-pixel filter does not fit in the "
            f"padded input of {size} + 2·{p} = {span} pixels, so there is no position to place it (Keras refuses "
            f"it too). Use a smaller F, more padding (P={(f - size + 1) // 2}), or remove a pooling layer before "
            f"this one. Received: {axis} {size}, F={f}, S={s}, P={p}"
        )
    return _Axis(axis, size, fm.framework_output(formula), formula, p, p)


def _uncovered(a: _Axis, layer: CalcLayer) -> str:
    p = 0 if layer.p == "valid" else int(layer.p)
    left = (a.size - layer.f + 2 * p) % layer.s
    return f"the last {left} pixel{'s' if left != 1 else ''} at the far edge {'are' if left != 1 else 'is'} never reached"


def _fix_text(layer: CalcLayer, axes: list[_Axis], input_tip: str) -> str:
    """The suggested fixes of a floored row, e.g. ``"padding 'same' (→ 7, ...), or F=3 (→ 6), or an input of 30×30"``."""
    per_axis = []
    for a in axes:
        tips = _tips(a.size, layer.f, layer.s, 0 if layer.p == "valid" else int(layer.p))
        per_axis.append((a.axis, tips))
    if len(per_axis) == 2 and per_axis[0][1] != per_axis[1][1]:
        text = "; ".join(f"{axis}: " + ", or ".join(tips) for axis, tips in per_axis)
    else:
        text = ", or ".join(per_axis[0][1])
    return f"{text}, or {input_tip}" if input_tip else text


def _floored_formula(a: _Axis) -> Formula:
    text = f"{a.formula.text}, floored to {a.out} as Keras does"
    return Formula(a.formula.name, text, a.formula.value, a.formula.general)


def calculate(spec: CalcSpec, strict: bool = False) -> LayerTable:
    """Compute the full layer table of ``spec`` by arithmetic alone, as Keras would build it.

    Args:
        spec: The network.
        strict: Refuse an output size that is not a whole number (for
            teaching). By default (False) it is floored as Keras does and the
            row is flagged: ``row.floored`` is True, ``row.exact_output_shape``
            holds the exact sizes, ``row.output_shape`` the floor, ``row.fix``
            the changes that would make it whole, and ``row.note`` says it in
            a sentence; ``table.floored_rows`` lists those rows.

    Returns:
        A :class:`~tlstudio.shapes.formulas.LayerTable`; row 0 is the input.

    Raises:
        CalculatorError: A row is invalid, a filter does not fit in its padded
            input, or (with ``strict``) an output size is not whole. The
            message names the layer, shows the arithmetic and ends with
            ``Received: ...``.
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
    floored: list[tuple[LayerRow, CalcLayer, list[_Axis]]] = []
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
            ax_w = _spatial(layer, i, ww, "width")
            ax_h = _spatial(layer, i, hh, "height")
            bad = [a for a in (ax_w, ax_h) if a.floored]
            if bad and strict:
                a = bad[0]
                tips = _tips(a.size, layer.f, layer.s, 0 if layer.p == "valid" else int(layer.p))
                input_tip = _input_tip(spec)
                raise CalculatorError(
                    f"{layer.label(i)} on {a.axis} {a.size}: {a.formula.text}, which is not a whole number, so the "
                    f"filter cannot tile the input evenly: stepping {layer.s} pixels at a time from the first edge, "
                    f"{_uncovered(a, layer)}. Keras would silently floor this to {a.out}; strict mode refuses it. Try "
                    + ", or ".join(tips + ([input_tip] if input_tip else []))
                    + f". Received: {a.axis} {a.size}, F={layer.f}, S={layer.s}, P={layer.p}"
                )
            shown = (ax_w,) if hh == ww else (ax_h, ax_w)  # a square input: one formula for both axes
            forms += [_floored_formula(a) if a.floored else a.formula for a in shown]
            k = layer.k if layer.kind == "conv" else cc
            shape = (ax_h.out, ax_w.out, k)
            row.kernel, row.strides, row.dilation = (layer.f, layer.f), (layer.s, layer.s), (1, 1)
            row.padding = layer.p if isinstance(layer.p, str) else ("valid" if layer.p == 0 else "explicit")
            row.pad = (ax_h.before, ax_h.after, ax_w.before, ax_w.after)
            if layer.kind == "conv":
                row.filters = layer.k
                row.activation = layer.activation
                pf = fm.conv_params(layer.f, layer.f, cc, layer.k, layer.bias)
                forms.append(pf)
                row.trainable_params = int(pf.value)
            else:
                row.type = f"{layer.pool}pool"
                forms.append(Formula("parameters", "pooling has no parameters = 0", 0, "0"))
            if bad:
                row.floored = True
                row.exact_output_shape = (ax_h.exact, ax_w.exact, k)
                floored.append((row, layer, bad))
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
    if floored:
        input_tip = _input_tip(spec)
        for row, layer, bad in floored:
            row.fix = _fix_text(layer, bad, input_tip)
            if len(bad) == 2 and bad[0].size == bad[1].size:
                bad = [dataclasses.replace(bad[0], axis="height and width")]
            sizes = "; ".join(
                f"{a.axis} {a.formula.text} is not a whole number, floored to {a.out} ({_uncovered(a, layer)})" for a in bad
            )
            row.note = f"The output size was floored, as Keras does: {sizes}. Fix: {row.fix}."
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


def cross_check(spec: CalcSpec, strict: bool = False) -> CrossCheck:
    """Compare the calculator with the equivalent Keras model, row by row.

    Args:
        spec: The network.
        strict: As in :func:`calculate`: refuse a non-whole output size
            instead of flooring it as Keras does.

    Raises:
        CalculatorError: A row is invalid, or (with ``strict``) an output size is not whole.
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
