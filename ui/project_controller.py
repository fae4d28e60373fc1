"""The project behind the GUI: one :class:`ProjectController` per application state.

:class:`ProjectController` keeps one :class:`tlstudio.project.Project` in step
with the shared :class:`ui.state.AppState`: config changes and finished runs
go into the project and are autosaved to its side file a moment later; opening
a project puts its configs back into the state. There is one controller per
state, reached with :func:`project_controller` (or, without making one,
:func:`existing_project_controller`); panels that show a project's records
follow it with :func:`follow_project`.

Each session autosaves to its own file and holds a lock with its PID, so a
live window's autosave is never offered as a crash. Everything here is light:
the project module never loads TensorFlow. The File-menu actions and their
questions are in :mod:`ui.project_actions`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import weakref
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, QTimer, Signal

from tlstudio.api.train import RunResult
from tlstudio.errors import TlStudioError
from tlstudio.project import PROJECT_SUFFIX, Project, discard_autosave, new_session_id, recover
from tlstudio.project.autosave import claim_session, release_session, session_pid, sessions_with_project
from ui.widgets import turns

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
        # the pages take the configs, and the background builders wait until the window has shown them (a step)
        with turns.step():
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
