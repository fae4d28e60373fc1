"""Get a model to inspect: a saved ``.keras`` file or a backbone by registry key.

Backbones come from :mod:`tlstudio.backbones` when its registry provides a
builder, and otherwise straight from ``keras.applications``; either way the
inspector builds them without weights unless asked, since only the
architecture matters for the table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras

from tlstudio.errors import ConfigError, ModelFileError

# key -> (keras.applications constructor name, default square input size)
BACKBONES: dict[str, tuple[str, int]] = {
    "vgg16": ("VGG16", 224),
    "vgg19": ("VGG19", 224),
    "resnet50": ("ResNet50", 224),
    "resnet101": ("ResNet101", 224),
    "resnet152": ("ResNet152", 224),
    "resnet50v2": ("ResNet50V2", 224),
    "resnet101v2": ("ResNet101V2", 224),
    "resnet152v2": ("ResNet152V2", 224),
}


def backbone_keys() -> list[str]:
    """Registry keys the inspector can build."""
    return list(BACKBONES)


def build_backbone(key: str, image_size: int = 0, include_top: bool = False) -> Any:
    """Build backbone ``key`` without weights.

    Args:
        key: Registry key, e.g. ``"vgg16"`` or ``"resnet50v2"``.
        image_size: Square input side; 0 uses the backbone's default (224).
            ``include_top=True`` needs the default size.
        include_top: Keep the ImageNet classifier (Flatten/Dense for VGG).

    Raises:
        ConfigError: Unknown key or an input size the backbone refuses.
    """
    k = key.lower()
    if k not in BACKBONES:
        raise ConfigError(f"unknown backbone {key!r}; choose one of {', '.join(BACKBONES)}. Received: {key!r}")
    ctor, default = BACKBONES[k]
    size = image_size or default
    if include_top and size != default:
        raise ConfigError(f"include_top needs the default input size {default}. Received: image_size={image_size}")
    try:
        return getattr(keras.applications, ctor)(
            include_top=include_top, weights=None, input_shape=(size, size, 3)
        )
    except ValueError as exc:
        raise ConfigError(f"{key} cannot be built at {size}×{size}: {exc}. Received: image_size={image_size}") from exc


def load_model(path: str | Path) -> Any:
    """Load a ``.keras`` model file for inspection (not compiled).

    Raises:
        ModelFileError: The file is missing or is not a Keras model.
    """
    p = Path(path)
    if not p.is_file():
        raise ModelFileError(f"{p}: no such model file.", path=str(p))
    try:  # the app's custom layers register themselves on import
        import tlstudio.model  # noqa: F401
    except ImportError:
        pass
    try:
        return keras.saving.load_model(str(p), compile=False)
    except Exception as exc:  # Keras raises many types for a bad file
        raise ModelFileError(f"{p}: cannot be read as a Keras model ({type(exc).__name__}: {exc}).", path=str(p)) from exc


def resolve(model_or_key: str, image_size: int = 0, include_top: bool = False) -> Any:
    """A model from a ``.keras`` path or a backbone key (what the CLI's argument may be)."""
    if model_or_key.lower() in BACKBONES:
        return build_backbone(model_or_key, image_size, include_top)
    if model_or_key.endswith((".keras", ".h5")) or Path(model_or_key).exists():
        return load_model(model_or_key)
    raise ConfigError(
        f"{model_or_key!r} is neither a .keras file nor a backbone ({', '.join(BACKBONES)}). Received: {model_or_key!r}"
    )
