"""Projects: one JSON file holding the dataset, the stage configs and the run history.

A project file (``*.tlsproj``) records the dataset path, the data, model and
training configs (as :func:`tlstudio.config.to_dict` writes them) and the runs,
each with its run folder, config snapshot, history and best metrics.

* **Safe writes**: every save goes through :mod:`tlstudio.io.atomic` (a
  temporary file next to the target, fsynced, then renamed over it), so a
  crash never leaves a half-written project.
* **Autosave**: :meth:`Project.autosave` writes the same content to a side file
  (``<name>.tlsproj.autosave``; untitled projects autosave into the cache).
  After a crash, :func:`recover` says whether the side file is newer than the
  project, and :meth:`Project.recover` opens it.
* **Versioned schema**: ``schema_version`` is :data:`SCHEMA_VERSION`. Older
  files are migrated step by step by :data:`MIGRATIONS`; a file from a newer
  tlstudio raises :class:`~tlstudio.errors.ProjectError`.

This module is light: it never imports TensorFlow.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from tlstudio.config import DataConfig, ModelConfig, RunConfig, TrainConfig, from_dict, to_dict
from tlstudio.errors import ConfigError, ProjectError
from tlstudio.io.atomic import atomic_write_text

SCHEMA_VERSION = 1
"""Schema written by this version of tlstudio."""

PROJECT_SUFFIX = ".tlsproj"
AUTOSAVE_SUFFIX = ".autosave"
UNTITLED_AUTOSAVE = "untitled" + PROJECT_SUFFIX + AUTOSAVE_SUFFIX

CURVE_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr")
"""History values that :meth:`Project.compare_runs` returns as curves."""

DIFF_IGNORED = ("run_dir", "resume_from")
"""Config keys that differ between any two runs and are left out of config diffs."""


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------- schema migration


def _v0_to_v1(data: dict[str, Any]) -> dict[str, Any]:
    """v0 (no ``schema_version``) kept one ``config`` dict ({data, model, train}),
    the dataset as ``dataset`` and runs as plain run-folder paths."""
    config = dict(data.get("config") or {})
    dataset = data.get("dataset") or (config.get("data") or {}).get("root", "")
    data_cfg = dict(config.get("data") or {})
    data_cfg["root"] = dataset
    runs = []
    for entry in data.get("runs") or []:
        run_dir = entry if isinstance(entry, str) else (entry or {}).get("dir") or (entry or {}).get("run_dir", "")
        notes = "" if isinstance(entry, str) else str((entry or {}).get("notes", ""))
        runs.append({"id": Path(run_dir).name, "run_dir": run_dir, "status": "unknown", "notes": notes})
    return {
        "schema_version": 1,
        "name": data.get("name", ""),
        "created": data.get("created", ""),
        "dataset": dataset,
        "data": data_cfg,
        "model": dict(config.get("model") or {}),
        "train": dict(config.get("train") or {}),
        "runs": runs,
    }


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {0: _v0_to_v1}
"""``MIGRATIONS[v]`` turns a schema-``v`` dict into schema ``v + 1``."""


def migrate(data: Mapping[str, Any], path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Bring a project dict from any older schema up to :data:`SCHEMA_VERSION`.

    Raises:
        ProjectError: when the file comes from a newer tlstudio, or its version is unknown.
    """
    where = f"{path} " if path else "the project "
    version = data.get("schema_version", 0)
    if not isinstance(version, int) or version < 0:
        raise ProjectError(f"{where}has an invalid schema_version. Received: {version!r}", path=str(path) if path else None)
    if version > SCHEMA_VERSION:
        raise ProjectError(
            f"{where}was made by a newer tlstudio (schema {version}); this version reads up to {SCHEMA_VERSION}. "
            "Update tlstudio to open it.",
            path=str(path) if path else None,
        )
    out = dict(data)
    while version < SCHEMA_VERSION:
        out = MIGRATIONS[version](out)
        version += 1
        out["schema_version"] = version
    return out


# --------------------------------------------------------------------------- runs


@dataclass
class RunRecord:
    """One training run as the project remembers it.

    Attributes:
        id: Unique within the project (the run folder's name by default).
        run_dir: The run folder.
        config: The :class:`~tlstudio.config.RunConfig` snapshot, as a dict.
        history: One dict per epoch (see :class:`tlstudio.training.RunResult`).
        best_metrics: Metrics of the best epoch.
        created: ISO time the run was added.
        status: ``"finished"``, ``"cancelled"``, ``"failed"`` or ``"unknown"``.
        notes: Free text from the user.
        model_path: The run's usable model, or None.
        class_names: Class names in label order.
        epochs_completed: Epochs completed over every session of the run.
    """

    id: str
    run_dir: str
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    best_metrics: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    status: str = "unknown"
    notes: str = ""
    model_path: str | None = None
    class_names: list[str] = field(default_factory=list)
    epochs_completed: int = 0

    @property
    def run_config(self) -> RunConfig:
        """The config snapshot as a :class:`RunConfig` (defaults when it is missing)."""
        return from_dict(RunConfig, self.config or {})

    @property
    def log_dir(self) -> str:
        """The run's TensorBoard log folder."""
        return str(Path(self.run_dir) / "logs")

    def summary(self) -> dict[str, Any]:
        """Key settings and metrics for a run list."""
        cfg = self.config or {}
        model, train = cfg.get("model") or {}, cfg.get("train") or {}
        return {
            "id": self.id,
            "status": self.status,
            "backbone": model.get("backbone", ""),
            "weights": model.get("weights", ""),
            "freeze": (model.get("freeze") or {}).get("mode", ""),
            "epochs": self.epochs_completed,
            "learning_rate": train.get("learning_rate"),
            "batch_size": train.get("batch_size"),
            "val_accuracy": self.best_metrics.get("val_accuracy"),
            "accuracy": self.best_metrics.get("accuracy"),
            "created": self.created,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "run_dir": self.run_dir,
            "config": self.config,
            "history": [dict(h) for h in self.history],
            "best_metrics": dict(self.best_metrics),
            "created": self.created,
            "status": self.status,
            "notes": self.notes,
            "model_path": self.model_path,
            "class_names": list(self.class_names),
            "epochs_completed": self.epochs_completed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RunRecord":
        if not isinstance(data, Mapping) or not data.get("run_dir"):
            raise ProjectError(f"a run entry needs 'run_dir'. Received: {dict(data) if isinstance(data, Mapping) else data!r}")
        return cls(
            id=str(data.get("id") or Path(data["run_dir"]).name),
            run_dir=str(data["run_dir"]),
            config=dict(data.get("config") or {}),
            history=[dict(h) for h in data.get("history") or []],
            best_metrics=dict(data.get("best_metrics") or {}),
            created=str(data.get("created") or ""),
            status=str(data.get("status") or "unknown"),
            notes=str(data.get("notes") or ""),
            model_path=data.get("model_path"),
            class_names=[str(n) for n in data.get("class_names") or []],
            epochs_completed=int(data.get("epochs_completed") or len(data.get("history") or [])),
        )

    @classmethod
    def from_result(cls, result: Any, config: RunConfig | None = None, run_id: str | None = None) -> "RunRecord":
        """Build a record from a :class:`tlstudio.training.RunResult`.

        The config snapshot is ``config`` or, when None, the run folder's ``run_config.json``.
        """
        if config is None:
            snapshot = Path(result.run_dir) / "run_config.json"
            config_dict = json.loads(snapshot.read_text(encoding="utf-8")) if snapshot.is_file() else {}
        else:
            config_dict = to_dict(config)
        status = "failed" if result.error else "cancelled" if result.cancelled else "finished"
        return cls(
            id=run_id or Path(result.run_dir).name,
            run_dir=str(result.run_dir),
            config=config_dict,
            history=[dict(h) for h in result.history],
            best_metrics=dict(result.best_metrics),
            created=_now(),
            status=status,
            model_path=result.model_path,
            class_names=list(result.class_names),
            epochs_completed=int(result.epochs_completed),
        )


@dataclass(frozen=True)
class RunComparison:
    """Runs side by side.

    Attributes:
        ids: The compared runs, in the order asked.
        curves: ``{run_id: {"epoch": [...], "loss": [...], "val_accuracy": [...], ...}}``;
            a metric a run does not record is absent from its dict.
        config_diff: ``(dotted key, value of run 1, value of run 2, ...)`` for every
            config value that differs (None where a run lacks the key).
        best_metrics: ``{run_id: best metrics}``.
    """

    ids: tuple[str, ...]
    curves: dict[str, dict[str, list[float]]]
    config_diff: list[tuple[Any, ...]]
    best_metrics: dict[str, dict[str, Any]]


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"epochs": 5}}`` -> ``{"train.epochs": 5}``; lists stay values."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def config_diff(configs: Sequence[Mapping[str, Any]], ignore: Sequence[str] = DIFF_IGNORED) -> list[tuple[Any, ...]]:
    """Keys whose values differ between config dicts, as ``(key, value1, value2, ...)``, sorted by key."""
    flats = [flatten({k: v for k, v in c.items() if k not in ignore}) for c in configs]
    keys = sorted(set().union(*flats)) if flats else []
    rows = []
    for key in keys:
        values = [f.get(key) for f in flats]
        if any(v != values[0] for v in values[1:]):
            rows.append((key, *values))
    return rows


def history_curves(history: Sequence[Mapping[str, Any]]) -> dict[str, list[float]]:
    """Per-epoch curves of a history, keyed by metric; ``"epoch"`` holds 1-based epoch numbers."""
    curves: dict[str, list[float]] = {"epoch": [int(h.get("epoch", i)) + 1 for i, h in enumerate(history)]}
    for key in CURVE_KEYS:
        if history and all(key in h and h[key] is not None for h in history):
            curves[key] = [float(h[key]) for h in history]
    return curves


# --------------------------------------------------------------------------- project


def autosave_path(path: str | os.PathLike | None) -> Path:
    """The autosave side file of a project file (the cache for an untitled project)."""
    if path is None:
        from tlstudio.paths import cache_dir

        return cache_dir("autosave") / UNTITLED_AUTOSAVE
    p = Path(path)
    return p.with_name(p.name + AUTOSAVE_SUFFIX)


def recover(path: str | os.PathLike | None) -> Path | None:
    """The autosave file to offer after a crash, or None.

    An autosave is offered when it exists and is newer than the project file
    (or the project file is missing). A clean save removes the autosave, so
    after a normal exit there is nothing to offer.
    """
    side = autosave_path(path)
    if not side.is_file():
        return None
    if path is None or not Path(path).is_file():
        return side
    return side if side.stat().st_mtime_ns > Path(path).stat().st_mtime_ns else None


def discard_autosave(path: str | os.PathLike | None) -> None:
    """Delete the autosave side file of ``path`` if there is one."""
    try:
        autosave_path(path).unlink()
    except FileNotFoundError:
        pass


def _write_project_file(path: Path, text: str) -> None:
    """Write a project or autosave file atomically; an OSError becomes a :class:`ProjectError`."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, text)
    except OSError as exc:
        raise ProjectError(
            f"cannot write the project file {path}: expected a writable folder with free space. "
            f"Received: {exc.strerror or exc}.",
            path=str(path),
        ) from exc


class Project:
    """A project: dataset, stage configs and run history, saved as one JSON file.

    Create with :meth:`new` or :meth:`load`; change the configs and runs, then
    :meth:`save`. ``dirty`` tells whether there are unsaved changes.

    Attributes:
        path: The project file, or None while untitled.
        name: Display name (the file name without suffix by default).
        data: The data stage config; ``data.root`` is the dataset path.
        model: The model stage config.
        train: The training stage config.
        runs: Run records, oldest first.
        created: ISO creation time.
        dirty: True when there are unsaved changes.
    """

    def __init__(
        self,
        *,
        name: str = "",
        data: DataConfig | None = None,
        model: ModelConfig | None = None,
        train: TrainConfig | None = None,
        runs: Sequence[RunRecord] = (),
        path: str | os.PathLike | None = None,
        created: str = "",
    ):
        self.path: Path | None = Path(path) if path else None
        self.name = name or (self.path.stem if self.path else "untitled")
        self.data = data or DataConfig()
        self.model = model or ModelConfig()
        self.train = train or TrainConfig()
        self.runs: list[RunRecord] = list(runs)
        self.created = created or _now()
        self.dirty = False

    # ----------------------------------------------------------------- create / load / save

    @classmethod
    def new(
        cls,
        name: str = "",
        *,
        dataset: str = "",
        data: DataConfig | None = None,
        model: ModelConfig | None = None,
        train: TrainConfig | None = None,
        path: str | os.PathLike | None = None,
    ) -> "Project":
        """A fresh project; ``dataset`` sets ``data.root``."""
        data = data or DataConfig()
        if dataset:
            data = replace(data, root=str(dataset))
        project = cls(name=name, data=data, model=model, train=train, path=path)
        project.dirty = True
        return project

    @property
    def dataset(self) -> str:
        """The dataset folder (``data.root``)."""
        return self.data.root

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "app": "tlstudio",
            "name": self.name,
            "created": self.created,
            "modified": _now(),
            "dataset": self.data.root,
            "data": to_dict(self.data),
            "model": to_dict(self.model),
            "train": to_dict(self.train),
            "runs": [r.to_dict() for r in self.runs],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str | os.PathLike | None = None) -> "Project":
        """Build a project from a dict of any schema up to :data:`SCHEMA_VERSION`."""
        if not isinstance(data, Mapping):
            raise ProjectError(f"{path or 'the project'} must hold a JSON object. Received: {type(data).__name__}")
        current = migrate(data, path)
        try:
            data_cfg = from_dict(DataConfig, current.get("data") or {})
            if current.get("dataset") and not data_cfg.root:
                data_cfg = replace(data_cfg, root=str(current["dataset"]))
            model_cfg = from_dict(ModelConfig, current.get("model") or {})
            train_cfg = from_dict(TrainConfig, current.get("train") or {})
        except (ConfigError, TypeError, ValueError) as exc:
            raise ProjectError(f"{path or 'the project'} has an invalid config: {exc}", path=str(path) if path else None) from exc
        runs = [RunRecord.from_dict(r) for r in current.get("runs") or []]
        return cls(
            name=str(current.get("name") or ""),
            data=data_cfg,
            model=model_cfg,
            train=train_cfg,
            runs=runs,
            path=path,
            created=str(current.get("created") or ""),
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Project":
        """Open a project file (older schemas are migrated in memory).

        Runs recorded without a history (for example by a v0 file) are refreshed
        from their run folders when those still exist.

        Raises:
            ProjectError: the file is missing, not JSON, or from a newer tlstudio.
        """
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise ProjectError(f"the project file {p} does not exist.", path=str(p)) from exc
        except OSError as exc:
            raise ProjectError(f"cannot read the project file {p}: {exc.strerror or exc}.", path=str(p)) from exc
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ProjectError(f"{p} is not a tlstudio project: it is not valid JSON ({exc}).", path=str(p)) from exc
        project = cls.from_dict(data, path=p)
        migrated = data.get("schema_version", 0) != SCHEMA_VERSION if isinstance(data, dict) else False
        for record in project.runs:
            if not record.history and Path(record.run_dir).is_dir():
                project.refresh_run(record.id)
        project.dirty = migrated
        return project

    @classmethod
    def recover(cls, path: str | os.PathLike | None) -> "Project":
        """Open the autosave of ``path`` (see :func:`recover`); the result belongs to ``path`` and is dirty."""
        side = autosave_path(path)
        project = cls.load(side)
        project.path = Path(path) if path else None
        if path:
            project.name = project.name or Path(path).stem
        project.dirty = True
        return project

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Write the project (temp file + rename) and drop its autosave.

        Args:
            path: New location ("Save As"); None saves to :attr:`path`.

        Raises:
            ProjectError: when there is no path yet, or the file cannot be written.
        """
        target = Path(path) if path else self.path
        if target is None:
            raise ProjectError("the project has no file yet: choose where to save it. Received: path=None")
        old = self.path
        _write_project_file(target, json.dumps(self.to_dict(), indent=2, allow_nan=True))
        if old is None:
            discard_autosave(None)
        elif old != target:
            discard_autosave(old)
        self.path = target
        if not self.name or self.name == "untitled":
            self.name = target.stem
        discard_autosave(target)
        self.dirty = False
        return target

    def autosave(self) -> Path:
        """Write the current state to the side file; the project file is untouched."""
        side = autosave_path(self.path)
        _write_project_file(side, json.dumps(self.to_dict(), indent=2, allow_nan=True))
        return side

    # ----------------------------------------------------------------- configs

    def set_configs(self, *, data: DataConfig | None = None, model: ModelConfig | None = None, train: TrainConfig | None = None) -> None:
        """Replace any of the stage configs and mark the project dirty."""
        if data is not None:
            self.data = data
        if model is not None:
            self.model = model
        if train is not None:
            self.train = train
        self.dirty = True

    def run_config(self) -> RunConfig:
        """A :class:`RunConfig` from the project's current stage configs."""
        return RunConfig(data=self.data, model=self.model, train=self.train)

    # ----------------------------------------------------------------- runs

    def get_run(self, run_id: str) -> RunRecord:
        for record in self.runs:
            if record.id == run_id:
                return record
        raise ProjectError(f"the project has no run {run_id!r}. Received runs: {[r.id for r in self.runs]}")

    def _unique_id(self, wanted: str) -> str:
        taken = {r.id for r in self.runs}
        if wanted not in taken:
            return wanted
        n = 2
        while f"{wanted}-{n}" in taken:
            n += 1
        return f"{wanted}-{n}"

    def add_run(self, result: Any, config: RunConfig | None = None) -> RunRecord:
        """Record a finished, cancelled or failed run (a :class:`tlstudio.training.RunResult`).

        A result whose run folder is already recorded (a resumed run) updates
        that record instead of adding a new one.
        """
        for i, existing in enumerate(self.runs):
            if os.path.abspath(existing.run_dir) == os.path.abspath(result.run_dir):
                record = RunRecord.from_result(result, config, run_id=existing.id)
                record.created, record.notes = existing.created, existing.notes
                self.runs[i] = record
                self.dirty = True
                return record
        record = RunRecord.from_result(result, config, run_id=self._unique_id(Path(result.run_dir).name))
        self.runs.append(record)
        self.dirty = True
        return record

    def refresh_run(self, run_id: str) -> RunRecord:
        """Re-read a run's history, metrics and status from its folder (after a resume)."""
        from tlstudio.training.result import load_run

        record = self.get_run(run_id)
        result = load_run(record.run_dir)
        config = None
        if not (Path(record.run_dir) / "run_config.json").is_file() and record.config:
            config = record.run_config
        fresh = RunRecord.from_result(result, config, run_id=record.id)
        fresh.created, fresh.notes = record.created or fresh.created, record.notes
        if result.error and "still running or was interrupted" in result.error:
            fresh.status = "unknown"
        self.runs[self.runs.index(record)] = fresh
        self.dirty = True
        return fresh

    def set_notes(self, run_id: str, notes: str) -> None:
        self.get_run(run_id).notes = notes
        self.dirty = True

    def remove_run(self, run_id: str, delete_files: bool = False) -> RunRecord:
        """Forget a run; with ``delete_files`` also delete its run folder.

        Raises:
            ProjectError: no such run, or the folder cannot be deleted.
        """
        record = self.get_run(run_id)
        if delete_files and Path(record.run_dir).exists():
            try:
                shutil.rmtree(record.run_dir)
            except OSError as exc:
                raise ProjectError(f"cannot delete the run folder {record.run_dir}: {exc.strerror or exc}.", path=record.run_dir) from exc
        self.runs.remove(record)
        self.dirty = True
        return record

    def best_run(self, metric: str = "val_accuracy") -> RunRecord | None:
        """The run with the highest ``metric`` among its best metrics (falls back to ``accuracy``)."""
        scored = []
        for r in self.runs:
            value = r.best_metrics.get(metric, r.best_metrics.get("accuracy"))
            if value is not None and r.model_path:
                scored.append((float(value), r))
        return max(scored, key=lambda s: s[0])[1] if scored else None

    def compare_runs(self, ids: Sequence[str]) -> RunComparison:
        """Curves, best metrics and config differences of two or more runs.

        Raises:
            ProjectError: fewer than two ids, or an unknown id.
        """
        ids = tuple(ids)
        if len(ids) < 2:
            raise ProjectError(f"select two or more runs to compare. Received: {list(ids)}")
        records = [self.get_run(i) for i in ids]
        return RunComparison(
            ids=ids,
            curves={r.id: history_curves(r.history) for r in records},
            config_diff=config_diff([r.config for r in records]),
            best_metrics={r.id: dict(r.best_metrics) for r in records},
        )
