"""The layer table as a Qt model: display text, sortable values, formula tooltips, a name filter.

It shows a :class:`~tlstudio.shapes.formulas.LayerTable`, the plain data
the engine's ``inspect_table`` job returns.
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor

from tlstudio.shapes import formulas as fm

HEADER_TIPS = {
    "F": "Kernel (window) size",
    "S": "Stride",
    "K": "Filters (conv) or units (dense)",
    "RF": "Receptive field: input pixels one output value sees",
    "Jump": "Input pixels between neighbouring outputs (effective stride)",
    "Act. memory": "Output size for one image at float32",
}
"""Header tooltips of the columns whose short titles need one."""

DEFAULT_COLUMNS = ("index", "path", "output_shape", "params")
"""Columns shown until the user chooses others: the rest is in the Details tab and the header's menu."""

FIXED_COLUMNS = ("index", "path")
"""Columns the column chooser cannot hide: without them a row names nothing."""

_RIGHT_ALIGNED = frozenset({"index", "params", "trainable_params", "act_bytes", "rf", "jump", "filters"})


def shape_text(shape: Any) -> str:
    """A shape as ``"32×32×64"`` (``?`` for an unknown size, ``" + "`` between a merge's inputs)."""
    if shape is None:
        return ""
    if shape and isinstance(shape[0], tuple):
        return " + ".join(shape_text(s) for s in shape)
    return "×".join("?" if v is None else str(v) for v in shape)


def pair_text(pair: Any) -> str:
    """A kernel or stride pair: ``"3"`` when both sides agree, ``"1×7"`` otherwise."""
    if not pair:
        return ""
    return str(pair[0]) if len(set(pair)) == 1 else "×".join(map(str, pair))


def layer_role(row: Any) -> tuple[str, str]:
    """``(tag, explanation)`` for a row whose purpose its name hides, or ``("", "")``.

    The tag (may be empty) follows the name in the table; the explanation goes
    in the row's tooltip and at the top of the Details tab.

    The app's model holds two kinds of layers that look alike in a table: the
    training-only augmentation (``augmentation/aug_flip``, a ``RandomFlip``)
    and the preprocessing's channel flip (``preprocess/flip``, the ``Flip`` of
    ``keras.ops.flip``), which mirrors colours, not the image.
    """
    path = row.path or row.name
    if path.startswith("augmentation/") or row.type.startswith("Random"):
        return (
            "training only",
            f"Training-only augmentation ({row.type}): it changes the images only while the model trains. "
            "At inference (Evaluate, predictions, Grad-CAM, activations and every export) it is inactive "
            "and passes the image through unchanged.",
        )
    if path.startswith("preprocess/") and row.type == "Flip":
        return (
            "RGB → BGR",
            "Part of the backbone's own preprocessing: reverses the colour channels, RGB → BGR, because the "
            "backbone was trained on BGR images. It does not mirror the image and is no augmentation: it runs "
            "in training and at inference alike.",
        )
    if path.startswith("preprocess/") and row.type == "Rescaling":
        return (
            "",
            "Part of the backbone's own preprocessing (no weights): scales or shifts the raw 0..255 pixels to "
            "the range the backbone was trained on, in training and at inference alike.",
        )
    return "", ""


class LayerTableModel(QAbstractTableModel):
    """Qt model over a :class:`~tlstudio.shapes.formulas.LayerTable`.

    ``Qt.UserRole`` gives sortable values (numbers for numeric columns).
    """

    COLUMNS = (
        ("#", "index"),
        ("Layer", "path"),
        ("Type", "type"),
        ("Group", "group"),
        ("Output", "output_shape"),
        ("F", "kernel"),
        ("S", "strides"),
        ("Padding", "padding"),
        ("K", "filters"),
        ("Activation", "activation"),
        ("Params", "params"),
        ("Trainable", "trainable_params"),
        ("Act. memory", "act_bytes"),
        ("RF", "rf"),
        ("Jump", "jump"),
        ("State", "frozen"),
    )

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list = []

    def set_table(self, table: Any) -> None:
        """Show the rows of ``table`` (None empties the model)."""
        self.beginResetModel()
        self.rows = list(table.rows) if table is not None else []
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section][0]
        if role == Qt.ItemDataRole.ToolTipRole:
            tip = HEADER_TIPS.get(self.COLUMNS[section][0])
            return (f"{tip}\n" if tip else "") + "Right-click to show or hide columns."
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        key = self.COLUMNS[index.column()][1]
        if role == Qt.ItemDataRole.DisplayRole:
            return display_text(row, key)
        if role == Qt.ItemDataRole.UserRole:
            return sort_value(row, key)
        if role == Qt.ItemDataRole.ToolTipRole:
            tip = row.formula_text() or "No formula: this layer keeps the shape and has no parameters."
            role_note = layer_role(row)[1]
            notes = "".join(f"\n\n{n}" for n in (role_note, row.note) if n)
            return f"{row.path or row.name} ({row.type})\n{tip}{notes}"
        if role == Qt.ItemDataRole.ForegroundRole and key == "path" and layer_role(row)[0] == "training only":
            return QColor("#9a6b00")
        if role == Qt.ItemDataRole.TextAlignmentRole and key in _RIGHT_ALIGNED:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and key == "frozen" and row.frozen is not None:
            return QColor("#2f7fd0") if row.frozen else QColor("#2e9a4a")
        return None


def sort_value(row: Any, key: str) -> Any:
    """The value column ``key`` of ``row`` sorts by (a number for shapes, sizes and counts)."""
    value = getattr(row, key, None)
    if key in ("output_shape", "kernel", "strides"):
        return fm.prod(value) if value else -1
    if value is None:
        return -1
    if isinstance(value, bool):
        return int(value)
    return value


def display_text(row: Any, key: str) -> str:
    """The text column ``key`` of ``row`` shows."""
    if key == "index":
        return str(row.index)
    if key == "path":
        tag = layer_role(row)[0]
        return ("    " * row.depth) + row.name + (f"  · {tag}" if tag else "")
    if key == "output_shape":
        return shape_text(row.output_shape)
    if key in ("kernel", "strides"):
        return pair_text(getattr(row, key))
    if key == "padding":
        return row.padding_text
    if key == "params":
        return f"{row.params:,}" if row.params else ""
    if key == "trainable_params":
        return f"{row.trainable_params:,}" if row.params else ""
    if key == "act_bytes":
        return fm.human_bytes(row.act_bytes)
    if key == "frozen":
        return "" if row.frozen is None else ("frozen" if row.frozen else "trainable")
    if key == "group":
        return f"{row.group} / {row.block}" if row.block else row.group
    value = getattr(row, key, None)
    return "" if value is None else str(value)


class LayerFilterProxy(QSortFilterProxyModel):
    """Sorts by ``Qt.UserRole`` and keeps the rows whose name, type or group hold every typed word."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSortRole(Qt.ItemDataRole.UserRole)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self._text = ""

    def set_text(self, text: str) -> None:
        """Filter on ``text`` (words separated by spaces; empty shows every row)."""
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.10
            self.beginFilterChange()
            self._text = text.strip().lower()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:  # pragma: no cover - older Qt
            self._text = text.strip().lower()
            self.invalidateFilter()

    def filterAcceptsRow(self, source_row, source_parent):  # noqa: N802
        if not self._text:
            return True
        row = self.sourceModel().rows[source_row]
        hay = f"{row.path} {row.type} {row.group} {row.block}".lower()
        return all(word in hay for word in self._text.split())


def detail_html(row: Any) -> str:
    """The Details pane for one row: shapes, settings and every formula."""
    e = html.escape
    parts = [f"<h3>{e(row.path or row.name)} <small>({e(row.type)})</small></h3>"]
    role_note = layer_role(row)[1]
    if role_note:
        parts.append(f"<p style='background:#fff3cd; color:#5a4300; padding:4px'>{e(role_note)}</p>")
    facts = [
        ("Group", f"{row.group} / {row.block}" if row.block else row.group),
        ("Input", shape_text(row.input_shape)),
        ("Output", shape_text(row.output_shape)),
        ("Kernel F", pair_text(row.kernel)),
        ("Stride S", pair_text(row.strides)),
        ("Padding", row.padding_text),
        ("Dilation", pair_text(row.dilation) if row.dilation and set(row.dilation) != {1} else ""),
        ("Filters K", "" if row.filters is None else str(row.filters)),
        ("Activation", row.activation),
        ("Parameters", f"{row.params:,} ({row.trainable_params:,} trainable, {row.non_trainable_params:,} not)" if row.params else "none"),
        ("Activation memory", f"{row.act_elements:,} values = {fm.human_bytes(row.act_bytes)} per image"),
        ("Receptive field", f"{row.rf} px, jump {row.jump}" if row.rf is not None else ""),
        ("State", "" if row.frozen is None else ("frozen" if row.frozen else "trainable")),
    ]
    parts.append("<table cellspacing='2'>")
    for k, v in facts:
        if v:
            parts.append(f"<tr><td><b>{e(k)}</b>&nbsp;&nbsp;</td><td>{e(v)}</td></tr>")
    parts.append("</table>")
    if row.formulas:
        parts.append("<h4>Formulas</h4><ul>")
        for f in row.formulas:
            general = f" <span style='color:gray'>[{e(f.general)}]</span>" if f.general else ""
            parts.append(f"<li><b>{e(f.name)}</b>{general}:<br><code>{e(f.text)}</code></li>")
        parts.append("</ul>")
    if row.note:
        parts.append(f"<p><i>{e(row.note)}</i></p>")
    return "".join(parts)
