"""Export trained models and predict with exported files.

An export writes one or more model files (Keras ``.keras``, TensorFlow
SavedModel, TFLite float32 or dynamic-range quantized, and ONNX when a working
converter is installed) together with ``labels.txt`` and ``model.json``. Every
file takes raw RGB pixels (float 0..255, HxWx3): the preprocessing is inside
the model, so a file used outside the app gives the app's numbers.

Each file is written under a temporary name in the destination folder,
verified in a fresh Python process that imports only TensorFlow/Keras, and
renamed to its final name only when its predictions match the in-app model.

Example:

```python
from tlstudio.config import ExportConfig
from tlstudio.export import export_run, predict

result = export_run("runs/2026-01-01_vgg16", ExportConfig(formats=("keras", "tflite"), out_dir="out"))
print(result.parity)          # {"keras": 0.0, "tflite": 2.4e-07}
rows = predict("out/model.keras", ["cat.jpg"], top_k=2)
```
"""

from tlstudio.export.exporter import ExportResult, export_model, export_run
from tlstudio.export.formats import FORMAT_TOLERANCES, available_formats, target_paths
from tlstudio.export.predict import Prediction, load_predictor, predict
from tlstudio.export.verify import verify_export

__all__ = [
    "ExportResult",
    "FORMAT_TOLERANCES",
    "Prediction",
    "available_formats",
    "export_model",
    "export_run",
    "load_predictor",
    "predict",
    "target_paths",
    "verify_export",
]
