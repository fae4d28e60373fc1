"""CNN arithmetic with the numbers substituted, and the layer-table dataclasses.

Everything here is plain Python: no TensorFlow, no Keras, so the GUI can call
it on every keystroke. The functions return :class:`Formula` objects whose
``text`` shows the textbook formula with the layer's numbers in place, e.g.
``"(224 − 3 + 2·1)/1 + 1 = 224"``, and whose ``value`` is the result.

Conventions (as in Keras and CS231n):

* output size of a convolution: ``(W − F + 2P)/S + 1``; with dilation ``d`` the
  filter spans ``F_eff = (F − 1)·d + 1`` pixels;
* ``padding="same"`` pads so that ``out = ceil(W/S)``; the total padding it
  implies is ``max((out − 1)·S + F_eff − W, 0)``, split with the odd pixel at
  the bottom/right, as TensorFlow does;
* frameworks floor a non-integer output size (the last pixels are ignored);
  the calculator floors it too and flags the row with the exact value and a
  fix (``LayerRow.floored``), or refuses it in strict mode, for teaching;
* receptive field: ``r_out = r_in + (F − 1)·d·j_in`` and ``j_out = j_in·S``
  (``j`` is the jump, the distance in input pixels between neighbouring
  outputs); a merge (Add, Concatenate) takes the largest ``r`` and ``j`` of its
  inputs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

BYTES_PER_FLOAT32 = 4
OPTIMIZER_SLOTS = {"adam": 2, "adamw": 2, "sgd": 1, "sgd_plain": 0, "rmsprop": 1}
"""Extra float32 values the optimizer keeps per trainable parameter (Adam: m and v; SGD with momentum: one)."""


# --------------------------------------------------------------------- numbers


def fmt_num(value: float) -> str:
    """A number as a formula shows it: integers plain, fractions with up to 3 decimals."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.3f}".rstrip("0").rstrip(".")


def human_bytes(n: float) -> str:
    """Bytes in binary units, e.g. ``"12.3 MiB"``."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def prod(values: Iterable[int | None]) -> int:
    """Product of the known dimensions (``None`` counts as 1)."""
    out = 1
    for v in values:
        out *= int(v) if v is not None else 1
    return out


# -------------------------------------------------------------------- formulas


@dataclass(frozen=True)
class Formula:
    """One formula with the numbers substituted.

    Attributes:
        name: What it computes, e.g. ``"output width"``, ``"parameters"``.
        text: The substituted formula and its result, e.g. ``"(10 − 3 + 2·0)/2 + 1 = 4.5"``.
        value: The result (may be fractional when the configuration is impossible).
        general: The formula in letters, e.g. ``"(W − F + 2P)/S + 1"``.
    """

    name: str
    text: str
    value: float
    general: str = ""

    def __str__(self) -> str:
        return f"{self.name}: {self.text}"


def effective_kernel(f: int, dilation: int = 1) -> int:
    """Pixels a dilated filter spans: ``(F − 1)·d + 1``."""
    return (int(f) - 1) * int(dilation) + 1


def same_padding(w: int, f: int, s: int, dilation: int = 1) -> tuple[int, int, int]:
    """The padding ``"same"`` implies: returns ``(out, before, after)``.

    ``out = ceil(W/S)``; total padding ``max((out − 1)·S + F_eff − W, 0)``,
    the odd pixel going after (bottom/right), as TensorFlow pads.
    """
    out = -(-int(w) // int(s))
    total = max((out - 1) * int(s) + effective_kernel(f, dilation) - int(w), 0)
    before = total // 2
    return out, before, total - before


def _pad_term(before: int, after: int) -> str:
    if before == after:
        return f"2·{before}"
    return f"({before} + {after})"


def conv_output(
    w: int, f: int, s: int, pad_before: int = 0, pad_after: int | None = None, dilation: int = 1, *, axis: str = "width"
) -> Formula:
    """Output size of a convolution along one axis, ``(W − F + 2P)/S + 1``.

    Args:
        w: Input size W along the axis.
        f: Kernel size F.
        s: Stride S.
        pad_before: Zero-padding P before (top/left).
        pad_after: Padding after (bottom/right); defaults to ``pad_before``.
        dilation: Dilation rate d; the filter then spans ``(F − 1)·d + 1``.
        axis: ``"width"`` or ``"height"``, used in the name.

    Returns:
        A :class:`Formula` whose value is exact (may be fractional).
    """
    pad_after = pad_before if pad_after is None else pad_after
    fe = effective_kernel(f, dilation)
    value = (w - fe + pad_before + pad_after) / s + 1
    f_txt = f"{fe}" if dilation == 1 else f"(({f} − 1)·{dilation} + 1)"
    text = f"({w} − {f_txt} + {_pad_term(pad_before, pad_after)})/{s} + 1 = {fmt_num(value)}"
    general = "(W − F + 2P)/S + 1" if dilation == 1 else "(W − ((F − 1)·d + 1) + 2P)/S + 1"
    return Formula(f"output {axis}", text, value, general)


def framework_output(formula: Formula) -> int:
    """What Keras produces for an output-size formula: the floor of its value."""
    return int(math.floor(formula.value + 1e-9))


def conv_output_same(w: int, f: int, s: int, dilation: int = 1, *, axis: str = "width") -> tuple[Formula, int, int]:
    """Output size under ``padding="same"`` with the P it implies.

    Returns:
        ``(formula, pad_before, pad_after)``. The formula text shows both the
        rule ``ceil(W/S)`` and the padded arithmetic, e.g.
        ``"P = 1 + 1 (implied by 'same'): (224 − 3 + 2·1)/1 + 1 = 224 = ⌈224/1⌉"``.
    """
    out, before, after = same_padding(w, f, s, dilation)
    base = conv_output(w, f, s, before, after, dilation, axis=axis)
    exact = base.value
    floor_note = "" if float(exact).is_integer() else f", floored to {out}"
    if before == after:
        implied = f"P = {before}"
    else:
        implied = f"P = {before} before + {after} after (asymmetric; TensorFlow puts the odd pixel after)"
    text = f"{implied} implied by 'same': {base.text}{floor_note} = ⌈{w}/{s}⌉ = {out}"
    return Formula(f"output {axis}", text, exact, "ceil(W/S), P implied"), before, after


def pool_output(w: int, f: int, s: int, *, axis: str = "width") -> Formula:
    """Output size of a ``valid`` pooling window, ``(W − F)/S + 1``."""
    value = (w - f) / s + 1
    return Formula(f"output {axis}", f"({w} − {f})/{s} + 1 = {fmt_num(value)}", value, "(W − F)/S + 1")


def conv_params(fh: int, fw: int, d_in: int, k: int, bias: bool = True) -> Formula:
    """Parameters of a convolution: ``(F·F·D_in + 1)·K`` (no ``+ 1`` without bias)."""
    if bias:
        value = (fh * fw * d_in + 1) * k
        return Formula("parameters", f"({fh}·{fw}·{d_in} + 1)·{k} = {value}", value, "(F·F·D_in + 1)·K")
    value = fh * fw * d_in * k
    return Formula("parameters", f"{fh}·{fw}·{d_in}·{k} = {value} (no bias)", value, "F·F·D_in·K")


def dense_params(n_in: int, n_out: int, bias: bool = True) -> Formula:
    """Parameters of a dense layer: ``(N_in + 1)·N_out`` (no ``+ 1`` without bias)."""
    if bias:
        value = (n_in + 1) * n_out
        return Formula("parameters", f"({n_in} + 1)·{n_out} = {value}", value, "(N_in + 1)·N_out")
    value = n_in * n_out
    return Formula("parameters", f"{n_in}·{n_out} = {value} (no bias)", value, "N_in·N_out")


def batchnorm_params(c: int, center: bool = True, scale: bool = True) -> tuple[Formula, int]:
    """Parameters of BatchNorm over C channels: ``4·C``, of which ``2·C`` are trainable.

    γ (scale) and β (offset) are learned; the moving mean and variance are
    statistics, never trained by gradient descent.

    Returns:
        ``(formula, trainable)``: the formula for all parameters and how many
        of them are trainable when the layer is trainable.
    """
    learned = int(center) + int(scale)
    n = 2 + learned
    value = n * c
    names = [x for x, on in (("γ", scale), ("β", center)) if on]
    text = f"{n}·{c} = {value} ({learned}·{c} = {learned * c} trainable {', '.join(names) or 'none'}; 2·{c} = {2 * c} moving mean/variance)"
    return Formula("parameters", text, value, f"{n}·C"), learned * c


def receptive_field(r_in: int, j_in: int, f: int, s: int, dilation: int = 1) -> tuple[int, int, Formula]:
    """One step of the receptive-field recurrence.

    Returns:
        ``(r_out, j_out, formula)`` with ``r_out = r_in + (F − 1)·d·j_in`` and
        ``j_out = j_in·S``.
    """
    r_out = r_in + (f - 1) * dilation * j_in
    j_out = j_in * s
    d_txt = "" if dilation == 1 else f"·{dilation}"
    text = f"r = {r_in} + ({f} − 1){d_txt}·{j_in} = {r_out}; jump = {j_in}·{s} = {j_out}"
    return r_out, j_out, Formula("receptive field", text, r_out, "r_in + (F − 1)·d·j_in; j_in·S")


def merge_receptive_field(inputs: Sequence[tuple[int, int]]) -> tuple[int, int, Formula]:
    """Receptive field after Add/Concatenate: the largest of the inputs."""
    rs = [r for r, _ in inputs]
    js = [j for _, j in inputs]
    r, j = max(rs), max(js)
    text = f"r = max({', '.join(map(str, rs))}) = {r}; jump = max({', '.join(map(str, js))}) = {j}"
    return r, j, Formula("receptive field", text, r, "max over inputs")


# ---------------------------------------------------------------------- tables


@dataclass
class LayerRow:
    """One row of the layer table.

    Shapes are per image (no batch axis). Fields that do not apply to a layer
    type are ``None`` (kernel of a Dense layer) or ``""``.

    Attributes:
        index: Row number, 0-based, in execution order.
        name: Layer name.
        type: Layer class name, e.g. ``"Conv2D"``.
        path: Slash-separated location in nested models, e.g. ``"resnet50/conv1_conv"``.
        group: Coarse group, e.g. ``"block1"`` (VGG), ``"conv2_x"`` (ResNet), ``"head"``.
        block: Finer group, e.g. ``"conv2_block1"`` (ResNet residual block), or ``""``.
        depth: Nesting depth (0 = the top model).
        input_shape: Input shape, or a tuple of shapes for merge layers.
        output_shape: Output shape.
        kernel: Kernel size F as ``(Fh, Fw)``.
        strides: Stride S as ``(Sh, Sw)``.
        padding: ``"valid"``, ``"same"``, ``"explicit"`` or ``""``.
        pad: Effective zero padding ``(top, bottom, left, right)``.
        dilation: Dilation rate ``(dh, dw)``.
        filters: Filters K (conv) or units (dense).
        activation: Activation function name, ``""`` when none.
        trainable_params: Parameters updated by training.
        non_trainable_params: Parameters not updated (frozen, or BatchNorm statistics).
        act_elements: Output elements for one image.
        rf: Receptive field size in input pixels at this layer's output.
        jump: Distance in input pixels between neighbouring outputs.
        frozen: True when the layer has weights and none of them train.
        formulas: The substituted formulas for this row.
        note: One or two sentences worth knowing about this row.
        floored: True when an output size was not a whole number and was
            floored, as Keras does (the calculator's rows; ``output_shape``
            holds the floor).
        exact_output_shape: With ``floored``, the output shape before
            flooring, e.g. ``(6.5, 6.5, 64)`` where ``output_shape`` is
            ``(6, 6, 64)``; otherwise None.
        fix: With ``floored``, the changes that would make the size whole,
            e.g. ``"padding 'same' (→ 7), or an input of 30×30"``; otherwise ``""``.
    """

    index: int
    name: str
    type: str
    path: str = ""
    group: str = ""
    block: str = ""
    depth: int = 0
    input_shape: Any = None
    output_shape: tuple | None = None
    kernel: tuple[int, int] | None = None
    strides: tuple[int, int] | None = None
    padding: str = ""
    pad: tuple[int, int, int, int] | None = None
    dilation: tuple[int, int] | None = None
    filters: int | None = None
    activation: str = ""
    trainable_params: int = 0
    non_trainable_params: int = 0
    act_elements: int = 0
    rf: int | None = None
    jump: int | None = None
    frozen: bool | None = None
    formulas: tuple[Formula, ...] = ()
    note: str = ""
    floored: bool = False
    exact_output_shape: tuple | None = None
    fix: str = ""

    @property
    def params(self) -> int:
        return self.trainable_params + self.non_trainable_params

    @property
    def act_bytes(self) -> int:
        """Bytes of this layer's output for one image at float32."""
        return self.act_elements * BYTES_PER_FLOAT32

    @property
    def padding_text(self) -> str:
        """E.g. ``"same (P=1)"``, ``"same (P=0+1)"``, ``"valid (P=0)"``, ``"P=3"``."""
        if self.pad is None:
            return self.padding
        t, b, l, r = self.pad
        if t == b == l == r:
            p = str(t)
        elif (t, b) == (l, r):
            p = f"{t}+{b}"
        else:
            p = f"{t}+{b},{l}+{r}"
        return f"{self.padding} (P={p})" if self.padding else f"P={p}"

    def formula(self, name: str) -> Formula | None:
        """The formula called ``name`` (e.g. ``"parameters"``), if any."""
        for f in self.formulas:
            if f.name == name:
                return f
        return None

    def formula_text(self) -> str:
        """Every formula, one per line, for tooltips and the detail pane."""
        return "\n".join(str(f) for f in self.formulas)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["params"] = self.params
        data["act_bytes"] = self.act_bytes
        data["formulas"] = [asdict(f) for f in self.formulas]
        return data


@dataclass(frozen=True)
class Totals:
    """Whole-model figures.

    Attributes:
        total_params: Every parameter.
        trainable_params: Parameters training updates.
        frozen_params: Parameters it does not (frozen layers and BatchNorm statistics).
        activation_elements: Sum of every layer's output elements for one image
            (what a forward pass keeps for backpropagation), including the input.
        input_elements: Elements of one input image.
    """

    total_params: int
    trainable_params: int
    frozen_params: int
    activation_elements: int
    input_elements: int

    @property
    def activation_bytes(self) -> int:
        """Forward activation memory for one image at float32."""
        return self.activation_elements * BYTES_PER_FLOAT32


@dataclass(frozen=True)
class GroupSummary:
    """One block of layers (a VGG block, a ResNet stage or residual block, the head).

    Attributes:
        name: Group name, e.g. ``"conv3_x"`` or ``"conv3_block2"``.
        layers: Rows in the group.
        params: Parameters of the group.
        trainable_params: Of which trainable.
        act_elements: Output elements of all its layers for one image.
        output_shape: Output shape of its last layer.
        rf: Receptive field at its last layer.
        jump: Jump at its last layer.
    """

    name: str
    layers: int
    params: int
    trainable_params: int
    act_elements: int
    output_shape: tuple | None
    rf: int | None
    jump: int | None


@dataclass
class LayerTable:
    """A model's rows and totals."""

    name: str
    input_shape: tuple
    rows: list[LayerRow] = field(default_factory=list)

    @property
    def totals(self) -> Totals:
        trainable = sum(r.trainable_params for r in self.rows)
        frozen = sum(r.non_trainable_params for r in self.rows)
        return Totals(
            total_params=trainable + frozen,
            trainable_params=trainable,
            frozen_params=frozen,
            activation_elements=sum(r.act_elements for r in self.rows),
            input_elements=prod(self.input_shape),
        )

    @property
    def floored_rows(self) -> list[LayerRow]:
        """Rows whose output size was not a whole number and was floored (see :attr:`LayerRow.floored`)."""
        return [r for r in self.rows if r.floored]

    def row(self, name: str) -> LayerRow:
        """The row of layer ``name`` (or its path)."""
        for r in self.rows:
            if r.name == name or r.path == name:
                return r
        raise KeyError(f"no layer named {name!r} in {self.name}. Received: {name!r}")

    def names(self) -> list[str]:
        return [r.name for r in self.rows]

    def groups(self, level: str = "group") -> list[GroupSummary]:
        """Rows summed by ``group`` (stages: ``conv2_x``) or ``block`` (``conv2_block1``), in order.

        With ``level="block"``, rows without a block fall back to their group.
        """
        if level not in ("group", "block"):
            raise ValueError(f"level must be 'group' or 'block'. Received: level={level!r}")
        order: list[str] = []
        members: dict[str, list[LayerRow]] = {}
        for r in self.rows:
            key = (r.block or r.group) if level == "block" else r.group
            key = key or "(other)"
            if key not in members:
                order.append(key)
                members[key] = []
            members[key].append(r)
        out = []
        for key in order:
            rs = members[key]
            last = rs[-1]
            out.append(
                GroupSummary(
                    name=key,
                    layers=len(rs),
                    params=sum(r.params for r in rs),
                    trainable_params=sum(r.trainable_params for r in rs),
                    act_elements=sum(r.act_elements for r in rs),
                    output_shape=last.output_shape,
                    rf=last.rf,
                    jump=last.jump,
                )
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        t = self.totals
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "totals": {**asdict(t), "activation_bytes": t.activation_bytes},
            "rows": [r.to_dict() for r in self.rows],
            "groups": [asdict(g) for g in self.groups()],
            "floored": [r.name for r in self.floored_rows],
        }


# ---------------------------------------------------------------------- memory


@dataclass(frozen=True)
class MemoryEstimate:
    """Training memory for one batch size, in bytes (float32).

    The estimate counts what backpropagation must hold at once: every layer's
    activations and their gradients for the batch, the input batch, the
    weights, their gradients (trainable only) and the optimizer's slots
    (Adam keeps two per trainable weight). It counts an activation gradient for
    every layer, even frozen ones at the start of the network that need none,
    and ignores framework workspace and fragmentation; keep a 10-30% margin.
    """

    batch_size: int
    optimizer: str
    params_bytes: int
    grads_bytes: int
    optimizer_bytes: int
    activations_bytes: int
    activation_grads_bytes: int
    input_bytes: int

    @property
    def fixed_bytes(self) -> int:
        """Memory that does not grow with the batch."""
        return self.params_bytes + self.grads_bytes + self.optimizer_bytes

    @property
    def per_batch_bytes(self) -> int:
        """Memory that grows with the batch."""
        return self.activations_bytes + self.activation_grads_bytes + self.input_bytes

    @property
    def total_bytes(self) -> int:
        return self.fixed_bytes + self.per_batch_bytes

    def lines(self) -> list[str]:
        """Readable breakdown, one item per line."""
        return [
            f"weights: {human_bytes(self.params_bytes)}",
            f"weight gradients: {human_bytes(self.grads_bytes)}",
            f"optimizer slots ({self.optimizer}): {human_bytes(self.optimizer_bytes)}",
            f"activations × {self.batch_size}: {human_bytes(self.activations_bytes)}",
            f"activation gradients × {self.batch_size}: {human_bytes(self.activation_grads_bytes)}",
            f"input batch: {human_bytes(self.input_bytes)}",
            f"total: {human_bytes(self.total_bytes)}",
        ]


def _slots(optimizer: str) -> int:
    key = optimizer.lower()
    if key not in OPTIMIZER_SLOTS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZER_SLOTS)}. Received: optimizer={optimizer!r}")
    return OPTIMIZER_SLOTS[key]


def training_memory(totals: Totals, batch_size: int, optimizer: str = "adam") -> MemoryEstimate:
    """Estimate the memory one training step needs at ``batch_size``."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1. Received: batch_size={batch_size!r}")
    b = BYTES_PER_FLOAT32
    # The input is counted once as a batch; activation_elements includes it too
    # (its row), so the "activations" term excludes it to avoid double counting.
    acts = (totals.activation_elements - totals.input_elements) * batch_size * b
    return MemoryEstimate(
        batch_size=batch_size,
        optimizer=optimizer,
        params_bytes=totals.total_params * b,
        grads_bytes=totals.trainable_params * b,
        optimizer_bytes=totals.trainable_params * b * _slots(optimizer),
        activations_bytes=acts,
        activation_grads_bytes=acts,
        input_bytes=totals.input_elements * batch_size * b,
    )


def largest_batch(totals: Totals, budget_bytes: float, optimizer: str = "adam") -> int:
    """The largest batch size whose :func:`training_memory` fits ``budget_bytes`` (0 if none)."""
    one = training_memory(totals, 1, optimizer)
    per_image = one.per_batch_bytes
    room = budget_bytes - one.fixed_bytes
    if room < per_image or per_image <= 0:
        return 0
    return int(room // per_image)
