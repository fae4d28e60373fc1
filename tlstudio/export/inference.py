"""The served graph: preprocessing -> backbone -> head, in inference mode, without augmentation.

The app's model keeps its training augmentation (``"augmentation"``, a
Sequential of Keras ``Random*`` layers) between the input and the
preprocessing. Keras switches those layers off in ``predict``, but an export
traces the model itself, and a random flip, rotation or zoom left in a
SavedModel's serving signature changes its answers (max |Δ| 0.56-0.72 in
issue 11). Every export therefore writes :func:`inference_model`: the same
layers and weights, with the augmentation left out and every layer called
with ``training=False``.
"""

from __future__ import annotations

import keras

from tlstudio.errors import ExportError

AUGMENTATION_NAME = "augmentation"


def _is_augmentation(layer) -> bool:
    return layer.name == AUGMENTATION_NAME or type(layer).__name__.startswith("Random")


def augmentation_layers(model) -> list[str]:
    """Names (``outer/inner``) of the augmentation blocks and ``Random*`` layers anywhere in ``model``."""
    found: list[str] = []

    def walk(layer, prefix: str) -> None:
        for inner in getattr(layer, "layers", []):
            name = f"{prefix}{inner.name}"
            if _is_augmentation(inner):
                found.append(name)
            walk(inner, name + "/")

    walk(model, "")
    return found


def inference_model(model: keras.Model) -> keras.Model:
    """``model`` without its augmentation, every layer called with ``training=False``.

    The layers (and so the weights) are shared with ``model``, nothing is
    copied. A model without augmentation is returned as it is.

    Raises:
        ExportError: a ``Random*`` layer sits where it cannot be left out
            (inside a nested block other than ``"augmentation"``).
    """
    if not augmentation_layers(model):
        return model

    def call(layer, *args, **kwargs):
        if _is_augmentation(layer):
            return args[0]
        kwargs["training"] = False
        return layer(*args, **kwargs)

    try:
        served = keras.models.clone_model(model, clone_function=lambda layer: layer, call_function=call)
    except (ValueError, TypeError) as exc:
        raise ExportError(
            f"The training augmentation of model '{model.name}' cannot be separated from it for export: {exc}. "
            f"Received: augmentation layers {augmentation_layers(model)}"
        ) from exc
    left = augmentation_layers(served)
    if left:
        raise ExportError(
            f"The model '{model.name}' has augmentation layers inside other blocks, which an export would serve: {left}. "
            "Expected them in the top-level 'augmentation' block only."
        )
    return served
