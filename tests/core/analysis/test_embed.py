"""The embedding map: PCA/t-SNE projection, and the "embed" job on generated images (features cached)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.analysis_data import make_presplit, seeded_weights
from tlstudio.analysis.embed import project_2d
from tlstudio.config import DataConfig, ModelConfig
from tlstudio.errors import ConfigError
from tlstudio.jobs import JOBS, run_job
from tlstudio.api.embed import EmbedConfig


def _blobs(n_per: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 8, (3, 20))
    x = np.concatenate([c + rng.normal(0, 1, (n_per, 20)) for c in centres])
    return x.astype(np.float32), np.repeat(np.arange(3), n_per)


def _separation(coords: np.ndarray, labels: np.ndarray) -> float:
    """Share of points whose nearest neighbour on the map has their label."""
    d = ((coords[:, None] - coords[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return float((labels[d.argmin(1)] == labels).mean())


def test_tsne_and_pca_keep_clusters_apart_and_auto_switches_by_size():
    x, y = _blobs(30)
    coords, method = project_2d(x, seed=1)
    assert method == "tsne" and coords.shape == (90, 2) and coords.dtype == np.float32
    assert np.abs(coords).max() == pytest.approx(1.0)
    assert _separation(coords, y) > 0.95
    again, _ = project_2d(x, seed=1)
    np.testing.assert_allclose(coords, again, atol=1e-5)  # the same seed gives the same map
    coords, method = project_2d(x, tsne_limit=50)
    assert method == "pca" and _separation(coords, y) > 0.95
    assert project_2d(x[:2])[0].shape == (2, 2)
    with pytest.raises(ValueError, match="Received: 'umap'"):
        project_2d(x, method="umap")


def test_embed_job_maps_every_image_with_labels_and_splits(tmp_path):
    assert JOBS["embed"] == "tlstudio.jobs.embed:embed"
    root = tmp_path / "data"
    make_presplit(root, train=10, val=4)
    model = ModelConfig(backbone="vgg16", weights=seeded_weights(tmp_path), image_size=32)
    excluded = str(root / "train" / "red" / "red_train_000.png")
    config = EmbedConfig(DataConfig(root=str(root), exclude=(excluded,)), model, cache_dir=str(tmp_path / "cache"))
    result = run_job("embed", config)
    assert not result.cancelled and result.method == "tsne" and result.cut == "block5_pool"
    assert len(result.paths) == 27 and excluded not in result.paths
    assert result.coords.shape == (27, 2) and np.isfinite(result.coords).all()
    assert set(result.splits) == {"train", "val"} and result.class_names == ("blue", "red")
    assert [result.class_names[label] for label in result.labels] == [p.split("/")[-2] for p in result.paths]
    assert result.predicted.size == 0
    with pytest.raises(ConfigError, match="Received: cut='nope'"):
        run_job("embed", EmbedConfig(DataConfig(root=str(root)), model, cut="nope", cache_dir=str(tmp_path / "cache")))
    with pytest.raises(ConfigError, match="Received: method='x'"):
        EmbedConfig(method="x")


def _run_with_classes(tmp_path_factory, base, names):
    """A copy of the session's tiny run (tests.support.tiny_model.make_run_dir), its class names set to ``names``."""
    import json

    from tests.support.tiny_run import own_copy, tiny_run
    from tests.support.tiny_model import build_tiny_model

    run_dir = own_copy(tiny_run(tmp_path_factory).parent, base) / "run"
    if len(names) != 3:
        build_tiny_model(num_classes=len(names)).save(run_dir / "model.keras")
    (run_dir / "class_names.json").write_text(json.dumps(list(names)), encoding="utf-8")
    return run_dir


def test_a_model_of_other_classes_predicts_nothing_and_the_map_says_why(tmp_path, tmp_path_factory, monkeypatch):
    import tlstudio.evaluation.runner as runner

    root = tmp_path / "data"
    make_presplit(root, train=6, val=2)
    model = ModelConfig(backbone="vgg16", weights=seeded_weights(tmp_path), image_size=32)
    run_dir = _run_with_classes(tmp_path_factory, tmp_path / "old", ("ants", "bees", "wasps"))
    called = []
    monkeypatch.setattr(runner, "predict_paths", lambda *a, **k: called.append(1))
    result = run_job("embed", EmbedConfig(DataConfig(root=str(root)), model, model_path=str(run_dir),
                                          cache_dir=str(tmp_path / "cache")))
    assert called == []  # not one image predicted by a model of another dataset
    assert result.predicted.size == 0 and result.predicted_names == ()
    assert result.model_path == ""
    assert "ants, bees, wasps" in result.prediction_note and "blue, red" in result.prediction_note


def test_a_model_of_the_same_classes_predicts_every_image(tmp_path, tmp_path_factory):
    root = tmp_path / "data"
    make_presplit(root, train=6, val=2)
    model = ModelConfig(backbone="vgg16", weights=seeded_weights(tmp_path), image_size=32)
    run_dir = _run_with_classes(tmp_path_factory, tmp_path / "same", ("blue", "red"))
    result = run_job("embed", EmbedConfig(DataConfig(root=str(root)), model, model_path=str(run_dir),
                                          cache_dir=str(tmp_path / "cache")))
    assert result.predicted.shape == (len(result.paths),) and set(result.predicted_names) <= {"blue", "red"}
    assert result.model_path == str(run_dir) and result.prediction_note == ""
