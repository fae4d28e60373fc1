"""The Data page jobs' contracts: preparing a dataset and previewing augmentation. Keras-free."""

from __future__ import annotations

from dataclasses import dataclass, field

from tlstudio.config import AugmentConfig, DataConfig
from tlstudio.errors import ConfigError


@dataclass(frozen=True)
class PrepareDataConfig:
    """What ``prepare_data`` opens.

    Attributes:
        data: Folder, split fractions, seed and size limit. Its ``root`` is
            ignored when ``sample`` is set.
        sample: Open the bundled sample dataset (generated on first use)
            instead of ``data.root``.
    """

    data: DataConfig = field(default_factory=DataConfig)
    sample: bool = False

    def __post_init__(self) -> None:
        if not self.sample and not self.data.root:
            raise ConfigError("opening a dataset needs a folder, or the sample dataset. Received: root='' and sample=False")


@dataclass(frozen=True)
class AugmentPreviewConfig:
    """Which images ``augment_preview`` augments, and how.

    Attributes:
        paths: Image files, one row of the preview each.
        augment: The augmentation to draw from.
        seed: Seed of the random draws.
        variants: Augmented copies per image (columns after the original).
        size: Square side the images are resized to, in pixels.
    """

    paths: tuple[str, ...]
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    seed: int = 0
    variants: int = 3
    size: int = 128

    def __post_init__(self) -> None:
        if not self.paths:
            raise ConfigError("an augmentation preview needs at least one image. Received: paths=()")
        if self.variants < 1:
            raise ConfigError(f"an augmentation preview draws at least one variant. Received: variants={self.variants}")
        if self.size < 8:
            raise ConfigError(f"preview images must be at least 8 px wide. Received: size={self.size}")
