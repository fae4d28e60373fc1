"""``TrainConfig.deterministic``: the same seed gives bit-equal weights, in one process and in two fresh ones.

A tiny VGG16 cut at ``block1_pool`` (random init, 32 px) trains through the
image path (augmentation on, so no feature cache) and fine-tunes one epoch,
so the convolutions, the shuffle and the random augmentation all take part.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from tlstudio.config import AugmentConfig, DataConfig, FreezeConfig, HeadConfig, ModelConfig, RunConfig, TrainConfig, from_dict
from tlstudio.data import generate_sample_dataset
from tlstudio.training import run_training

ROOT = Path(__file__).resolve().parents[3]
ARGS = ["--backbone", "vgg16", "--weights", "none", "--image-size", "32", "--cut", "block1_pool", "--head", "avg:dropout=0.2",
        "--freeze", "none", "--epochs", "1", "--fine-tune-epochs", "1", "--batch-size", "8", "--augment", "flip,rotation=0.1",
        "--seed", "11", "--no-tensorboard", "--deterministic"]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    return generate_sample_dataset(tmp_path_factory.mktemp("shapes"), per_class=8, size=32, seed=2)


def _config(root: Path, run_dir: Path) -> RunConfig:
    return RunConfig(
        data=DataConfig(root=str(root), val_fraction=0.25, seed=11, augment=AugmentConfig(flip="horizontal", rotation=0.1)),
        model=ModelConfig(backbone="vgg16", weights="none", image_size=32, cut="block1_pool", head=HeadConfig(dropout=0.2),
                          freeze=FreezeConfig(mode="none")),
        train=TrainConfig(epochs=1, fine_tune_epochs=1, batch_size=8, seed=11, tensorboard=False, deterministic=True),
        run_dir=str(run_dir),
    )


def _weights(model_path: Path) -> list[np.ndarray]:
    return [np.asarray(w) for w in keras.saving.load_model(model_path, compile=False).get_weights()]


def _assert_bit_equal(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b) > 0
    for x, y in zip(a, b):
        assert x.dtype == y.dtype and x.shape == y.shape
        assert x.tobytes() == y.tobytes()


def test_the_flag_is_an_option_with_a_cli_switch_and_round_trips():
    from tlstudio.cli import build_parser
    from tlstudio.cli.train_options import build_config

    assert TrainConfig().deterministic is False
    assert from_dict(TrainConfig, {}).deterministic is False  # run_config.json files written before the flag
    args = build_parser().parse_args(["train", "data", *ARGS])
    assert build_config(args).train.deterministic is True
    assert from_dict(TrainConfig, {"deterministic": True, "epochs": 1}).deterministic is True


def test_two_deterministic_runs_in_one_process_give_bit_equal_weights(shapes, tmp_path):
    from tensorflow.python.framework import config as tf_config

    a = run_training(_config(shapes, tmp_path / "a"))
    b = run_training(_config(shapes, tmp_path / "b"))
    assert a.error is None and b.error is None, (a.error_details, b.error_details)
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]
    _assert_bit_equal(_weights(Path(a.model_path)), _weights(Path(b.model_path)))
    assert not tf_config.is_op_determinism_enabled()  # the run turned it off again: the engine's other jobs run as before


@pytest.mark.slow
def test_two_deterministic_runs_in_fresh_processes_give_bit_equal_weights(shapes, tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    # The two processes run side by side, each fresh with its own cache folder: neither sees the other.
    procs = [subprocess.Popen([sys.executable, "-m", "tlstudio", "train", str(shapes), *ARGS, "--out", str(tmp_path / name)],
                              cwd=ROOT, env={**env, "TLSTUDIO_CACHE_DIR": str(tmp_path / f"cache-{name}")},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in ("a", "b")]
    try:
        for proc in procs:
            _out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err[-3000:]
            assert "deterministic run: seed 11" in err
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    _assert_bit_equal(_weights(tmp_path / "a" / "model.keras"), _weights(tmp_path / "b" / "model.keras"))
