"""The head sweep's helpers: how many trials a space holds, the best trial in words, and a trial promoted to a run.

Pure Python over the engine's Keras-free sweep types (:mod:`tlstudio.jobs.sweep`)
and :func:`tlstudio.analysis.promote.promote`; the sweep panel
(:mod:`ui.panels.sweep_panel`) submits the ``"sweep"`` job and shows what
these return.
"""

from __future__ import annotations

import dataclasses
import math

from tlstudio.analysis.promote import promote  # plain Python: no Keras
from tlstudio.backbones import BACKBONES, block_of, cut_points
from tlstudio.config import FreezeConfig, ModelConfig, RunConfig, TrainConfig
from tlstudio.api.sweep import SearchSpace, SweepConfig, Trial

SPACE_AXES = ("poolings", "hidden", "dropouts", "learning_rates", "weight_decays", "label_smoothings", "epochs")
"""The :class:`~tlstudio.jobs.sweep.SearchSpace` fields besides ``cuts`` that multiply its size."""


def grid_size(space: SearchSpace, model: ModelConfig) -> int:
    """Points of ``space``'s grid (an empty ``cuts`` stands for every cut point of the model's backbone)."""
    cuts = len(space.cuts) or (len(cut_points(model.backbone)) if model.backbone in BACKBONES else 1)
    return cuts * math.prod(len(getattr(space, name)) for name in SPACE_AXES)


def best_text(trials: list[Trial]) -> str:
    """``"best 91.2% ± 1.3% (<its settings>)"``, or ``"none scored yet"``."""
    scored = [t for t in trials if t.ok and not math.isnan(t.cv_accuracy)]
    if not scored:
        return "none scored yet"
    best = max(scored, key=lambda t: t.cv_accuracy)
    return f"best {best.cv_accuracy:.1%} ± {best.cv_std:.1%} ({best.params.label()})"


def fine_tune_freeze(model: ModelConfig) -> FreezeConfig:
    """Freeze everything but the last block up to the model's cut (the Model page's "Fine-tune last block")."""
    spec = BACKBONES[model.backbone]
    last = block_of(spec, model.cut or cut_points(spec.key)[-1])
    blocks = list(spec.blocks)
    kept = blocks[: blocks.index(last) + 1] if last in blocks else blocks
    return FreezeConfig(mode="blocks", blocks=tuple(kept[:-1])) if len(kept) > 1 else FreezeConfig(mode="none")


TRAIN_NAMES = {
    "epochs": "head epochs", "batch_size": "batch size", "optimizer": "optimizer", "learning_rate": "learning rate",
    "weight_decay": "weight decay", "schedule": "schedule", "early_stopping": "stop early", "patience": "patience",
    "monitor": "monitor", "class_weights": "balance classes", "seed": "seed", "label_smoothing": "label smoothing",
}
"""The training settings a promotion may change, as the Train page names them."""


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def train_changes(before: TrainConfig, after: TrainConfig) -> list[str]:
    """``"label smoothing 0 → 0.0997"`` for every setting of :data:`TRAIN_NAMES` that differs."""
    return [f"{name} {_shown(getattr(before, key))} → {_shown(getattr(after, key))}"
            for key, name in TRAIN_NAMES.items() if getattr(before, key) != getattr(after, key)]


def promotion(trial: Trial, sweep: SweepConfig, *, fine_tune_epochs: int, fine_tune_learning_rate: float,
              model_now: ModelConfig, data_root_now: str, train_now: TrainConfig | None = None) -> tuple[RunConfig, list[str]]:
    """The run a trial is promoted to, and what the user should know about it, one phrase each.

    Args:
        trial: The scored trial.
        sweep: The sweep that scored it.
        fine_tune_epochs: Fine-tuning epochs after the head (0: none).
        fine_tune_learning_rate: The Train page's fine-tuning learning rate.
        model_now: The model config the Model page shows now.
        data_root_now: The dataset folder open now.
        train_now: The Train page's settings now: every one the promotion changes is named
            (it stays in later runs, so the user must see it).

    Raises:
        TlStudioError: the trial cannot be promoted, in words.
    """
    run = promote(trial, sweep, fine_tune_epochs=fine_tune_epochs, fine_tune_learning_rate=fine_tune_learning_rate)
    last = cut_points(run.model.backbone)[-1]
    model = dataclasses.replace(run.model, cut="" if run.model.cut == last else run.model.cut)
    notes: list[str] = []
    if fine_tune_epochs and model.freeze.mode == "all":
        model = dataclasses.replace(model, freeze=fine_tune_freeze(model))
        notes.append("fine-tuning unfreezes the last block (everything was frozen)")
    run = dataclasses.replace(run, model=model)
    if (model_now.backbone, model_now.weights, model_now.image_size) != (model.backbone, model.weights, model.image_size):
        notes.append(f"the Model page is back on the sweep's {model.backbone}, {model.weights} weights, "
                     f"{model.image_size or 'default'} px")
    if data_root_now != run.data.root:
        notes.append(f"the sweep scored {run.data.root}; the run trains the dataset open now")
    if train_now is not None:
        changes = train_changes(train_now, run.train)
        if changes:
            notes.append("the Train page's settings changed: " + ", ".join(changes))
    return run, notes


def stale_text(sweep: SweepConfig) -> str:
    """The line that says which settings the trials shown were scored with."""
    m = sweep.model
    spec = BACKBONES.get(m.backbone)
    name = spec.display_name if spec else m.backbone
    size = m.image_size or (spec.default_size if spec else 0)
    return (f"These trials are for {name}, {m.weights} weights, {size} px on {sweep.data.root}; the "
            "pages show other settings now. Promote uses the sweep's.")
