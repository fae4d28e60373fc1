"""A 2D map of the pooled backbone features: PCA, then t-SNE (scikit-learn).

The features of every image (one cut of the pooled feature cache,
:mod:`tlstudio.features.pooled_cache`) are standardised per channel, reduced
by PCA to at most :data:`PCA_COMPONENTS` dimensions, then laid out in 2D by
``sklearn.manifold.TSNE`` (PCA initialisation, a fixed seed, perplexity
``min(30, (N - 1) / 3)``).

t-SNE costs O(N log N) with a large constant: on two CPU cores about a
minute for 5,000 images. Above :data:`TSNE_LIMIT` images (or below
:data:`TSNE_MIN` images, where it is meaningless) the map is the first two
PCA components alone, and the result says so (``method="pca"``).

Light at import: NumPy only; scikit-learn is imported inside the function.
"""

from __future__ import annotations

import logging

import numpy as np

from tlstudio.api.embed import METHODS

logger = logging.getLogger(__name__)

PCA_COMPONENTS = 50
"""Dimensions kept by PCA before t-SNE."""
TSNE_LIMIT = 5000
"""Above this many images the map is PCA alone (t-SNE would take minutes)."""
TSNE_MIN = 8
"""Below this many images the map is PCA alone."""


def project_2d(features: np.ndarray, *, method: str = "auto", seed: int = 0, tsne_limit: int = TSNE_LIMIT) -> tuple[np.ndarray, str]:
    """``[N, 2]`` float32 coordinates of ``[N, C]`` features, and the method used.

    Args:
        features: One row per image.
        method: ``"auto"`` (t-SNE from :data:`TSNE_MIN` up to ``tsne_limit``
            images, else PCA), ``"tsne"`` or ``"pca"``.
        seed: Seed of t-SNE (the same seed gives the same map).
        tsne_limit: The ``"auto"`` limit.

    Returns:
        ``(coords, "tsne" | "pca")``; coordinates are scaled into [-1, 1].

    Raises:
        ValueError: an unknown method, or features that are not a 2-D array.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}. Received: {method!r}")
    x = np.asarray(features, np.float32)
    if x.ndim != 2:
        raise ValueError(f"features must be a [N, C] array. Received: shape {x.shape}")
    n = x.shape[0]
    if n == 0:
        return np.zeros((0, 2), np.float32), "pca"
    x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-6)
    use_tsne = method == "tsne" or (method == "auto" and TSNE_MIN <= n <= tsne_limit)
    if n < 3:
        coords, used = np.pad(x[:, :2], ((0, 0), (0, max(0, 2 - x.shape[1])))), "pca"
    else:
        from sklearn.decomposition import PCA

        k = int(min(PCA_COMPONENTS if use_tsne else 2, n - 1, x.shape[1]))
        reduced = PCA(n_components=k, random_state=seed).fit_transform(x)
        if use_tsne and n >= 4:
            from sklearn.manifold import TSNE

            perplexity = float(min(30.0, max(1.0, (n - 1) / 3)))
            coords = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed,
                          learning_rate="auto").fit_transform(reduced)
            used = "tsne"
        else:
            coords = reduced[:, :2] if reduced.shape[1] >= 2 else np.pad(reduced, ((0, 0), (0, 2 - reduced.shape[1])))
            used = "pca"
    coords = np.asarray(coords, np.float32)
    coords -= coords.mean(axis=0)
    scale = float(np.abs(coords).max()) or 1.0
    return coords / scale, used
