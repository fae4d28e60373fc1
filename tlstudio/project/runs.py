"""Run records: what a project remembers of each training run, and runs compared side by side.

A bad run entry, or a run folder whose ``history.json`` or
``run_config.json`` is damaged, marks only that run damaged
(:attr:`RunRecord.damaged`); its entry is written back unchanged.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from tlstudio.config import RunConfig, to_dict

CURVE_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr")
"""History values that :meth:`~tlstudio.project.project.Project.compare_runs` returns as curves."""

DIFF_IGNORED = ("run_dir", "resume_from")
"""Config keys that differ between any two runs and are left out of config diffs."""

NO_EPOCH = "no epoch completed"
"""The status of a run cancelled before its first epoch ended: no model, kept out of comparisons."""


def utc_now() -> str:
    """The current UTC time as ISO text to the second (``"2026-01-02T03:04:05Z"``)."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _run_started(run_dir: str) -> str:
    """When a run started: the ``created`` time its run-folder marker records, or ``""`` without one.

    A record is added when the run ends; its ``created`` must be the start, not the finish.
    """
    from tlstudio.run_folders import RUN_MARKER

    try:
        data = json.loads((Path(run_dir) / RUN_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    return str(data.get("created") or "") if isinstance(data, dict) else ""


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
        status: ``"finished"``, ``"cancelled"``, ``"failed"``, ``"unknown"`` or
            ``"no epoch completed"`` (cancelled before its first epoch ended).
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
        from tlstudio.run_folders import RunFolder

        return str(RunFolder(self.run_dir).logs)

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
            from tlstudio.run_folders import RunFolder

            folder = RunFolder(result.run_dir)  # the checked loader: a damaged field is named (ProjectError)
            config_dict = to_dict(folder.load_config()) if folder.run_config.is_file() else {}
        else:
            config_dict = to_dict(config)
        status = "failed" if result.error else "cancelled" if result.cancelled else "finished"
        if status == "cancelled" and not int(result.epochs_completed):
            status = NO_EPOCH  # stopped before its first epoch ended: no model, no curves to compare
        return cls(
            id=run_id or Path(result.run_dir).name,
            run_dir=str(result.run_dir),
            config=config_dict,
            history=[dict(h) for h in result.history],
            best_metrics=dict(result.best_metrics),
            created=_run_started(result.run_dir) or utc_now(),
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
