"""The images an analysis works on: every valid image of every split, in one stable order.

The probe and the audit share one pooled feature cache entry per dataset:
the rows are every valid image sorted by path, whatever the split settings,
so changing ``val_fraction`` or running the audit after the probe reuses
the features.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tlstudio.cancel import CancelToken
from tlstudio.config import DataConfig
from tlstudio.events import Sink


@dataclass(frozen=True)
class AnalysisData:
    """Every valid image with its label and split.

    Attributes:
        paths: Absolute paths as the scan reports them, sorted.
        labels: ``[N]`` int labels (index into ``class_names``).
        splits: The split of each path (``"train"``, ``"val"`` or ``"test"``).
        class_names: Class names in label order.
        cancelled: True when preparing the data was cancelled (the rest is then empty).
    """

    paths: tuple[str, ...]
    labels: np.ndarray
    splits: tuple[str, ...]
    class_names: tuple[str, ...]
    cancelled: bool = False

    def rows(self, split: str) -> np.ndarray:
        """Row indices of ``split``."""
        return np.flatnonzero(np.asarray(self.splits) == split)


def analysis_data(config: DataConfig, *, sink: Sink, cancel: CancelToken) -> AnalysisData:
    """Scan, validate and split ``config.root`` (validation cached) and list every valid image.

    Raises:
        DataError: the dataset cannot be used (names the folder and what is wrong).
    """
    from tlstudio.data.prepare import prepare_data

    data = prepare_data(config, sink=sink, cancel=cancel)
    if data.cancelled:
        return AnalysisData((), np.zeros(0, np.int64), (), data.class_names, cancelled=True)
    rows = sorted(
        [(item.path, item.label, split) for split, items in (("train", data.train), ("val", data.val), ("test", data.test))
         for item in items]
    )
    return AnalysisData(
        paths=tuple(r[0] for r in rows),
        labels=np.array([r[1] for r in rows], np.int64),
        splits=tuple(r[2] for r in rows),
        class_names=tuple(data.class_names),
    )
