"""The project: one JSON file holding the dataset, the stage configs and the run history.

A project file (``*.tlsproj``) records the dataset path, the data, model and
training configs (as :func:`tlstudio.config.to_dict` writes them) and the runs,
each with its run folder, config snapshot, history and best metrics
(:class:`~tlstudio.project.runs.RunRecord`).

* **Safe writes**: every save goes through :mod:`tlstudio.io.atomic` (a
  temporary file next to the target, fsynced, then renamed over it), so a
  crash never leaves a half-written project.
* **Autosave per session**: :meth:`Project.autosave` writes the same content
  to a side file of its own session, :meth:`Project.recover` opens one after
  a crash (:mod:`tlstudio.project.autosave`). Only a save, or an explicit
  "discard", removes a side file.
* **Typed schema**: every field is checked for type and range by
  :mod:`tlstudio.schemas`. A bad top-level field refuses the file with one
  message naming the file, the field, what was expected and ``Received``; a
  bad run entry, or a run folder whose ``history.json`` or ``run_config.json``
  is damaged, marks only that run damaged and the rest of the project opens.
* **Safe deletes**: :meth:`Project.remove_run` deletes a run folder only when
  :mod:`tlstudio.training.safe_delete` accepts it as a tlstudio run folder.
* **Versioned schema**: older files are migrated on load
  (:mod:`tlstudio.project.migrations`); a file from a newer tlstudio raises
  :class:`~tlstudio.errors.ProjectError`.

This module is light: it never imports TensorFlow.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from tlstudio.api.report import ModelCard
from tlstudio.config import DataConfig, ModelConfig, RunConfig, TrainConfig, from_dict, to_dict
from tlstudio.dataset_decisions import DatasetDecisions
from tlstudio.errors import ConfigError, ProjectError
from tlstudio.io.atomic import atomic_write_text
from tlstudio.training.safe_delete import delete_run_folder, deletable_run_folder
from tlstudio.project.analysis_records import MapRecord, ProbeRecord, read_record
from tlstudio.project.audit_record import AuditRecord
from tlstudio.project.label_record import LabelRecord
from tlstudio.project.autosave import PROJECT_SUFFIX, SESSION_ID, autosave_path, discard_autosave, recover
from tlstudio.project.migrations import SCHEMA_VERSION, migrate
from tlstudio.project.runs import RunComparison, RunRecord, config_diff, history_curves, utc_now

logger = logging.getLogger(__name__)


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
        audit: The last dataset audit (:class:`~tlstudio.project.audit_record.AuditRecord`), or None.
        model_card: What the user says about the model (intended use, limitations, data
            provenance, authors): the run report's Model card section.
        audit_problem: Why the file's audit record was dropped (damaged), else "".
        probe: The last transfer probe (:class:`~tlstudio.project.analysis_records.ProbeRecord`), or None.
        map: The last embedding map (:class:`~tlstudio.project.analysis_records.MapRecord`), or None.
        sweep_folder: The folder of the last head sweep ("" when none), wherever it was
            made (an untitled project's sweeps live in the cache).
        record_problems: Why the file's probe or map record was dropped (damaged).
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
        model_card: ModelCard | None = None,
    ):
        self.path: Path | None = Path(path) if path else None
        self.name = name or (self.path.stem if self.path else "untitled")
        self.data = data or DataConfig()
        self.model = model or ModelConfig()
        self.train = train or TrainConfig()
        self.runs: list[RunRecord] = list(runs)
        self.created = created or utc_now()
        self.dirty = False
        self.session: str = SESSION_ID
        self.recovered_from: Path | None = None
        self.decisions = decisions if decisions is not None else DatasetDecisions()
        self.audit = audit
        self.model_card = model_card if model_card is not None else ModelCard()
        self.audit_problem = ""
        self.probe: ProbeRecord | None = None
        self.map: MapRecord | None = None
        self.sweep_folder = ""
        self.record_problems: list[str] = []
        self.label: LabelRecord | None = None
        self.label_problem = ""

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
        if self.label_problem:
            problems.append(f"The labelling rounds' record is damaged and was dropped (the filed images are in "
                            f"the dataset): {self.label_problem}")
        return problems + self.record_problems

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
            "modified": utc_now(),
            "dataset": self.data.root,
            "data": to_dict(self.data),
            "model": to_dict(self.model),
            "train": to_dict(self.train),
            "runs": [r.to_dict() for r in self.runs],
            **self.decisions.to_dict(),
            **({"audit": self.audit.to_dict()} if self.audit is not None else {}),
            **({"probe": self.probe.to_dict()} if self.probe is not None else {}),
            **({"map": self.map.to_dict()} if self.map is not None else {}),
            **({"sweep_folder": self.sweep_folder} if self.sweep_folder else {}),
            **({"model_card": self.model_card.to_dict()} if not self.model_card.empty else {}),
            **({"label": self.label.to_dict()} if self.label is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str | os.PathLike | None = None) -> "Project":
        """Build a project from a dict of any schema up to :data:`~tlstudio.project.migrations.SCHEMA_VERSION`."""
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
            card = ModelCard.from_dict(current.get("model_card") or {}, "model_card")
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
            model_card=card,
        )
        project.audit_problem = audit_problem
        where_file = str(path) if path else None
        project.probe, problem = read_record(ProbeRecord, current, "probe", where_file)
        if problem:
            logger.warning("dropped the damaged probe record of %s: %s", where, problem)
            project.record_problems.append(f"The last transfer probe's record is damaged and was dropped (run the probe again): {problem}")
        project.map, problem = read_record(MapRecord, current, "map", where_file)
        if problem:
            logger.warning("dropped the damaged map record of %s: %s", where, problem)
            project.record_problems.append(f"The last embedding map's record is damaged and was dropped (compute the map again): {problem}")
        folder = current.get("sweep_folder")
        project.sweep_folder = folder if isinstance(folder, str) else ""
        if current.get("label") is not None:
            try:
                project.label = LabelRecord.from_dict(current["label"], where)
            except ProjectError as exc:  # the project still opens, and says so
                logger.warning("dropped the damaged labelling record of %s: %s", where, exc)
                project.label_problem = str(exc)
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
        from tlstudio.run_folders import check_run_folder

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
                session (:func:`~tlstudio.project.autosave.recover`).

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

    # ----------------------------------------------------------------- labelling loop

    def set_label(self, record: LabelRecord | None) -> None:
        """Keep ``record`` as the labelling loop (None forgets it) and mark the project dirty."""
        self.label = record
        self.label_problem = ""
        self.dirty = True

    # ----------------------------------------------------------------- audit

    def set_audit(self, record: AuditRecord | None) -> None:
        """Keep ``record`` as the last dataset audit (None forgets it) and mark the project dirty."""
        self.audit = record
        self.audit_problem = ""
        self.dirty = True

    def set_probe(self, record: ProbeRecord | None) -> None:
        """Keep ``record`` as the last transfer probe (None forgets it) and mark the project dirty."""
        self.probe = record
        self.dirty = True

    def set_map(self, record: MapRecord | None) -> None:
        """Keep ``record`` as the last embedding map (None forgets it) and mark the project dirty."""
        self.map = record
        self.dirty = True

    def set_sweep_folder(self, folder: str) -> None:
        """Remember the folder of the last head sweep, wherever it is, and mark the project dirty."""
        self.sweep_folder = str(folder)
        self.dirty = True

    # ----------------------------------------------------------------- configs

    def set_model_card(self, card: ModelCard) -> None:
        """Replace the model card; the project becomes dirty when it changed."""
        if card != self.model_card:
            self.model_card = card
            self.dirty = True

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
        from tlstudio.run_folders import RunFolder

        if not RunFolder(record.run_dir).is_run() and record.config:
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
        :mod:`tlstudio.training.safe_delete`); otherwise nothing is deleted and the
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
        for r in records:
            if not r.epochs_completed and not r.history:
                raise ProjectError(f"run {r.id} completed no epoch: it has no curves or metrics to compare. Received: {list(ids)}")
        return RunComparison(
            ids=ids,
            curves={r.id: history_curves(r.history) for r in records},
            config_diff=config_diff([r.config for r in records]),
            best_metrics={r.id: dict(r.best_metrics) for r in records},
        )
