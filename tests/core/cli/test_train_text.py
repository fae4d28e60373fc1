"""What ``tlstudio-cli train`` prints: counts agree with their nouns (issue 24: "1 epochs" three times)."""

from __future__ import annotations

import io

from tlstudio.api.train import RunResult
from tlstudio.cli.train_progress import ProgressPrinter, summary
from tlstudio.events import PhaseChanged, PhasePlan, RunStarted


def test_one_epoch_is_one_epoch_everywhere():
    out = io.StringIO()
    printer = ProgressPrinter(out, tty=False)
    printer(RunStarted(run_dir="/r", class_names=("a", "b"), phases=(PhasePlan(1, "head", 1, 1e-3, 10, 5),), total_epochs=1,
                       steps_per_epoch=1, validation_steps=1, num_train=4, num_val=2, batch_size=4))
    printer(PhaseChanged(phase=1, name="head", first_epoch=0, epochs=1, learning_rate=1e-3, trainable_params=10, non_trainable_params=5))
    text = out.getvalue() + summary(RunResult(run_dir="/r", epochs_completed=1, seconds=3.0))
    assert "1 epochs" not in text and "1 steps" not in text
    assert "1 epoch x 1 step" in text and "1 epoch at lr" in text and "after 1 epoch in" in text
    more = io.StringIO()
    ProgressPrinter(more, tty=False)(RunStarted(run_dir="/r", class_names=("a",), phases=(), total_epochs=3, steps_per_epoch=2,
                                                validation_steps=0, num_train=4, num_val=0, batch_size=2))
    assert "3 epochs x 2 steps" in more.getvalue()
