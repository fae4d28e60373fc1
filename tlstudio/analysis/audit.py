"""The dataset audit's findings, computed from files, perceptual hashes and pooled features.

Thresholds (the defaults of :class:`tlstudio.api.audit.AuditConfig`):

* **Exact duplicates**: the same bytes (a BLAKE2b hash of the file content).
* **Near duplicates**: two images are a near pair when their 64-bit
  perceptual hashes (``imagehash.phash``, a DCT of the 32x32 grey image)
  differ in at most :data:`PHASH_DISTANCE` = 6 bits, which catches resized,
  recompressed and lightly retouched copies, and their features agree to a
  cosine similarity of at least :data:`HASH_CONFIRM` = 0.9 (plain pictures,
  such as the sample dataset's flat shapes, share a hash with different
  pictures of the same layout: two circles of other colours scored 0.76),
  **or** when the cosine
  similarity of their pooled features at the backbone's last cut (the most
  invariant to resizing and recompression), standardised per channel over the
  dataset, is at least :data:`NEAR_SIMILARITY` = 0.98, which catches copies
  the hash misses (small crops, colour changes). Measured on generated
  pictures with a random-weights VGG16: planted resized/recompressed copies
  score 0.99+ and 0-2 bits, distinct pictures at most 0.93 and 14+ bits;
  earlier cuts give distinct pictures 0.98+, which is why they are not used. Pairs are joined
  into groups (connected components); a group that only repeats an exact
  group is not listed again. A group's ``similarity`` is the lowest feature
  cosine similarity between two of its members.
* **Leaks**: a group whose images are in more than one split.
* **Label issues**: confident learning (Northcutt et al., 2021) on the
  out-of-fold probabilities, by ``cleanlab.filter.find_label_issues``, joined
  with every image whose out-of-fold prediction is another class (on small
  datasets the confident joint alone missed one of three planted flips in
  about half of our generated cases), ranked by self-confidence; the score
  is ``1 - p(given label)``.
* **Outliers**: the mean cosine distance to the :data:`K_NEIGHBOURS` = 5
  nearest images in standardised feature space; an image is an outlier when
  its score is above the median by more than 3 robust standard deviations
  (1.4826 x the median absolute deviation). Pooled features average the
  picture away (a grey "image not found" placeholder was among the *least*
  unusual ants-bees photos by this score), so the pixels are checked too:
  :mod:`tlstudio.analysis.pixel_outliers` (colourfulness, flat share,
  colours).
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from typing import Mapping, Sequence

import numpy as np

from tlstudio.cancel import CancelToken
from tlstudio.api.audit import DuplicateGroup, Imbalance, LabelIssue, Outlier

logger = logging.getLogger(__name__)

PHASH_DISTANCE = 6
NEAR_SIMILARITY = 0.98
HASH_CONFIRM = 0.9
K_NEIGHBOURS = 5
OUTLIER_MADS = 3.0
_BLOCK = 1024


def content_hash(path: str) -> str:
    """BLAKE2b of the file's bytes, read in 1 MiB blocks."""
    digest = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _phash(image) -> np.uint64:
    import imagehash

    bits = imagehash.phash(image).hash.flatten()
    return np.uint64(int("".join("1" if b else "0" for b in bits), 2))


def perceptual_hashes(paths: Sequence[str], cancel: CancelToken | None = None) -> np.ndarray:
    """The 64-bit ``imagehash.phash`` of every image as ``uint64`` (read through :mod:`tlstudio.imaging`)."""
    from tlstudio.imaging import load_rgb

    out = np.zeros(len(paths), np.uint64)
    for i, path in enumerate(paths):
        if cancel is not None and cancel.cancelled:
            break
        out[i] = _phash(load_rgb(path))
    return out


def hashes_and_pixel_statistics(paths: Sequence[str], cancel: CancelToken | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Every image's perceptual hash and :func:`~tlstudio.analysis.pixel_outliers.pixel_statistics`, one decode each.

    Returns:
        ``[N]`` ``uint64`` hashes and ``[N, 3]`` statistics (NaN rows for images not reached when cancelled).
    """
    from tlstudio.analysis.pixel_outliers import STATISTICS, pixel_statistics
    from tlstudio.imaging import load_rgb

    hashes = np.zeros(len(paths), np.uint64)
    stats = np.full((len(paths), len(STATISTICS)), np.nan)
    for i, path in enumerate(paths):
        if cancel is not None and cancel.cancelled:
            break
        image = load_rgb(path)
        hashes[i] = _phash(image)
        stats[i] = pixel_statistics(image)
    return hashes, stats


def normalised(features: np.ndarray) -> np.ndarray:
    """Features standardised per channel over the dataset, then scaled to unit length (cosine = dot)."""
    x = np.asarray(features, np.float32)
    x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-6)
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)


def _pairs_within(values: np.ndarray, test) -> list[tuple[int, int]]:
    """Index pairs ``i < j`` where ``test(block_i, all)`` is true, computed in row blocks."""
    pairs = []
    n = len(values)
    for start in range(0, n, _BLOCK):
        hits = test(values[start : start + _BLOCK], values)
        rows, cols = np.nonzero(hits)
        rows = rows + start
        keep = rows < cols
        pairs += list(zip(rows[keep].tolist(), cols[keep].tolist()))
    return pairs


def near_pairs(hashes: np.ndarray, unit: np.ndarray, phash_distance: int, similarity: float,
               hash_confirm: float = HASH_CONFIRM) -> list[tuple[int, int]]:
    """Pairs at or above ``similarity`` (cosine of ``unit`` rows), or within ``phash_distance`` bits
    and at or above ``hash_confirm``."""
    by_hash = _pairs_within(hashes, lambda a, b: np.bitwise_count(a[:, None] ^ b[None, :]) <= phash_distance)
    confirmed = [(i, j) for i, j in by_hash if float(unit[i] @ unit[j]) >= hash_confirm]
    by_features = _pairs_within(unit, lambda a, b: a @ b.T >= similarity)
    return sorted(set(confirmed) | set(by_features))


def _components(n: int, pairs: Sequence[tuple[int, int]]) -> list[list[int]]:
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(n):
        groups[find(i)].append(i)
    return [sorted(g) for g in groups.values() if len(g) > 1]


def _group(kind: str, members: Sequence[int], paths: Sequence[str], splits: Sequence[str], similarity: float) -> DuplicateGroup:
    members = sorted(members, key=lambda i: paths[i])
    split_of = tuple(splits[i] for i in members)
    return DuplicateGroup(kind, tuple(paths[i] for i in members), split_of, len(set(split_of)) > 1, float(similarity))


def duplicate_groups(
    paths: Sequence[str],
    splits: Sequence[str],
    content: Sequence[str],
    hashes: np.ndarray,
    unit: np.ndarray,
    *,
    phash_distance: int = PHASH_DISTANCE,
    similarity: float = NEAR_SIMILARITY,
) -> list[DuplicateGroup]:
    """Exact groups (same content hash), then near groups; leaks first within each kind."""
    by_content: dict[str, list[int]] = defaultdict(list)
    for i, h in enumerate(content):
        by_content[h].append(i)
    exact = [_group("exact", g, paths, splits, 1.0) for g in by_content.values() if len(g) > 1]
    near = []
    for members in _components(len(paths), near_pairs(hashes, unit, phash_distance, similarity)):
        if len({content[i] for i in members}) == 1:
            continue  # only copies of one file: already an exact group
        sims = unit[members] @ unit[members].T
        near.append(_group("near", members, paths, splits, float(sims[np.triu_indices(len(members), 1)].min())))

    def order(g: DuplicateGroup):
        return (not g.cross_split, -g.similarity, g.paths)

    return sorted(exact, key=order) + sorted(near, key=order)


def label_issues(
    oof_proba: np.ndarray, labels: np.ndarray, paths: Sequence[str], class_names: Sequence[str]
) -> list[LabelIssue]:
    """Confident learning on out-of-fold probabilities: the suspects, most suspicious first."""
    from cleanlab.filter import find_label_issues

    labels = np.asarray(labels, np.int64)
    proba = np.asarray(oof_proba, np.float64)
    proba = proba / np.clip(proba.sum(axis=1, keepdims=True), 1e-12, None)
    confident = set(find_label_issues(labels, proba, n_jobs=1).nonzero()[0].tolist())
    disagree = set(np.flatnonzero(np.argmax(proba, axis=1) != labels).tolist())
    ranked = sorted(confident | disagree, key=lambda i: (proba[i, labels[i]], i))  # self-confidence, lowest first
    issues = []
    for i in ranked:
        given = int(labels[i])
        scores = proba[i].copy()
        scores[given] = -1.0
        suggested = int(np.argmax(scores))
        issues.append(LabelIssue(paths[i], class_names[given], class_names[suggested], float(1.0 - proba[i, given])))
    return issues


RANK_LIMIT = 20
"""With weak features, this many least certain images are listed (ranked, not flagged)."""


def label_suspects(oof_proba: np.ndarray, labels: np.ndarray, paths: Sequence[str], class_names: Sequence[str],
                   oof_accuracy: float) -> tuple[list[LabelIssue], str]:
    """The label suspects, and a note when the out-of-fold model is too weak to flag anything.

    The features separate the classes well when the out-of-fold accuracy is
    at least halfway from chance (always answering the largest class) to 1.
    Then confident learning flags suspects (:func:`label_issues`). Otherwise
    its flags mean little: the :data:`RANK_LIMIT` images the model is least
    sure of are ranked instead, and the note says why.
    """
    labels = np.asarray(labels, np.int64)
    counts = np.bincount(labels, minlength=len(class_names)) if len(labels) else np.zeros(1)
    chance = float(counts.max() / max(1, counts.sum()))
    if oof_accuracy >= chance + 0.5 * (1.0 - chance):
        return label_issues(oof_proba, labels, paths, class_names), ""
    proba = np.asarray(oof_proba, np.float64)
    proba = proba / np.clip(proba.sum(axis=1, keepdims=True), 1e-12, None)
    own = proba[np.arange(len(labels)), labels]
    ranked = sorted(range(len(labels)), key=lambda i: (own[i], i))[:RANK_LIMIT]
    issues = []
    for i in ranked:
        scores = proba[i].copy()
        scores[labels[i]] = -1.0
        issues.append(LabelIssue(paths[i], class_names[labels[i]], class_names[int(np.argmax(scores))], float(1.0 - own[i])))
    note = (f"The features separate these classes only to {oof_accuracy:.0%} (out-of-fold accuracy; always answering "
            f"the largest class scores {chance:.0%}): label suggestions are unreliable, so the {len(issues)} images "
            "the model is least sure of are ranked, not flagged.")
    return issues, note


def outliers(unit: np.ndarray, paths: Sequence[str], *, k: int = K_NEIGHBOURS, limit: int = 20) -> list[Outlier]:
    """Images whose mean cosine distance to their ``k`` nearest neighbours is unusually large, strangest first."""
    n = len(paths)
    if n < 3:
        return []
    k = min(k, n - 1)
    scores = np.zeros(n, np.float32)
    for start in range(0, n, _BLOCK):
        dist = 1.0 - unit[start : start + _BLOCK] @ unit.T
        for r in range(dist.shape[0]):
            dist[r, start + r] = np.inf  # not its own neighbour
        nearest = np.partition(dist, k - 1, axis=1)[:, :k]
        scores[start : start + len(nearest)] = nearest.mean(axis=1)
    median = float(np.median(scores))
    spread = 1.4826 * float(np.median(np.abs(scores - median))) or 1e-6
    flagged = np.flatnonzero(scores > median + OUTLIER_MADS * spread)
    flagged = flagged[np.argsort(-scores[flagged], kind="stable")][:limit]
    return [Outlier(paths[i], float(scores[i])) for i in flagged]


def imbalance(counts: Mapping[str, int]) -> Imbalance:
    """Counts per class, largest over smallest, and what to do about it."""
    counts = dict(counts)
    largest = max(counts, key=counts.get)
    smallest = min(counts, key=counts.get)
    ratio = counts[largest] / max(counts[smallest], 1)
    if ratio < 1.5:
        advice = "The classes are balanced; nothing to do."
    elif ratio < 3:
        advice = (
            f"Mildly imbalanced ('{largest}' has {ratio:.1f}x the images of '{smallest}'): keep class weights on "
            "(the default) and read per-class recall, not only accuracy."
        )
    else:
        advice = (
            f"Strongly imbalanced ('{largest}' has {ratio:.1f}x the images of '{smallest}'): collect more "
            f"'{smallest}' images if you can, keep class weights on (the default), and judge the model by "
            "per-class recall or balanced accuracy; plain accuracy rewards always answering the large class."
        )
    return Imbalance(counts, float(ratio), advice)
