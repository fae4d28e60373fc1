"""The project's record of its active-labelling loop: the folders, every round's batch and the learning curve.

A project keeps one :class:`LabelRecord` (the ``"label"`` field of the
``.tlsproj`` file). Each applied batch is recorded as a round
(:class:`LabelRound`: what was filed where, which images were skipped, the
strategy) the moment it is applied, and its point of the learning curve when
the refit ends, so a killed app loses at most the batch still being decided.
The images filed into the dataset are also in the project's
``DataConfig.train_only``, which every job honours (they always train).

Checked field by field when read back (:meth:`LabelRecord.from_dict`). This
module is light: no TensorFlow, no Qt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from tlstudio.api.label import STRATEGIES, AppliedBatch
from tlstudio.errors import ConfigError, ProjectError


@dataclass
class LabelRound:
    """One applied batch.

    Attributes:
        strategy: How its images were chosen.
        batch: What was filed where (undo reverses it).
        skipped: Images the user skipped (never suggested again).
        labelled: Training images after this round (the curve's x); 0 until refitted.
        val_accuracy: Validation accuracy of the head refitted after it; None until then.
        head_file: The refitted head (``.keras``) the next suggestion scores with; "" until then.
        classes: That head's classes, in its output order.
    """

    strategy: str
    batch: AppliedBatch
    skipped: tuple[str, ...] = ()
    labelled: int = 0
    val_accuracy: float | None = None
    head_file: str = ""
    classes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "batch": self.batch.to_json(), "skipped": list(self.skipped),
                "labelled": self.labelled, "val_accuracy": self.val_accuracy, "head_file": self.head_file,
                "classes": list(self.classes)}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> "LabelRound":
        if not isinstance(data, Mapping):
            raise ProjectError(f"{where}: expected a round object. Received: {str(data)[:60]}")
        strategy = data.get("strategy")
        if strategy not in STRATEGIES:
            raise ProjectError(f"{where}: field 'strategy' must be one of {list(STRATEGIES)}. Received: {strategy!r}")
        accuracy = data.get("val_accuracy")
        if accuracy is not None and not isinstance(accuracy, (int, float)):
            raise ProjectError(f"{where}: field 'val_accuracy' must be a number or null. Received: {accuracy!r}")
        try:
            batch = AppliedBatch.from_json(data.get("batch"), f"{where}.batch")
        except ConfigError as exc:
            raise ProjectError(str(exc)) from exc
        return cls(strategy, batch, tuple(str(p) for p in data.get("skipped") or ()), int(data.get("labelled") or 0),
                   None if accuracy is None else float(accuracy), str(data.get("head_file") or ""),
                   tuple(str(c) for c in data.get("classes") or ()))


@dataclass
class LabelRecord:
    """The loop of one project.

    Attributes:
        pool: The unsorted folder.
        run_dir: The run whose model and head settings the loop uses.
        strategy: The strategy chosen last.
        n: The batch size chosen last.
        move: True when images are moved rather than copied.
        baseline: ``(labelled, val_accuracy)`` of the head refitted before the first round, or None.
        baseline_head: Its head file.
        baseline_classes: That head's classes.
        rounds: Applied batches, oldest first.
    """

    pool: str = ""
    run_dir: str = ""
    strategy: str = "diverse"
    n: int = 24
    move: bool = False
    baseline: tuple[int, float] | None = None
    baseline_head: str = ""
    baseline_classes: tuple[str, ...] = ()
    rounds: list[LabelRound] = field(default_factory=list)

    # -------------------------------------------------------------- queries

    def labelled(self) -> tuple[tuple[str, str], ...]:
        """``(image in the pool, class)`` of every image filed so far."""
        return tuple((p.source, p.label) for r in self.rounds for p in r.batch.placed)

    def targets(self) -> tuple[str, ...]:
        """Where those images are in the dataset (the project's ``train_only``)."""
        return tuple(p.target for r in self.rounds for p in r.batch.placed)

    def skipped(self) -> tuple[str, ...]:
        """Pool images the user skipped."""
        return tuple(p for r in self.rounds for p in r.skipped)

    def head(self) -> tuple[str, tuple[str, ...]]:
        """The latest refitted head file and its classes (``("", ())``: the run's own head)."""
        for r in reversed(self.rounds):
            if r.head_file:
                return r.head_file, r.classes
        return self.baseline_head, self.baseline_classes

    def curve(self) -> list[tuple[int, float, str]]:
        """``(labelled, val_accuracy, strategy)`` of the baseline and of every refitted round."""
        points = [(self.baseline[0], self.baseline[1], "start")] if self.baseline else []
        return points + [(r.labelled, r.val_accuracy, r.strategy) for r in self.rounds if r.val_accuracy is not None]

    # -------------------------------------------------------------- file

    def to_dict(self) -> dict[str, Any]:
        return {"pool": self.pool, "run_dir": self.run_dir, "strategy": self.strategy, "n": self.n, "move": self.move,
                "baseline": list(self.baseline) if self.baseline else None, "baseline_head": self.baseline_head,
                "baseline_classes": list(self.baseline_classes), "rounds": [r.to_dict() for r in self.rounds]}

    @classmethod
    def from_dict(cls, data: Any, where: str = "the project") -> "LabelRecord":
        """Read :meth:`to_dict` back.

        Raises:
            ProjectError: naming ``where``, the field and what was received.
        """
        where = f"{where}: label"
        if not isinstance(data, Mapping):
            raise ProjectError(f"{where}: expected an object. Received: {str(data)[:60]}")
        for key in ("pool", "run_dir", "baseline_head"):
            if not isinstance(data.get(key, ""), str):
                raise ProjectError(f"{where}: field '{key}' must be a text. Received: {data.get(key)!r}")
        strategy = data.get("strategy", "diverse")
        if strategy not in STRATEGIES:
            raise ProjectError(f"{where}: field 'strategy' must be one of {list(STRATEGIES)}. Received: {strategy!r}")
        n = data.get("n", 24)
        if not isinstance(n, int) or n < 1:
            raise ProjectError(f"{where}: field 'n' must be a whole number of at least 1. Received: {n!r}")
        baseline = data.get("baseline")
        if baseline is not None and not (isinstance(baseline, list) and len(baseline) == 2
                                         and all(isinstance(v, (int, float)) for v in baseline)):
            raise ProjectError(f"{where}: field 'baseline' must be [labelled, accuracy] or null. Received: {baseline!r}")
        rounds = data.get("rounds") or []
        if not isinstance(rounds, list):
            raise ProjectError(f"{where}: field 'rounds' must be a list. Received: {str(rounds)[:60]}")
        return cls(
            pool=data.get("pool", ""), run_dir=data.get("run_dir", ""), strategy=strategy, n=n,
            move=bool(data.get("move", False)),
            baseline=(int(baseline[0]), float(baseline[1])) if baseline else None,
            baseline_head=data.get("baseline_head", ""),
            baseline_classes=tuple(str(c) for c in data.get("baseline_classes") or ()),
            rounds=[LabelRound.from_dict(r, f"{where}.rounds[{i}]") for i, r in enumerate(rounds)],
        )
