"""The Inspect page's engine jobs: the layer table, filters, activations, Grad-CAM and the calculator's check.

Each job names its model with a :class:`~tlstudio.jobs.models.ModelRef` and
gets it from the engine's model cache (:func:`~tlstudio.jobs.models.keras_model`),
so clicking through layers of one model loads it once. Results are plain
data defined here or in the light :mod:`tlstudio.inspection.formulas` and
:mod:`tlstudio.inspection.calculator` modules: the GUI unpickles them without
importing TensorFlow.

Keras and the heavy inspection modules are imported inside the functions
only. None of these jobs changes process-wide state: they may run alongside
other jobs. Each checks its cancel token before and after getting the model
and returns None when it was cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tlstudio.cancel import CancelToken
from tlstudio.events import Progress, Sink
from tlstudio.inspection.calculator import CalcSpec, CrossCheck
from tlstudio.inspection.formulas import LayerTable
from tlstudio.jobs.models import ModelRef

FILTER_MODES = ("auto", "rgb", "channel", "mean")
"""How the filters job draws kernels (see :func:`tlstudio.inspection.filters.filter_tiles`)."""


# --------------------------------------------------------------------------- configs


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
            (see :func:`tlstudio.inspection.calculator.calculate`) instead of
            flooring them as Keras does.
    """

    spec: CalcSpec
    strict: bool = False


# --------------------------------------------------------------------------- results


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
    """

    layer: str
    image: np.ndarray
    mode: str
    channel: int | None
    kernel_shape: tuple[int, int, int, int]
    shown: int


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
    """

    layer: str
    shape: tuple
    stats: tuple[MapStat, ...]
    image: np.ndarray


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
    """

    layer: str
    class_index: int
    probability: float
    probabilities: np.ndarray
    heatmap: np.ndarray
    overlay: np.ndarray


# --------------------------------------------------------------------------- jobs


def _model(ref: ModelRef, sink: Sink, stage: str) -> Any:
    from tlstudio.jobs.models import keras_model

    sink(Progress(stage, 0, 2, f"Getting {ref.label}…"))
    model = keras_model(ref)
    sink(Progress(stage, 1, 2, f"Computing with {model.name}…"))
    return model


def _image(path: str) -> np.ndarray:
    from tlstudio.imaging import load_image

    return load_image(path)


def inspect_table(config: InspectTableConfig, *, sink: Sink, cancel: CancelToken) -> LayerTable | None:
    """The layer table of ``config.model``: every layer's shapes, settings, parameters and formulas.

    Returns:
        The :class:`~tlstudio.inspection.formulas.LayerTable` (plain dataclasses), or None when cancelled.
    """
    if cancel.cancelled:
        return None
    model = _model(config.model, sink, "inspect")
    if cancel.cancelled:
        return None
    from tlstudio.inspection.table import layer_table

    table = layer_table(model)
    sink(Progress("inspect", 2, 2, f"{len(table.rows)} layers"))
    return table


def filters(config: FiltersConfig, *, sink: Sink, cancel: CancelToken) -> FiltersResult | None:
    """The kernels of convolution ``config.layer`` as a grid, or None when cancelled.

    Raises:
        ConfigError: ``config.mode`` is not one of :data:`FILTER_MODES`.
        KeyError, ValueError: the layer is missing or is not a convolution.
    """
    if config.mode not in FILTER_MODES:
        from tlstudio.errors import ConfigError

        raise ConfigError(f"the filter mode must be one of {', '.join(FILTER_MODES)}. Received: mode={config.mode!r}")
    if cancel.cancelled:
        return None
    model = _model(config.model, sink, "filters")
    if cancel.cancelled:
        return None
    from tlstudio.inspection.filters import filter_grid

    g = filter_grid(model, config.layer, mode=config.mode, channel=config.channel, max_filters=config.max_filters)
    return FiltersResult(
        layer=g.layer, image=np.asarray(g.image, dtype=np.uint8), mode=g.mode, channel=g.channel,
        kernel_shape=tuple(int(v) for v in g.kernel_shape), shown=int(g.shown),  # type: ignore[arg-type]
    )


def activations(config: ActivationsConfig, *, sink: Sink, cancel: CancelToken) -> ActivationsResult | None:
    """The feature maps of ``config.layer`` for the image at ``config.image_path``, or None when cancelled.

    Raises:
        DataError: the image cannot be read.
        KeyError: the model has no such layer.
    """
    if cancel.cancelled:
        return None
    image = _image(config.image_path)
    model = _model(config.model, sink, "activations")
    if cancel.cancelled:
        return None
    from tlstudio.inspection.activations import activation_maps

    maps = activation_maps(model, image, [config.layer], max_maps=config.max_maps)[config.layer]
    return ActivationsResult(
        layer=maps.layer,
        shape=tuple(None if v is None else int(v) for v in maps.shape),
        stats=tuple(MapStat(int(s.channel), float(s.mean), float(s.max), float(s.frac_zero)) for s in maps.stats),
        image=np.asarray(maps.image, dtype=np.uint8),
    )


def gradcam(config: GradCamConfig, *, sink: Sink, cancel: CancelToken) -> GradCamResult | None:
    """Grad-CAM of ``config.class_index`` for the image at ``config.image_path``, or None when cancelled.

    Raises:
        DataError: the image cannot be read.
        ValueError: the model is not a classifier, or the layer has no spatial maps.
    """
    if cancel.cancelled:
        return None
    image = _image(config.image_path)
    model = _model(config.model, sink, "gradcam")
    if cancel.cancelled:
        return None
    from tlstudio.inspection.gradcam import grad_cam

    from tlstudio.jobs.models import model_lock

    with model_lock(model):  # Grad-CAM runs the output layer linearly for a moment
        cam = grad_cam(model, image, config.class_index, config.layer or None)
    return GradCamResult(
        layer=cam.layer,
        class_index=int(cam.class_index),
        probability=float(cam.probability),
        probabilities=np.asarray(cam.probabilities, dtype=np.float32),
        heatmap=np.asarray(cam.heatmap, dtype=np.float32),
        overlay=np.asarray(cam.overlay, dtype=np.uint8),
    )


def cross_check(config: CrossCheckConfig, *, sink: Sink, cancel: CancelToken) -> CrossCheck | None:
    """Build ``config.spec`` in Keras and compare shapes and parameters, or None when cancelled.

    Raises:
        CalculatorError: the network is impossible (with ``strict``: an output size is not a whole number).
    """
    if cancel.cancelled:
        return None
    from tlstudio.inspection.calculator import cross_check as check

    sink(Progress("cross_check", 0, 1, "Building the network in Keras…"))
    return check(config.spec, strict=config.strict)
