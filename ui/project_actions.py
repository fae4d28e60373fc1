"""Projects in the GUI: the File-menu actions and the controller behind them.

:class:`ProjectController` keeps one :class:`tlstudio.project.Project` in step
with the shared :class:`ui.state.AppState`: config changes and finished runs
go into the project and are autosaved to its side file a moment later; opening
a project puts its configs back into the state. There is one controller per
state, reached with :func:`project_controller`.

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

import contextlib
import json
import logging
import os
import weakref
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMenu, QMessageBox, QWidget

from tlstudio.api.train import RunResult
from tlstudio.errors import TlStudioError
from tlstudio.project import PROJECT_SUFFIX, Project, discard_autosave, new_session_id, recover
from tlstudio.project.autosave import claim_session, release_session, session_pid, sessions_with_project

RESTORE, DISCARD, KEEP = "restore", "discard", "keep"
"""Answers to the recovery offer."""

SAVE, DONT_SAVE, CANCEL = "save", "dont-save", "cancel"
"""Answers to the save question when the window closes."""

logger = logging.getLogger(__name__)

RECENT_KEY = "projects/recent"
LAST_KEY = "projects/last"
MAX_RECENT = 8
AUTOSAVE_DELAY_MS = 3000
FILE_FILTER = f"tlstudio projects (*{PROJECT_SUFFIX});;All files (*)"

_CONTROLLERS: "weakref.WeakKeyDictionary[QObject, ProjectController]" = weakref.WeakKeyDictionary()


def _settings():
    from ui.settings import settings

    return settings()


def recent_projects() -> list[str]:
    """Recently opened or saved project files, newest first (missing files dropped)."""
    value = _settings().value(RECENT_KEY, [])
    if isinstance(value, str):
        value = [value] if value else []
    return [str(p) for p in value or [] if Path(str(p)).is_file()]


def _remember(path: Path) -> None:
    store = _settings()
    items = [str(path)] + [p for p in recent_projects() if p != str(path)]
    store.setValue(RECENT_KEY, items[:MAX_RECENT])
    store.setValue(LAST_KEY, str(path))
    store.sync()


class ProjectController(QObject):
    """The current project, kept in step with an :class:`~ui.state.AppState`.

    Signals:
        project_changed(object): a project was created or opened.
        runs_changed(): runs were added, updated or removed.
        dirty_changed(bool): the project gained or lost unsaved changes.
        saved(str): the project was written to this path.
    """

    project_changed = Signal(object)
    runs_changed = Signal()
    dirty_changed = Signal(bool)
    saved = Signal(str)

    def __init__(self, state: Any, parent: QObject | None = None):
        super().__init__(parent)
        self.state = state
        self.session = new_session_id()
        """This window's session: its projects autosave to files of their own."""
        self.project = Project.new(data=state.data_config, model=state.model_config, train=state.train_config)
        self.project.session = self.session
        self.project.dirty = False
        weakref.finalize(self, release_session, self.session)  # a controller that goes releases its lock (and file handle)
        self._applying = False
        self._settling = False
        self.autosave_held = False
        """True while the recovery offer is unanswered: nothing autosaves until then."""
        self._autosave_timer = QTimer(self)
        self._autosave_timer.setSingleShot(True)
        self._autosave_timer.setInterval(AUTOSAVE_DELAY_MS)
        self._autosave_timer.timeout.connect(self.autosave)
        state.data_config_changed.connect(self._on_configs_changed)
        state.model_config_changed.connect(self._on_configs_changed)
        state.train_config_changed.connect(self._on_configs_changed)
        state.run_finished.connect(self._on_run_finished)

    def _claim(self) -> None:
        """Mark this session live, with its project (another instance then never offers our autosave as a crash).

        Claimed once there is something to protect or announce: an autosave, or a project file open.
        """
        try:
            claim_session(self.session, self.project.path)
        except (OSError, RuntimeError) as exc:  # a read-only cache: recovery offers stay as before
            logger.warning("could not mark session %s as live: %s", self.session, exc)

    def other_instances(self) -> list[int]:
        """PIDs of the other live tlstudio windows that have this project's file open."""
        if self.path is None:
            return []
        pids = [session_pid(s) for s in sessions_with_project(self.path, own_session=self.session)]
        return [p for p in pids if p is not None]

    # ------------------------------------------------------------- queries

    @property
    def path(self) -> Path | None:
        return self.project.path

    @property
    def dirty(self) -> bool:
        return self.project.dirty

    def title(self) -> str:
        """``name`` with a ``*`` when there are unsaved changes."""
        return f"{self.project.name}{' *' if self.project.dirty else ''}"

    # ------------------------------------------------------------- changes

    def _changed(self, runs: bool = False) -> None:
        self.project.dirty = True
        self.dirty_changed.emit(True)
        if runs:
            self.runs_changed.emit()
        self._autosave_timer.start()

    def set_model_card(self, card: Any) -> None:
        """Keep the model card the user typed (File ▸ Export report…) in the project."""
        if card != self.project.model_card:
            self.project.set_model_card(card)
            self._changed()

    def _on_configs_changed(self, _config: object) -> None:
        if self._applying:
            return
        was_dirty = self.project.dirty
        self.project.set_configs(data=self.state.data_config, model=self.state.model_config, train=self.state.train_config)
        if self._settling and not was_dirty:  # the app settled a default by itself: no edit of the user's
            self.project.dirty = False
            return
        self._changed()

    def _on_run_finished(self, result: RunResult | None) -> None:
        if result is None or not result.run_dir:
            return
        self.add_run(result, self.state.last_run_config)

    def add_run(self, result: Any, config: Any = None) -> None:
        """Record a run result (new or resumed) and autosave soon."""
        self.project.add_run(result, config)
        self._changed(runs=True)

    def remove_run(self, run_id: str, delete_files: bool = False) -> None:
        self.project.remove_run(run_id, delete_files=delete_files)
        self._changed(runs=True)

    def set_notes(self, run_id: str, notes: str) -> None:
        """Store the user's note about a run (no table refresh: the note was typed there)."""
        self.project.set_notes(run_id, notes)
        self._changed()

    def record_probe(self, config: Any, result: Any) -> None:
        """Keep a finished transfer probe with the project (reopening shows it again) and autosave soon."""
        from tlstudio.project.analysis_records import ProbeRecord

        self.project.set_probe(ProbeRecord.of(config, result, self.dataset_fingerprint()))
        self._changed()

    def record_map(self, config: Any, result: Any) -> None:
        """Keep a finished embedding map with the project and autosave soon."""
        from tlstudio.project.analysis_records import MapRecord

        self.project.set_map(MapRecord.of(config, result, self.dataset_fingerprint()))
        self._changed()

    def record_sweep_folder(self, folder: str | Path) -> None:
        """Remember where the project's last head sweep is (an untitled project's are in the cache)."""
        self.project.set_sweep_folder(str(folder))
        self._changed()

    def dataset_fingerprint(self) -> str:
        """The fingerprint of the open dataset's valid files ("" when none is loaded)."""
        from tlstudio.project.audit_record import dataset_fingerprint

        return dataset_fingerprint(self.state.prepared_data)

    def refresh_run(self, run_id: str) -> None:
        self.project.refresh_run(run_id)
        self._changed(runs=True)

    # ------------------------------------------------------------- file operations

    def _apply(self, project: Project) -> None:
        """Make ``project`` current and push its configs into the state."""
        self._autosave_timer.stop()
        project.session = self.session
        self.project = project
        if project.path is not None or project.recovered_from is not None:
            self._claim()
        self._applying = True
        try:
            self.state.set_data_config(project.data)
            self.state.set_model_config(project.model)
            self.state.set_train_config(project.train)
        finally:
            self._applying = False
        # the run the Train page shows (the last one), never another project's model nor a better run of other data
        shown = last_run(project)
        model = shown.model_path if shown is not None and shown.model_path and Path(shown.model_path).exists() else ""
        self.state.set_model_path(model)
        self.project_changed.emit(project)
        self.runs_changed.emit()
        self.dirty_changed.emit(project.dirty)

    def new_project(self) -> Project:
        """A fresh, untitled project with the current configs and no runs."""
        project = Project.new(data=self.state.data_config, model=self.state.model_config, train=self.state.train_config)
        project.dirty = False
        self._apply(project)
        return project

    def open_project(self, path: str | Path) -> Project:
        """Open a project file and apply its configs. Raises ProjectError."""
        project = Project.load(path)
        self._apply(project)
        if project.dataset and Path(project.dataset).is_dir():
            self.state.request_open_folder(project.dataset)
        _remember(Path(path))
        return project

    def recover_project(self, path: str | Path | None, side: str | Path | None = None) -> Project:
        """Open an autosave of ``path`` (None: untitled); ``side`` picks the file (default: the newest)."""
        project = Project.recover(path, side)
        self._apply(project)
        if project.dataset and Path(project.dataset).is_dir():
            self.state.request_open_folder(project.dataset)
        return project

    def save(self, path: str | Path | None = None) -> Path:
        """Save (or Save As when ``path`` is given). Raises ProjectError."""
        self._autosave_timer.stop()
        self.project.set_configs(data=self.state.data_config, model=self.state.model_config, train=self.state.train_config)
        target = self.project.save(path)
        self._claim()
        _remember(target)
        self.dirty_changed.emit(False)
        self.saved.emit(str(target))
        return target

    def autosave(self) -> Path | None:
        """Write this session's side file when there are unsaved changes (not while recovery is unanswered)."""
        if not self.project.dirty:
            return None
        if self.autosave_held:
            self._autosave_timer.start()  # try again once the recovery question is answered
            return None
        try:
            self._claim()  # before the side file exists: another window never takes it for a crash
            return self.project.autosave()
        except TlStudioError as exc:
            self.state.show_status(f"Autosave failed: {exc}", 6000)
            return None

    def unsaved_runs(self) -> list[Any]:
        """Runs the project file does not hold yet (new runs, or runs resumed since the last save).

        An untitled project has saved none of its runs.
        """
        saved: dict[str, int] = {}
        if self.path is not None:
            try:
                data = json.loads(Path(self.path).read_text(encoding="utf-8"))
                for entry in data.get("runs") or []:
                    if isinstance(entry, dict) and isinstance(entry.get("run_dir"), str):
                        saved[os.path.abspath(entry["run_dir"])] = int(entry.get("epochs_completed") or 0)
            except (OSError, ValueError, TypeError, AttributeError) as exc:
                logger.warning("could not read %s to list its saved runs; counting every run as unsaved: %s", self.path, exc)
                saved = {}
        return [
            run
            for run in self.project.runs
            if run.run_dir and saved.get(os.path.abspath(run.run_dir), -1) != int(run.epochs_completed or 0)
        ]

    def discard_own_autosave(self, recovered: bool = False) -> None:
        """Delete this session's autosave (the window closes cleanly: nothing for a next start to recover).

        Args:
            recovered: Also delete the earlier session's autosave this project was restored from.
        """
        sides: list[Path | None] = [None]
        if recovered and self.project.recovered_from is not None:
            sides.append(self.project.recovered_from)
        for side in sides:
            try:
                discard_autosave(self.path, side, session=self.session)
            except (TlStudioError, OSError) as exc:
                logger.warning("could not remove an autosave of %s (%s): %s", self.path or "an untitled project", side, exc)
        release_session(self.session)

    def pending_recovery(self) -> tuple[str | None, Path] | None:
        """``(project path or None, autosave file)`` worth offering at start-up, or None.

        Autosaves of this controller's own session are never offered.
        """
        last = _settings().value(LAST_KEY, "")
        candidates: list[str | None] = [str(last)] if last else []
        candidates.append(None)
        for path in candidates:
            side = recover(path, own_session=self.project.session)
            if side is None:
                continue
            if path is None and not _worth_recovering(side):
                continue
            return path, side
        return None


def _worth_recovering(side: Path) -> bool:
    """An untitled autosave is offered only when it records runs (trained models are real work)."""
    try:
        project = Project.load(side)
    except TlStudioError:
        return False
    return bool(project.runs)


def last_run(project: Project) -> Any:
    """The project's most recently recorded run that is not damaged, or None."""
    for run in reversed(project.runs):
        if not run.damaged and run.run_dir:
            return run
    return None


def existing_project_controller(state: Any) -> ProjectController | None:
    """The :class:`ProjectController` of ``state`` if one was made, else None (making one starts autosaving)."""
    return _CONTROLLERS.get(state)


@contextlib.contextmanager
def settled_change(state: Any):
    """Config changes made inside are the app settling a default (e.g. weights available offline), not the user's edits.

    They go into the project, but a project without unsaved changes stays so
    (no ``*`` in the title, nothing to autosave).
    """
    controller = existing_project_controller(state)
    if controller is None:
        yield
        return
    controller._settling = True
    try:
        yield
    finally:
        controller._settling = False


_FOLLOWERS: "weakref.WeakKeyDictionary[QObject, list[Callable[[Any], None]]]" = weakref.WeakKeyDictionary()


def follow_project(state: Any, on_project: Callable[[Any], None]) -> ProjectController | None:
    """Call ``on_project(project)`` whenever ``state``'s controller opens or creates a project.

    Making a controller starts autosaving, so none is made here: a panel built
    before the controller is connected when it is made. Returns the
    controller when it exists already, else None.
    """
    controller = existing_project_controller(state)
    if controller is not None:
        controller.project_changed.connect(on_project)
    else:
        _FOLLOWERS.setdefault(state, []).append(on_project)
    return controller


def project_controller(state: Any) -> ProjectController:
    """The one :class:`ProjectController` of ``state`` (created on first use)."""
    controller = _CONTROLLERS.get(state)
    if controller is None:
        controller = ProjectController(state, parent=state)
        _CONTROLLERS[state] = controller
        for follower in _FOLLOWERS.pop(state, []):  # panels built before the controller
            controller.project_changed.connect(follower)
    return controller


class ProjectActions(QObject):
    """The File-menu actions of one main window."""

    def __init__(self, window: QMainWindow, controller: ProjectController):
        super().__init__(window)
        self.window = window
        self.controller = controller
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
        """Put an opened project's last run on the Train page: its plots, summary and Resume."""
        run = last_run(project)
        pages = getattr(self.window, "pages", None)
        if run is None or pages is None:
            return
        try:
            page = pages["train"]
        except KeyError:  # a window without a Train page
            return
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
