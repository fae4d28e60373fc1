"""Show or hide a table's columns from its header's context menu, remembered in QSettings."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QTableView

log = logging.getLogger(__name__)


class ColumnChooser(QObject):
    """A checkable list of a view's columns: right-click the header, or use :meth:`menu` on a button.

    Signals:
        changed(): the user showed or hid a column.

    Args:
        view: The table view whose columns are shown or hidden.
        columns: ``(title, key)`` for every column of the view's model, in order.
        default: Keys shown until the user chooses; also what "Default columns" restores.
        fixed: Keys that stay shown (they are listed, ticked and disabled).
        settings_key: QSettings key holding the shown keys.
        tips: Explanation of a column by key, shown beside its title in the menu.
    """

    changed = Signal()

    def __init__(
        self,
        view: QTableView,
        columns: Sequence[tuple[str, str]],
        default: Sequence[str],
        fixed: Sequence[str] = (),
        settings_key: str = "",
        tips: Mapping[str, str] | None = None,
    ):
        super().__init__(view)
        self.view = view
        self.columns = tuple(columns)
        self.keys = tuple(key for _, key in self.columns)
        self.default = tuple(default)
        self.fixed = frozenset(fixed)
        self.settings_key = settings_key
        self.tips = dict(tips or {})
        header = view.horizontalHeader()
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(lambda pos: self.menu().exec(header.mapToGlobal(pos)))
        self.apply(self._stored())

    def _stored(self) -> tuple[str, ...]:
        if not self.settings_key:
            return self.default
        value = QSettings().value(self.settings_key)
        if value is None:
            return self.default
        keys = [value] if isinstance(value, str) else list(value)
        known = tuple(k for k in keys if k in self.keys)
        if len(known) != len(keys):
            log.warning("ignoring unknown columns %s in the setting %s", sorted(set(keys) - set(known)), self.settings_key)
        return known or self.default

    def shown(self) -> tuple[str, ...]:
        """Keys of the columns shown now, in model order."""
        return tuple(key for i, key in enumerate(self.keys) if not self.view.isColumnHidden(i))

    def apply(self, keys: Sequence[str]) -> None:
        """Show exactly ``keys`` (plus the fixed columns)."""
        wanted = set(keys) | self.fixed
        for i, key in enumerate(self.keys):
            self.view.setColumnHidden(i, key not in wanted)

    def set_shown(self, key: str, shown: bool) -> None:
        """Show or hide one column and remember the choice."""
        if key in self.fixed:
            return
        keys = set(self.shown())
        (keys.add if shown else keys.discard)(key)
        self.apply(keys)
        self._store()
        self.changed.emit()

    def reset(self) -> None:
        """Back to the default columns, and forget the stored choice."""
        self.apply(self.default)
        if self.settings_key:
            QSettings().remove(self.settings_key)
        self.changed.emit()

    def _store(self) -> None:
        if self.settings_key:
            QSettings().setValue(self.settings_key, list(self.shown()))

    def menu(self, parent=None) -> QMenu:
        """A fresh menu: one checkable entry per column, then "Default columns"."""
        menu = QMenu(parent or self.view)
        shown = set(self.shown())
        for title, key in self.columns:
            tip = self.tips.get(key, "")
            action = QAction(title if not tip else f"{title} — {tip}", menu)
            action.setCheckable(True)
            action.setChecked(key in shown)
            action.setEnabled(key not in self.fixed)
            action.toggled.connect(lambda on, k=key: self.set_shown(k, on))
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction("Default columns", self.reset)
        return menu
