"""The Inspect page's layer table: a sortable, filterable list of the inspected model's layers.

It shows #, layer, output and parameters by default; the header's column menu
(remembered in QSettings) shows F/S/P, filters, activation memory, receptive
field, frozen state and the rest. The Layer column takes the width the other
columns leave. Each row's tooltip holds its formulas with the numbers substituted.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from tlstudio.shapes import formulas as fm
from tlstudio.shapes.formulas import LayerRow, LayerTable
from ui.widgets.column_chooser import ColumnChooser
from ui.widgets.images import wrapping_label
from ui.widgets.layer_table_model import (
    DEFAULT_COLUMNS,
    FIXED_COLUMNS,
    HEADER_TIPS,
    LayerFilterProxy,
    LayerTableModel,
)

LAYER_COLUMN_MIN = 110
"""Narrowest the Layer column gets when the view is short of room (names elide; the tooltip keeps them)."""

COLUMNS_KEY = "inspect/layer_columns"
"""QSettings key of the layer table's shown columns."""


class LayerTablePanel(QWidget):
    """The filter box, Columns and Save buttons above the layer table, the totals below.

    Args:
        parent: Parent widget.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.table_model = LayerTableModel(self)
        self.proxy = LayerFilterProxy(self)
        self.proxy.setSourceModel(self.table_model)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setAlternatingRowColors(True)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(22)
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        # the Layer column, not the last one, takes the width left over (_fit_columns)
        self.view.horizontalHeader().setStretchLastSection(False)
        self.view.horizontalHeader().setResizeContentsPrecision(0)  # size columns from the visible rows: ResNet152 has 500+ rows
        self.view.setMinimumWidth(300)
        self.view.viewport().installEventFilter(self)
        self.columns = ColumnChooser(
            self.view, LayerTableModel.COLUMNS, DEFAULT_COLUMNS, FIXED_COLUMNS, COLUMNS_KEY,
            tips={key: HEADER_TIPS[title] for title, key in LayerTableModel.COLUMNS if title in HEADER_TIPS},
        )
        self.columns_button = QToolButton()
        self.columns_button.setText("Columns")
        self.columns_button.setToolTip(
            "Show or hide columns (also a right-click on the header); every value is in the Details tab"
        )
        self.columns.changed.connect(self.size_columns)
        self.columns_button.clicked.connect(
            lambda: self.columns.menu(self).exec(self.columns_button.mapToGlobal(self.columns_button.rect().bottomLeft()))
        )
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter layers: name, type or group (e.g. conv3_x, Conv2D)")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.set_text)
        self.totals_label = wrapping_label("")
        self.save_button = QPushButton("Save table…")
        self.save_button.setToolTip("Write the layer table with its formulas as Markdown (.md) or CSV (.csv)")
        self.save_button.setEnabled(False)
        filter_row = QHBoxLayout()
        filter_row.addWidget(self.filter_edit, 1)
        filter_row.addWidget(self.columns_button)
        filter_row.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(filter_row)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.totals_label)

    def set_table(self, table: LayerTable) -> None:
        """Show ``table``'s rows and totals, keeping the user's sort."""
        # The rows arrive in model order, which is the default sort (# ascending):
        # replace them unsorted and sort only when the user chose another column.
        # Sorting 515 ResNet152 rows through the proxy costs ~35 ms of GUI time.
        header = self.view.horizontalHeader()
        column, order = header.sortIndicatorSection(), header.sortIndicatorOrder()
        self.proxy.sort(-1)
        self.table_model.set_table(table)
        if (column, order) != (0, Qt.SortOrder.AscendingOrder):
            self.proxy.sort(column, order)
        self.size_columns()
        t = table.totals
        self.totals_label.setText(
            f"<b>{len(table.rows)} layers</b> · parameters {t.total_params:,} "
            f"(trainable {t.trainable_params:,}, non-trainable {t.frozen_params:,}) · "
            f"activations {fm.human_bytes(t.activation_bytes)} per image"
        )
        self.save_button.setEnabled(True)

    def size_columns(self) -> None:
        """Size the columns from their contents; the Layer column takes what is left (see :meth:`_fit_columns`)."""
        self.view.resizeColumnsToContents()
        self._fit_columns()

    def _fit_columns(self) -> None:
        """Give the Layer column the width the other shown columns leave, at least :data:`LAYER_COLUMN_MIN`.

        Below that, names elide (the tooltip keeps them) and the view scrolls sideways.
        """
        shown = [i for i in range(self.table_model.columnCount()) if not self.view.isColumnHidden(i)]
        if 1 not in shown:
            return
        others = sum(self.view.columnWidth(i) for i in shown if i != 1)
        self.view.setColumnWidth(1, max(LAYER_COLUMN_MIN, self.view.viewport().width() - others))

    def eventFilter(self, watched, event) -> bool:  # noqa: N802
        """Keep the shown columns inside the table when its viewport narrows."""
        if watched is self.view.viewport() and event.type() == QEvent.Type.Resize:
            self._fit_columns()
        return super().eventFilter(watched, event)

    def selected_row(self) -> LayerRow | None:
        """The row selected in the table, or None."""
        index = self.view.currentIndex()
        if not index.isValid():
            return None
        return self.table_model.rows[self.proxy.mapToSource(index).row()]

    def select_layer(self, name: str) -> None:
        """Select the row of layer ``name`` (or path).

        Raises:
            KeyError: the table has no such layer.
        """
        for r, row in enumerate(self.table_model.rows):
            if row.name == name or row.path == name:
                index = self.proxy.mapFromSource(self.table_model.index(r, 0))
                self.view.setCurrentIndex(index)
                self.view.scrollTo(index)
                return
        raise KeyError(f"the shown table has no layer called {name!r}. Received: {name!r}")
