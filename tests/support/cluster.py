"""Real ``tlstudio-cli train`` workers on localhost under ``TF_CONFIG``, and one such run shared by the session.

A cluster run starts two or more worker processes with free localhost ports,
as the README's two-host recipe does on one machine. The multi-worker tests
(``tests/core/training/test_multiworker.py``) check the run itself; the report
test (``tests/core/report/test_report.py``) reports on its chief's run folder.
They share one two-worker run on the feature-cache path
(:func:`shared_features_run`): built once per session, under a file lock, by
whichever of them runs first (:mod:`tests.support.session_cache`).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.support.session_cache import built_once

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 180

TRAIN = ["--backbone", "vgg16", "--weights", "none", "--image-size", "32", "--cut", "block1_pool",
         "--head", "avg:dropout=0", "--epochs", "1", "--no-tensorboard", "--json"]
# 24 training images (sample_data: 10 per class, val 0.2): one batch of 24 per epoch, 12 per worker.
BATCH = ["--batch-size", "24"]


def sample_data(folder: Path) -> Path:
    """Three classes of 32 px shapes, 10 each: 24 training and 6 validation images."""
    from tlstudio.data import generate_sample_dataset

    return generate_sample_dataset(folder / "shapes", per_class=10, size=32, seed=1)


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def cluster_env(tmp: Path, extra: dict[str, str]) -> dict[str, str]:
    """The environment of a worker whose cache, runs and temporary files stay under ``tmp``."""
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


def train(tmp: Path, data: Path, out: Path, args: list[str], *, workers: int, last_args: tuple[str, ...] = ()) -> list[tuple[int, dict, str]]:
    """Run ``workers`` CLI trainings (a cluster when > 1); [(exit code, JSON result, stderr)] by task index.

    ``last_args`` are added to the last worker's command only. A non-chief
    worker copies its model to ``<tmp>/kept`` (``TLSTUDIO_KEEP_WORKER_MODEL``).
    """
    (tmp / "tmp").mkdir(parents=True, exist_ok=True)
    ports = free_ports(workers)
    procs = []
    for index in range(workers):
        extra = {"TLSTUDIO_KEEP_WORKER_MODEL": str(tmp / "kept")}
        if workers > 1:
            cluster = {"worker": [f"localhost:{p}" for p in ports]}
            extra["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        cmd = [sys.executable, "-m", "tlstudio", "train", str(data), *TRAIN, *args, "--out", str(out)]
        if index == workers - 1:
            cmd += list(last_args)
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=cluster_env(tmp, extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
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


RESULTS = "results.json"


def _build_features_run(folder: Path) -> None:
    data = sample_data(folder)
    cluster = folder / "cluster"
    cluster.mkdir()
    results = train(cluster, data, cluster / "run", BATCH, workers=2)
    (folder / RESULTS).write_text(json.dumps(results), encoding="utf-8")


def shared_features_run(tmp_path_factory) -> tuple[Path, list[tuple[int, dict, str]]]:
    """Two workers, feature-cache path, ``TRAIN + BATCH`` on :func:`sample_data`: trained once per session.

    Returns the cluster's folder (``run`` the chief's run folder, ``kept`` the
    other worker's model, ``cache`` and ``tmp`` the workers' own) and the
    workers' [(exit code, JSON result, stderr)] by task index. Read only.
    """
    folder = built_once(tmp_path_factory, "two-workers-features", _build_features_run)
    results = json.loads((folder / RESULTS).read_text(encoding="utf-8"))
    return folder / "cluster", [(rc, result, stderr) for rc, result, stderr in results]
