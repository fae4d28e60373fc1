"""Feature maps of chosen layers for one image, sorted by mean activation.

One sub-model computes every requested layer in a single forward pass. It is
built once per (model, layer set) and cached for as long as the model lives.
For a layer inside a nested backbone the sub-model starts at the backbone's
input, and the outer part of the model (augmentation off, preprocessing)
runs first, so the maps are exactly what the backbone sees.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Callable, Sequence

import keras
import numpy as np
from PIL import Image

from tlstudio.api.inspect import ActivationsResult, MapStat
from tlstudio.inspection.report import grid
from tlstudio.inspection.table import find_layer, functional_of, graph_nodes

_CACHE: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def model_input_size(model: Any) -> tuple[int | None, int | None]:
    """(height, width) the model takes, None where it accepts any size."""
    shape = model.inputs[0].shape
    return (shape[1], shape[2])


def prepare_image(image: np.ndarray, model: Any) -> np.ndarray:
    """An RGB uint8 image resized to the model input, as a float32 batch of one (0..255)."""
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ValueError(f"expected an RGB image of shape (H, W, 3). Received: shape={arr.shape}")
    h, w = model_input_size(model)
    h, w = h or arr.shape[0], w or arr.shape[1]
    if arr.shape[:2] != (h, w):
        arr = np.asarray(Image.fromarray(arr.astype(np.uint8)).resize((w, h), Image.Resampling.BILINEAR))
    return arr.astype(np.float32)[None]


def model_inputs(model: Any):
    """A model's inputs as Keras expects them back: one tensor, or the list."""
    inputs = functional_of(model).inputs
    return inputs[0] if len(inputs) == 1 else inputs


def _node_in(parent: Any, child: Any):
    for node in graph_nodes(parent):
        if node.operation is child:
            return node
    raise ValueError(f"{child.name} is not called inside {parent.name}. Received: {child.name!r}")


def prefix_models(chain: Sequence[Any]) -> list[Any]:
    """Models that take the top input to the input of the innermost container in ``chain``."""
    models = []
    for parent, child in zip(chain[:-1], chain[1:]):
        node = _node_in(parent, child)
        models.append(keras.Model(model_inputs(parent), node.input_tensors[0]))
    return models


def suffix_models(chain: Sequence[Any]) -> list[Any]:
    """Models that take the innermost container's output on to the top output, innermost first."""
    models = []
    for parent, child in reversed(list(zip(chain[:-1], chain[1:]))):
        node = _node_in(parent, child)
        models.append(keras.Model(node.output_tensors[0], functional_of(parent).outputs[0]))
    return models


def _run(models: Sequence[Any], x):
    for m in models:
        x = m(x, training=False)
    return x


def feature_extractor(model: Any, layers: Sequence[str]) -> Callable[[np.ndarray], list[np.ndarray]]:
    """A function batch → [output of each layer], built once per model and layer set.

    Layers may live in different nested models; each nested model gets one
    sub-model over all its requested layers.
    """
    key = tuple(layers)
    with _LOCK:
        per_model = _CACHE.setdefault(model, {})
        if key in per_model:
            return per_model[key]
    groups: dict[tuple[int, ...], tuple[list, list[tuple[int, Any]]]] = {}
    for i, name in enumerate(layers):
        chain, layer = find_layer(model, name)
        gid = tuple(id(c) for c in chain)
        groups.setdefault(gid, (chain, []))[1].append((i, layer))
    plans = []
    for chain, items in groups.values():
        sub = keras.Model(model_inputs(chain[-1]), [layer.output for _, layer in items])
        plans.append((prefix_models(chain), sub, [i for i, _ in items]))

    def extract(batch: np.ndarray) -> list[np.ndarray]:
        out: list[Any] = [None] * len(layers)
        for pre, sub, idx in plans:
            values = sub(_run(pre, batch), training=False)
            if not isinstance(values, (list, tuple)):
                values = [values]
            for i, v in zip(idx, values):
                out[i] = np.asarray(v)
        return out

    with _LOCK:
        _CACHE.setdefault(model, {})[key] = extract
    return extract


def map_stats(maps: np.ndarray) -> list[MapStat]:
    """Stats of (C, H, W) maps in their channel order."""
    flat = maps.reshape(maps.shape[0], -1)
    return [
        MapStat(channel=c, mean=float(flat[c].mean()), max=float(flat[c].max()), frac_zero=float((flat[c] == 0).mean()))
        for c in range(flat.shape[0])
    ]


def _tiles(maps: np.ndarray) -> np.ndarray:
    """Each map to 0..255: 0 stays black, the 99.5th percentile is white (a few hot pixels do not dim the rest)."""
    lo = maps.min(axis=(1, 2), keepdims=True)
    lo = np.minimum(lo, 0)  # keep 0 black for ReLU outputs
    hi = np.percentile(maps, 99.5, axis=(1, 2), keepdims=True)
    hi = np.where(hi > lo, hi, maps.max(axis=(1, 2), keepdims=True))
    maps = np.minimum(maps, hi)
    span = np.where(hi - lo > 0, hi - lo, 1)
    return ((maps - lo) / span * 255).round().astype(np.uint8)


def activation_maps(
    model: Any, image: np.ndarray, layers: str | Sequence[str], max_maps: int = 64, scale: int | None = None
) -> dict[str, ActivationsResult]:
    """Feature maps of ``layers`` for ``image``, sorted by mean activation.

    Args:
        model: The model (nested backbones are searched).
        image: RGB uint8 array (H, W, 3), any size (resized to the model input).
        layers: One layer name/path or several.
        max_maps: Maps drawn in each grid (all are returned in ``maps``).
        scale: Pixels per map pixel; default makes each tile at least 32 px.

    Returns:
        ``{layer: ActivationsResult}`` (with ``maps``).
    """
    names = [layers] if isinstance(layers, str) else list(layers)
    outputs = feature_extractor(model, names)(prepare_image(image, model))
    result = {}
    for name, out in zip(names, outputs):
        a = out[0]
        if a.ndim == 1:  # dense / pooled vector: one 1×1 map per unit
            a = a[None, None, :]
        maps = np.moveaxis(a, -1, 0).astype(np.float32)  # (C, H, W)
        stats = map_stats(maps)
        order = sorted(range(len(stats)), key=lambda c: stats[c].mean, reverse=True)
        maps = maps[order]
        stats = [stats[c] for c in order]
        s = scale or max(1, 32 // max(maps.shape[1], maps.shape[2]))
        result[name] = ActivationsResult(
            layer=name, shape=tuple(out.shape[1:]), stats=tuple(stats), image=grid(_tiles(maps[:max_maps]), scale=s), maps=maps
        )
    return result
