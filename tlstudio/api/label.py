"""The active-labelling loop's contract: suggest, retrain, and the files a batch placed. Keras-free.

The loop (see :mod:`tlstudio.jobs.label`): the ``label_suggest`` job scores
an unsorted folder with a run's model and picks the images the model is least
sure about; the user labels them; :mod:`tlstudio.data.labelling` files them
into the dataset (:class:`AppliedBatch`, undoable); the ``label_retrain`` job
refits the run's head on the cached features and scores it on the fixed
validation split (:class:`RetrainResult`, one point of the learning curve).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from tlstudio.api.audit import AuditConfig
from tlstudio.config import DataConfig
from tlstudio.errors import ConfigError
from tlstudio.options import check_options, option

STRATEGIES = ("uncertainty", "diverse", "random")
"""``uncertainty``: smallest top-1/top-2 margin first. ``diverse``: the most uncertain
candidates, then greedy k-centre on the embeddings. ``random``: a seeded shuffle (for comparison)."""

DEFAULT_BATCH = 24
_AUDIT = AuditConfig()
"""The dataset audit's duplicate thresholds are the loop's: one rule for a copy."""


def _check_text(value: Any, name: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{name} must be a folder path. Received: {name}={value!r}")


@dataclass(frozen=True)
class SuggestConfig:
    """What the ``label_suggest`` job ranks.

    Attributes:
        pool: The unsorted folder (images in any sub-folders; no labels needed).
        run_dir: The run whose model scores the images (its head, cut and backbone).
        data: The labelled dataset: its images are embedded too, so that exact
            and near copies of them are flagged instead of suggested. An empty
            root uses the run's dataset.
        n: Images in the batch.
        strategy: One of :data:`STRATEGIES`.
        seed: Seed of ``random`` and of the k-centre start.
        labelled: ``(image, class)`` of the pool images labelled in earlier
            rounds: never suggested again; their copies are flagged, and
            ``diverse`` spreads away from them.
        exclude: Pool images skipped in earlier rounds: never suggested again.
        head_file: A head refitted by ``label_retrain`` (``.keras``) to score
            with instead of the run's; empty uses the run's head.
        head_classes: The classes of ``head_file``, in its output order.
        near_similarity: The audit's feature-similarity threshold for near copies.
        phash_distance: The audit's perceptual-hash threshold for near copies.
        batch_size: Images per forward pass while embedding.
        cache_dir: Folder of the pooled feature cache; empty uses the app's cache folder.
    """

    pool: str = option("", label="Unsorted folder", help="folder of unlabelled images, in any sub-folders")
    run_dir: str = option("", label="Run", help="run folder whose model scores the images")
    data: DataConfig = field(default_factory=DataConfig)
    n: int = option(DEFAULT_BATCH, label="Batch", min=1, max=1000, help="images suggested per round")
    strategy: str = option("diverse", label="Strategy", choices=STRATEGIES,
                           help="how to rank: smallest margin, margin then spread, or random",
                           tooltip="uncertainty: the images whose top two classes are closest.\n"
                                   "diverse: the most uncertain, then spread over the embeddings so one batch\n"
                                   "does not hold near-copies.\nrandom: for comparison")
    seed: int = option(0, label="Seed", min=0, help="seed of the random order and of the spread")
    labelled: tuple[tuple[str, str], ...] = ()
    exclude: tuple[str, ...] = ()
    head_file: str = ""
    head_classes: tuple[str, ...] = ()
    near_similarity: float = _AUDIT.near_similarity
    phash_distance: int = _AUDIT.phash_distance
    batch_size: int = 32
    cache_dir: str = ""

    def __post_init__(self) -> None:
        _check_text(self.pool, "pool")
        _check_text(self.run_dir, "run_dir")
        check_options(self)
        if not 0.0 < self.near_similarity <= 1.0:
            raise ConfigError(f"near_similarity must be within (0, 1]. Received: {self.near_similarity!r}")
        if not 0 <= self.phash_distance <= 64:
            raise ConfigError(f"phash_distance must be within [0, 64]. Received: {self.phash_distance!r}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1. Received: {self.batch_size!r}")


@dataclass(frozen=True)
class Suggestion:
    """One image to label.

    Attributes:
        path: The image in the unsorted folder.
        suggested: The class the model predicts.
        probability: Its probability.
        margin: Top-1 minus top-2 probability (small: the model is unsure).
        rank: 1 for the first image to label.
        probabilities: Every class's probability, in the run's class order.
    """

    path: str
    suggested: str
    probability: float
    margin: float
    rank: int
    probabilities: tuple[float, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "suggested": self.suggested, "probability": round(self.probability, 4),
                "margin": round(self.margin, 4), "rank": self.rank}


@dataclass(frozen=True)
class Skipped:
    """A pool image that is not suggested, and why (a copy of a labelled image, unreadable)."""

    path: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "reason": self.reason}


@dataclass(frozen=True)
class SuggestResult:
    """The batch to label.

    Attributes:
        suggestions: Rank order.
        skipped: Duplicates of labelled images and unreadable files, with reasons.
        class_names: The run's classes, in label order.
        strategy: The strategy used.
        pool_size: Readable pool images that were candidates (after exclusions and duplicates).
        seconds: Wall time of the job.
        cancelled: True when the job stopped early (then nothing is suggested).
    """

    suggestions: tuple[Suggestion, ...]
    skipped: tuple[Skipped, ...] = ()
    class_names: tuple[str, ...] = ()
    strategy: str = "diverse"
    pool_size: int = 0
    seconds: float = 0.0
    cancelled: bool = False

    def to_json(self) -> dict[str, Any]:
        """The JSON of ``tlstudio-cli label suggest --json``."""
        return {"suggestions": [s.to_json() for s in self.suggestions], "skipped": [s.to_json() for s in self.skipped],
                "class_names": list(self.class_names), "strategy": self.strategy, "pool_size": self.pool_size,
                "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class RetrainConfig:
    """What the ``label_retrain`` job fits: the run's head again, on the dataset as it is now.

    Attributes:
        run_dir: The run whose head (layers, cut, pooling, optimizer and
            epochs) and backbone are refitted; the run folder is not changed.
        data: The labelled dataset; its ``train_only`` lists the images the
            loop filed into it (left out here: they are ``labelled``). An
            empty root uses the run's dataset (with this ``train_only``).
        pool: The unsorted folder (the features of ``labelled`` images are its rows).
        labelled: ``(image, class)`` the loop labelled, in any round; they
            join the training split.
        head_file: Where to save the refitted head (``.keras``) for the next
            suggestion; empty saves nothing.
        strategy: Recorded with the point of the learning curve.
        seed: Seed of the head's initialisation and shuffling.
        max_epochs: The most epochs a refit takes (it takes the run's epochs, or more
            when the images are too few for :data:`tlstudio.analysis.active_loop.MIN_STEPS` steps).
        batch_size: Images per forward pass while embedding.
        cache_dir: Folder of the pooled feature cache; empty uses the app's cache folder.
    """

    run_dir: str = option("", label="Run", help="run folder whose head is refitted")
    data: DataConfig = field(default_factory=DataConfig)
    pool: str = ""
    labelled: tuple[tuple[str, str], ...] = ()
    head_file: str = ""
    strategy: str = option("diverse", label="Strategy", choices=STRATEGIES, help="the strategy of this round")
    seed: int = option(0, label="Seed", min=0, help="seed of the head's fit")
    max_epochs: int = option(300, label="Epochs", min=1, max=10000, help="most epochs of the head's refit")
    batch_size: int = 32
    cache_dir: str = ""

    def __post_init__(self) -> None:
        _check_text(self.run_dir, "run_dir")
        check_options(self)
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1. Received: {self.batch_size!r}")


@dataclass(frozen=True)
class RetrainResult:
    """One point of the learning curve.

    Attributes:
        val_accuracy: Accuracy of the refitted head on the validation split.
        labelled: Training images (what the point's x axis counts).
        class_names: The classes it was fitted on.
        strategy: The strategy of the round.
        epochs: Epochs fitted.
        seconds: Wall time of the job (embedding included).
        cancelled: True when stopped early (the point is then not valid).
    """

    val_accuracy: float
    labelled: int
    class_names: tuple[str, ...] = ()
    strategy: str = "diverse"
    epochs: int = 0
    seconds: float = 0.0
    cancelled: bool = False


@dataclass(frozen=True)
class Placed:
    """One image a batch filed into the dataset.

    Attributes:
        source: Where it was (the unsorted folder).
        target: Where it is now in the dataset.
        label: Its class.
        moved: True when moved, False when copied (the source then stays).
    """

    source: str
    target: str
    label: str
    moved: bool = False

    @property
    def renamed(self) -> bool:
        """True when a file of the same name was already in the class folder (so this one got a new name)."""
        return os.path.basename(self.target) != os.path.basename(self.source)


@dataclass(frozen=True)
class AppliedBatch:
    """What one "Apply" did: the files placed, and the ones that could not be (each with its message).

    Attributes:
        dataset: The dataset folder.
        placed: In order.
        errors: One message per image that was not placed (the others were).
    """

    dataset: str
    placed: tuple[Placed, ...] = ()
    errors: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The JSON of ``tlstudio-cli label apply --json`` and of the project's undo record."""
        return {"dataset": self.dataset, "errors": list(self.errors),
                "placed": [{"source": p.source, "target": p.target, "label": p.label, "moved": p.moved,
                            "renamed": p.renamed} for p in self.placed]}

    @classmethod
    def from_json(cls, data: Any, where: str = "batch") -> "AppliedBatch":
        """Read :meth:`to_json` back.

        Raises:
            ConfigError: naming ``where`` and the field.
        """
        try:
            placed = tuple(Placed(str(p["source"]), str(p["target"]), str(p["label"]), bool(p["moved"]))
                           for p in data["placed"])
            return cls(str(data["dataset"]), placed, tuple(str(e) for e in data.get("errors", ())))
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"{where}: expected a batch with 'dataset' and 'placed' "
                              f"[{{source, target, label, moved}}]. Received: {str(data)[:80]}") from exc
