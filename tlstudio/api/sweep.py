"""The head sweep's contract: :class:`SweepConfig`, its search space, trials, the per-trial event and the result. Keras-free."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from tlstudio.config import DataConfig, ModelConfig
from tlstudio.errors import ConfigError
from tlstudio.config import SEED_LIMIT
from tlstudio.options import check_options, option, precision_option


SEARCHES = ("random", "grid")


POOLINGS = ("avg", "max")


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ConfigError(message)


@dataclass(frozen=True)
class SearchSpace:
    """The values a sweep draws from.

    A grid search tries every combination of these lists. A random search
    picks cut, pooling, hidden layers and epochs from the lists, and draws
    learning rate and weight decay log-uniformly and dropout and label
    smoothing uniformly between the smallest and largest value listed (a
    listed 0 weight decay stays possible).

    Attributes:
        cuts: Cut layer names; empty uses every cut of the backbone.
        poolings: ``"avg"`` and/or ``"max"`` pooled features.
        hidden: Hidden layer widths per choice, e.g. ``((), (256,), (256, 128))``; ``()`` is a linear head.
        dropouts: Dropout after each hidden layer and before the output.
        learning_rates: Adam(W) learning rates.
        weight_decays: Decoupled weight decay (AdamW); 0 uses Adam.
        label_smoothings: Label smoothing of the cross-entropy.
        epochs: Epoch budgets; early stopping on an inner validation split usually ends sooner.
    """

    cuts: tuple[str, ...] = ()
    poolings: tuple[str, ...] = POOLINGS
    hidden: tuple[tuple[int, ...], ...] = ((), (256,), (512,), (256, 128))
    dropouts: tuple[float, ...] = (0.0, 0.25, 0.5)
    learning_rates: tuple[float, ...] = (3e-4, 1e-3, 3e-3)
    weight_decays: tuple[float, ...] = (0.0, 1e-2, 1e-1)
    label_smoothings: tuple[float, ...] = (0.0, 0.1)
    epochs: tuple[int, ...] = (30, 100)

    def __post_init__(self) -> None:
        for name in ("poolings", "hidden", "dropouts", "learning_rates", "weight_decays", "label_smoothings", "epochs"):
            _check(len(getattr(self, name)) > 0, f"space.{name} needs at least one value. Received: {name}=()")
        bad = [p for p in self.poolings if p not in POOLINGS]
        _check(not bad, f"space.poolings must be among {POOLINGS}. Received: poolings={self.poolings!r}")
        for widths in self.hidden:
            _check(len(widths) <= 3 and all(int(u) >= 1 for u in widths),
                   f"space.hidden: each choice is at most 3 widths >= 1. Received: {widths!r}")
        _check(all(0.0 <= d < 1.0 for d in self.dropouts), f"space.dropouts must be within [0, 1). Received: {self.dropouts!r}")
        _check(all(lr > 0 and math.isfinite(lr) for lr in self.learning_rates),
               f"space.learning_rates must be positive. Received: {self.learning_rates!r}")
        _check(all(wd >= 0 and math.isfinite(wd) for wd in self.weight_decays),
               f"space.weight_decays must be >= 0. Received: {self.weight_decays!r}")
        _check(all(0.0 <= s < 1.0 for s in self.label_smoothings),
               f"space.label_smoothings must be within [0, 1). Received: {self.label_smoothings!r}")
        _check(all(int(e) >= 1 for e in self.epochs), f"space.epochs must be >= 1. Received: {self.epochs!r}")


@dataclass(frozen=True)
class SweepConfig:
    """What a sweep runs on and how.

    Attributes:
        data: The dataset and its split (the sweep scores the training split only).
        model: Only ``backbone``, ``weights`` and ``image_size`` are used.
        space: The search space.
        trials: Trials to run; 0 runs the whole grid (grid search only).
        search: ``"random"`` or ``"grid"``.
        seed: Seed of the trial order (grid) or draws (random) and of every trial's initialisation.
        folds: Stratified cross-validation folds (fewer when a class is smaller).
        batch_size: Head training batch size.
        patience: Early-stopping patience in epochs, on an inner validation split of each training fold.
        trials_file: JSON file holding the trials; an existing file of the same sweep is resumed. Empty: none.
        feature_batch_size: Images per forward pass while extracting features.
        precision: Compute precision of the feature extraction (``"auto"``, ``"float32"``,
            ``"bfloat16"``, ``"float16"``); part of the feature cache key.
        cache_dir: Folder of the pooled feature cache; empty uses the app's cache folder.
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    space: SearchSpace = field(default_factory=SearchSpace)
    trials: int = option(24, label="Trials", min=0, help="trials to run (0 with --search grid: the whole grid)")
    search: str = option("random", label="Search", choices=SEARCHES, help="random draws or the grid")
    seed: int = option(0, label="Seed", min=0, max=SEED_LIMIT, max_open=True, help="seed of the plan, the folds and every trial")
    folds: int = option(5, label="Folds", min=2, help="stratified cross-validation folds")
    batch_size: int = option(32, label="Batch size", min=1, help="head training batch size")
    patience: int = option(5, label="Patience", min=1, help="early-stopping patience in epochs, on an inner validation split")
    trials_file: str = option("", label="Trials file", help="JSON file holding the trials; resumed when it exists")
    feature_batch_size: int = option(32, label="Feature batch size", min=1, help="images per forward pass while extracting features")
    precision: str = precision_option("auto", what="feature extraction")
    cache_dir: str = ""

    def __post_init__(self) -> None:
        # its wording names the field's value, as the sweep's older messages did; the choices check follows
        _check(self.search in SEARCHES, f"search must be one of {SEARCHES}. Received: search={self.search!r}")
        check_options(self)
        _check(self.trials >= 1 or self.search == "grid",
               f"trials=0 (the whole space) needs search='grid'. Received: trials=0, search={self.search!r}")


@dataclass(frozen=True)
class TrialParams:
    """One point of the search space.

    Attributes:
        cut: The cut layer whose pooled features feed the head.
        pooling: ``"avg"`` or ``"max"``.
        hidden: Hidden layer widths (``()``: a linear head).
        dropout: Dropout after each hidden layer and before the output.
        learning_rate: Adam(W) learning rate.
        weight_decay: Decoupled weight decay (0: Adam).
        label_smoothing: Label smoothing of the cross-entropy.
        epochs: Epoch budget (early stopping may end sooner).
    """

    cut: str
    pooling: str = "avg"
    hidden: tuple[int, ...] = ()
    dropout: float = 0.0
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    epochs: int = 30

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {"cut": self.cut, "pooling": self.pooling, "hidden": list(self.hidden), "dropout": self.dropout,
                "learning_rate": self.learning_rate, "weight_decay": self.weight_decay,
                "label_smoothing": self.label_smoothing, "epochs": self.epochs}

    @classmethod
    def from_json(cls, data: Any, where: str = "params") -> "TrialParams":
        """The inverse of :meth:`to_json`.

        Raises:
            ConfigError: a missing key or a value of the wrong type, naming ``where``.
        """
        try:
            return cls(cut=str(data["cut"]), pooling=str(data["pooling"]), hidden=tuple(int(u) for u in data["hidden"]),
                       dropout=float(data["dropout"]), learning_rate=float(data["learning_rate"]),
                       weight_decay=float(data["weight_decay"]), label_smoothing=float(data["label_smoothing"]),
                       epochs=int(data["epochs"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{where} must hold the settings of a trial (cut, pooling, hidden, dropout, learning_rate, "
                              f"weight_decay, label_smoothing, epochs). Received: {data!r} ({type(exc).__name__}: {exc})") from None

    def label(self) -> str:
        """A short one-line description, e.g. ``block4_pool avg [256] d0.25 lr0.001 wd0.01 ls0.1 e30``."""
        hidden = "[" + ",".join(str(u) for u in self.hidden) + "]"
        return (f"{self.cut} {self.pooling} {hidden} d{self.dropout:g} lr{self.learning_rate:g} "
                f"wd{self.weight_decay:g} ls{self.label_smoothing:g} e{self.epochs}")


@dataclass(frozen=True)
class Trial:
    """A scored (or failed) trial.

    Attributes:
        params: What was tried.
        cv_accuracy: Mean accuracy over the held-out folds (NaN when failed).
        cv_std: Standard deviation of the fold accuracies.
        seconds: Wall time of the trial.
        error: Empty when it ran; otherwise what went wrong (the sweep went on).
        fold_accuracies: Accuracy of each held-out fold.
        epochs_run: Epochs trained per fold before early stopping ended it.
        resumed: True when read back from the trials file rather than run now.
    """

    params: TrialParams
    cv_accuracy: float
    cv_std: float
    seconds: float
    error: str = ""
    fold_accuracies: tuple[float, ...] = ()
    epochs_run: tuple[int, ...] = ()
    resumed: bool = False

    @property
    def ok(self) -> bool:
        """True when the trial ran and was scored."""
        return not self.error

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types (NaN as null)."""
        return {"params": self.params.to_json(),
                "cv_accuracy": None if math.isnan(self.cv_accuracy) else round(self.cv_accuracy, 6),
                "cv_std": None if math.isnan(self.cv_std) else round(self.cv_std, 6),
                "seconds": round(self.seconds, 3), "error": self.error,
                "fold_accuracies": [round(a, 6) for a in self.fold_accuracies], "epochs_run": list(self.epochs_run)}

    @classmethod
    def from_json(cls, data: Any, where: str = "trial") -> "Trial":
        """The inverse of :meth:`to_json` (``resumed`` set).

        Raises:
            ConfigError: a missing key or a value of the wrong type, naming ``where``.
        """
        if not isinstance(data, dict):
            raise ConfigError(f"{where} must be a JSON object. Received: {type(data).__name__}")
        params = TrialParams.from_json(data.get("params"), f"{where}.params")
        try:
            acc = data.get("cv_accuracy")
            std = data.get("cv_std")
            return cls(params, float("nan") if acc is None else float(acc), float("nan") if std is None else float(std),
                       float(data.get("seconds", 0.0)), str(data.get("error", "")),
                       tuple(float(a) for a in data.get("fold_accuracies", ())),
                       tuple(int(e) for e in data.get("epochs_run", ())), resumed=True)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: expected numbers for cv_accuracy, cv_std, seconds and fold_accuracies. "
                              f"Received: {type(exc).__name__}: {exc}") from None


@dataclass(frozen=True)
class TrialFinished:
    """Sent after each trial: the GUI's trial table and best-so-far line follow it.

    Attributes:
        index: 0-based position of the trial in the sweep's plan.
        total: Trials planned.
        trial: The trial.
        best_index: Index of the best trial so far (-1 when none scored).
    """

    index: int
    total: int
    trial: Trial
    best_index: int


@dataclass(frozen=True)
class SweepResult:
    """Every trial of the sweep and the best one.

    Attributes:
        trials: In the order of the plan (resumed ones included).
        best_index: Index of the highest CV accuracy (-1 when no trial scored).
        class_names: Class names in label order.
        num_images: Training images the trials were scored on.
        folds: Folds actually used.
        chance: Accuracy of always answering the largest class.
        seconds: Wall time of the whole job.
        trials_seconds: Wall time of the trials alone (features excluded).
        cache_hit: True when every feature came from the cache.
        planned: Trials the plan held (a capped grid may be smaller than the whole space).
        space_size: Points of the grid (0 for a random search).
        cancelled: True when stopped early; ``trials`` is then partial.
    """

    trials: tuple[Trial, ...]
    best_index: int
    class_names: tuple[str, ...] = ()
    num_images: int = 0
    folds: int = 0
    chance: float = 0.0
    seconds: float = 0.0
    trials_seconds: float = 0.0
    cache_hit: bool = False
    planned: int = 0
    space_size: int = 0
    cancelled: bool = False

    @property
    def best(self) -> Trial | None:
        """The best trial, or None."""
        return self.trials[self.best_index] if self.best_index >= 0 else None

    def to_json(self) -> dict[str, Any]:
        """The JSON of ``tlstudio-cli sweep --json``."""
        return {"trials": [t.to_json() for t in self.trials], "best_index": self.best_index,
                "best": self.best.to_json() if self.best else None, "class_names": list(self.class_names),
                "num_images": self.num_images, "folds": self.folds, "chance": round(self.chance, 4),
                "seconds": round(self.seconds, 3), "trials_seconds": round(self.trials_seconds, 3),
                "cache_hit": self.cache_hit, "planned": self.planned, "space_size": self.space_size,
                "cancelled": self.cancelled}


def best_index(trials: "list[Trial] | tuple[Trial, ...]") -> int:
    """The highest CV accuracy among scored trials; on a tie the lower spread, then the earlier trial."""
    scored = [(i, t) for i, t in enumerate(trials) if t.ok and not math.isnan(t.cv_accuracy)]
    if not scored:
        return -1
    return max(scored, key=lambda it: (round(it[1].cv_accuracy, 6), -round(it[1].cv_std, 6), -it[0]))[0]
