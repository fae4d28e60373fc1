"""Notice a run that is not learning, and say what to try.

Light module (no TensorFlow): pure arithmetic on the numbers a run reports.
:class:`Advisor` watches the training batches and the completed epochs of one
run session and returns a :class:`~tlstudio.events.TrainingAdvice` the first
time each rule fires; it never stops a run. The rules:

``high_initial_loss``
    The first batches of a run have a loss far above ``ln(classes)``, the
    loss of a head that guesses uniformly (0.69 for two classes). A fresh
    head starts near it; far above means the updates are too large or the
    backbone's features are on an unusual scale.
``divergent_loss``
    A batch loss that is NaN or infinite, or an epoch's training loss that
    rose sharply over the best epoch of the same phase.
``chance_accuracy``
    Training accuracy of each of the last :data:`CHANCE_EPOCHS` epochs, and
    the latest validation accuracy, still near chance: the accuracy of always
    answering the largest class (``1 / classes`` when the classes are even).
    When a later epoch's training or validation accuracy is clearly above
    chance, the advice is withdrawn (``TrainingAdvice(withdrawn=True)``).
``overfitting``
    Training accuracy well above validation accuracy for two epochs running.
``underfitting_augmentation``
    Validation accuracy well above training accuracy for two epochs running:
    the training images are harder than the real ones, typically because
    augmentation is too strong.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

from tlstudio.events import TrainingAdvice

INITIAL_BATCHES = 5
"""Batches of the first epoch whose running mean loss is checked against ``ln(classes)``."""

HIGH_LOSS_FACTOR = 3.0
"""A starting loss above this many times ``ln(classes)`` (and at least 1 above it) is flagged."""

CHANCE_EPOCHS = 3
"""Completed epochs after which a training accuracy at chance is flagged."""

CHANCE_MARGIN = 0.03
"""Accuracy within ``CHANCE_MARGIN + CHANCE_SHARE * (1 - 1 / classes)`` of ``1 / classes`` counts as chance."""

CHANCE_SHARE = 0.1
"""See :data:`CHANCE_MARGIN`: 0.58 counts as chance for 2 classes, 0.43 for 3, 0.22 for 10."""

RISE_FACTOR = 1.5
"""An epoch loss above this many times the phase's best epoch loss is a divergence."""

GAP = 0.15
"""Train/validation accuracy gap that counts as large."""

GAP_EPOCHS = 2
"""Consecutive epochs the gap must last before it is flagged."""


def chance_loss(num_classes: int) -> float:
    """The cross-entropy of a uniform guess, ``ln(num_classes)`` (0.693 for two classes)."""
    return math.log(max(2, int(num_classes)))


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class Advisor:
    """Applies the rules of this module to one run session.

    Args:
        num_classes: Classes the model predicts (sets ``ln(classes)`` and chance accuracy).
        augmentation: Whether the run augments its training images (None: unknown).
            The advice names augmentation only where it can be the cause.

    Each rule fires at most once per advisor; :meth:`batch` and :meth:`epoch`
    return the advice that fired on that call (usually none).
    """

    def __init__(self, num_classes: int, augmentation: bool | None = None, class_counts: Sequence[int] | None = None):
        self.num_classes = max(2, int(num_classes))
        self.augmentation = augmentation
        self.fired: set[str] = set()
        self.withdrawn: set[str] = set()
        counts = [int(c) for c in class_counts or () if c is not None]
        self.chance = max(counts) / sum(counts) if counts and sum(counts) > 0 else 1.0 / self.num_classes
        """Accuracy of always answering the largest class (``1 / classes`` when even or unknown)."""
        self.balanced = not counts or self.chance <= 1.0 / self.num_classes + 1e-9

    # ------------------------------------------------------------- inputs

    def batch(self, *, epoch: int, batch: int, steps: int, loss: Any) -> list[TrainingAdvice]:
        """Check one training batch (``loss`` is Keras's running mean over the epoch so far)."""
        out: list[TrainingAdvice] = []
        value = _finite(loss)
        if value is None and loss is not None:
            out += self._fire(
                "divergent_loss",
                "Loss is not a number",
                f"The training loss became {float(loss)} at epoch {epoch + 1}, batch {batch + 1}: the weights blew up.",
                "Lower the learning rate tenfold (fine-tuning: 1e-5 or less) and start again; "
                "a 'Constant' schedule with a lower rate is the safest choice.",
                epoch,
            )
        elif value is not None and epoch == 0 and batch + 1 == min(INITIAL_BATCHES, max(1, steps)):
            out += self._check_initial_loss(value, epoch, f"the first {batch + 1} batches")
        return out

    def epoch(self, history: Sequence[Mapping[str, Any]]) -> list[TrainingAdvice]:
        """Check the run's completed epochs (``history.json`` entries, the newest last)."""
        if not history:
            return []
        last = history[-1]
        epoch = int(last.get("epoch", len(history) - 1))
        out: list[TrainingAdvice] = []
        loss = _finite(last.get("loss"))
        if epoch == 0 and loss is not None:
            out += self._check_initial_loss(loss, epoch, "the first epoch")
        out += self._check_rising_loss(history, epoch)
        out += self._check_chance(history, epoch)
        out += self._check_gap(history, epoch)
        return out

    # -------------------------------------------------------------- rules

    def _check_initial_loss(self, loss: float, epoch: int, when: str) -> list[TrainingAdvice]:
        chance = chance_loss(self.num_classes)
        if loss <= max(HIGH_LOSS_FACTOR * chance, chance + 1.0):
            return []
        return self._fire(
            "high_initial_loss",
            "Loss far above chance",
            f"The training loss over {when} is {loss:.2f}; a head that guesses evenly between "
            f"{self.num_classes} classes scores ln({self.num_classes}) = {chance:.2f}.",
            "Lower the learning rate (e.g. 1e-4 for the head); if it stays high, the backbone's features "
            "may not suit these images: try other weights (e.g. ImageNet) or another backbone on the Model page.",
            epoch,
        )

    def _check_rising_loss(self, history: Sequence[Mapping[str, Any]], epoch: int) -> list[TrainingAdvice]:
        phase = history[-1].get("phase", 1)
        losses = [_finite(h.get("loss")) for h in history if h.get("phase", 1) == phase]
        if len(losses) < 2 or losses[-1] is None:
            return []
        earlier = [v for v in losses[:-1] if v is not None]
        if not earlier or losses[-1] <= RISE_FACTOR * min(earlier) or losses[-1] <= earlier[-1]:
            return []
        return self._fire(
            "divergent_loss",
            "Loss is rising",
            f"The training loss rose to {losses[-1]:.3f} at epoch {epoch + 1}, from {min(earlier):.3f} "
            f"earlier in phase {phase}.",
            "Lower the learning rate (tenfold is a good step) or use the cosine schedule; "
            + ("for fine-tuning keep it at 1e-5 or less." if phase == 2 else "1e-4 is a safe rate for the head."),
            epoch,
        )

    def _chance_threshold(self) -> float:
        return self.chance + CHANCE_MARGIN + CHANCE_SHARE * (1.0 - self.chance)

    def _check_chance(self, history: Sequence[Mapping[str, Any]], epoch: int) -> list[TrainingAdvice]:
        if "chance_accuracy" in self.fired:
            return self._withdraw_chance(history, epoch)
        if len(history) < CHANCE_EPOCHS:
            return []
        chance, limit = self.chance, self._chance_threshold()
        recent = [_finite(h.get("accuracy")) for h in history[-CHANCE_EPOCHS:]]
        if any(a is None for a in recent) or max(recent) > limit:
            return []
        val = _finite(history[-1].get("val_accuracy"))
        if val is not None and val > limit:  # the held-out images say it learns
            return []
        guess = (f"guessing scores {chance:.2f} with {self.num_classes} classes" if self.balanced
                 else f"always answering the largest class scores {chance:.2f}")
        return self._fire(
            "chance_accuracy",
            "Accuracy at chance",
            f"Training accuracy is {recent[-1]:.2f} after {len(history)} epochs"
            + (f" (validation {val:.2f})" if val is not None else "")
            + f"; {guess}. The model is not learning.",
            "Lower the learning rate; check that each class folder holds the right images; "
            "try other weights (e.g. ImageNet) or another backbone on the Model page; with strong "
            "augmentation, use less.",
            epoch,
        )

    def _withdraw_chance(self, history: Sequence[Mapping[str, Any]], epoch: int) -> list[TrainingAdvice]:
        """Take the chance-accuracy advice back once an epoch is clearly above chance (once)."""
        if "chance_accuracy" in self.withdrawn:
            return []
        limit = self._chance_threshold()
        train, val = _finite(history[-1].get("accuracy")), _finite(history[-1].get("val_accuracy"))
        if not ((train is not None and train > limit) or (val is not None and val > limit)):
            return []
        self.withdrawn.add("chance_accuracy")
        seen = f"training accuracy {train:.2f}" if train is not None else ""
        if val is not None:
            seen += (", " if seen else "") + f"validation {val:.2f}"
        return [TrainingAdvice(
            code="chance_accuracy", title="Learning after all",
            message=f"Epoch {epoch + 1}: {seen}, above chance ({self.chance:.2f}): the model is learning; "
                    "the earlier \"accuracy at chance\" advice no longer applies.",
            suggestion="", epoch=int(epoch), withdrawn=True,
        )]

    def _check_gap(self, history: Sequence[Mapping[str, Any]], epoch: int) -> list[TrainingAdvice]:
        recent = history[-GAP_EPOCHS:]
        if len(recent) < GAP_EPOCHS:
            return []
        gaps = list(_gaps(recent))
        if len(gaps) < GAP_EPOCHS:
            return []
        train, val = _finite(recent[-1].get("accuracy")), _finite(recent[-1].get("val_accuracy"))
        if all(g >= GAP for g in gaps):
            return self._fire(
                "overfitting",
                "Overfitting",
                f"Training accuracy {train:.2f} is well above validation accuracy {val:.2f} "
                f"(epoch {epoch + 1}): the model learns the training images rather than the classes.",
                "Turn augmentation on or make it stronger, raise the head's dropout, freeze more of the "
                "backbone (Model page), stop early, or add more images.",
                epoch,
            )
        if all(g <= -GAP for g in gaps):
            return self._fire(
                "underfitting_augmentation",
                "Training harder than validation",
                f"Training accuracy {train:.2f} is well below validation accuracy {val:.2f} (epoch {epoch + 1}).",
                (
                    "Use less augmentation (smaller rotation, zoom and contrast) or a lower head dropout: "
                    "the training images are harder than the real ones."
                    if self.augmentation is not False
                    else "Augmentation is off, so the head's dropout makes training harder than validation: "
                    "lower the dropout (Model page), or train longer at the same rate."
                ),
                epoch,
            )
        return []

    # ---------------------------------------------------------- internals

    def _fire(self, code: str, title: str, message: str, suggestion: str, epoch: int) -> list[TrainingAdvice]:
        if code in self.fired:
            return []
        self.fired.add(code)
        return [TrainingAdvice(code=code, title=title, message=message, suggestion=suggestion, epoch=int(epoch))]


def _gaps(entries: Iterable[Mapping[str, Any]]) -> Iterable[float]:
    """Training minus validation accuracy of every entry that has both."""
    for entry in entries:
        train, val = _finite(entry.get("accuracy")), _finite(entry.get("val_accuracy"))
        if train is not None and val is not None:
            yield train - val
