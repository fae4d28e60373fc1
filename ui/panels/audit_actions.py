"""What the Audit tab's buttons do: Relabel, Exclude, Looks right, and Undo.

Every decision goes into the current project
(:attr:`tlstudio.project.Project.decisions`, autosaved a moment later):

* **Relabel** records a label override (the project says the image is of the
  suggested class), then offers to move the file into that class folder. The
  question shows both full paths; only "Move" moves it (a rename,
  :func:`tlstudio.io.move_image.move_image`: never an overwrite). After a move
  the folder carries the label, so the override is dropped, and the dataset
  is scanned again.
* **Exclude** adds the image to the project's exclusion list; the file is untouched.
* **Looks right** dismisses the finding.

Every change is copied into the state's :class:`~tlstudio.config.DataConfig`
(``exclude``, ``relabel``: :meth:`AuditActions.sync_data_config`), which is
what training, evaluation and export see.

Nothing is ever deleted. Each action pushes one entry on an undo stack;
:meth:`AuditActions.undo` reverts the newest (a move is undone by moving the
file back, which never overwrites either).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from tlstudio.dataset_decisions import DatasetDecisions, finding_key
from tlstudio.errors import TlStudioError
from tlstudio.io.move_image import class_target, move_image
from ui.state import AppState

logger = logging.getLogger(__name__)


@dataclass
class UndoEntry:
    """One action the user can take back.

    Attributes:
        text: What it did, for the Undo button's tooltip ("Relabel ants/1.jpg as bees").
        undo: Takes it back; raises :class:`~tlstudio.errors.TlStudioError` when it cannot.
        moved: True when the action moved a file (undoing it rescans the dataset).
    """

    text: str
    undo: Callable[[], None]
    moved: bool = False


def move_question(source: str, target: Path, label: str) -> str:
    """The confirmation text of a move: both full paths and what "No" leaves."""
    return (
        f"Move this image into the class folder “{label}”?\n\n"
        f"From:\n{source}\n\nTo:\n{target}\n\n"
        "The file is renamed, not copied or changed; Undo moves it back. "
        f"Keep in place leaves the file where it is; the project records its class as “{label}” either way."
    )


class AuditActions(QObject):
    """Applies the Audit tab's decisions to the current project and the dataset folder.

    Args:
        state: The shared :class:`~ui.state.AppState` (its project controller holds the project).
        parent: The widget dialogs are shown over.

    Attributes:
        confirm: ``confirm(title, text) -> bool`` asks the user (a Yes/No
            message box); tests replace it to answer.
        moved: Image path before a move -> path after, for the moves not undone.

    Signals:
        changed(str): a decision was made or undone; a sentence for the status line.
        failed(str): an action could not be done; a sentence naming the file and why.
        dataset_changed(): a file moved; the dataset should be scanned again.
    """

    changed = Signal(str)
    failed = Signal(str)
    dataset_changed = Signal()

    def __init__(self, state: AppState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = state
        self._parent = parent
        self.undo_stack: list[UndoEntry] = []
        self.moved: dict[str, str] = {}
        self.confirm: Callable[[str, str], bool] = self._ask
        self._watched: Any = None

    def _forget(self, _project: object = None) -> None:
        self.undo_stack.clear()
        self.moved.clear()
        self.sync_data_config()  # another project: its decisions

    def sync_data_config(self) -> None:
        """Copy the project's exclusions and label overrides into the state's DataConfig.

        The engine sees only the configs: training, evaluation, export, the
        audit and the embedding map honour ``DataConfig.exclude`` and
        ``DataConfig.relabel`` (:mod:`tlstudio.data.decisions`).
        """
        decisions = self.decisions
        self.state.update_data_config(
            exclude=tuple(sorted(decisions.excluded)),
            relabel=tuple(sorted(decisions.label_overrides.items())),
        )

    # ------------------------------------------------------------- project

    @property
    def controller(self):
        from ui.project_controller import project_controller

        # Looked up on first use only: creating the controller makes it autosave every config change.
        controller = project_controller(self.state)
        if controller is not self._watched:
            controller.project_changed.connect(self._forget)  # undo belongs to the project it changed
            self._watched = controller
        return controller

    @property
    def decisions(self) -> DatasetDecisions:
        """The decisions of the current project."""
        return self.controller.project.decisions

    def _saved(self, text: str) -> None:
        # Marks the project dirty and schedules its autosave, as every other project change does.
        self.controller._changed()
        self.sync_data_config()
        self.changed.emit(text)

    # ------------------------------------------------------------- actions

    def relabel(self, path: str, given: str, label: str) -> bool:
        """Record that ``path`` is of class ``label``; offer to move it there. True when it moved."""
        decisions = self.decisions
        previous = decisions.label_overrides.get(path)
        decisions.relabel(path, label)
        name = shown_path(path, self.state.data_config.root)
        try:
            target = class_target(path, given, label)
        except TlStudioError as exc:  # not in a class folder of that name: the override is all we can do
            logger.info("not offering to move %s: %s", path, exc)
            self._push(f"Relabel {name} as {label}", lambda: self._restore_override(path, previous))
            self._saved(f"{name} is recorded as {label} in the project (the file stays: {exc})")
            return False
        if not self.confirm("Move the image to another class folder?", move_question(path, target, label)):
            self._push(f"Relabel {name} as {label}", lambda: self._restore_override(path, previous))
            self._saved(f"{name} is recorded as {label} in the project; the file was not moved.")
            return False
        try:
            moved_to = move_image(path, target)
        except TlStudioError as exc:
            self._restore_override(path, previous)
            self.failed.emit(f"Could not move the image: {exc}")
            return False
        decisions.clear_label(path)  # its folder now says its class
        self.moved[path] = str(moved_to)

        def undo_move() -> None:
            move_image(moved_to, path)
            self.moved.pop(path, None)
            self._restore_override(path, previous)

        self._push(f"Move {name} to {label}", undo_move, moved=True)
        self._saved(f"Moved {path} to {moved_to}.")
        self.dataset_changed.emit()
        return True

    def exclude(self, path: str) -> None:
        """Add ``path`` to the project's exclusion list (the file is untouched)."""
        decisions = self.decisions
        if path in decisions.excluded:
            return
        decisions.exclude(path)
        self._push(f"Exclude {shown_path(path, self.state.data_config.root)}", lambda: decisions.include(path))
        self._saved(f"{shown_path(path, self.state.data_config.root)} is excluded from training, evaluation and export (the file is untouched).")

    def dismiss(self, kind: str, paths: list[str] | tuple[str, ...]) -> None:
        """Mark the ``kind`` finding about ``paths`` as looking right."""
        decisions = self.decisions
        keys = [finding_key(kind, p) for p in paths if finding_key(kind, p) not in decisions.dismissed]
        for key in keys:
            decisions.dismiss(key)

        def undo() -> None:
            for key in keys:
                decisions.undismiss(key)

        what = shown_path(paths[0], self.state.data_config.root) + (f" and {len(paths) - 1} more" if len(paths) > 1 else "")
        self._push(f"Looks right: {what}", undo)
        self._saved(f"{what}: marked as looking right.")

    # ---------------------------------------------------------------- undo

    def can_undo(self) -> bool:
        return bool(self.undo_stack)

    def undo_text(self) -> str:
        """What Undo would take back ("" when nothing)."""
        return self.undo_stack[-1].text if self.undo_stack else ""

    def undo(self) -> bool:
        """Take back the newest action; False (and ``failed``) when it cannot be undone."""
        if not self.undo_stack:
            return False
        entry = self.undo_stack[-1]
        try:
            entry.undo()
        except TlStudioError as exc:
            self.failed.emit(f"Could not undo “{entry.text}”: {exc}")
            return False
        self.undo_stack.pop()
        self._saved(f"Undone: {entry.text}.")
        if entry.moved:
            self.dataset_changed.emit()
        return True

    # ------------------------------------------------------------ internals

    def _push(self, text: str, undo: Callable[[], None], moved: bool = False) -> None:
        self.undo_stack.append(UndoEntry(text, undo, moved))

    def _restore_override(self, path: str, previous: str | None) -> None:
        if previous is None:
            self.decisions.clear_label(path)
        else:
            self.decisions.relabel(path, previous)

    def _ask(self, title: str, text: str) -> bool:
        box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=self._parent)
        move = box.addButton("Move", QMessageBox.ButtonRole.YesRole)
        keep = box.addButton("Keep in place", QMessageBox.ButtonRole.NoRole)
        box.setDefaultButton(keep)
        box.exec()
        return box.clickedButton() is move


def shown_path(path: str, root: str = "") -> str:
    """``path`` as a status line names it: relative to the dataset folder ``root`` (``val/ants/x.jpg``), else ``class/file.jpg``."""
    p = Path(path)
    if root:
        try:
            return p.relative_to(root).as_posix()
        except ValueError:
            pass
    return f"{p.parent.name}/{p.name}"
