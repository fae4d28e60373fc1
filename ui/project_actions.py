"""Projects in the GUI: the File-menu actions and their questions.

The project itself is kept by :class:`ui.project_controller.ProjectController`.
:func:`install_project_actions` adds New / Open / Open recent / Save / Save As
and "Clear caches…" to the main window's File menu and offers to recover an
autosave left by a crash.

Recovery: each session autosaves to its own file, so nothing this session
does can write over a crashed session's autosave. The offer is a modal
question asked as soon as the event loop runs, and autosaving is held until
it is answered. "Restore" opens the autosave (kept until the project is
saved), "Discard" deletes it, and closing the question any other way keeps
it for the next start.

Closing the window asks whether to save a project with unsaved changes
(Save / Don't save / Cancel), listing every run that not saving would drop
from the project; a clean close removes this session's autosave, so the next
start only offers recovery after a crash.

Opening a project with damaged runs opens the rest and shows one warning
naming each damaged file and field. Everything here is light: the project
module never loads TensorFlow.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMenu, QMessageBox, QWidget

from tlstudio.errors import TlStudioError
from tlstudio.project import PROJECT_SUFFIX, Project, discard_autosave
from ui.project_controller import FILE_FILTER, ProjectController, last_run, project_controller, recent_projects

RESTORE, DISCARD, KEEP = "restore", "discard", "keep"
"""Answers to the recovery offer."""

SAVE, DONT_SAVE, CANCEL = "save", "dont-save", "cancel"
"""Answers to the save question when the window closes."""

logger = logging.getLogger(__name__)


class ProjectActions(QObject):
    """The File-menu actions of one main window."""

    def __init__(self, window: QMainWindow, controller: ProjectController):
        super().__init__(window)
        self.window = window
        self.controller = controller
        self._run_for_train_page: Any = None  # the last run, shown once a Train page not built yet is built
        self._waiting_for_train_page = False
        self.ask: Callable[[str, str], bool] | None = None
        """Yes/no question hook; None asks with a message box (tests set a function)."""
        self.ask_save: Callable[[str], str] | None = None
        """Save-on-close question hook returning SAVE, DONT_SAVE or CANCEL; None asks with a modal box."""
        self.save_box: QMessageBox | None = None
        self.recovery_box: QMessageBox | None = None
        self.ask_recovery: Callable[[str], str] | None = None
        """Recovery question hook returning RESTORE, DISCARD or KEEP; None asks with a modal box."""
        self.clear_caches_action = QAction("Clear &caches…", window)
        self.clear_caches_action.setToolTip("Delete the backbone-feature and image-check caches (rebuilt when needed)")
        self.clear_caches_action.triggered.connect(self.clear_caches)
        self.new_action = QAction("&New project", window)
        self.new_action.setShortcut(QKeySequence.StandardKey.New)
        self.new_action.triggered.connect(self.new_project)
        self.open_action = QAction("Open &project…", window)
        self.open_action.setShortcut(QKeySequence("Ctrl+Alt+O"))
        self.open_action.triggered.connect(self.choose_and_open)
        self.save_action = QAction("&Save project", window)
        self.save_action.setShortcut(QKeySequence.StandardKey.Save)
        self.save_action.triggered.connect(self.save)
        self.save_as_action = QAction("Save project &as…", window)
        self.save_as_action.setShortcut(QKeySequence.StandardKey.SaveAs)
        self.save_as_action.triggered.connect(self.save_as)
        self.recent_menu = QMenu("Recent p&rojects", window)
        self.recent_menu.setObjectName("RecentProjectsMenu")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        controller.dirty_changed.connect(self._update_title)
        controller.project_changed.connect(lambda _p: self._update_title())
        controller.project_changed.connect(self._show_last_run)
        controller.saved.connect(lambda _p: self._update_title())
        self._update_title()

    def _parent(self) -> QWidget:
        return self.window

    def _ask(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self._parent(), title, text)
        return answer == QMessageBox.StandardButton.Yes

    def _error(self, exc: Exception) -> None:
        message = str(exc) or type(exc).__name__
        self.controller.state.report_error(message[:1].upper() + message[1:], "")  # a sentence, for the dialog

    def _update_title(self) -> None:
        self.window.setWindowTitle(f"{self.controller.title()} — Transfer Learning Studio")

    def _show_last_run(self, project: Project) -> None:
        """Put an opened project's last run on the Train page: its plots, summary and Resume.

        A Train page not built yet is not built here (its 0.4 s of widgets froze the
        window when a project was opened right after launch): it shows the run
        when it is built, after show or on first visit.
        """
        run = last_run(project)
        self._run_for_train_page = run
        pages = getattr(self.window, "pages", None)
        if run is None or pages is None:
            return
        if "train" in pages:  # built
            self._show_run_on(pages["train"], run)
        elif not self._waiting_for_train_page and hasattr(self.window, "page_built"):
            self._waiting_for_train_page = True
            self.window.page_built.connect(self._on_page_built)
        elif not hasattr(self.window, "page_built"):
            try:
                self._show_run_on(pages["train"], run)
            except KeyError:  # a window without a Train page
                return

    def _on_page_built(self, key: str, page) -> None:
        if key != "train":
            return
        self.window.page_built.disconnect(self._on_page_built)
        self._waiting_for_train_page = False
        if self._run_for_train_page is not None:
            self._show_run_on(page, self._run_for_train_page)

    @staticmethod
    def _show_run_on(page, run) -> None:
        show = getattr(page, "show_run", None)
        if callable(show):
            show(run)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        paths = recent_projects()
        for n, path in enumerate(paths, start=1):
            action = self.recent_menu.addAction(f"&{n} {path}")
            action.triggered.connect(lambda _=False, p=path: self.open(p))
        if not paths:
            self.recent_menu.addAction("(no recent projects)").setEnabled(False)

    def _confirm_discard(self) -> bool:
        if not self.controller.dirty:
            return True
        return (self.ask or self._ask)("Unsaved project", f"{self.controller.project.name} has unsaved changes. Discard them?")

    def new_project(self) -> None:
        if self._confirm_discard():
            self.controller.new_project()

    def choose_and_open(self) -> None:
        if not self._confirm_discard():
            return
        path, _ = QFileDialog.getOpenFileName(self._parent(), "Open project", str(Path.home()), FILE_FILTER)
        if path:
            self.open(path, confirmed=True)

    def open(self, path: str, confirmed: bool = False) -> bool:
        if not confirmed and not self._confirm_discard():
            return False
        try:
            project = self.controller.open_project(path)
        except TlStudioError as exc:
            self._error(exc)
            return False
        others = self.controller.other_instances()
        if others:
            pids = ", ".join(str(p) for p in others)
            self.controller.state.show_status(
                f"Opened {path}. Another tlstudio window (PID {pids}) has this project open too: each window autosaves "
                "on its own, and the last one saved is what the file keeps.", 15000)
        else:
            self.controller.state.show_status(f"Opened {path}")
        self.report_problems(project)
        return True

    def report_problems(self, project: Project) -> None:
        """Warn once about the damaged runs of a project that opened (the rest of it is usable)."""
        problems = project.problems
        if not problems:
            return
        n = len(problems)
        self.controller.state.report_error(
            f"{project.path or project.name} opened, but {n} run{'s are' if n > 1 else ' is'} damaged and shown as "
            "damaged in the run history; the other runs are fine. The details name each damaged file and field.",
            "\n\n".join(problems),
        )

    def clear_caches(self) -> bool:
        """Ask (showing the folder and size), then delete the caches."""
        from tlstudio.caches import cache_info, cache_root, clear_caches, human_size

        usages = cache_info()
        total = sum(u.bytes for u in usages)
        lines = "\n".join(f"• {u.description}: {human_size(u.bytes)} in {u.folder}" for u in usages)
        text = (
            f"Delete {human_size(total)} of cached data in {cache_root()}?\n\n{lines}\n\n"
            "The caches are rebuilt when needed (the next training computes its backbone features again). "
            "Autosaves, logs and sample datasets are kept."
        )
        if not (self.ask or self._ask)("Clear caches", text):
            return False
        try:
            freed = clear_caches()
        except OSError as exc:
            self.controller.state.report_error(
                f"Could not clear the caches: {exc.filename}: {exc.strerror or exc}. Received: {type(exc).__name__}", ""
            )
            return False
        self.controller.state.show_status(f"Cleared {human_size(sum(u.bytes for u in freed))} of caches from {cache_root()}")
        return True

    def save(self) -> bool:
        if self.controller.path is None:
            return self.save_as()
        try:
            path = self.controller.save()
        except TlStudioError as exc:
            self._error(exc)
            return False
        self.controller.state.show_status(f"Saved {path}")
        return True

    def save_as(self) -> bool:
        start = str(self.controller.path or Path.home() / f"{self.controller.project.name}{PROJECT_SUFFIX}")
        path, _ = QFileDialog.getSaveFileName(self._parent(), "Save project as", start, FILE_FILTER)
        if not path:
            return False
        if not path.endswith(PROJECT_SUFFIX):
            path += PROJECT_SUFFIX
        try:
            self.controller.save(path)
        except TlStudioError as exc:
            self._error(exc)
            return False
        return True

    def close_question(self) -> str | None:
        """The text of the save question the window asks when it closes, or None when there is nothing to ask.

        A named project with unsaved changes is asked about; so is an untitled
        one that records runs. An untitled project without runs is not: its
        settings are kept for the next start anyway.
        """
        controller = self.controller
        project = controller.project
        if not project.dirty or (controller.path is None and not project.runs):
            return None
        where = str(controller.path) if controller.path else "a project file"
        text = f"{project.name} has unsaved changes. Save them to {where} before quitting?"
        runs = controller.unsaved_runs()
        if runs:
            n = len(runs)
            lines = "\n".join(f"• {r.id}: {r.epochs_completed} epoch{'s' if r.epochs_completed != 1 else ''}, {r.run_dir}" for r in runs)
            text += (
                f"\n\nNot saving drops {n} run{'s' if n > 1 else ''} from the project's run history "
                f"(the run folder{'s stay' if n > 1 else ' stays'} on disk):\n{lines}"
            )
        return text

    def confirm_close(self) -> bool:
        """Ask whether to save unsaved project changes before the window closes.

        Returns:
            True when the window may close: the project was saved, the user chose
            not to save (this session's autosave is then removed, so the next
            start does not offer it as a crash recovery), or there was nothing
            to save. False when the user cancelled, or the save failed or was
            cancelled.
        """
        controller = self.controller
        text = self.close_question()
        if text is None:
            controller.discard_own_autosave()
            return True
        answer = (self.ask_save or self._ask_save)(text)
        if answer == SAVE:
            return self.save()  # an untitled project asks where; cancelling that keeps the window open
        if answer == DONT_SAVE:
            controller.discard_own_autosave(recovered=True)
            return True
        return False

    def _ask_save(self, text: str) -> str:
        buttons = QMessageBox.StandardButton
        box = QMessageBox(QMessageBox.Icon.Question, "Save project?", text, buttons.Save | buttons.Discard | buttons.Cancel, self._parent())
        box.setObjectName("SaveOnClose")
        box.button(buttons.Discard).setText("Don't save")
        box.setDefaultButton(buttons.Save)
        box.setEscapeButton(buttons.Cancel)
        box.setWindowModality(Qt.WindowModality.ApplicationModal)
        self.save_box = box
        try:
            clicked = box.exec()
        finally:
            self.save_box = None
            box.deleteLater()
        return {buttons.Save: SAVE, buttons.Discard: DONT_SAVE}.get(buttons(clicked), CANCEL)

    def offer_recovery(self) -> bool:
        """Offer to restore an autosave another session left (modal; autosave is held until answered).

        Returns:
            True when the project was restored.
        """
        controller = self.controller
        pending = controller.pending_recovery()
        if pending is None:
            controller.autosave_held = False
            return False
        path, side = pending
        controller.autosave_held = True
        try:
            name = Path(path).name if path else "an untitled project"
            text = (
                f"tlstudio found unsaved changes to {name} from an earlier session that did not close normally:\n"
                f"{side}\n\nRestore them? Discard deletes that file; closing this question keeps it for next time."
            )
            answer = self._recovery_answer(text)
        finally:
            controller.autosave_held = False
        if answer == RESTORE:
            return self._recover(path, side)
        if answer == DISCARD:
            try:
                discard_autosave(path, side)
            except (TlStudioError, OSError) as exc:
                self._error(exc)
        return False

    def _recovery_answer(self, text: str) -> str:
        if self.ask_recovery is not None:
            return self.ask_recovery(text)
        if self.ask is not None:  # a yes/no hook: no means discard
            return RESTORE if self.ask("Recover unsaved work", text) else DISCARD
        box = QMessageBox(QMessageBox.Icon.Question, "Recover unsaved work", text, QMessageBox.StandardButton.NoButton, self._parent())
        box.setObjectName("RecoveryOffer")
        restore = box.addButton("Restore", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        later = box.addButton("Keep for later", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(restore)
        box.setEscapeButton(later)
        box.setWindowModality(Qt.WindowModality.ApplicationModal)
        self.recovery_box = box
        try:
            box.exec()
            clicked = box.clickedButton()
        finally:
            self.recovery_box = None
            box.deleteLater()
        if clicked is restore:
            return RESTORE
        if clicked is discard:
            return DISCARD
        return KEEP

    def _recover(self, path: str | None, side: Path | None = None) -> bool:
        try:
            project = self.controller.recover_project(path, side)
        except TlStudioError as exc:
            self._error(exc)
            return False
        self.controller.state.show_status("Recovered the unsaved changes")
        self.report_problems(project)
        return True


def _file_menu(window: QMainWindow) -> QMenu:
    for action in window.menuBar().actions():
        menu = action.menu()
        if menu is not None and menu.title().replace("&", "") == "File":
            return menu
    return window.menuBar().addMenu("&File")


def install_project_actions(main_window: QMainWindow, state: Any, offer_recovery: bool = True) -> ProjectActions:
    """Add the project actions to ``main_window``'s File menu.

    Args:
        main_window: The main window (its File menu gets the actions at the top).
        state: The shared AppState.
        offer_recovery: Ask, once the event loop runs, whether to restore an autosave.
    """
    controller = project_controller(state)
    actions = ProjectActions(main_window, controller)
    menu = _file_menu(main_window)
    first = menu.actions()[0] if menu.actions() else None
    for action in (actions.new_action, actions.open_action):
        menu.insertAction(first, action)
    menu.insertMenu(first, actions.recent_menu)
    for action in (actions.save_action, actions.save_as_action):
        menu.insertAction(first, action)
    menu.insertSeparator(first)
    quit_action = next((a for a in menu.actions() if a.text().replace("&", "").lower().startswith(("quit", "exit"))), None)
    menu.insertAction(quit_action, actions.clear_caches_action)
    if quit_action is not None:
        menu.insertSeparator(quit_action)
    main_window.project_actions = actions
    if offer_recovery:
        controller.autosave_held = True  # until the offer is answered (it runs once the event loop starts)
        QTimer.singleShot(0, actions.offer_recovery)
    return actions
