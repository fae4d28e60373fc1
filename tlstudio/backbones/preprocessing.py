"""Each backbone's input preprocessing as a small serialisable Keras sub-model.

Keras is imported inside :func:`preprocess_layer`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tlstudio.backbones.registry import get_spec

if TYPE_CHECKING:  # pragma: no cover
    import keras

_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def preprocess_layer(key: str, name: str = "preprocess") -> "keras.Model":
    """The backbone's own ``preprocess_input`` as a small serialisable sub-model.

    Built only from standard Keras operations, with no weights, so a saved
    model reloads with plain ``keras.saving.load_model`` and nothing can train
    it: ``"caffe"`` flips RGB to BGR and subtracts the ImageNet mean,
    ``"tf"`` scales 0..255 to -1..1, ``"raw"`` passes pixels through.

    Args:
        key: Backbone registry key.
        name: Name of the returned sub-model.

    Returns:
        A functional ``keras.Model`` mapping raw RGB 0..255 ``(H, W, 3)`` to the
        backbone's input, for any H and W.
    """
    import keras
    import numpy as np

    spec = get_spec(key)
    # float32 even under a mixed-precision policy: the mean subtraction would
    # lose a tenth of a grey level in float16.
    inputs = keras.Input(shape=(None, None, 3), dtype="float32", name=f"{name}_input")
    if spec.preprocess_mode == "caffe":
        x = keras.ops.flip(inputs, axis=-1)  # RGB -> BGR
        x = keras.layers.Rescaling(
            1.0, offset=-np.asarray(_CAFFE_MEAN_BGR, dtype="float32"), dtype="float32", name=f"{name}_mean"
        )(x)
    elif spec.preprocess_mode == "tf":
        x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, dtype="float32", name=f"{name}_scale")(inputs)
    else:
        x = keras.layers.Identity(dtype="float32", name=f"{name}_identity")(inputs)
    return keras.Model(inputs, x, name=name)
