"""File input and output shared by the whole engine.

* :mod:`tlstudio.io.atomic` writes every file and folder the app produces
  (JSON, CSV, PNG, weights, model files) under a temporary name and renames
  it into place, so a crash never leaves half a file under the final name.
* :mod:`tlstudio.io.model_files` loads a model (``.keras``, SavedModel, TFLite,
  ONNX) and predicts with it; TensorFlow loads only when a model does.
* :data:`IMAGE_EXTENSIONS` says which files are images.

Importing this package is cheap: it never imports TensorFlow or Keras.
"""

from __future__ import annotations

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
"""Lower-case file suffixes read as images, everywhere in the app (compare ``path.suffix.lower()``)."""

__all__ = ["IMAGE_EXTENSIONS"]
