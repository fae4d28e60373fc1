"""The engine process dies with the application, even when the application is killed with SIGKILL.

A real parent process (a script standing in for the GUI) starts the engine
and submits a job; the test kills that parent with SIGKILL and watches the
engine notice, stop the job at a safe point and exit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PARENT = r"""
import sys, threading, time
from tlstudio.cancel import CancelToken
from tlstudio.procrun import EngineProcess
{setup}
server = EngineProcess({options})
server.start()
def sink(event):
    if {started}:
        print("started", server.pid, flush=True)
threading.Thread(target=lambda: server.call({job!r}, {config}, sink=sink), daemon=True).start()
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie of an exited child counts as gone
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _start_parent(tmp_path: Path, **fields: str) -> tuple[subprocess.Popen, int]:
    script = tmp_path / "parent.py"
    script.write_text(PARENT.format(**fields), encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    line = parent.stdout.readline()
    assert line.startswith("started"), parent.stderr.read()
    return parent, int(line.split()[1])


def _kill_and_time(parent: subprocess.Popen, child: int, limit: float) -> float:
    assert _alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    began = time.monotonic()
    while _alive(child) and time.monotonic() - began < limit:
        time.sleep(0.05)
    return time.monotonic() - began


def test_the_engine_notices_a_killed_parent_cancels_its_job_and_exits(tmp_path):
    marker = tmp_path / "cancelled"
    parent, child = _start_parent(
        tmp_path,
        setup="",
        options=(
            "registry={'wait': 'tests.core.test_engine_parent_death:wait_then_mark'}, preload=(), "
            "setup_device=False, niceness=0, parent_check=0.5"
        ),
        started="True",
        job="wait",
        config=repr(str(marker)),
    )
    gone_after = _kill_and_time(parent, child, limit=20)
    assert not _alive(child), "the engine outlived its killed parent"
    assert gone_after < 5.0
    assert marker.read_text() == "cancelled"  # the job saw its cancel token, not a kill


def wait_then_mark(path, *, sink, cancel):
    """A job that runs until cancelled, then writes ``path`` (its 'safe point')."""
    from tlstudio.events import LogMessage

    sink(LogMessage("running"))
    while not cancel.cancelled:
        time.sleep(0.02)
    Path(path).write_text("cancelled")
    return "stopped"


@pytest.mark.slow
def test_a_training_in_the_engine_stops_saves_and_exits_when_the_gui_is_killed(tmp_path):
    from tlstudio.data import generate_sample_dataset

    data = generate_sample_dataset(tmp_path / "shapes", per_class=12, size=32, seed=1)
    run_dir = tmp_path / "run"
    setup = (
        "from tlstudio.config import DataConfig, ModelConfig, RunConfig, TrainConfig, HeadConfig\n"
        "from tlstudio.events import EpochEnd\n"
        f"config = RunConfig(data=DataConfig(root={str(data)!r}, val_fraction=0.25, seed=1),"
        " model=ModelConfig(backbone='vgg16', weights='none', image_size=32, head=HeadConfig(dropout=0.0), cut='block2_pool'),"
        " train=TrainConfig(epochs=400, batch_size=8, seed=1, tensorboard=False, feature_cache='off'),"
        f" run_dir={str(run_dir)!r})\n"
    )
    parent, child = _start_parent(
        tmp_path,
        setup=setup,
        options="niceness=0, parent_check=0.5",
        started="isinstance(event, EpochEnd) and event.epoch == 1",
        job="train",
        config="config",
    )
    gone_after = _kill_and_time(parent, child, limit=120)
    assert not _alive(child), "the engine outlived its killed parent"
    result = json.loads((run_dir / "result.json").read_text())
    assert result["cancelled"] is True and 1 <= result["epochs_completed"] < 400
    history = json.loads((run_dir / "history.json").read_text())
    assert len(history) >= result["epochs_completed"]
    import keras

    model = keras.saving.load_model(run_dir / "model.keras", compile=False)
    assert model.output_shape[-1] == 3
    print(f"engine exited {gone_after:.1f} s after the parent's SIGKILL")
