"""Training-time augmentation as Keras preprocessing layers.

The layers sit inside the model (``inputs -> "augmentation" -> preprocess ->
backbone``), so augmentation follows the model everywhere and switches itself
off outside training: Keras ``Random*`` layers return their input unchanged
when called with ``training=False`` (``predict``, ``evaluate``, validation).
They work on raw RGB pixels in 0..255.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tlstudio.config import AugmentConfig

if TYPE_CHECKING:  # pragma: no cover
    import keras


def build_augmentation(augment: AugmentConfig, seed: int) -> "keras.Sequential | None":
    """Build the ``"augmentation"`` block for an :class:`AugmentConfig`.

    Args:
        augment: Which transformations to apply and how strongly.
        seed: Base seed; each layer gets its own seed derived from it.

    Returns:
        A ``keras.Sequential`` named ``"augmentation"``, or None when every
        augmentation is off.
    """
    if not augment.enabled:
        return None
    import keras

    layers = []
    if augment.flip != "none":
        layers.append(keras.layers.RandomFlip(mode=augment.flip, seed=seed, name="aug_flip"))
    if augment.rotation > 0:
        layers.append(keras.layers.RandomRotation(augment.rotation, fill_mode="reflect", seed=seed + 1, name="aug_rotation"))
    if augment.zoom > 0:
        layers.append(keras.layers.RandomZoom(augment.zoom, augment.zoom, fill_mode="reflect", seed=seed + 2, name="aug_zoom"))
    if augment.translation > 0:
        layers.append(
            keras.layers.RandomTranslation(
                augment.translation, augment.translation, fill_mode="reflect", seed=seed + 3, name="aug_translation"
            )
        )
    if augment.contrast > 0:
        layers.append(keras.layers.RandomContrast(augment.contrast, value_range=(0, 255), seed=seed + 4, name="aug_contrast"))
    return keras.Sequential(layers, name="augmentation")
