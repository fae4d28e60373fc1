"""The single shared state object of the GUI.

One :class:`AppState` is created by the main window and passed to every page.
Pages read the current configs from it, write changed copies back with the
``set_*`` methods, and listen to its signals instead of talking to each other.
It holds only plain engine objects (frozen configs, ``PreparedData``,
``RunResult``): nothing here imports TensorFlow.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from tlstudio.api.train import RunResult
from tlstudio.config import DataConfig, ModelConfig, RunConfig, TrainConfig

RUN_STATES = ("idle", "running", "cancelling", "finished", "cancelled", "failed")
"""Values of :attr:`AppState.run_state`."""


class AppState(QObject):
    """Current configs, loaded data and the last run, with change signals.

    Signals:
        data_config_changed(object): a new :class:`~tlstudio.config.DataConfig`.
        model_config_changed(object): a new :class:`~tlstudio.config.ModelConfig`.
        train_config_changed(object): a new :class:`~tlstudio.config.TrainConfig`.
        data_changed(object): new ``PreparedData`` (or None when cleared).
        open_folder_requested(str): someone asked to open a dataset folder
            (menu, drag-and-drop, command line); the Data page does the work.
        open_sample_requested(): someone asked for the bundled sample dataset.
        run_started(object): a training run began, with its ``RunConfig``.
        run_finished(object): a run ended, with its ``RunResult`` (or None on error).
        run_state_changed(str): one of :data:`RUN_STATES`.
        model_path_changed(str): the trained model file to evaluate/inspect/export.
        busy_changed(bool): background work started (True) or all of it ended (False).
        error_reported(str, str): a readable message and its details for the error dialog.
        status_message(str, int): a transient status-bar message and its timeout in ms.
        page_requested(str): ask the main window to show a page (``"data"``, ``"model"``...).
        audit_requested(): someone (the Train page's audit offer) asked the Data page to run the dataset audit.
        audit_recorded(str): an audit of the dataset folder ``root`` finished (see :meth:`AppState.audit_of`).
    """

    data_config_changed = Signal(object)
    model_config_changed = Signal(object)
    train_config_changed = Signal(object)
    data_changed = Signal(object)
    open_folder_requested = Signal(str)
    open_sample_requested = Signal()
    run_started = Signal(object)
    run_finished = Signal(object)
    run_state_changed = Signal(str)
    model_path_changed = Signal(str)
    busy_changed = Signal(bool)
    error_reported = Signal(str, str)
    status_message = Signal(str, int)
    page_requested = Signal(str)
    audit_requested = Signal()
    audit_recorded = Signal(str)

    def __init__(
        self,
        data_config: DataConfig | None = None,
        model_config: ModelConfig | None = None,
        train_config: TrainConfig | None = None,
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self._data_config = data_config or DataConfig()
        self._model_config = model_config or ModelConfig()
        self._train_config = train_config or TrainConfig()
        self._prepared: Any = None
        self._refused = ""
        self._run_state = "idle"
        self._run_config: RunConfig | None = None
        self._run_result: Any = None
        self._model_path = ""
        self._busy: dict[str, int] = {}
        self._audits: dict[str, Any] = {}

    # ------------------------------------------------------------- configs

    @property
    def data_config(self) -> DataConfig:
        return self._data_config

    @property
    def model_config(self) -> ModelConfig:
        return self._model_config

    @property
    def train_config(self) -> TrainConfig:
        return self._train_config

    def set_data_config(self, config: DataConfig) -> None:
        """Replace the data config; emits ``data_config_changed`` when it differs."""
        _check_type(config, DataConfig)
        if config != self._data_config:
            self._data_config = config
            self.data_config_changed.emit(config)

    def set_model_config(self, config: ModelConfig) -> None:
        """Replace the model config; emits ``model_config_changed`` when it differs."""
        _check_type(config, ModelConfig)
        if config != self._model_config:
            self._model_config = config
            self.model_config_changed.emit(config)

    def set_train_config(self, config: TrainConfig) -> None:
        """Replace the train config; emits ``train_config_changed`` when it differs."""
        _check_type(config, TrainConfig)
        if config != self._train_config:
            self._train_config = config
            self.train_config_changed.emit(config)

    def update_data_config(self, **changes: Any) -> DataConfig:
        """Set a copy of the data config with ``changes`` applied and return it."""
        config = dataclasses.replace(self._data_config, **changes)
        self.set_data_config(config)
        return config

    def update_model_config(self, **changes: Any) -> ModelConfig:
        """Set a copy of the model config with ``changes`` applied and return it."""
        config = dataclasses.replace(self._model_config, **changes)
        self.set_model_config(config)
        return config

    def update_train_config(self, **changes: Any) -> TrainConfig:
        """Set a copy of the train config with ``changes`` applied and return it."""
        config = dataclasses.replace(self._train_config, **changes)
        self.set_train_config(config)
        return config

    def run_config(self, **changes: Any) -> RunConfig:
        """A :class:`~tlstudio.config.RunConfig` from the current stage configs."""
        return RunConfig(data=self._data_config, model=self._model_config, train=self._train_config, **changes)

    # --------------------------------------------------------------- audit

    def record_audit(self, root: str, result: Any) -> None:
        """Keep the audit result of dataset folder ``root`` for this session; emits ``audit_recorded``."""
        self._audits[_folder_key(root)] = result
        self.audit_recorded.emit(root)

    def audit_of(self, root: str) -> Any:
        """The last audit result of ``root`` in this session, or None."""
        return self._audits.get(_folder_key(root))

    # ---------------------------------------------------------------- data

    @property
    def prepared_data(self) -> Any:
        """The last ``PreparedData`` (scanned, validated, split) or None."""
        return self._prepared

    def set_prepared_data(self, prepared: Any) -> None:
        """Store freshly prepared data and emit ``data_changed``; a usable dataset clears a refusal."""
        self._prepared = prepared
        if prepared is not None:
            self._refused = ""
        self.data_changed.emit(prepared)

    @property
    def dataset_refused(self) -> str:
        """Why the open dataset folder cannot train a classifier ("" when it can, or none is open)."""
        return self._refused

    def refuse_dataset(self, root: str, reason: str) -> None:
        """The folder ``root`` was opened and refused: it becomes the dataset, with no data, and nothing trains.

        Whatever was loaded before is dropped (``data_changed(None)``), so no
        page goes on showing or training on the previous dataset.
        """
        self._refused = reason or "the folder cannot be used"
        self._prepared = None
        if root:
            self.update_data_config(root=str(root))
        self.data_changed.emit(None)

    @property
    def dataset_root(self) -> str:
        return self._data_config.root

    @property
    def dataset_name(self) -> str:
        """Folder name of the current dataset, or ``""``."""
        root = self._data_config.root
        return Path(root).name if root else ""

    @property
    def class_names(self) -> tuple[str, ...]:
        prepared = self._prepared
        return tuple(getattr(prepared, "class_names", ()) or ()) if prepared is not None else ()

    @property
    def num_images(self) -> int:
        """Usable images of the prepared dataset over all splits (0 when none)."""
        return dataset_size(self._prepared)

    def request_open_folder(self, path: str | Path) -> None:
        """Ask the Data page to open ``path``."""
        self.open_folder_requested.emit(str(path))

    def request_open_sample(self) -> None:
        """Ask the Data page to open the bundled sample dataset."""
        self.open_sample_requested.emit()

    def request_page(self, name: str) -> None:
        """Ask the main window to show page ``name``."""
        self.page_requested.emit(name)

    # ----------------------------------------------------------------- run

    @property
    def run_state(self) -> str:
        return self._run_state

    @property
    def is_running(self) -> bool:
        """True while a training run is in progress (including cancelling)."""
        return self._run_state in ("running", "cancelling")

    @property
    def last_run_config(self) -> RunConfig | None:
        return self._run_config

    @property
    def run_result(self) -> Any:
        """The last ``RunResult`` (or None)."""
        return self._run_result

    @property
    def model_path(self) -> str:
        """The trained model file the Evaluate/Inspect/Export pages work on."""
        return self._model_path

    def set_run_state(self, state: str) -> None:
        if state not in RUN_STATES:
            raise ValueError(f"run state must be one of {RUN_STATES}. Received: {state!r}")
        if state != self._run_state:
            self._run_state = state
            self.run_state_changed.emit(state)

    def start_run(self, config: RunConfig) -> None:
        """Mark a training run as started (called by the Train page)."""
        self._run_config = config
        self.set_run_state("running")
        self.run_started.emit(config)

    def mark_cancelling(self) -> None:
        """The user asked the current run to stop."""
        if self.is_running:
            self.set_run_state("cancelling")

    def finish_run(self, result: RunResult | None = None, *, error: str | None = None) -> None:
        """Mark the run as ended and store its result.

        Args:
            result: The ``RunResult`` (may be None when the run failed before starting).
            error: A readable error message when the run failed.
        """
        self._run_result = result
        if error or (result is not None and result.error):
            state = "failed"
        elif result is not None and result.cancelled:
            state = "cancelled"
        else:
            state = "finished"
        path = result.model_path if result is not None else None
        if path:
            self.set_model_path(str(path))
        self.set_run_state(state)
        self.run_finished.emit(result)

    def set_model_path(self, path: str | Path) -> None:
        path = str(path)
        if path != self._model_path:
            self._model_path = path
            self.model_path_changed.emit(path)

    # ---------------------------------------------------------------- busy

    @property
    def busy(self) -> bool:
        """True while any background task registered with :meth:`begin_busy` runs."""
        return bool(self._busy)

    def begin_busy(self, key: str) -> None:
        """Register background work called ``key`` (e.g. ``"scan"``)."""
        was = self.busy
        self._busy[key] = self._busy.get(key, 0) + 1
        if not was:
            self.busy_changed.emit(True)

    def end_busy(self, key: str) -> None:
        """Unregister background work called ``key``."""
        count = self._busy.get(key, 0) - 1
        if count > 0:
            self._busy[key] = count
        else:
            self._busy.pop(key, None)
        if not self.busy:
            self.busy_changed.emit(False)

    # -------------------------------------------------------------- errors

    def report_error(self, message: str, details: str = "") -> None:
        """Show an error to the user (the main window opens the error dialog)."""
        self.error_reported.emit(message, details)

    def show_status(self, message: str, timeout_ms: int = 4000) -> None:
        """Show a transient message in the status bar."""
        self.status_message.emit(message, timeout_ms)


def dataset_size(prepared: Any) -> int:
    """Number of usable images in a ``PreparedData`` (0 for None).

    Uses ``counts`` (``{split: {class: n}}``) when present, else the split item lists.
    """
    if prepared is None:
        return 0
    counts = getattr(prepared, "counts", None)
    if isinstance(counts, dict) and counts:
        total = 0
        for value in counts.values():
            if isinstance(value, dict):
                total += sum(int(v) for v in value.values())
            elif isinstance(value, (int, float)):
                total += int(value)
        if total:
            return total
    total = 0
    for split in ("train", "val", "test"):
        items = getattr(prepared, split, None)
        if items is not None:
            try:
                total += len(items)
            except TypeError:
                pass
    return total


def _check_type(value: Any, cls: type) -> None:
    if not isinstance(value, cls):
        raise TypeError(f"expected a {cls.__name__}. Received: {type(value).__name__}")


def _folder_key(root: str) -> str:
    import os

    return os.path.realpath(root) if root else ""
