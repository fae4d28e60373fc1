"""Projects: one JSON file holding the dataset, the stage configs and the run history.

A project file (``*.tlsproj``) records the dataset path, the data, model and
training configs (as :func:`tlstudio.config.to_dict` writes them) and the runs,
each with its run folder, config snapshot, history and best metrics.

* **Safe writes**: every save goes through :mod:`tlstudio.io.atomic` (a
  temporary file next to the target, fsynced, then renamed over it), so a
  crash never leaves a half-written project.
* **Autosave per session**: :meth:`Project.autosave` writes the same content
  to a side file of its own session (``<name>.tlsproj.<session>.autosave``;
  untitled projects autosave into the cache as
  ``untitled.tlsproj.<session>.autosave``), so two sessions never write over
  each other's autosave. After a crash, :func:`pending_autosaves` lists the
  side files of other sessions newer than the project, :func:`recover` gives
  the newest, and :meth:`Project.recover` opens it. Only a save, or an
  explicit "discard", removes a side file.
* **Typed schema**: every field is checked for type and range by
  :mod:`tlstudio.schemas`. A bad top-level field refuses the file with one
  message naming the file, the field, what was expected and ``Received``; a
  bad run entry, or a run folder whose ``history.json`` or ``run_config.json``
  is damaged, marks only that run damaged (:attr:`RunRecord.damaged`) and the
  rest of the project opens.
* **Safe deletes**: :meth:`Project.remove_run` deletes a run folder only when
  :mod:`tlstudio.io.safe_delete` accepts it as a tlstudio run folder.
* **Versioned schema**: ``schema_version`` is :data:`SCHEMA_VERSION`. Older
  files are migrated step by step by :data:`MIGRATIONS`; a file from a newer
  tlstudio raises :class:`~tlstudio.errors.ProjectError`.

This module is light: it never imports TensorFlow.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from tlstudio.audit_record import AuditRecord
from tlstudio.config import DataConfig, ModelConfig, RunConfig, TrainConfig, from_dict, to_dict
from tlstudio.dataset_decisions import DatasetDecisions
from tlstudio.errors import ConfigError, ProjectError
from tlstudio.io.atomic import atomic_write_text
from tlstudio.io.safe_delete import delete_run_folder, deletable_run_folder

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
"""Schema written by this version of tlstudio."""

PROJECT_SUFFIX = ".tlsproj"
AUTOSAVE_SUFFIX = ".autosave"
UNTITLED_AUTOSAVE = "untitled" + PROJECT_SUFFIX + AUTOSAVE_SUFFIX
"""The autosave of untitled projects before autosaves were per session (still offered)."""


def new_session_id() -> str:
    """A fresh session id: the process id and a random part (``"4242-1a2b3c4d"``)."""
    return f"{os.getpid()}-{uuid.uuid4().hex[:8]}"


SESSION_ID = new_session_id()
"""This process's session; every project autosaves to a file of its own session."""

CURVE_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr")
"""History values that :meth:`Project.compare_runs` returns as curves."""

DIFF_IGNORED = ("run_dir", "resume_from")
"""Config keys that differ between any two runs and are left out of config diffs."""


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _run_started(run_dir: str) -> str:
    """When a run started: the ``created`` time its run-folder marker records, or ``""`` without one.

    A record is added when the run ends; its ``created`` must be the start, not the finish.
    """
    from tlstudio.training.result import RUN_MARKER

    try:
        data = json.loads((Path(run_dir) / RUN_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    return str(data.get("created") or "") if isinstance(data, dict) else ""


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
        try:
            out = MIGRATIONS[version](out)
        except (TypeError, AttributeError, ValueError, KeyError) as exc:
            raise ProjectError(
                f"{where}looks like a schema-{version} project but cannot be upgraded: expected its fields to hold "
                f"objects, lists and texts as that schema wrote them. Received: {type(exc).__name__}: {exc}",
                path=str(path) if path else None,
            ) from exc
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
        damaged: Empty for a good run; otherwise the message saying which file
            and field is damaged (the run shows as damaged; its entry is
            written back unchanged).
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
    damaged: str = ""
    raw: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def run_config(self) -> RunConfig:
        """The config snapshot as a :class:`RunConfig` (defaults when it is missing).

        Raises:
            ProjectError: the snapshot is damaged.
        """
        from tlstudio.schemas import check_run_config

        return check_run_config(self.config or {}, None, f"run {self.id} config")

    @classmethod
    def damaged_entry(cls, entry: Any, message: str, index: int) -> "RunRecord":
        """A placeholder for a run entry that cannot be read; it is saved back unchanged."""
        data = entry if isinstance(entry, Mapping) else {}
        run_dir = data.get("run_dir") if isinstance(data.get("run_dir"), str) else ""
        run_id = data.get("id") if isinstance(data.get("id"), str) and data.get("id") else (Path(run_dir).name if run_dir else f"run-{index + 1}")
        return cls(
            id=str(run_id),
            run_dir=run_dir,
            status="damaged",
            notes=data.get("notes") if isinstance(data.get("notes"), str) else "",
            damaged=message,
            raw=entry if isinstance(entry, dict) else {"damaged_entry": entry},
        )

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
            "status": "damaged" if self.damaged else self.status,
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
        if self.raw is not None:  # an entry that could not be read: never lose it
            return dict(self.raw)
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
    def from_dict(cls, data: Mapping[str, Any], path: Any = None, field: str = "run") -> "RunRecord":
        """A record from a project file's run entry, every field checked.

        Raises:
            ProjectError: naming ``path``, ``field`` and the bad key, what was expected and ``Received``.
        """
        from tlstudio.schemas import check_run_entry

        data = check_run_entry(dict(data) if isinstance(data, Mapping) else data, path, field)
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
            created=_run_started(result.run_dir) or _now(),
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


def autosave_path(path: str | os.PathLike | None, session: str | None = SESSION_ID) -> Path:
    """The autosave side file of a project file for one session.

    Args:
        path: The project file; None for an untitled project (its autosave
            lives in the cache).
        session: The session id; None gives the name used before autosaves
            were per session (``<name>.tlsproj.autosave``).
    """
    tail = f".{session}{AUTOSAVE_SUFFIX}" if session else AUTOSAVE_SUFFIX
    if path is None:
        from tlstudio.paths import cache_dir

        return cache_dir("autosave") / f"untitled{PROJECT_SUFFIX}{tail}"
    p = Path(path)
    return p.with_name(p.name + tail)


def _session_of(side: Path, base: str) -> str | None:
    """The session id in a side file's name (``""`` for the old shared name), or None if it is not one."""
    name = side.name
    if not (name.startswith(base) and name.endswith(AUTOSAVE_SUFFIX)):
        return None
    middle = name[len(base) : -len(AUTOSAVE_SUFFIX)]
    if middle == "":
        return ""
    return middle[1:] if middle.startswith(".") and "." not in middle[1:] else None


def pending_autosaves(path: str | os.PathLike | None, own_session: str | None = SESSION_ID) -> list[Path]:
    """Autosaves of ``path`` left by other sessions and worth offering, newest first.

    An autosave is offered when it is newer than the project file (or the
    project file is missing). A clean save removes its session's autosave,
    so after a normal exit there is nothing to offer. ``own_session``'s file
    is never offered: it is this session's current work.
    """
    if path is None:
        from tlstudio.paths import cache_dir

        folder, base = cache_dir("autosave"), f"untitled{PROJECT_SUFFIX}"
        project_mtime = None
    else:
        p = Path(path)
        folder, base = p.parent, p.name
        project_mtime = p.stat().st_mtime_ns if p.is_file() else None
    if not folder.is_dir():
        return []
    found = []
    for side in folder.glob(f"{glob_escape(base)}*{AUTOSAVE_SUFFIX}"):
        session = _session_of(side, base)
        if session is None or (own_session and session == own_session) or not side.is_file():
            continue
        try:
            mtime = side.stat().st_mtime_ns
        except OSError:
            continue
        if project_mtime is None or mtime > project_mtime:
            found.append((mtime, side))
    return [side for _, side in sorted(found, reverse=True)]


def glob_escape(text: str) -> str:
    """``text`` with glob's special characters escaped."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def recover(path: str | os.PathLike | None, own_session: str | None = SESSION_ID) -> Path | None:
    """The newest autosave of ``path`` from another session to offer after a crash, or None."""
    pending = pending_autosaves(path, own_session)
    return pending[0] if pending else None


def discard_autosave(path: str | os.PathLike | None, side: str | os.PathLike | None = None, session: str | None = SESSION_ID) -> None:
    """Delete one autosave side file: ``side``, or ``session``'s file for ``path``.

    Only autosave files are ever deleted: ``side`` must be an autosave of ``path``.

    Raises:
        ProjectError: ``side`` is not an autosave of ``path``.
    """
    target = Path(side) if side is not None else autosave_path(path, session)
    base = Path(path).name if path is not None else f"untitled{PROJECT_SUFFIX}"
    if _session_of(target, base) is None:
        raise ProjectError(f"refusing to delete {target}: expected an autosave of {base}. Received: {target.name}", path=str(target))
    try:
        target.unlink()
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
        session: The session whose autosave file this project writes.
        recovered_from: The autosave this project was restored from; deleted
            by the next successful save, kept until then.
        decisions: Label overrides, exclusions and dismissed audit suspects
            (:class:`~tlstudio.dataset_decisions.DatasetDecisions`).
        audit: The last dataset audit (:class:`~tlstudio.audit_record.AuditRecord`), or None.
        audit_problem: Why the file's audit record was dropped (damaged), else "".
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
        decisions: DatasetDecisions | None = None,
        audit: AuditRecord | None = None,
    ):
        self.path: Path | None = Path(path) if path else None
        self.name = name or (self.path.stem if self.path else "untitled")
        self.data = data or DataConfig()
        self.model = model or ModelConfig()
        self.train = train or TrainConfig()
        self.runs: list[RunRecord] = list(runs)
        self.created = created or _now()
        self.dirty = False
        self.session: str = SESSION_ID
        self.recovered_from: Path | None = None
        self.decisions = decisions if decisions is not None else DatasetDecisions()
        self.audit = audit
        self.audit_problem = ""

    @property
    def damaged_runs(self) -> list[RunRecord]:
        """Runs whose entry or run folder is damaged (see :attr:`RunRecord.damaged`)."""
        return [r for r in self.runs if r.damaged]

    @property
    def problems(self) -> list[str]:
        """One message per damaged run (and a damaged audit record), for a warning when the project opens."""
        problems = [f"Run {r.id} is damaged: {r.damaged}" for r in self.damaged_runs]
        if self.audit_problem:
            problems.append(f"The last audit's record is damaged and was dropped (run the audit again): {self.audit_problem}")
        return problems

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
            **self.decisions.to_dict(),
            **({"audit": self.audit.to_dict()} if self.audit is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str | os.PathLike | None = None) -> "Project":
        """Build a project from a dict of any schema up to :data:`SCHEMA_VERSION`."""
        from tlstudio.schemas import check_project, json_text

        where = path or "the project"
        if not isinstance(data, Mapping):
            raise ProjectError(
                f"{where}: expected a JSON object (a tlstudio project). Received: {json_text(data)}",
                path=str(path) if path else None,
            )
        current = migrate(data, path)
        check_project(current, where)
        try:
            data_cfg = from_dict(DataConfig, current.get("data") or {}, "data")
            if current.get("dataset") and not data_cfg.root:
                data_cfg = replace(data_cfg, root=str(current["dataset"]))
            model_cfg = from_dict(ModelConfig, current.get("model") or {}, "model")
            train_cfg = from_dict(TrainConfig, current.get("train") or {}, "train")
        except ConfigError as exc:
            raise ProjectError(f"{where}: {exc}", path=str(path) if path else None) from exc
        runs = []
        for n, entry in enumerate(current.get("runs") or []):
            try:
                runs.append(RunRecord.from_dict(entry, where, f"runs[{n}]"))
            except ProjectError as exc:
                logger.warning("run entry %d of %s is damaged: %s", n, where, exc)
                runs.append(RunRecord.damaged_entry(entry, str(exc), n))
        audit, audit_problem = None, ""
        if current.get("audit") is not None:
            try:
                audit = AuditRecord.from_dict(current["audit"], where)
            except ProjectError as exc:  # the audit can run again: the project still opens, and says so
                logger.warning("dropped the damaged audit record of %s: %s", where, exc)
                audit_problem = str(exc)
        project = cls(
            name=str(current.get("name") or ""),
            data=data_cfg,
            model=model_cfg,
            train=train_cfg,
            runs=runs,
            path=path,
            created=str(current.get("created") or ""),
            decisions=DatasetDecisions.from_dict(current),
            audit=audit,
        )
        project.audit_problem = audit_problem
        return project

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Project":
        """Open a project file (older schemas are migrated in memory).

        Runs recorded without a history (for example by a v0 file) are refreshed
        from their run folders when those still exist.

        Raises:
            ProjectError: the file is missing, not JSON, or from a newer tlstudio.
        """
        from tlstudio.schemas import read_json

        p = Path(path)
        data = read_json(p, "project file")
        project = cls.from_dict(data, path=p)
        if p.suffix == PROJECT_SUFFIX and project.name == "untitled":
            project.name = p.stem  # written by a tlstudio that saved an untitled project without naming it
        migrated = data.get("schema_version", 0) != SCHEMA_VERSION if isinstance(data, dict) else False
        for record in project.runs:
            project._check_run_folder(record)
            if not record.damaged and not record.history and Path(record.run_dir).is_dir():
                try:
                    project.refresh_run(record.id)
                except ProjectError as exc:
                    project._mark_damaged(record.id, str(exc))
        project.dirty = migrated
        return project

    def _check_run_folder(self, record: RunRecord) -> None:
        """Mark ``record`` damaged when the files of its run folder that the app reads back are damaged."""
        if record.damaged or not record.run_dir or not Path(record.run_dir).is_dir():
            return
        from tlstudio.schemas import check_run_folder

        try:
            check_run_folder(record.run_dir, open_weights=False)
        except ProjectError as exc:
            logger.warning("run %s is damaged: %s", record.id, exc)
            record.damaged = str(exc)

    def _mark_damaged(self, run_id: str, message: str) -> None:
        logger.warning("run %s is damaged: %s", run_id, message)
        self.get_run(run_id).damaged = message

    @classmethod
    def recover(cls, path: str | os.PathLike | None, side: str | os.PathLike | None = None) -> "Project":
        """Open an autosave of ``path``; the result belongs to ``path`` and is dirty.

        Args:
            path: The project file (None: untitled).
            side: The autosave to open; None takes the newest one of another
                session (:func:`recover`).

        The autosave file is kept until the recovered project is saved.

        Raises:
            ProjectError: there is no autosave, or it cannot be read.
        """
        if side is None:
            side = recover(path)
            if side is None:
                raise ProjectError(f"there is no autosave to recover for {path or 'an untitled project'}. Received: none")
        project = cls.load(side)
        project.path = Path(path) if path else None
        if path:
            project.name = project.name or Path(path).stem
        project.recovered_from = Path(side)
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
        if not self.name or self.name == "untitled":
            self.name = target.stem  # the file records the name the window title shows when it reopens
        _write_project_file(target, json.dumps(self.to_dict(), indent=2, allow_nan=True))
        discard_autosave(old, session=self.session)
        if old != target:
            discard_autosave(target, session=self.session)
        if self.recovered_from is not None:  # its content is now in the saved file
            try:
                self.recovered_from.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                logger.warning("could not remove the recovered autosave %s: %s", self.recovered_from, exc)
            self.recovered_from = None
        self.path = target
        self.dirty = False
        return target

    def autosave(self) -> Path:
        """Write the current state to the side file; the project file is untouched."""
        side = autosave_path(self.path, self.session)
        _write_project_file(side, json.dumps(self.to_dict(), indent=2, allow_nan=True))
        return side

    # ----------------------------------------------------------------- audit

    def set_audit(self, record: AuditRecord | None) -> None:
        """Keep ``record`` as the last dataset audit (None forgets it) and mark the project dirty."""
        self.audit = record
        self.audit_problem = ""
        self.dirty = True

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
        record = self.get_run(run_id)
        record.notes = notes
        if record.raw is not None:
            record.raw["notes"] = notes
        self.dirty = True

    def deletable_folder(self, run_id: str) -> Path | None:
        """The run's folder if it may be deleted, None when it no longer exists.

        Raises:
            ProjectError: the folder is not a tlstudio run folder, saying why.
        """
        record = self.get_run(run_id)
        if not record.run_dir:
            return None
        return deletable_run_folder(record.run_dir, self.data.root or None)

    def remove_run(self, run_id: str, delete_files: bool = False) -> RunRecord:
        """Forget a run; with ``delete_files`` also delete its run folder.

        The folder is deleted only when it is a tlstudio run folder (see
        :mod:`tlstudio.io.safe_delete`); otherwise nothing is deleted and the
        run stays in the project.

        Raises:
            ProjectError: no such run, the folder is not a run folder, or it
                cannot be deleted.
        """
        record = self.get_run(run_id)
        if delete_files and record.run_dir:
            delete_run_folder(record.run_dir, self.data.root or None)
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
