"""Trainings on the feature cache keep their own shards while the LRU evicts (issue 25, item 1).

The issue's case: ``TLSTUDIO_FEATURE_CACHE_MB`` small and a flatten head, so the
val split's extraction evicted the train split's float16 maps mid-run and the
run ended with FileNotFoundError. Tiny: VGG16 at 32 px, the limit at 0 MB.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tlstudio import caches
from tlstudio.config import DataConfig, HeadConfig, ModelConfig, RunConfig, TrainConfig
from tlstudio.data import generate_sample_dataset
from tlstudio.training import run_training

SIZE = 32


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    return generate_sample_dataset(tmp_path_factory.mktemp("shapes"), per_class=8, size=SIZE, seed=3)


@pytest.mark.parametrize("pooling", ["flatten", "avg"])
def test_a_training_over_the_cache_limit_keeps_its_own_shards(shapes, tmp_path, monkeypatch, pooling):
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(caches.FEATURE_LIMIT_ENV, "0")
    model = ModelConfig(backbone="vgg16", weights="none", image_size=SIZE, head=HeadConfig(pooling=pooling, dropout=0.0),
                        cut="block2_pool")
    config = RunConfig(data=DataConfig(root=str(shapes), val_fraction=0.25, seed=7), model=model,
                       train=TrainConfig(epochs=2, batch_size=8, seed=5, tensorboard=False, feature_cache="auto"),
                       run_dir=str(tmp_path / "run"))
    result = run_training(config)
    assert result.error is None, result.error
    assert result.feature_cache and result.epochs_completed == 2
    assert not caches.pinned_keys(tmp_path / "cache" / "pooled")  # the run let go of its entries
