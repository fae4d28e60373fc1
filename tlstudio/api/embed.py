"""The embedding map's contract: :class:`EmbedConfig` and :class:`EmbedResult`. Keras-free."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tlstudio.config import DataConfig, ModelConfig
from tlstudio.errors import ConfigError
from tlstudio.options import check_options, option, precision_option

METHODS = ("auto", "tsne", "pca")
"""The map's projections (see :mod:`tlstudio.analysis.embed`)."""


@dataclass(frozen=True)
class EmbedConfig:
    """What the map is made of.

    Attributes:
        data: The dataset (every split is mapped; the split of each image is returned).
        model: Only ``backbone``, ``weights`` and ``image_size`` are used.
        cut: The cut whose pooled features are projected; empty uses the backbone's last cut.
        method: ``"auto"``, ``"tsne"`` or ``"pca"`` (see :mod:`tlstudio.analysis.embed`).
        tsne_limit: With ``"auto"``, more images than this are mapped by PCA alone.
        model_path: A trained model (run folder or file) whose predictions are
            returned; empty for none.
        batch_size: Images per forward pass while extracting features.
        precision: Compute precision of the feature extraction (``"auto"``, ``"float32"``,
            ``"bfloat16"``, ``"float16"``); part of the feature cache key.
        cache_dir: Folder of the pooled feature cache; empty uses the app's cache folder.
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    cut: str = ""
    method: str = option("auto", label="Method", choices=METHODS, help="how the features are projected to 2-D")
    tsne_limit: int = option(5000, label="t-SNE limit", min=0, help="with auto, more images than this are mapped by PCA alone")
    model_path: str = ""
    batch_size: int = option(32, label="Batch size", min=1, help="images per forward pass while extracting features")
    precision: str = precision_option("auto", what="feature extraction")
    cache_dir: str = ""

    def __post_init__(self) -> None:
        if self.method not in METHODS:  # its wording names the field's value, as the map's older messages did
            raise ConfigError(f"method must be one of {METHODS}. Received: method={self.method!r}")
        check_options(self)


@dataclass(frozen=True)
class EmbedResult:
    """One point per image.

    Attributes:
        coords: ``[N, 2]`` float32 in [-1, 1].
        labels: ``[N]`` int labels into ``class_names`` (after the project's relabels).
        paths: The images, as the scan reports them.
        splits: The split of each image.
        class_names: Class names in label order.
        predicted: ``[N]`` int: the model's class as an index into
            ``class_names`` (-1 when unreadable or a class the dataset lacks);
            empty when no model was given.
        predicted_names: The model's class name per image ("" when unreadable); empty without a model.
        method: ``"tsne"`` or ``"pca"``.
        cut: The cut whose features were projected.
        seconds: Wall time of the job.
        cancelled: True when the job stopped early (everything is then empty).
        model_path: The model whose predictions these are ("" when none predicted).
        prediction_note: Why a model that was given predicted nothing, e.g. its
            class names are not the dataset's ("" otherwise).
        root: The dataset folder mapped.
    """

    coords: np.ndarray
    labels: np.ndarray
    paths: tuple[str, ...]
    splits: tuple[str, ...]
    class_names: tuple[str, ...]
    predicted: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    predicted_names: tuple[str, ...] = ()
    method: str = ""
    cut: str = ""
    seconds: float = 0.0
    cancelled: bool = False
    model_path: str = ""
    prediction_note: str = ""
    root: str = ""


def class_mismatch(model_names, data_names) -> str:
    """Why a model with classes ``model_names`` must not predict a dataset of ``data_names``; "" when they match.

    A model is used for a dataset only when its class names are the dataset's
    (in any order): a model of other classes would colour every image wrong.
    """
    model_names, data_names = tuple(model_names), tuple(data_names)
    if set(model_names) == set(data_names):
        return ""
    return (f"the model's classes ({', '.join(model_names) or 'none found'}) are not this dataset's "
            f"({', '.join(data_names)}), so it predicts nothing here; train on this dataset to colour the map by predictions")

