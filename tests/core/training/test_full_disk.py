"""``train --resume`` on a full disk (issue 25, item 3): refuse early, record only what was written.

The issue's case: a resume on a full disk logged "saved best.weights.h5" for
weights that never reached the disk, ``result.json`` claimed that best epoch,
and the process died with SIGSEGV after h5py's errors. Here the disk fills at
the h5 save boundary: ``save_weights`` writes part of its file and raises
ENOSPC, as h5py does on a full disk (a real small tmpfs needs root, so the
tests inject it; ``docs`` / the issue note has the tmpfs check). Tiny: VGG16
with random weights at 32 px, cut at ``block3_pool`` except on the real tmpfs.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import keras
import pytest

from tlstudio.config import DataConfig, HeadConfig, ModelConfig, RunConfig, TrainConfig
from tlstudio.data import generate_sample_dataset
from tlstudio.events import CheckpointSaved
from tlstudio.run_folders import run_files
from tlstudio.training import load_run, resume_config, run_training

ROOT = Path(__file__).resolve().parents[3]
SIZE = 32


def _train(base: Path, feature_cache: str, cut: str = "block3_pool") -> Path:
    """One epoch; VGG16 cut at ``block3_pool`` (a ~7 MB checkpoint) unless ``cut`` says otherwise."""
    shapes = generate_sample_dataset(base / "shapes", per_class=6, size=SIZE, seed=3)
    model = ModelConfig(backbone="vgg16", weights="none", image_size=SIZE, head=HeadConfig(dropout=0.0), cut=cut)
    config = RunConfig(data=DataConfig(root=str(shapes), val_fraction=0.25, seed=7), model=model,
                       train=TrainConfig(epochs=1, batch_size=8, seed=5, tensorboard=False, feature_cache=feature_cache,
                                         monitor="loss"),
                       run_dir=str(base / "run"))
    result = run_training(config)
    assert result.error is None, result.error
    return Path(result.run_dir)


@pytest.fixture(scope="module")
def cached_run(tmp_path_factory) -> Path:
    return _train(tmp_path_factory.mktemp("full-disk"), "auto")


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _copy(run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(run, target)
    return target


def test_a_resume_the_disk_cannot_hold_is_refused_before_anything_is_written(cached_run, tmp_path, monkeypatch):
    run = _copy(cached_run, tmp_path)
    before = _snapshot(run)
    usage = namedtuple("usage", "total used free")
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10 << 30, (10 << 30) - (1 << 20), 1 << 20)
                        if Path(p).resolve().is_relative_to(run.resolve()) else real(p))
    result = run_training(resume_config(str(run), epochs=2))
    assert result.error is not None and "disk space" in result.error and str(run) in result.error
    assert "Received:" in result.error and "1.0 MB free" in result.error
    after = _snapshot(run)
    assert after == before  # nothing rewritten, no result.json claiming anything new


def _failing_best_save(monkeypatch, saved: list[str]):
    """Make every write of best.weights.h5 fail half-way with ENOSPC, as h5py does on a full disk."""
    real = keras.Model.save_weights

    def save_weights(self, filepath, *args, **kwargs):
        name = os.path.basename(str(filepath))
        if name.startswith(".best.weights.h5") or name.startswith(".best"):
            Path(filepath).write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 1000)  # part of a file, then the disk is full
            raise OSError(errno.ENOSPC, "Unable to synchronously create dataset (file write failed: No space left on device)")
        real(self, filepath, *args, **kwargs)
        saved.append(name)

    monkeypatch.setattr(keras.Model, "save_weights", save_weights)


@pytest.mark.parametrize("feature_cache", ["auto", "off"])
def test_a_best_checkpoint_the_disk_refused_is_never_claimed(cached_run, tmp_path, monkeypatch, feature_cache):
    run = _copy(cached_run, tmp_path)
    previous = load_run(run)
    saved: list[str] = []
    _failing_best_save(monkeypatch, saved)
    events = []
    config = resume_config(str(run), epochs=3)
    if feature_cache == "off":
        import dataclasses

        config = dataclasses.replace(config, train=dataclasses.replace(config.train, feature_cache="off"))
    result = run_training(config, events.append)
    assert result.error is not None and "No space left" in result.error
    assert not [e for e in events if isinstance(e, CheckpointSaved)]  # nothing claimed "saved"
    written = json.loads((run / run_files.RESULT).read_text())
    assert written["best_metrics"] == previous.best_metrics  # the best whose weights are on disk
    assert result.best_metrics == previous.best_metrics
    assert not [p.name for p in run.iterdir() if ".tmp-" in p.name]  # no half-written temporary left behind
    assert load_run(run).epochs_completed == result.epochs_completed


@pytest.fixture()
def small_disk(tmp_path):
    """A real small disk: a tmpfs of 200 MB (needs root; skipped where mount is not allowed)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a tmpfs needs root")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200m", "tmpfs", str(mount)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_cli_resume_on_a_really_full_disk_exits_1_with_one_line_and_claims_nothing(tmp_path, small_disk):
    """The issue's case on a real disk: the run takes 169 MB of a 200 MB tmpfs; a new checkpoint copy does not fit."""
    run = _train(tmp_path / "made", "off", cut="")  # the whole VGG16: 56 MB checkpoints, as the sizes below assume
    shutil.copytree(run, small_disk / "run")
    run = small_disk / "run"
    free = shutil.disk_usage(run).free
    previous = load_run(run)
    filler = small_disk / "filler.bin"  # leave less than one checkpoint (56 MB) free, more than the small files
    filler.write_bytes(b"\0" * max(0, free - (8 << 20)))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cli = "import sys; from tlstudio.cli import main; sys.exit(main())"
    proc = subprocess.run([sys.executable, "-c", cli, "train", "--resume", str(run), "--epochs", "2"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, (proc.returncode, out[-3000:])  # not 139 (SIGSEGV)
    assert "not enough disk space" in out and "Traceback" not in out and "saved" not in proc.stdout
    assert load_run(run).best_metrics == previous.best_metrics
    filler.unlink()
