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
option, instead of hanging in a collective. The feature-cache run is the
session's shared one (``tests/support/cluster.py``): the report test reports
on its chief's folder, so the two workers start once for both tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.support.cluster import BATCH, TRAIN, cluster_env, sample_data, shared_features_run, train


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    return sample_data(tmp_path_factory.mktemp("data"))


def _weights(path: Path) -> list[np.ndarray]:
    from tlstudio.io.model_files import load_keras_model

    return [np.asarray(w) for w in load_keras_model(path).get_weights()]


@pytest.mark.slow  # two or three TensorFlow processes: over 40 s on two cores
@pytest.mark.parametrize("cache", ["features", "images"])
def test_two_workers_train_one_model(tmp_path_factory, tmp_path, sample, cache, monkeypatch, capsys):
    args = BATCH + (["--no-feature-cache"] if cache == "images" else [])
    if cache == "features":  # the session's shared run (the report test reports on its chief's folder)
        tmp_path, results = shared_features_run(tmp_path_factory)
    else:
        results = train(tmp_path, sample, tmp_path / "run", args, workers=2)
    out = tmp_path / "run"
    (chief_rc, chief, chief_err), (worker_rc, worker, worker_err) = results
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
    for key, value in cluster_env(alone_tmp, {}).items():
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
    results = train(tmp_path, sample, tmp_path / "run", BATCH, workers=2, last_args=("--lr", "0.01"))
    for (rc, result, stderr), mine in zip(results, ("0.001", "0.01")):
        assert rc == 1, stderr[-3000:]
        assert "the workers were started with different settings (train.learning_rate)" in result["error"]
        assert f"train.learning_rate={mine}" in result["error"]
        assert result["history"] == [] and result["model_path"] is None
    assert not [p.name for p in (tmp_path / "tmp").iterdir() if p.name.startswith("tlstudio-worker-")]
