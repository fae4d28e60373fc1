"""Export trained models and predict with exported files.

Importing this package is cheap; TensorFlow loads when an export or
prediction function is first used.

An export writes one or more model files (Keras ``.keras``, TensorFlow
SavedModel, TFLite float32, dynamic-range, float16 or full-integer int8, and
ONNX when a working converter is installed) together with ``labels.txt``,
``model.json`` and ``certificate.json`` (:mod:`tlstudio.export.certify`:
agreement with the app per class and per image, accuracy change, size and
latency of every written file). Every
file takes raw RGB pixels (float 0..255, HxWx3): the preprocessing is inside
the model, so a file used outside the app gives the app's numbers.

Each file is written under a temporary name in the destination folder,
verified in a fresh Python process that imports only TensorFlow/Keras, and
renamed to its final name only when its predictions match the in-app model.
A format that cannot be written is reported in ``ExportResult.failed``; the
others are still written.

Example:

```python
from tlstudio.config import ExportConfig
from tlstudio.export import export_run, predict

result = export_run("runs/2026-01-01_vgg16", ExportConfig(formats=("keras", "tflite"), out_dir="out"))
print(result.parity)          # {"keras": 0.0, "tflite": 2.4e-07}
rows = predict("out/model.keras", ["cat.jpg"], top_k=2)
```
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "export_model": "tlstudio.export.exporter",
    "export_run": "tlstudio.export.exporter",
    "FORMAT_LABELS": "tlstudio.export.formats",
    "FORMAT_TOLERANCES": "tlstudio.export.formats",
    "available_formats": "tlstudio.export.formats",
    "target_paths": "tlstudio.export.formats",
    "Prediction": "tlstudio.export.prediction",
    "load_predictor": "tlstudio.export.prediction",
    "predict": "tlstudio.export.prediction",
    "verify_export": "tlstudio.export.verify",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    # Lazy: `import tlstudio.export` and `tlstudio.export.formats` stay free of
    # TensorFlow, so the GUI can name files and check targets on its own thread.
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tlstudio.export' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
