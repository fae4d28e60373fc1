"""``--batch-size auto``: the largest batch whose estimate fits, said in the log, and one retry at half the batch."""

from __future__ import annotations

import pytest

from tlstudio.shapes.formulas import Totals, training_memory
from tlstudio.training.batch_auto import MARGIN, MAX_AUTO_BATCH, SHARE, choose_batch

# VGG16-like at 224 px: 14.7 M parameters, 15 M activation values per image
TOTALS = Totals(14_714_688 + 1026, 1026, 14_714_688, 15_200_000, 224 * 224 * 3)


def test_the_largest_batch_within_eighty_percent_with_the_margin():
    free = 4 * 2**30
    choice = choose_batch(TOTALS, free, optimizer="adam")
    assert choice.batch_size % 8 == 0 and choice.limit == ""
    fits = lambda b: training_memory(TOTALS, b, "adam").total_bytes * (1 + MARGIN) <= SHARE * free  # noqa: E731
    assert fits(choice.batch_size) and not fits(choice.batch_size + 8)
    assert choice.estimate_bytes == training_memory(TOTALS, choice.batch_size, "adam").total_bytes
    assert choice.sentence().startswith(f"batch size auto: {choice.batch_size} (estimated peak ")
    assert "+20% margin, within 80% of 4.0 GiB available RAM" in choice.sentence()


def test_caps_and_the_smallest_case():
    assert choose_batch(TOTALS, 2**40).batch_size == MAX_AUTO_BATCH
    few = choose_batch(TOTALS, 2**40, num_train=19)
    assert few.batch_size == 16 and "19 training images" in few.limit
    tiny = choose_batch(TOTALS, 10 * 2**20)
    assert tiny.batch_size == 1 and "nothing fits" in tiny.sentence()


def test_a_gpu_choice_names_the_gpu_memory():
    assert "free GPU memory" in choose_batch(TOTALS, 16 * 2**30, where="free GPU memory").sentence()


def test_auto_batch_in_a_run_and_one_retry_at_half_the_batch_after_out_of_memory(tmp_path, monkeypatch):
    import tensorflow as tf

    from tlstudio.config import DataConfig, HeadConfig, ModelConfig, RunConfig, TrainConfig
    from tlstudio.events import LogMessage, RunStarted
    from tlstudio.training import phases
    from tlstudio.training import run_training
    from tests.support.events import Recorder
    from tests.support.images import write_images

    for i, colour in enumerate([(200, 40, 40), (40, 40, 200)]):
        write_images(tmp_path / "data" / f"c{i}", 12, colour, size=32, seed=i)
    config = RunConfig(
        data=DataConfig(root=str(tmp_path / "data"), val_fraction=0.25, seed=1),
        model=ModelConfig(backbone="vgg16", weights="none", image_size=32, head=HeadConfig(dropout=0.0), cut="block3_pool"),
        train=TrainConfig(epochs=2, batch_size=0, seed=2, tensorboard=False, precision="float32"),
        run_dir=str(tmp_path / "run"),
    )
    real_fit, calls = phases.fit, []

    def fit_once_out_of_memory(*args, **kwargs):
        calls.append(kwargs["batch_size"])
        if len(calls) == 1:
            raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[16,64,32,32]")
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(phases, "fit", fit_once_out_of_memory)
    rec = Recorder()
    result = run_training(config, rec)
    assert result.error is None, result.error_details
    logs = [m.message for m in rec.of(LogMessage)]
    started = rec.of(RunStarted)[0]
    assert started.batch_size == 16  # 18 training images: capped, a multiple of 8
    assert any(m.startswith("batch size auto: 16 (estimated peak") and "18 training images" in m for m in logs)
    assert any("out of memory at batch 16 (OOM when allocating" in m and "retrying phase 1 once at batch 8" in m for m in logs)
    assert calls == [16, 8] and result.epochs_completed == 2
