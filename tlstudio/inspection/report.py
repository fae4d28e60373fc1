"""Render inspector outputs: tables as Markdown or CSV, arrays as PNG.

Plain Python plus Pillow; no TensorFlow.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
from PIL import Image

from tlstudio.io.atomic import atomic_path
from tlstudio.shapes.formulas import LayerTable, MemoryEstimate, human_bytes

COLUMNS = (
    "index", "path", "type", "group", "block", "input_shape", "output_shape", "kernel", "strides", "padding",
    "dilation", "filters", "activation", "trainable_params", "non_trainable_params", "act_elements", "act_bytes",
    "rf", "jump", "frozen", "formulas",
)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple):
        if value and isinstance(value[0], tuple):
            return " + ".join("×".join("?" if v is None else str(v) for v in s) for s in value)
        return "×".join("?" if v is None else str(v) for v in value)
    if isinstance(value, bool):
        return "frozen" if value else "trainable"
    return str(value)


def _rows(table: LayerTable) -> list[list[str]]:
    out = []
    for r in table.rows:
        values = {
            "index": r.index, "path": r.path or r.name, "type": r.type, "group": r.group, "block": r.block,
            "input_shape": r.input_shape, "output_shape": r.output_shape, "kernel": r.kernel, "strides": r.strides,
            "padding": r.padding_text, "dilation": r.dilation, "filters": r.filters, "activation": r.activation,
            "trainable_params": r.trainable_params, "non_trainable_params": r.non_trainable_params,
            "act_elements": r.act_elements, "act_bytes": r.act_bytes, "rf": r.rf, "jump": r.jump,
            "frozen": r.frozen, "formulas": "; ".join(str(f) for f in r.formulas),
        }
        out.append([_cell(values[c]) for c in COLUMNS])
    return out


def totals_lines(table: LayerTable) -> list[str]:
    t = table.totals
    return [
        f"Parameters: {t.total_params:,} total, {t.trainable_params:,} trainable, {t.frozen_params:,} frozen",
        f"Activations per image (forward): {t.activation_elements:,} values = {human_bytes(t.activation_bytes)} at float32",
    ]


def to_markdown(table: LayerTable, memory: MemoryEstimate | None = None) -> str:
    """The table as GitHub Markdown, totals (and a memory estimate) underneath."""
    lines = [f"# {table.name}", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for cells in _rows(table):
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += [""] + [f"- {x}" for x in totals_lines(table)]
    groups = table.groups()
    if len(groups) > 1:
        lines += ["", "## Blocks", "", "| block | layers | params | trainable | activations | output | rf | jump |", "|---|---|---|---|---|---|---|---|"]
        for g in groups:
            lines.append(
                f"| {g.name} | {g.layers} | {g.params:,} | {g.trainable_params:,} | {human_bytes(g.act_elements * 4)} | "
                f"{_cell(g.output_shape)} | {_cell(g.rf)} | {_cell(g.jump)} |"
            )
    if memory is not None:
        lines += ["", f"Training memory at batch {memory.batch_size}:"] + [f"- {x}" for x in memory.lines()]
    return "\n".join(lines) + "\n"


def to_csv(table: LayerTable) -> str:
    """The table as CSV with a header row."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(COLUMNS)
    writer.writerows(_rows(table))
    return buf.getvalue()


def save_png(array: np.ndarray, path: str | Path) -> Path:
    """Write an (H, W) or (H, W, 3) uint8 array as PNG and return the path."""
    arr = np.asarray(array)
    if arr.dtype != np.uint8:
        raise ValueError(f"save_png expects uint8. Received: dtype={arr.dtype}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Image.fromarray(arr).save(tmp, format="PNG")
    return path


def grid(tiles: np.ndarray, cols: int | None = None, scale: int = 1, pad: int = 1, pad_value: int = 40) -> np.ndarray:
    """Arrange N tiles (N, h, w) or (N, h, w, 3) uint8 into one grid image.

    The grid has ``cols`` columns (default ``ceil(sqrt(N))``), each tile
    enlarged ``scale`` times (nearest neighbour) with ``pad`` pixels between.
    Returns an (H, W) or (H, W, 3) uint8 array of height
    ``rows·(h·scale + pad) + pad``.
    """
    tiles = np.asarray(tiles)
    n = tiles.shape[0]
    if n == 0:
        raise ValueError("grid needs at least one tile. Received: 0 tiles")
    cols = cols or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    if scale > 1:
        tiles = tiles.repeat(scale, axis=1).repeat(scale, axis=2)
    h, w = tiles.shape[1], tiles.shape[2]
    shape = (rows * (h + pad) + pad, cols * (w + pad) + pad) + tiles.shape[3:]
    out = np.full(shape, pad_value, dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        out[y : y + h, x : x + w] = tiles[i]
    return out


def normalise(a: np.ndarray, axis=None) -> np.ndarray:
    """Scale to 0..255 uint8 (per slice when ``axis`` is given); a constant maps to 128."""
    a = np.asarray(a, dtype=np.float32)
    lo = a.min(axis=axis, keepdims=True)
    hi = a.max(axis=axis, keepdims=True)
    span = hi - lo
    out = np.where(span > 0, (a - lo) / np.where(span > 0, span, 1), 0.5)
    return (out * 255).round().astype(np.uint8)
