"""The probe job and the pooled cache: cuts, scores, reuse and rebuild."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from PIL import Image

from tests.support.analysis_data import make_presplit, seeded_weights
from tlstudio.features import pooled_cache
from tlstudio.features.cuts import cut_points
from tlstudio.cancel import CancelToken
from tlstudio.config import DataConfig, ModelConfig
from tlstudio.errors import ConfigError
from tlstudio.events import Progress
from tlstudio.jobs import run_job
from tlstudio.api.probe import ProbeConfig


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    base = tmp_path_factory.mktemp("probe")
    make_presplit(base / "data", train=16, val=4)
    model = ModelConfig(backbone="vgg16", weights=seeded_weights(base), image_size=32)
    return base, ProbeConfig(DataConfig(root=str(base / "data")), model, folds=3, cache_dir=str(base / "cache"))


def test_cut_points_follow_the_registry_blocks():
    vgg = ["input_layer"] + [f"block{b}_{k}" for b in range(1, 6) for k in ("conv1", "conv2", "pool")]
    assert cut_points(vgg, "vgg16") == tuple(f"block{b}_pool" for b in range(1, 6))
    resnet = ["conv1_pad", "conv1_conv", "conv1_relu", "pool1_pad", "pool1_pool", "conv2_block1_out",
              "conv2_block3_out", "conv3_block4_out", "conv4_block6_out", "conv5_block3_out"]
    assert cut_points(resnet, "resnet50") == ("pool1_pool", "conv2_block3_out", "conv3_block4_out",
                                               "conv4_block6_out", "conv5_block3_out")


def test_probe_scores_every_cut_and_reuses_the_cache(dataset):
    base, config = dataset
    events = []
    before = pooled_cache.extraction_count()
    first = run_job("probe", config, sink=events.append)
    assert pooled_cache.extraction_count() == before + 1 and not first.cache_hit
    assert [c.layer for c in first.cuts] == [f"block{b}_pool" for b in range(1, 6)]
    assert [c.features for c in first.cuts] == [64, 128, 256, 512, 512]
    assert [c.depth_index for c in first.cuts] == [0, 1, 2, 3, 4]
    assert first.num_images == 32 and first.folds == 3 and first.chance == pytest.approx(0.5)
    best = max(first.cuts, key=lambda c: c.cv_accuracy)
    assert first.best == best.layer and best.cv_accuracy > 0.8  # the colour classes are easy
    assert first.best in first.explanation
    assert any(isinstance(e, Progress) and e.stage == "features" for e in events)
    second = run_job("probe", config)
    assert pooled_cache.extraction_count() == before + 1 and second.cache_hit  # nothing recomputed
    assert [c.cv_accuracy for c in second.cuts] == [c.cv_accuracy for c in first.cuts]
    data = second.to_json()
    assert set(data["cuts"][0]) >= {"layer", "cv_accuracy", "cv_std", "features"} and data["best"] == first.best
    for cut in first.cuts:  # both poolings scored; a cut keeps the better
        assert [p for p, _, _ in cut.by_pooling] == ["avg", "max"]
        assert cut.cv_accuracy == max(acc for _, acc, _ in cut.by_pooling) == cut.accuracy_with(cut.pooling)
    assert set(data["cuts"][0]["by_pooling"]) == {"avg", "max"} and data["cuts"][0]["pooling"] in ("avg", "max")


def test_a_cut_keeps_the_pooling_that_separates_the_classes():
    from tlstudio.analysis.probe import score_cuts

    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 30)
    noise = rng.normal(size=(60, 8)).astype(np.float32)
    signal = noise + 3.0 * labels[:, None]  # only the max-pooled features know the class

    class Features:
        def pooled(self, cut, pooling):
            return {"avg": noise, "max": signal}[pooling]

    scores, folds, cancelled = score_cuts(Features(), ["c"], labels, num_classes=2, folds=3, seed=0,
                                          sink=lambda e: None, cancel=CancelToken(), poolings=("avg", "max"))
    assert not cancelled and folds == 3
    (cut,) = scores
    assert cut.pooling == "max" and cut.cv_accuracy > 0.9 and cut.accuracy_with("avg") < 0.75


def test_a_changed_file_rebuilds_the_cache(dataset):
    base, config = dataset
    run_job("probe", config)
    before = pooled_cache.extraction_count()
    victim = next((base / "data" / "train" / "red").glob("*.png"))
    with Image.open(victim) as img:
        img.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(victim)
    os.utime(victim, ns=(time.time_ns(), time.time_ns() + 10**9))
    result = run_job("probe", config)
    assert pooled_cache.extraction_count() == before + 1 and not result.cache_hit


def test_cache_reads_are_memory_maps_and_a_damaged_shard_is_rebuilt(dataset):
    base, config = dataset
    paths = sorted(str(p) for p in (base / "data").rglob("*.png"))
    kwargs = dict(backbone="vgg16", weights=config.model.weights, image_size=32, cache_dir=str(base / "cache2"))
    features = pooled_cache.pooled_features(paths, **kwargs)
    assert isinstance(features["block3_pool"], np.memmap) and features["block3_pool"].shape == (len(paths), 256)
    shard = base / "cache2" / f"{features.key}.block3_pool.npy"
    shard.write_bytes(shard.read_bytes()[:100])  # truncated
    before = pooled_cache.extraction_count()
    again = pooled_cache.pooled_features(paths, **kwargs)
    assert pooled_cache.extraction_count() == before + 1
    np.testing.assert_allclose(again["block5_pool"], features["block5_pool"], rtol=1e-5, atol=1e-6)


def test_cancel_leaves_no_file(dataset):
    base, config = dataset
    paths = sorted(str(p) for p in (base / "data").rglob("*.png"))
    cancel = CancelToken()

    def sink(event):
        if isinstance(event, Progress) and event.stage == "features":
            cancel.cancel()

    folder = base / "cache3"
    result = pooled_cache.pooled_features(paths, backbone="vgg16", weights=config.model.weights, image_size=32,
                                          cache_dir=str(folder), sink=sink, cancel=cancel)
    assert result is None
    from tlstudio.caches import PINS

    assert [p for p in folder.iterdir() if p.name != PINS] == []  # no shard, no manifest, no temporary
    assert list((folder / PINS).iterdir()) == []  # and the cancelled job's pin was released


def test_unknown_cut_and_bad_folds_name_the_field(dataset):
    _, config = dataset
    import dataclasses

    with pytest.raises(ConfigError, match="cuts: 'block9_pool'.*block1_pool.*Received"):
        run_job("probe", dataclasses.replace(config, cuts=("block9_pool",)))
    with pytest.raises(ConfigError, match="folds.*Received: folds=1"):
        ProbeConfig(folds=1)
