"""The Data page's engine work: the configs it submits, and the re-split it does on the GUI thread.

* ``"prepare_data"`` (:func:`prepare_data_config`): scan and validate a folder, or the sample dataset.
* ``"augment_preview"`` (:func:`augment_preview_config`): a few images through the Keras augmentation layers.
* :func:`resplit`: split the validated files again with new shares or seed (cheap; no engine job).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from tlstudio.config import AugmentConfig, DataConfig
from tlstudio.errors import ConfigError
from tlstudio.data import split_items  # light: no TensorFlow
from tlstudio.data.decisions import apply_decisions  # light: no TensorFlow
from tlstudio.api.dataset import PreparedData
from tlstudio.api.data import AugmentPreviewConfig, PrepareDataConfig  # config dataclasses only: no TensorFlow

MIN_TRAIN_SHARE = 0.05
"""The page refuses a split that leaves less than this share of each class to train on."""

def leave_enough_to_train(config: DataConfig) -> None:
    """The page's rule for a split, beyond :class:`DataConfig`'s own: keep at least 5 % to train on.

    Raises:
        ConfigError: validation plus test take 95 % or more.
    """
    held_out = config.val_fraction + config.test_fraction
    if held_out >= 1.0 - MIN_TRAIN_SHARE:
        raise ConfigError(
            f"Validation + test = {held_out:.0%} leaves too little to train on; keep them under {1 - MIN_TRAIN_SHARE:.0%}. "
            f"Received: {config.val_fraction:.0%} + {config.test_fraction:.0%}"
        )


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


def counts_text(prepared: PreparedData) -> str:
    """The Data page's status line: the images the project uses (after its exclusions), what was skipped, the time."""
    from ui.panels.validation_report import skipped_classes_text
    from ui.state import dataset_size

    report = prepared.report
    used = dataset_size(prepared)
    excluded = report.num_valid - used
    skipped = f", {report.num_skipped} files skipped" if report.num_skipped else ""
    classes = skipped_classes_text(report)
    return (f"{used} usable images in {len(prepared.class_names)} classes{skipped}"
            + (f", {excluded} excluded by the project" if excluded > 0 else "")
            + (f"; {classes} (see the Validation report)" if classes else "")
            + f" (checked in {report.seconds:.1f} s).")
