"""The ranking of the active-labelling loop: margins, k-centre spread, and copies of labelled images."""

from __future__ import annotations

import numpy as np
import pytest

from tlstudio.analysis import active


def test_uncertainty_ranks_by_smallest_top1_top2_margin():
    proba = np.array([
        [0.90, 0.05, 0.05],  # margin 0.85
        [0.40, 0.35, 0.25],  # 0.05
        [0.50, 0.10, 0.40],  # 0.10
        [0.34, 0.33, 0.33],  # 0.01
        [0.60, 0.30, 0.10],  # 0.30
    ])
    paths = [f"/p/{i}.png" for i in range(5)]
    np.testing.assert_allclose(active.margins(proba), [0.85, 0.05, 0.10, 0.01, 0.30], atol=1e-9)
    assert active.rank("uncertainty", proba, paths, 3) == [3, 1, 2]
    assert active.rank("uncertainty", proba, paths, 99) == [3, 1, 2, 4, 0]


def test_ties_are_broken_by_path_so_the_order_is_reproducible():
    proba = np.array([[0.5, 0.5]] * 3)
    assert active.rank("uncertainty", proba, ["/c", "/a", "/b"], 3) == [1, 2, 0]


def _clusters(n_per: int, centres: int, dim: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(centres, dim)) * 5
    x = np.concatenate([m + rng.normal(scale=0.05, size=(n_per, dim)) for m in means])
    return x / np.linalg.norm(x, axis=1, keepdims=True), np.repeat(np.arange(centres), n_per)


def test_k_centre_spreads_a_batch_over_clusters():
    unit, cluster = _clusters(10, 4)
    chosen = active.k_centre(unit, list(range(len(unit))), 4)
    assert sorted(cluster[chosen]) == [0, 1, 2, 3]  # one per cluster, never two near-copies


def test_diverse_keeps_uncertain_images_but_not_twenty_near_copies():
    unit, cluster = _clusters(4, 4)  # 16 images: all within the POOL_FACTOR x 4 most uncertain
    # The most uncertain images all sit in cluster 0; clusters 1-3 are a bit surer.
    margin = np.where(cluster == 0, 0.01, 0.2) + np.arange(len(unit)) * 1e-4
    proba = np.stack([(1 + margin) / 2, (1 - margin) / 2], axis=1)
    paths = [f"/p/{i:02d}.png" for i in range(len(unit))]
    uncertain = active.rank("uncertainty", proba, paths, 4)
    assert set(cluster[uncertain]) == {0}
    diverse = active.rank("diverse", proba, paths, 4, unit=unit)
    assert sorted(cluster[diverse]) == [0, 1, 2, 3]
    assert diverse[0] == uncertain[0]  # it starts from the most uncertain image
    m = active.margins(proba)
    assert list(m[diverse]) == sorted(m[diverse])  # shown in margin order


def test_k_centre_stays_away_from_labelled_anchors():
    unit, cluster = _clusters(10, 3)
    anchors = unit[cluster == 1][:1]
    candidates = [i for i in range(len(unit)) if cluster[i] != 0 or i == 0]
    chosen = active.k_centre(unit, candidates, 2, anchors=anchors)
    assert sorted(cluster[chosen]) == [0, 2]


def test_random_is_seeded_and_unknown_strategies_are_refused():
    proba = np.full((10, 2), 0.5)
    paths = [str(i) for i in range(10)]
    assert active.rank("random", proba, paths, 5, seed=1) == active.rank("random", proba, paths, 5, seed=1)
    assert active.rank("random", proba, paths, 5, seed=1) != active.rank("random", proba, paths, 5, seed=2)
    with pytest.raises(ValueError, match="Received: 'smart'"):
        active.rank("smart", proba, paths, 5)


def test_copies_of_labelled_images_follow_the_audit_rule(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"one")
    (tmp_path / "b.bin").write_bytes(b"two")
    (tmp_path / "c.bin").write_bytes(b"three")
    (tmp_path / "d.bin").write_bytes(b"one")  # same bytes as a
    (tmp_path / "e.bin").write_bytes(b"two, recompressed")  # features of b
    unit, _ = _clusters(1, 4)
    labelled_unit = unit[:2]
    pool_unit = np.stack([unit[2], unit[3], unit[1] * 0.999 + unit[2] * 0.001])
    pool_unit /= np.linalg.norm(pool_unit, axis=1, keepdims=True)
    pool = [str(tmp_path / "d.bin"), str(tmp_path / "c.bin"), str(tmp_path / "e.bin")]
    found = active.copies_of_labelled(pool, [str(tmp_path / "a.bin"), str(tmp_path / "b.bin")], pool_unit, labelled_unit,
                                      np.array([1, 2, 3], np.uint64), np.array([100, 200], np.uint64))
    assert found[0].startswith("exact copy of labelled image") and found[0].endswith("a.bin")
    assert found[2].startswith("near copy of labelled image") and "b.bin" in found[2]
    assert 1 not in found
