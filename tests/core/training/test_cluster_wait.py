"""A multi-worker worker waiting for its peers stops on a time limit, SIGINT or SIGTERM (issue 25.11).

Before, one worker of a two-worker cluster whose peer never came waited
inside TensorFlow's cluster start-up, with SIGINT and SIGTERM ignored (13
minutes until killed). Each test starts one ``tlstudio-cli train``
worker whose peer is never started: a real process for the signals, this
process for the time limit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.support.cluster import free_ports

ROOT = Path(__file__).resolve().parents[3]
TIMEOUT = 180
TRAIN = ["--backbone", "vgg16", "--weights", "none", "--image-size", "32", "--cut", "block1_pool", "--epochs", "1", "--no-tensorboard"]


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    from tlstudio.data import generate_sample_dataset

    return generate_sample_dataset(tmp_path_factory.mktemp("data") / "shapes", per_class=4, size=32, seed=1)


def _lonely_env(tmp_path: Path, wait: str) -> tuple[dict[str, str], str]:
    """The environment of worker 1 of 2 whose peer (returned) is never started."""
    ports = free_ports(2)
    peer = f"localhost:{ports[1]}"
    env = dict(
        TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", TLSTUDIO_WORKER_WAIT=wait,
        TLSTUDIO_CACHE_DIR=str(tmp_path / "cache"), TLSTUDIO_RUNS_DIR=str(tmp_path / "runs"),
        TF_CONFIG=json.dumps({"cluster": {"worker": [f"localhost:{ports[0]}", peer]}, "task": {"type": "worker", "index": 0}}),
    )
    return env, peer


def _lonely_worker(tmp_path: Path, sample: Path, wait: str) -> tuple[subprocess.Popen, str]:
    extra, peer = _lonely_env(tmp_path, wait)
    env = {**{k: v for k, v in os.environ.items() if k != "TF_CONFIG"}, **extra}
    cmd = [sys.executable, "-m", "tlstudio", "train", str(sample), *TRAIN, "--out", str(tmp_path / "run")]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, peer


def _finish(proc: subprocess.Popen) -> str:
    try:
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return err


def test_a_worker_whose_peer_never_comes_stops_at_the_wait_limit(tmp_path, sample, monkeypatch, capsys):
    """The time limit, in this process (``tlstudio.cli.main``); the signals below need a process of their own."""
    from tlstudio.cli import main as cli_main

    env, peer = _lonely_env(tmp_path, "4")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code = cli_main(["train", str(sample), *TRAIN, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "did not join" in err and peer in err and "TLSTUDIO_WORKER_WAIT" in err, err
    assert "bug" not in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_a_worker_waiting_for_its_peers(tmp_path, sample, signum):
    proc, peer = _lonely_worker(tmp_path, sample, "600")
    lines: list[str] = []
    waiting = threading.Event()

    def read() -> None:
        for line in proc.stderr:
            lines.append(line)
            if "waiting up to" in line:
                waiting.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert waiting.wait(TIMEOUT), "".join(lines)
        proc.send_signal(signum)
        proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(10)
    err = "".join(lines)
    assert proc.returncode == 130, err
    assert "cancelled while waiting" in err and peer in err, err
    assert "Traceback" not in err
