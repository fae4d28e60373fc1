"""Two real ``tlstudio-cli train`` workers on localhost under ``TF_CONFIG``.

Each test starts two worker processes with free localhost ports, as the
README's two-host recipe does on one machine, and trains a tiny model (VGG16
cut at ``block1_pool``, random weights, 32 px sample images, one epoch) on
the CPU. It checks what a user relies on:

* both workers exit 0 and print their role;
* only the chief writes the run folder, and its ``model.keras`` loads;
* the other worker's temporary run folder is gone afterwards;
* the workers end with the same weights: the non-chief worker copies its
  ``model.keras`` out before its folder is deleted
  (``TLSTUDIO_KEEP_WORKER_MODEL``), and every weight array is compared with
  the chief's, bit for bit;
* both report the same history, and with one batch per epoch the same
  losses as one process training alone (the global batch is split between
  the workers and their gradients summed, not averaged per worker).

The feature-cache path and the image path (``--no-feature-cache``) each get
one test (marked ``slow``: two or three TensorFlow processes each); a third
checks that workers started with different options stop at once, naming the
option, instead of hanging in a collective.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]
TIMEOUT = 180

TRAIN = ["--backbone", "vgg16", "--weights", "none", "--image-size", "32", "--cut", "block1_pool",
         "--head", "avg:dropout=0", "--epochs", "1", "--no-tensorboard", "--json"]
# 24 training images: one batch of 24 per epoch, 12 per worker (see the module docstring).
BATCH = ["--batch-size", "24"]


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _env(tmp: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(
        TF_CPP_MIN_LOG_LEVEL="2",
        CUDA_VISIBLE_DEVICES="",
        TLSTUDIO_CACHE_DIR=str(tmp / "cache"),
        TLSTUDIO_RUNS_DIR=str(tmp / "runs"),
        TMPDIR=str(tmp / "tmp"),
        **extra,
    )
    return env


def _train(tmp: Path, data: Path, out: Path, args: list[str], *, workers: int, last_args: tuple[str, ...] = ()) -> list[tuple[int, dict, str]]:
    """Run ``workers`` CLI trainings (a cluster when > 1); [(exit code, JSON result, stderr)] by task index.

    ``last_args`` are added to the last worker's command only.
    """
    (tmp / "tmp").mkdir(exist_ok=True)
    ports = _free_ports(workers)
    procs = []
    for index in range(workers):
        extra = {"TLSTUDIO_KEEP_WORKER_MODEL": str(tmp / "kept")}
        if workers > 1:
            cluster = {"worker": [f"localhost:{p}" for p in ports]}
            extra["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        cmd = [sys.executable, "-m", "tlstudio", "train", str(data), *TRAIN, *args, "--out", str(out)]
        if index == workers - 1:
            cmd += list(last_args)
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=_env(tmp, extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = []
    try:
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=TIMEOUT)
            start = stdout.find("{")
            results.append((proc.returncode, json.loads(stdout[start:]) if start >= 0 else {}, stderr))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return results


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    from tlstudio.data import generate_sample_dataset

    # 10 per class, val 0.2: 24 training and 6 validation images
    return generate_sample_dataset(tmp_path_factory.mktemp("data") / "shapes", per_class=10, size=32, seed=1)


def _weights(path: Path) -> list[np.ndarray]:
    from tlstudio.io.model_files import load_keras_model

    return [np.asarray(w) for w in load_keras_model(path).get_weights()]


@pytest.mark.slow  # two or three TensorFlow processes: over 40 s on two cores
@pytest.mark.parametrize("cache", ["features", "images"])
def test_two_workers_train_one_model(tmp_path, sample, cache, monkeypatch, capsys):
    args = BATCH + (["--no-feature-cache"] if cache == "images" else [])
    out = tmp_path / "run"
    (chief_rc, chief, chief_err), (worker_rc, worker, worker_err) = _train(tmp_path, sample, out, args, workers=2)
    tail = f"\n--- chief\n{chief_err[-3000:]}\n--- worker\n{worker_err[-3000:]}"
    assert (chief_rc, worker_rc) == (0, 0), tail
    assert "multi-worker training: worker 1 of 2 (chief)" in chief_err, tail
    assert "multi-worker training: worker 2 of 2 (writes to a temporary folder" in worker_err, tail
    assert "2 workers, 2 replicas, MultiWorkerMirroredStrategy x2" in chief_err, tail
    assert chief["feature_cache"] is (cache == "features") and worker["feature_cache"] is (cache == "features")

    # Only the chief's run folder exists; the worker's temporary folder is gone.
    assert chief["run_dir"] == str(out) and chief["model_path"] == str(out / "model.keras")
    assert worker["run_dir"] == "" and worker["model_path"] is None
    assert not [p.name for p in (tmp_path / "tmp").iterdir() if p.name.startswith("tlstudio-worker-")]
    assert {p.name for p in tmp_path.iterdir()} <= {"run", "kept", "cache", "tmp"}  # no second run folder anywhere

    # Same weights on both workers, and the same reported history.
    chief_weights = _weights(out / "model.keras")
    worker_weights = _weights(tmp_path / "kept" / "worker-1.keras")
    assert len(chief_weights) == len(worker_weights) > 0
    for a, b in zip(chief_weights, worker_weights):
        assert a.shape == b.shape and np.array_equal(a, b)
    assert chief["history"] == [{**h, "seconds": chief["history"][i]["seconds"]} for i, h in enumerate(worker["history"])]
    assert len(chief["history"]) == 1

    if cache == "features":
        return  # the comparison with one process costs another run; the image path makes it
    # One batch per epoch: the two workers train as one process does. That one process is this one
    # (the same command through tlstudio.cli.main, without TF_CONFIG): a fresh process is not what it compares.
    from tlstudio.cli import main as cli_main

    alone_tmp = tmp_path / "alone"
    for key, value in _env(alone_tmp, {}).items():
        if key.startswith("TLSTUDIO_"):
            monkeypatch.setenv(key, value)
    monkeypatch.delenv("TF_CONFIG", raising=False)
    capsys.readouterr()
    alone_rc = cli_main(["train", str(sample), *TRAIN, *args, "--out", str(alone_tmp / "run")])
    alone_out, alone_err = capsys.readouterr()
    assert alone_rc == 0, alone_err[-3000:]
    alone = json.loads(alone_out[alone_out.find("{"):])
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert chief["history"][0][key] == pytest.approx(alone["history"][0][key], rel=1e-4, abs=1e-6), key


def test_workers_started_differently_stop_with_the_difference_named(tmp_path, sample):
    """A different option on one worker would make the collectives hang or fail deep in TensorFlow."""
    results = _train(tmp_path, sample, tmp_path / "run", BATCH, workers=2, last_args=("--lr", "0.01"))
    for (rc, result, stderr), mine in zip(results, ("0.001", "0.01")):
        assert rc == 1, stderr[-3000:]
        assert "the workers were started with different settings (train.learning_rate)" in result["error"]
        assert f"train.learning_rate={mine}" in result["error"]
        assert result["history"] == [] and result["model_path"] is None
    assert not [p.name for p in (tmp_path / "tmp").iterdir() if p.name.startswith("tlstudio-worker-")]
