"""The Data page's jobs: ``prepare_data`` (light, no TensorFlow) and ``augment_preview``."""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tlstudio.cancel import CancelToken
from tlstudio.config import AugmentConfig, DataConfig
from tlstudio.data import generate_sample_dataset
from tlstudio.errors import ConfigError, DataError
from tlstudio.events import Progress
from tlstudio.imaging import load_image
from tlstudio.jobs import LIGHT_JOBS, run_job
from tlstudio.api.data import AugmentPreviewConfig, PrepareDataConfig
from tlstudio.jobs.data import augment_preview, prepare

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def shapes(tmp_path) -> Path:
    """Three classes of five 32 px images."""
    return generate_sample_dataset(tmp_path / "shapes", per_class=5, size=32)


# ---------------------------------------------------------------- prepare_data


def test_prepare_scans_validates_and_splits(shapes):
    events: list[object] = []
    prepared = prepare(PrepareDataConfig(DataConfig(root=str(shapes), val_fraction=0.2)), sink=events.append, cancel=CancelToken())
    assert not prepared.cancelled
    assert prepared.root == str(shapes.resolve())
    assert len(prepared.class_names) == 3 and prepared.report.num_valid == 15
    assert len(prepared.train) + len(prepared.val) == 15 and len(prepared.val) == 3
    assert any(isinstance(e, Progress) and e.stage == "scan" for e in events)
    assert pickle.loads(pickle.dumps(prepared)).train == prepared.train  # it travels back to the GUI


def test_prepare_opens_the_sample_dataset_whatever_the_root():
    prepared = run_job("prepare_data", PrepareDataConfig(DataConfig(root=""), sample=True))
    assert Path(prepared.root).name == "sample-shapes-v1"
    assert len(prepared.class_names) >= 2 and prepared.report.num_skipped == 0


def test_prepare_needs_a_folder_or_the_sample():
    with pytest.raises(ConfigError, match="Received: root=''"):
        PrepareDataConfig(DataConfig(root=""))


def test_a_cancelled_prepare_returns_empty_splits(shapes):
    token = CancelToken()
    token.cancel()
    prepared = prepare(PrepareDataConfig(DataConfig(root=str(shapes))), sink=lambda e: None, cancel=token)
    assert prepared.cancelled and prepared.train == () and prepared.val == ()


def test_a_folder_without_classes_is_refused_with_its_report(tmp_path):
    (tmp_path / "loose.txt").write_text("no images")
    prepared = run_job("prepare_data", PrepareDataConfig(DataConfig(root=str(tmp_path))))
    assert "no class folders" in prepared.refused
    assert prepared.root == str(tmp_path) and prepared.train == ()


def test_a_missing_folder_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="missing"):
        run_job("prepare_data", PrepareDataConfig(DataConfig(root=str(tmp_path / "missing"))))


def test_prepare_data_is_light_and_never_loads_tensorflow(shapes, tmp_path):
    assert "prepare_data" in LIGHT_JOBS
    code = textwrap.dedent(
        f"""
        import sys
        from tlstudio.config import DataConfig
        from tlstudio.jobs import run_job
        from tlstudio.api.data import PrepareDataConfig

        prepared = run_job("prepare_data", PrepareDataConfig(DataConfig(root={str(shapes)!r})))
        assert prepared.report.num_valid == 15, prepared.report.num_valid
        print(sorted(m for m in ("tensorflow", "keras") if m in sys.modules))
        """
    )
    env = {**os.environ, "TLSTUDIO_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"


# ------------------------------------------------------------- augment_preview


def _paths(root: Path, n: int = 2) -> tuple[str, ...]:
    return tuple(sorted(str(p) for p in root.rglob("*.png"))[:n])


def test_preview_has_the_original_then_augmented_variants(shapes):
    paths = _paths(shapes)
    config = AugmentPreviewConfig(paths, AugmentConfig(flip="horizontal", rotation=0.2), seed=3, variants=3, size=32)
    events: list[object] = []
    grid = augment_preview(config, sink=events.append, cancel=CancelToken())
    assert grid.shape == (2, 4, 32, 32, 3) and grid.dtype == np.uint8
    assert np.array_equal(grid[0, 0], load_image(paths[0], 32))
    for row in range(2):
        assert any(not np.array_equal(grid[row, 0], grid[row, col]) for col in range(1, 4))
    assert [e.done for e in events if isinstance(e, Progress)] == [0, 1, 2]


def test_preview_without_augmentation_repeats_the_original(shapes):
    grid = run_job("augment_preview", AugmentPreviewConfig(_paths(shapes), AugmentConfig(), seed=3, variants=2, size=32))
    assert grid.shape == (2, 3, 32, 32, 3)
    assert np.array_equal(grid[:, 0], grid[:, 1]) and np.array_equal(grid[:, 0], grid[:, 2])


def test_a_cancelled_preview_stops_drawing(shapes):
    token = CancelToken()
    token.cancel()
    grid = augment_preview(AugmentPreviewConfig(_paths(shapes, 1), AugmentConfig(zoom=0.2), size=32), sink=lambda e: None, cancel=token)
    assert grid.shape == (1, 1, 32, 32, 3)


def test_preview_of_an_unreadable_file_says_which(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(DataError, match="Received: .*bad.png"):
        run_job("augment_preview", AugmentPreviewConfig((str(bad),), size=32))


def test_preview_config_is_checked():
    with pytest.raises(ConfigError, match=re.escape("Received: paths=()")):
        AugmentPreviewConfig(())
    with pytest.raises(ConfigError, match="Received: variants=0"):
        AugmentPreviewConfig(("a.png",), variants=0)
