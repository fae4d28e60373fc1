"""The Inspect page jobs' contracts: configs and results of the layer table, filters, activations, Grad-CAM and the calculator's check. Keras-free."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tlstudio.api.model_ref import ModelRef
from tlstudio.shapes.calculator import CalcSpec


FILTER_MODES = ("auto", "rgb", "channel", "mean")
"""How the filters job draws kernels (see :func:`tlstudio.inspection.filters.filter_tiles`)."""


@dataclass(frozen=True)
class InspectTableConfig:
    """The layer table of one model.

    Attributes:
        model: The model to list.
    """

    model: ModelRef


@dataclass(frozen=True)
class FiltersConfig:
    """The kernels of one convolution, as a grid of tiles.

    Attributes:
        model: The model holding the layer.
        layer: Layer name or path (``"backbone/block1_conv1"``).
        mode: One of :data:`FILTER_MODES`.
        channel: Input channel shown when ``mode`` is ``"channel"``.
        max_filters: Draw at most this many filters (the first ones).
    """

    model: ModelRef
    layer: str
    mode: str = "auto"
    channel: int = 0
    max_filters: int = 256


@dataclass(frozen=True)
class ActivationsConfig:
    """The feature maps of one layer for one image.

    Attributes:
        model: The model holding the layer.
        image_path: An image file (resized to the model input).
        layer: Layer name or path.
        max_maps: Maps drawn in the grid.
    """

    model: ModelRef
    image_path: str
    layer: str
    max_maps: int = 64


@dataclass(frozen=True)
class GradCamConfig:
    """Grad-CAM of one class for one image.

    Attributes:
        model: A classifier (one score per class).
        image_path: An image file.
        class_index: The class to explain; None explains the predicted class.
        layer: Layer name or path whose maps are weighted; ``""`` uses the last convolution.
    """

    model: ModelRef
    image_path: str
    class_index: int | None = None
    layer: str = ""


@dataclass(frozen=True)
class CrossCheckConfig:
    """Build the calculator's network in Keras and compare it row by row.

    Attributes:
        spec: The calculator's network.
        strict: Refuse a network whose output sizes are not whole numbers
            (see :func:`tlstudio.shapes.calculator.calculate`) instead of
            flooring them as Keras does.
    """

    spec: CalcSpec
    strict: bool = False


@dataclass(frozen=True)
class FiltersResult:
    """A grid of convolution kernels.

    Attributes:
        layer: Layer name or path as requested.
        image: uint8 grid, (H, W, 3) for RGB kernels or (H, W) otherwise.
        mode: The mode drawn: ``"rgb"``, ``"channel"`` or ``"mean"`` (``"auto"`` resolved).
        channel: Input channel shown (``mode="channel"``), else None.
        kernel_shape: ``(Fh, Fw, D_in, K)``.
        shown: Filters in the grid.
        cols: Grid columns (0 when not recorded).
        scale: Pixels per kernel pixel (0 when not recorded).
    """

    layer: str
    image: np.ndarray
    mode: str
    channel: int | None
    kernel_shape: tuple[int, int, int, int]
    shown: int
    cols: int = 0
    scale: int = 0


@dataclass(frozen=True)
class MapStat:
    """Statistics of one feature map.

    Attributes:
        channel: The map's channel in the layer output.
        mean: Mean activation.
        max: Largest activation.
        frac_zero: Fraction of values that are exactly zero.
    """

    channel: int
    mean: float
    max: float
    frac_zero: float


@dataclass(frozen=True)
class ActivationsResult:
    """Feature maps of one layer, brightest first.

    Attributes:
        layer: Layer name or path as requested.
        shape: The layer's output shape for one image, e.g. ``(56, 56, 256)``.
        stats: One :class:`MapStat` per map (all maps), highest mean first.
        image: uint8 grid of the first ``max_maps`` maps, each scaled to its own range.
        maps: (N, H, W) float32 maps in the order of ``stats``; None in the
            job's result, which sends only the grid to the GUI.
    """

    layer: str
    shape: tuple
    stats: tuple[MapStat, ...]
    image: np.ndarray | None
    maps: np.ndarray | None = None


@dataclass(frozen=True)
class GradCamResult:
    """Where the model looked for one class.

    Attributes:
        layer: The layer the maps come from.
        class_index: The class explained.
        probability: The model's probability for that class.
        probabilities: Every class probability.
        heatmap: (H, W) float32 in 0..1 at the image's size.
        overlay: (H, W, 3) uint8 image with the heatmap blended over it.
        cam: The raw map at the layer's resolution, before resizing; None in
            the job's result, which the GUI does not need it in.
    """

    layer: str
    class_index: int
    probability: float
    probabilities: np.ndarray
    heatmap: np.ndarray
    overlay: np.ndarray
    cam: np.ndarray | None = None
