"""The not-learning rules (tlstudio.training.advice) and their events from the training callback."""

from __future__ import annotations

import math

import pytest

from tlstudio.events import TrainingAdvice, Validating
from tlstudio.training.advice import Advisor, chance_loss


def _epochs(*entries, phase=1):
    return [{"epoch": i, "phase": phase, **e} for i, e in enumerate(entries)]


def test_chance_loss_is_ln_classes():
    assert chance_loss(2) == pytest.approx(0.6931, abs=1e-4)
    assert chance_loss(10) == pytest.approx(math.log(10))


def test_a_starting_loss_far_above_ln_classes_is_flagged_once_after_a_few_batches():
    advisor = Advisor(2)
    assert advisor.batch(epoch=0, batch=0, steps=8, loss=7.5) == []  # one batch says little
    (advice,) = advisor.batch(epoch=0, batch=4, steps=8, loss=6.8)
    assert advice.code == "high_initial_loss" and advice.epoch == 0
    assert "6.80" in advice.message and "ln(2) = 0.69" in advice.message
    assert "learning rate" in advice.suggestion
    assert advisor.epoch(_epochs({"loss": 6.0, "accuracy": 0.5})) == []  # said once


def test_a_normal_start_says_nothing():
    advisor = Advisor(2)
    assert advisor.batch(epoch=0, batch=4, steps=8, loss=0.72) == []
    assert advisor.epoch(_epochs({"loss": 0.6, "accuracy": 0.7, "val_loss": 0.5, "val_accuracy": 0.75})) == []


def test_a_short_first_epoch_is_checked_at_its_end():
    (advice,) = Advisor(3).epoch(_epochs({"loss": 9.0, "accuracy": 0.3}))
    assert advice.code == "high_initial_loss"


def test_nan_loss_is_divergence():
    (advice,) = Advisor(2).batch(epoch=3, batch=1, steps=8, loss=float("nan"))
    assert advice.code == "divergent_loss" and "epoch 4, batch 2" in advice.message


def test_a_sharply_rising_epoch_loss_is_divergence_within_a_phase_only():
    advisor = Advisor(2)
    history = _epochs({"loss": 0.5}, {"loss": 0.4}, {"loss": 0.9})
    (advice,) = advisor.epoch(history)
    assert advice.code == "divergent_loss" and "0.900" in advice.message and "0.400" in advice.message
    # the first fine-tuning epoch may start higher than the head's last: a new phase is not compared
    fresh = Advisor(2)
    assert fresh.epoch(_epochs({"loss": 0.3}) + [{"epoch": 1, "phase": 2, "loss": 0.9}]) == []


def test_accuracy_at_chance_after_three_epochs():
    advisor = Advisor(2)
    assert advisor.epoch(_epochs({"loss": 0.7, "accuracy": 0.5}, {"loss": 0.7, "accuracy": 0.52})) == []
    (advice,) = advisor.epoch(_epochs({"loss": 0.7, "accuracy": 0.5}, {"loss": 0.7, "accuracy": 0.52}, {"loss": 0.69, "accuracy": 0.49}))
    assert advice.code == "chance_accuracy" and "0.49 after 3 epochs" in advice.message and "0.50" in advice.message
    assert "augmentation" in advice.suggestion
    # 3 classes: 0.42, 0.37, 0.42 is near chance (0.33); a run that learns is not
    walk = _epochs({"accuracy": 0.424}, {"accuracy": 0.368}, {"accuracy": 0.424})
    assert [a.code for a in Advisor(3).epoch(walk)] == ["chance_accuracy"]
    assert Advisor(3).epoch(_epochs({"accuracy": 0.45}, {"accuracy": 0.55}, {"accuracy": 0.7})) == []


def test_a_large_train_val_gap_for_two_epochs_is_overfitting():
    advisor = Advisor(5)
    one = _epochs({"loss": 0.2, "accuracy": 0.95, "val_loss": 0.9, "val_accuracy": 0.7})
    assert advisor.epoch(one) == []  # one epoch is not a trend
    two = one + [{"epoch": 1, "phase": 1, "loss": 0.15, "accuracy": 0.97, "val_loss": 1.0, "val_accuracy": 0.72}]
    (advice,) = advisor.epoch(two)
    assert advice.code == "overfitting" and "0.97" in advice.message and "0.72" in advice.message
    assert "augmentation" in advice.suggestion


def test_training_well_below_validation_suggests_less_augmentation():
    history = _epochs(
        {"loss": 0.9, "accuracy": 0.55, "val_loss": 0.3, "val_accuracy": 0.9},
        {"loss": 0.8, "accuracy": 0.6, "val_loss": 0.3, "val_accuracy": 0.92},
    )
    (advice,) = Advisor(2).epoch(history)
    assert advice.code == "underfitting_augmentation" and "less augmentation" in advice.suggestion.lower()


def test_the_callback_sends_advice_and_validation_progress():
    """EventCallback with a tiny real Keras model: advice from the batches, Validating from evaluation."""
    import keras
    from tlstudio.training.callbacks import EventCallback, RunState

    events = []
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    state = RunState()
    callback = EventCallback(events.append, state, phase=1, steps=8, num_samples=64, batch_size=8,
                             optimizer=lambda: None, validation_steps=3)
    callback.set_model(model)
    callback._current_epoch = 0
    for b in range(5):
        callback.on_train_batch_end(b, {"loss": 7.0, "accuracy": 0.5})
    advice = [e for e in events if isinstance(e, TrainingAdvice)]
    assert [a.code for a in advice] == ["high_initial_loss"]
    assert state.advisor is not None and state.advisor.num_classes == 2
    callback.on_test_begin()
    for b in range(3):
        callback.on_test_batch_end(b)
    validating = [e for e in events if isinstance(e, Validating)]
    assert validating[0] == Validating(1, 0, 0, 3) and validating[-1] == Validating(1, 0, 3, 3)


def test_a_failing_advisor_never_stops_the_callback(caplog):
    import keras
    from tlstudio.training.callbacks import EventCallback, RunState

    class Broken:
        def batch(self, **_kw):
            raise RuntimeError("boom")

    events = []
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    callback = EventCallback(events.append, RunState(advisor=Broken()), phase=1, steps=2, num_samples=16,
                             batch_size=8, optimizer=lambda: None)
    callback.set_model(model)
    callback.on_train_batch_end(0, {"loss": 1.0, "accuracy": 0.5})
    assert len(events) == 1 and "training advice failed" in caplog.text


def test_without_augmentation_the_advice_never_says_use_less_augmentation():
    history = _epochs(
        {"loss": 0.9, "accuracy": 0.55, "val_loss": 0.3, "val_accuracy": 0.9},
        {"loss": 0.8, "accuracy": 0.6, "val_loss": 0.3, "val_accuracy": 0.92},
    )
    (with_aug,) = Advisor(2, augmentation=True).epoch(history)
    (without,) = Advisor(2, augmentation=False).epoch(history)
    assert with_aug.code == without.code == "underfitting_augmentation"
    assert "less augmentation" in with_aug.suggestion.lower()
    assert "less augmentation" not in without.suggestion.lower() and "dropout" in without.suggestion


# ------------------------------------------------ "not learning" false alarms (issue 24), recorded histories

# A 3-class run the walk recorded: the alarm fired at epoch 3 (train 0.583, val 0.667) and stayed
# after the run ended at val 0.889.
LEARNING_3_CLASSES = _epochs(
    {"loss": 1.10, "accuracy": 0.250, "val_loss": 1.05, "val_accuracy": 0.333},
    {"loss": 1.02, "accuracy": 0.417, "val_loss": 0.95, "val_accuracy": 0.556},
    {"loss": 0.93, "accuracy": 0.583, "val_loss": 0.86, "val_accuracy": 0.667},
    {"loss": 0.80, "accuracy": 0.667, "val_loss": 0.71, "val_accuracy": 0.778},
    {"loss": 0.66, "accuracy": 0.750, "val_loss": 0.58, "val_accuracy": 0.889},
)
# The other: it fired on a run that reached val 0.875.
LEARNING_TO_0875 = _epochs(
    {"loss": 1.09, "accuracy": 0.300, "val_loss": 1.08, "val_accuracy": 0.375},
    {"loss": 1.05, "accuracy": 0.400, "val_loss": 0.99, "val_accuracy": 0.500},
    {"loss": 0.99, "accuracy": 0.500, "val_loss": 0.90, "val_accuracy": 0.625},
    {"loss": 0.85, "accuracy": 0.650, "val_loss": 0.75, "val_accuracy": 0.875},
)


def _replay(advisor, history):
    """Every advice of a run, epoch by epoch, as the callback sends it."""
    return [a for n in range(1, len(history) + 1) for a in advisor.epoch(history[:n])]


@pytest.mark.parametrize("history", [LEARNING_3_CLASSES, LEARNING_TO_0875], ids=["val-0.889", "val-0.875"])
def test_a_run_that_learns_never_hears_it_is_not_learning(history):
    assert [a.code for a in _replay(Advisor(3), history) if a.code == "chance_accuracy"] == []


def test_chance_takes_the_class_balance_into_account():
    # 80 % of the images are one class: answering it always scores 0.8, so 0.75 is not learning
    stuck = _epochs(*({"accuracy": a, "val_accuracy": 0.8} for a in (0.74, 0.78, 0.75)))
    (advice,) = [a for a in _replay(Advisor(2, class_counts=(80, 20)), stuck) if a.code == "chance_accuracy"]
    assert "0.80" in advice.message and "largest class" in advice.message
    assert _replay(Advisor(2), stuck) == []  # with even classes (chance 0.5) the same figures are learning


def test_the_alarm_is_withdrawn_when_later_epochs_disprove_it():
    slow_start = _epochs(*({"accuracy": a, "val_accuracy": v} for a, v in
                           ((0.33, 0.33), (0.35, 0.36), (0.36, 0.34), (0.62, 0.70), (0.81, 0.86))))
    said = _replay(Advisor(3), slow_start)
    assert [(a.code, a.withdrawn, a.epoch) for a in said] == [("chance_accuracy", False, 2), ("chance_accuracy", True, 3)]
    assert "0.70" in said[1].message  # what disproved it
