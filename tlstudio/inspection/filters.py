"""Grids of convolution kernels, each filter normalised to its own range.

(1×1 kernels, one value per filter, share a single scale instead.)

The first layer of an RGB network has 3 input channels, so each filter is a
small colour image. Deeper filters have tens or hundreds of input channels;
they are shown one input channel at a time (``mode="channel"``) or averaged
over channels (``mode="mean"``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tlstudio.api.inspect import FILTER_MODES, FiltersResult
from tlstudio.inspection.report import grid, normalise
from tlstudio.inspection.table import find_layer

def conv_kernel(model: Any, layer: str) -> np.ndarray:
    """The (Fh, Fw, D_in, K) kernel of Conv2D ``layer`` as float32 numpy.

    Raises:
        ValueError: The layer is not a 2-D convolution.
    """
    _, target = find_layer(model, layer)
    kernel = getattr(target, "kernel", None)
    if kernel is None or len(kernel.shape) != 4:
        raise ValueError(f"layer {layer!r} has no 2-D convolution kernel. Received: {type(target).__name__}")
    return np.asarray(kernel.numpy() if hasattr(kernel, "numpy") else kernel, dtype=np.float32)


def filter_tiles(kernel: np.ndarray, mode: str = "auto", channel: int = 0) -> tuple[np.ndarray, str]:
    """Per-filter tiles from a kernel: (K, Fh, Fw, 3) for RGB or (K, Fh, Fw).

    Returns:
        ``(tiles, mode)`` with ``mode`` resolved (``"auto"`` → ``"rgb"`` when
        D_in is 3, otherwise ``"mean"``).
    """
    if mode not in FILTER_MODES:
        raise ValueError(f"mode must be one of {FILTER_MODES}. Received: mode={mode!r}")
    d_in = kernel.shape[2]
    if mode == "auto":
        mode = "rgb" if d_in == 3 else "mean"
    k = np.moveaxis(kernel, 3, 0)  # (K, Fh, Fw, D_in)
    # A 1×1 kernel has one value per filter and channel: per-filter scaling would
    # paint every tile grey, so those share one scale across all filters.
    joint = kernel.shape[0] * kernel.shape[1] == 1
    if mode == "rgb":
        if d_in != 3:
            raise ValueError(f"RGB view needs 3 input channels. Received: D_in={d_in}")
        return normalise(k, axis=None if joint else (1, 2, 3)), mode
    if mode == "channel":
        if not 0 <= channel < d_in:
            raise ValueError(f"channel must be within [0, {d_in - 1}]. Received: channel={channel}")
        return normalise(k[..., channel], axis=None if joint else (1, 2)), mode
    return normalise(k.mean(axis=3), axis=None if joint else (1, 2)), mode


def filter_grid(
    model: Any, layer: str, mode: str = "auto", channel: int = 0, max_filters: int | None = None, scale: int | None = None
) -> FiltersResult:
    """A grid image of Conv2D ``layer``'s filters.

    Args:
        model: The model (nested backbones are searched).
        layer: Layer name or path.
        mode: ``"auto"``, ``"rgb"``, ``"channel"`` or ``"mean"``.
        channel: Input channel for ``mode="channel"``.
        max_filters: Show at most this many filters (the first ones).
        scale: Pixels per kernel pixel; default makes each tile about 24 px.
    """
    kernel = conv_kernel(model, layer)
    tiles, mode = filter_tiles(kernel, mode, channel)
    if max_filters:
        tiles = tiles[:max_filters]
    scale = scale or max(1, 24 // max(kernel.shape[0], kernel.shape[1]))
    cols = int(np.ceil(np.sqrt(tiles.shape[0])))
    return FiltersResult(
        layer=layer,
        image=grid(tiles, cols=cols, scale=scale),
        mode=mode,
        channel=channel if mode == "channel" else None,
        kernel_shape=tuple(int(v) for v in kernel.shape),  # type: ignore[arg-type]
        shown=int(tiles.shape[0]),
        cols=cols,
        scale=scale,
    )
