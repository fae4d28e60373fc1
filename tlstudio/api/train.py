"""The training job's contract: what a run produced (:class:`RunResult`).

Keras-free, so the GUI reads a run's typed result. The job is
:func:`tlstudio.jobs.train.train`; its config is :class:`tlstudio.config.RunConfig`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from tlstudio.errors import ProjectError


@dataclass(frozen=True)
class RunResult:
    """What a training run produced.

    Attributes:
        run_dir: The run folder.
        model_path: The saved usable model (``model.keras``), or None when no
            model could be saved (for example the dataset could not be read).
        best_metrics: Metrics of the best epoch by the monitored value, e.g.
            ``{"epoch": 3, "loss": .., "accuracy": .., "val_loss": .., "val_accuracy": ..}``.
        history: One dict per completed epoch, over every session of the run
            (a resumed run appends): ``epoch`` (0-based, global), ``phase``,
            ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy`` (when there is
            a validation split), ``lr`` and ``seconds``.
        class_names: Class names in label order.
        cancelled: True when the run was cancelled.
        error: One-line, human-readable error, or None.
        error_details: Traceback text of the error, or None.
        epochs_completed: Epochs fully completed, over both phases (and earlier
            sessions of a resumed run).
        feature_cache: True when phase 1 trained the head on cached backbone features.
        seconds: Wall time of this session of the run.
        monitor: The metric that chose the best epoch (``val_accuracy`` falls
            back to ``accuracy`` when there is no validation split).
        devices: Devices and distribution strategy that ran the training.
        error_type: Class name of the error (``"DataError"``, ``"WeightsUnavailableError"``...), or None.
        auto_head: With ``train --head auto``: the chosen cut and trial, its CV score and the
            reason (the whole record is in ``auto_head.json``); None otherwise.
        versions: Python, TensorFlow, Keras, NumPy, Pillow and tlstudio versions of the
            process that trained (the report's Reproduce section); empty for older runs.
    """

    run_dir: str
    model_path: str | None = None
    best_metrics: Mapping[str, float] = field(default_factory=dict)
    history: tuple[Mapping[str, Any], ...] = ()
    class_names: tuple[str, ...] = ()
    cancelled: bool = False
    error: str | None = None
    error_details: str | None = None
    epochs_completed: int = 0
    feature_cache: bool = False
    seconds: float = 0.0
    monitor: str = "val_accuracy"
    devices: str = ""
    error_type: str | None = None
    auto_head: Mapping[str, Any] | None = None
    versions: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the run ended without error and was not cancelled."""
        return self.error is None and not self.cancelled

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (the content of ``result.json`` plus the history)."""
        data = dataclasses.asdict(self)
        data["best_metrics"] = dict(self.best_metrics)
        data["history"] = [dict(h) for h in self.history]
        data["class_names"] = list(self.class_names)
        data["versions"] = dict(self.versions)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RunResult":
        """Build a result from :meth:`to_dict` output; unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs["best_metrics"] = dict(kwargs.get("best_metrics") or {})
        kwargs["history"] = tuple(dict(h) for h in kwargs.get("history") or ())
        kwargs["class_names"] = tuple(kwargs.get("class_names") or ())
        versions = kwargs.get("versions")
        kwargs["versions"] = {str(k): str(v) for k, v in versions.items()} if isinstance(versions, Mapping) else {}
        if "run_dir" not in kwargs:
            raise ProjectError(f"a run result needs 'run_dir'. Received keys: {sorted(data)}")
        return cls(**kwargs)
