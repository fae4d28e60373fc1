"""Which unlabelled images to label next: the ranking of the active-labelling loop.

* **uncertainty**: margin sampling (Scheffer et al., 2001): the smallest
  difference between the two highest class probabilities first. A margin of
  0 is a coin toss between two classes; ties are broken by the path, so the
  order is reproducible.
* **diverse**: the :data:`POOL_FACTOR` x N most uncertain images, then greedy
  k-centre (Sener & Savarese, 2018, "core-set") on their standardised
  embeddings: start from the most uncertain image, then repeatedly add the
  candidate farthest (cosine distance) from everything chosen so far and from
  the labelled images. One batch then does not hold twenty near-copies of the
  same unsure picture. The batch is returned in margin order.
* **random**: a seeded permutation, for comparison.

Duplicates of labelled images are found with the dataset audit's rule
(:mod:`tlstudio.analysis.audit`): the same bytes, or a perceptual hash within
its distance confirmed by features, or features at or above its similarity.

Plain NumPy: no Keras.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from tlstudio.analysis import audit as audit_rule

POOL_FACTOR = 4
"""``diverse`` spreads its batch over this many times N of the most uncertain candidates."""


def margins(proba: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 probability of each row (1 for a single class)."""
    p = np.asarray(proba, np.float64)
    if p.shape[1] < 2:
        return np.ones(len(p))
    top = np.sort(p, axis=1)[:, -2:]
    return top[:, 1] - top[:, 0]


def by_margin(proba: np.ndarray, paths: Sequence[str]) -> np.ndarray:
    """Row indices, smallest margin first (ties by path)."""
    m = margins(proba)
    return np.array(sorted(range(len(m)), key=lambda i: (round(float(m[i]), 12), paths[i])), np.int64)


def k_centre(unit: np.ndarray, candidates: Sequence[int], k: int, *, anchors: np.ndarray | None = None) -> list[int]:
    """Greedy k-centre: ``k`` of ``candidates`` (rows of ``unit``), each the farthest from those already chosen.

    Args:
        unit: Unit-length embeddings (cosine similarity = dot product).
        candidates: Row indices to choose from, the first is taken first.
        k: How many to choose.
        anchors: Unit-length embeddings already covered (the labelled images); None for none.

    Returns:
        The chosen row indices, in the order they were chosen.
    """
    candidates = list(candidates)
    if not candidates or k <= 0:
        return []
    x = unit[candidates]
    chosen = [0]
    nearest = 1.0 - x @ x[0]
    if anchors is not None and len(anchors):
        nearest = np.minimum(nearest, (1.0 - x @ anchors.T).min(axis=1))
    nearest[0] = -np.inf
    while len(chosen) < min(k, len(candidates)):
        i = int(np.argmax(nearest))
        chosen.append(i)
        nearest = np.minimum(nearest, 1.0 - x @ x[i])
        nearest[chosen] = -np.inf
    return [candidates[i] for i in chosen]


def rank(strategy: str, proba: np.ndarray, paths: Sequence[str], n: int, *, unit: np.ndarray | None = None,
         anchors: np.ndarray | None = None, seed: int = 0) -> list[int]:
    """The ``n`` rows to label, in the order to show them.

    Raises:
        ValueError: an unknown strategy, or ``diverse`` without embeddings.
    """
    n = min(int(n), len(paths))
    if strategy == "random":
        return [int(i) for i in np.random.default_rng(seed).permutation(len(paths))[:n]]
    order = by_margin(proba, paths)
    if strategy == "uncertainty":
        return [int(i) for i in order[:n]]
    if strategy == "diverse":
        if unit is None:
            raise ValueError("the diverse strategy needs the embeddings. Received: unit=None")
        chosen = set(k_centre(unit, order[: POOL_FACTOR * n], n, anchors=anchors))
        return [int(i) for i in order if i in chosen]
    raise ValueError(f"strategy must be one of uncertainty, diverse, random. Received: {strategy!r}")


def copies_of_labelled(
    pool_paths: Sequence[str], labelled_paths: Sequence[str], pool_unit: np.ndarray, labelled_unit: np.ndarray,
    pool_hashes: np.ndarray, labelled_hashes: np.ndarray, *, phash_distance: int = audit_rule.PHASH_DISTANCE,
    similarity: float = audit_rule.NEAR_SIMILARITY,
) -> dict[int, str]:
    """Pool rows that are exact or near copies of a labelled image: row -> the reason, naming the image.

    The audit's rule, between the two sets: the same bytes, or perceptual
    hashes within ``phash_distance`` bits confirmed by a feature cosine of
    :data:`~tlstudio.analysis.audit.HASH_CONFIRM`, or a feature cosine of at least ``similarity``.
    ``*_unit`` are the deepest cut's features, standardised together and unit length.
    """
    found: dict[int, str] = {}
    if not len(pool_paths) or not len(labelled_paths):
        return found
    by_content = {}
    for path in labelled_paths:
        by_content.setdefault(audit_rule.content_hash(path), path)
    for i, path in enumerate(pool_paths):
        twin = by_content.get(audit_rule.content_hash(path))
        if twin is not None:
            found[i] = f"exact copy of labelled image {twin}"
    for start in range(0, len(pool_paths), 1024):
        sims = pool_unit[start : start + 1024] @ labelled_unit.T
        bits = np.bitwise_count(pool_hashes[start : start + 1024, None] ^ labelled_hashes[None, :])
        near = (sims >= similarity) | ((bits <= phash_distance) & (sims >= audit_rule.HASH_CONFIRM))
        for r in np.flatnonzero(near.any(axis=1)):
            i = start + int(r)
            if i in found:
                continue
            j = int(np.argmax(np.where(near[r], sims[r], -np.inf)))
            found[i] = f"near copy of labelled image {labelled_paths[j]} (similarity {sims[r, j]:.3f})"
    return found


def standardised_together(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a`` and ``b`` standardised per channel over both, unit length (the audit's :func:`normalised`)."""
    both = audit_rule.normalised(np.concatenate([np.asarray(a, np.float32), np.asarray(b, np.float32)]))
    return both[: len(a)], both[len(a) :]
