"""The Data page's engine work: the configs it submits, and the re-split it does on the GUI thread.

* ``"prepare_data"`` (:func:`prepare_data_config`): scan and validate a folder, or the sample dataset.
* ``"augment_preview"`` (:func:`augment_preview_config`): a few images through the Keras augmentation layers.
* :func:`resplit`: split the validated files again with new shares or seed (cheap; no engine job).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from tlstudio.config import AugmentConfig, DataConfig
from tlstudio.data import split_items  # light: no TensorFlow
from tlstudio.data.decisions import apply_decisions  # light: no TensorFlow
from tlstudio.api.dataset import PreparedData
from tlstudio.api.data import AugmentPreviewConfig, PrepareDataConfig  # config dataclasses only: no TensorFlow

PREVIEW_IMAGES = 2
"""Images in the augmentation preview, one per class first."""
PREVIEW_VARIANTS = 3
"""Random draws of the augmentation shown next to each original."""
PREVIEW_SIZE = 128
"""Side of the preview images the engine draws, in pixels: the largest a tile is shown."""


def prepare_data_config(config: DataConfig, folder: str | None) -> PrepareDataConfig:
    """The ``"prepare_data"`` job for ``folder`` with ``config``'s settings; ``None`` means the sample dataset."""
    if folder is None:
        return PrepareDataConfig(config, sample=True)
    return PrepareDataConfig(dataclasses.replace(config, root=folder))


def preview_paths(prepared: PreparedData | None) -> list[str]:
    """A few training images of ``prepared``, one per class first, for the augmentation preview."""
    if prepared is None:
        return []
    seen: dict[int, str] = {}
    for item in prepared.train:
        seen.setdefault(item.label, item.path)
    return list(seen.values())[:PREVIEW_IMAGES]


def augment_preview_config(paths: Sequence[str], augment: AugmentConfig, seed: int) -> AugmentPreviewConfig:
    """The ``"augment_preview"`` job: ``paths`` drawn :data:`PREVIEW_VARIANTS` times with ``augment``."""
    return AugmentPreviewConfig(tuple(paths), augment, seed, PREVIEW_VARIANTS, PREVIEW_SIZE)


def resplit(prepared: PreparedData, config: DataConfig) -> PreparedData:
    """``prepared`` split again by ``config``'s shares and seed, after the audit's exclusions and relabels.

    Raises:
        TlStudioError: the config cannot split these files.
    """
    config = dataclasses.replace(config, root=prepared.root)
    result = split_items(apply_decisions(prepared.report, config)[0], config)
    return dataclasses.replace(
        prepared,
        train=result.train,
        val=result.val,
        test=result.test,
        counts={split: dict(per) for split, per in result.counts.items()},
        class_weights=dict(result.class_weights),
        seed=config.seed,
    )
