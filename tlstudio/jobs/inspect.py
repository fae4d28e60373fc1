"""The Inspect page's engine jobs: the layer table, filters, activations, Grad-CAM and the calculator's check.

Each job names its model with a :class:`~tlstudio.api.model_ref.ModelRef` and
gets it from the engine's model cache (:func:`~tlstudio.model_cache.keras_model`),
so clicking through layers of one model loads it once. Results are plain
data defined in :mod:`tlstudio.api.inspect` or in the light :mod:`tlstudio.shapes.formulas` and
:mod:`tlstudio.shapes.calculator` modules: the GUI unpickles them without
importing TensorFlow.

Keras and the heavy inspection modules are imported inside the functions
only. None of these jobs changes process-wide state: they may run alongside
other jobs. Each checks its cancel token before and after getting the model
and returns None when it was cancelled.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from tlstudio.api.inspect import FILTER_MODES, ActivationsConfig, ActivationsResult, CrossCheckConfig, FiltersConfig, FiltersResult, GradCamConfig, GradCamResult, InspectTableConfig, MapStat
from tlstudio.api.model_ref import ModelRef
from tlstudio.cancel import CancelToken
from tlstudio.events import Progress, Sink
from tlstudio.shapes.calculator import CrossCheck
from tlstudio.shapes.formulas import LayerTable


# --------------------------------------------------------------------------- configs


# --------------------------------------------------------------------------- results


# --------------------------------------------------------------------------- jobs


def _model(ref: ModelRef, sink: Sink, stage: str) -> Any:
    from tlstudio.model_cache import keras_model

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
        The :class:`~tlstudio.shapes.formulas.LayerTable` (plain dataclasses), or None when cancelled.
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
    return dataclasses.replace(g, image=np.asarray(g.image, dtype=np.uint8))


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

    from tlstudio.model_cache import model_lock

    with model_lock(model):  # Grad-CAM runs the output layer linearly for a moment
        cam = grad_cam(model, image, config.class_index, config.layer or None)
    return dataclasses.replace(
        cam,
        class_index=int(cam.class_index),
        probability=float(cam.probability),
        probabilities=np.asarray(cam.probabilities, dtype=np.float32),
        heatmap=np.asarray(cam.heatmap, dtype=np.float32),
        overlay=np.asarray(cam.overlay, dtype=np.uint8),
        cam=None,  # the raw map stays in the engine
    )


def cross_check(config: CrossCheckConfig, *, sink: Sink, cancel: CancelToken) -> CrossCheck | None:
    """Build ``config.spec`` in Keras and compare shapes and parameters, or None when cancelled.

    Raises:
        CalculatorError: the network is impossible (with ``strict``: an output size is not a whole number).
    """
    if cancel.cancelled:
        return None
    from tlstudio.shapes.calculator import cross_check as check

    sink(Progress("cross_check", 0, 1, "Building the network in Keras…"))
    return check(config.spec, strict=config.strict)
