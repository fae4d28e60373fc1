"""One training per run folder at a time: a lock with the owner's PID (issue 25, item 8).

The issue's case: two ``train --resume`` of one run both exited 0, one
reported 5 epochs and the folder ended at 3. Here a child process resumes a
tiny run (VGG16 at 32 px) slowly; a second resume of that folder must be
refused naming the child's PID, and once the child is SIGKILLed its lock is
stale and a resume goes ahead.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tlstudio.config import DataConfig, HeadConfig, ModelConfig, RunConfig, TrainConfig
from tlstudio.data import generate_sample_dataset
from tlstudio.run_folders import run_files
from tlstudio.training import resume_config, run_training

ROOT = Path(__file__).resolve().parents[3]
SIZE = 32

SLOW_RESUME = textwrap.dedent(
    r"""
    import sys, time
    from tlstudio.events import BatchEnd, RunStarted
    from tlstudio.training import resume_config, run_training

    def sink(event):
        if isinstance(event, RunStarted):
            print("STARTED", flush=True)
        if isinstance(event, BatchEnd):
            time.sleep(0.5)  # a long training, as far as the other resume can tell

    run_training(resume_config(sys.argv[1], epochs=50), sink)
    """
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("lock")
    shapes = generate_sample_dataset(base / "shapes", per_class=6, size=SIZE, seed=3)
    model = ModelConfig(backbone="vgg16", weights="none", image_size=SIZE, head=HeadConfig(dropout=0.0), cut="block2_pool")
    config = RunConfig(data=DataConfig(root=str(shapes), val_fraction=0.25, seed=7), model=model,
                       train=TrainConfig(epochs=1, batch_size=8, seed=5, tensorboard=False, feature_cache="off"),
                       run_dir=str(base / "run"))
    result = run_training(config)
    assert result.error is None, result.error
    return Path(result.run_dir)


def _start_slow_resume(run_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", SLOW_RESUME, str(run_dir)], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    for line in child.stdout:
        if line.strip() == "STARTED":
            return child
    child.wait()
    raise AssertionError(f"the child training never started (exit {child.returncode})")


def test_a_second_resume_of_a_run_in_use_is_refused_and_a_dead_owners_lock_is_recovered(run_dir):
    child = _start_slow_resume(run_dir)
    try:
        second = run_training(resume_config(str(run_dir), epochs=1))
        assert second.error is not None, "a second training of the same run folder went ahead"
        assert str(child.pid) in second.error and str(run_dir) in second.error
        assert "Traceback" not in second.error
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert (run_dir / run_files.RUN_LOCK).exists()  # left behind by the killed owner: stale
    history_before = len(run_files.read_history(run_dir))
    third = run_training(resume_config(str(run_dir), epochs=1))
    assert third.error is None, third.error
    assert third.epochs_completed == history_before + 1
    assert not (run_dir / run_files.RUN_LOCK).exists()  # released when the run ended
