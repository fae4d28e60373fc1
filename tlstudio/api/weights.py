"""The default_weights job's contract: :class:`DefaultWeightsConfig`. Keras-free."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DefaultWeightsConfig:
    """What a fresh start asks for.

    Attributes:
        backbone: Registry key, e.g. ``"vgg16"``.
        wanted: The weights source the configuration holds.
        image_size: Input side (0: the backbone's default).
    """

    backbone: str
    wanted: str = "imagenet"
    image_size: int = 0
