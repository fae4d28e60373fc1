"""The Model page's job: describe a backbone's layers as a plain :class:`~tlstudio.layout.BackboneLayout`.

The engine builds the backbone once (random weights: the counts do not
depend on them; the model cache of :mod:`tlstudio.model_cache` keeps it for
the next job on the same backbone and size) and returns layer names, blocks
and parameter counts. The GUI then answers every freeze and head question
with the Keras-free arithmetic of :mod:`tlstudio.layout`.
"""

from __future__ import annotations

import dataclasses
import math

from tlstudio.cancel import CancelToken
from tlstudio.config import ModelConfig
from tlstudio.events import LogMessage, Progress, Sink
from tlstudio.layout import BackboneLayout, LayerInfo, frozen_or_all


def describe_backbone(config: ModelConfig, *, sink: Sink, cancel: CancelToken) -> BackboneLayout:
    """List the layers of ``config.backbone`` at ``config.image_size`` (the job ``"describe_backbone"``).

    Only ``backbone``, ``image_size``, ``cut`` and ``freeze`` of ``config`` matter:
    with a ``cut``, only the layers up to and including it are listed (the rest
    is not part of the model), and the output shape is the cut's. The layout
    also carries every cut point of the backbone for a choice list. BatchNorm
    layers are listed with all their parameters as ``fixed``: the engine keeps
    them frozen in inference mode whatever the selection. A freeze selection
    that does not fit this backbone (made for another one) leaves every layer
    frozen; the layout's ``note`` and a warning :class:`~tlstudio.events.LogMessage`
    say so.

    Raises:
        ConfigError: unknown backbone, an image size it refuses or a cut that is not a cut point.
    """
    import keras

    from tlstudio import backbones
    from tlstudio.api.model_ref import ModelRef
    from tlstudio.model_cache import keras_model

    spec = backbones.get_spec(config.backbone)
    size = backbones.resolve_image_size(config.backbone, config.image_size)
    backbones.check_cut(spec.key, config.cut)
    sink(Progress("layers", 0, 0, f"Building {spec.display_name} at {size} px to list its layers…"))
    whole = keras_model(ModelRef(backbone=spec.key, image_size=size, weights="none"))
    backbone = backbones.truncate_backbone(whole, spec.key, config.cut)
    members = [layer for layer in backbone.layers if not isinstance(layer, keras.layers.InputLayer)]
    names = tuple(layer.name for layer in members)
    layers: list[LayerInfo] = []
    for layer, block in zip(members, backbones.assign_blocks(names, spec)):
        total = sum(int(math.prod(w.shape)) for w in layer.weights)
        if not total:
            continue
        kind = type(layer).__name__
        if isinstance(layer, keras.layers.BatchNormalization):
            layers.append(LayerInfo(layer.name, kind, block, 0, total))
        else:
            layers.append(LayerInfo(layer.name, kind, block, total, 0))
    order = tuple(b for b in spec.blocks if any(layer.block == b for layer in layers))
    shape = tuple(int(d) for d in backbone.output.shape[1:])
    layout = BackboneLayout(
        spec.key,
        int(size),
        tuple(layers),
        order,
        shape,  # type: ignore[arg-type]
        names=names,
        cut=config.cut,
        cut_points=backbones.cut_points(spec.key),
    )
    frozen, note = frozen_or_all(layout, config.freeze)
    if note:
        sink(LogMessage(note, "warning"))
    return dataclasses.replace(layout, frozen=frozenset(frozen), note=note)
