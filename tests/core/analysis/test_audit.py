"""The audit finds planted leaks, near copies, mislabelled images and an outlier in generated data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.support.analysis_data import make_presplit, seeded_weights, plant_exact_leak, plant_flips, plant_near_copy, plant_noise
from tlstudio.analysis import audit as find
from tlstudio.config import DataConfig, ModelConfig
from tlstudio.errors import ConfigError
from tlstudio.jobs import run_job
from tlstudio.api.audit import AuditConfig



@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("audit") / "data"
    model = ModelConfig(backbone="vgg16", weights=seeded_weights(root.parent), image_size=32)
    paths = make_presplit(root)
    planted = {
        "exact": (paths["red"][0], plant_exact_leak(paths["red"][0], root)),
        "near": (paths["blue"][1], plant_near_copy(paths["blue"][1], root)),
        "flips": plant_flips(root, 3),
        "noise": plant_noise(root),
    }
    config = AuditConfig(DataConfig(root=str(root)), model, folds=4, cache_dir=str(root.parent / "cache"))
    result = run_job("audit", config)
    return planted, result, config


def test_exact_copy_across_splits_is_a_leak(planted):
    files, result, _ = planted
    exact = [g for g in result.duplicates if g.kind == "exact"]
    assert len(exact) == 1
    group = exact[0]
    assert set(group.paths) == {str(p) for p in files["exact"]}
    assert group.cross_split and sorted(group.splits) == ["train", "val"] and group.similarity == 1.0
    assert group in result.leaks


def test_resized_recompressed_copy_is_a_near_duplicate(planted):
    files, result, _ = planted
    near = [g for g in result.duplicates if g.kind == "near"]
    wanted = {str(p) for p in files["near"]}
    assert any(wanted <= set(g.paths) and g.cross_split for g in near), near
    # No false groups: every reported group holds a planted pair.
    planted_paths = {str(p) for pair in (files["exact"], files["near"]) for p in pair}
    assert all(set(g.paths) & planted_paths for g in result.duplicates), result.duplicates


def test_mislabelled_images_rank_first(planted):
    files, result, _ = planted
    flips = {str(p) for p in files["flips"]}
    top = [issue.path for issue in result.label_issues[: len(flips)]]
    assert set(top) == flips, result.label_issues[:6]
    for issue in result.label_issues[: len(flips)]:
        assert issue.given == "blue" and issue.suggested == "red" and 0.5 < issue.score <= 1.0
    scores = [i.score for i in result.label_issues]
    assert scores == sorted(scores, reverse=True)


def test_noise_image_is_the_first_outlier(planted):
    files, result, _ = planted
    assert result.outliers and result.outliers[0].path == str(files["noise"])
    assert len(result.outliers) <= 3


def test_imbalance_and_json_shape(planted):
    _, result, _ = planted
    # train: red 24 + noise, blue 24 + 3 flips; val: red 8 + copy, blue 8 + near copy
    assert dict(result.imbalance.counts) == {"blue": 24 + 3 + 8 + 1, "red": 24 + 1 + 8 + 1}
    assert result.imbalance.ratio == pytest.approx(36 / 34) and "balanced" in result.imbalance.advice
    data = json.loads(json.dumps(result.to_json()))
    assert set(data) >= {"duplicates", "label_issues", "outliers", "imbalance"}
    assert set(data["duplicates"][0]) == {"kind", "paths", "splits", "cross_split", "similarity"}
    assert set(data["label_issues"][0]) == {"path", "given", "suggested", "score"}
    assert set(data["outliers"][0]) == {"path", "score", "kind", "reason"}
    assert result.cut in ("block1_pool", "block2_pool", "block3_pool", "block4_pool", "block5_pool")


def test_audit_changes_no_file(planted, tmp_path):
    files, _, config = planted
    root = Path(files["noise"]).parents[2]
    before = sorted((p, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file())
    run_job("audit", config)
    after = sorted((p, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file())
    assert before == after


def test_imbalance_advice_for_a_strong_imbalance():
    result = find.imbalance({"cats": 300, "dogs": 40})
    assert result.ratio == pytest.approx(7.5)
    assert "Strongly imbalanced" in result.advice and "'dogs'" in result.advice


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="near_similarity.*Received: 1.5"):
        AuditConfig(near_similarity=1.5)
    with pytest.raises(ConfigError, match="folds.*Received: folds=1"):
        AuditConfig(folds=1)


def test_outliers_need_a_clear_margin():
    rng = np.random.default_rng(0)
    unit = find.normalised(rng.normal(size=(50, 16)))
    assert len(find.outliers(unit, [f"p{i}" for i in range(50)])) <= 2


def test_a_shared_perceptual_hash_needs_agreeing_features():
    from tlstudio.analysis.audit import near_pairs

    hashes = np.array([0b1010, 0b1011, 0b1010, 0xFFFF0000], dtype=np.uint64)  # 0, 1 and 2 within 1 bit
    unit = np.array([[1.0, 0.0], [0.96, 0.28], [0.6, 0.8], [0.0, 1.0]])  # cos(0, 1) 0.96; cos(0, 2) 0.6
    assert near_pairs(hashes, unit, phash_distance=6, similarity=0.98) == [(0, 1)]  # 0-2 and 1-2 share a hash only
    assert near_pairs(hashes, unit, phash_distance=6, similarity=0.98, hash_confirm=0.0) == [(0, 1), (0, 2), (1, 2)]
    assert (2, 3) in near_pairs(hashes, unit, phash_distance=6, similarity=0.8)  # far hashes: the features alone (cos 0.8)


def test_weak_features_rank_label_suspects_and_say_they_are_unreliable():
    """Issue 24: 107 of 398 photos flagged at 0.99–1.00 while the features barely separated the classes."""
    from tlstudio.analysis.audit import RANK_LIMIT, label_suspects

    rng = np.random.default_rng(0)
    n = 200
    labels = np.arange(n) % 2
    proba = rng.dirichlet([1.0, 1.0], n)  # out-of-fold guesses barely better than a coin
    accuracy = float((proba.argmax(1) == labels).mean())
    paths = [f"/d/{'ab'[l]}/{i}.jpg" for i, l in enumerate(labels)]
    issues, note = label_suspects(proba, labels, paths, ("a", "b"), accuracy)
    assert len(issues) <= RANK_LIMIT and f"only to {accuracy:.0%}" in note and "unreliable" in note
    self_conf = [1 - i.score for i in issues]
    assert self_conf == sorted(self_conf)  # ranked, least certain first
    confident = np.eye(2)[labels] * 0.96 + 0.02
    confident[5] = [0.02, 0.98] if labels[5] == 0 else [0.98, 0.02]  # one clear mislabel
    issues, note = label_suspects(confident, labels, paths, ("a", "b"), 0.995)
    assert note == "" and [i.path for i in issues] == [paths[5]]


@pytest.fixture(scope="module")
def placeholder_audit(tmp_path_factory):
    from tests.support.analysis_data import make_photos_with_placeholder

    root = tmp_path_factory.mktemp("placeholder") / "data"
    placeholder = make_photos_with_placeholder(root)
    model = ModelConfig(backbone="vgg16", weights=seeded_weights(root.parent), image_size=32)
    config = AuditConfig(DataConfig(root=str(root), val_fraction=0.25), model, folds=3, cache_dir=str(root.parent / "cache"))
    return placeholder, run_job("audit", config)


def test_a_grey_placeholder_among_photos_is_an_outlier(placeholder_audit):
    """Issue 24: the ants-bees photos' grey "imageNotFound.gif" was not an outlier: pooled features average it away."""
    placeholder, result = placeholder_audit
    found = [o for o in result.outliers if o.path == str(placeholder)]
    assert found, [(Path(o.path).name, o.kind, round(o.score, 2)) for o in result.outliers]
    assert result.outliers[0].path == str(placeholder)  # the strangest
    assert found[0].kind == "pixels" and "colour" in found[0].reason
    assert [o.path for o in result.outliers if o.kind == "pixels"] == [str(placeholder)]  # no photo's pixels are odd


def test_pixel_outliers_need_a_clear_margin():
    from tlstudio.analysis.pixel_outliers import pixel_outliers

    rng = np.random.default_rng(0)
    stats = np.stack([rng.normal(50, 5, 60), rng.uniform(0.1, 0.2, 60), rng.normal(1200, 100, 60)], axis=1)
    paths = [f"p{i}" for i in range(60)]
    assert pixel_outliers(stats, paths) == []  # ordinary spread: nothing flagged
    stats[7] = (0.3, 0.8, 43)  # grey, flat, few colours
    flagged = pixel_outliers(stats, paths)
    assert [o.path for o in flagged] == ["p7"]
    assert "almost no colour" in flagged[0].reason and "few distinct colours" in flagged[0].reason  # every odd statistic
    assert pixel_outliers(stats[:5], paths[:5]) == []  # too few images to say what is usual
    same = np.tile([50.0, 0.15, 1200.0], (30, 1))
    same[3, 0] = 51.0
    assert pixel_outliers(same, paths[:30]) == []  # near-identical pictures: a small difference is no outlier
