"""The workflow pages, one module each: ``<name>_page.py`` defines ``<Name>Page(QWidget)``.

Every page is constructed as ``<Name>Page(state, parent=None)`` with the shared
:class:`ui.state.AppState`. The main window imports the modules listed in
:data:`PAGES` when they exist and shows a placeholder otherwise, so pages can
land one at a time.
"""

from __future__ import annotations

PAGES: tuple[tuple[str, str, str], ...] = (
    # (key, title, one-line description shown in the navigator tooltip and placeholder)
    ("data", "Data", "Choose an image folder, check it, split it, set augmentation."),
    ("model", "Model", "Pick a pretrained backbone, freeze layers, design the head."),
    ("train", "Train", "Set hyperparameters and train with live plots."),
    ("evaluate", "Evaluate", "Validation accuracy and per-class figures of the best model."),
    ("inspect", "Inspect", "Layers, filters, activations and Grad-CAM of the trained model."),
    ("export", "Export", "Save the model as .keras, SavedModel, TFLite or ONNX."),
    ("label", "Label", "Grow the dataset from an unsorted folder, the images the model is least sure about first."),
)
"""The steps of the workflow, in order."""


def class_name(key: str) -> str:
    """``"data"`` -> ``"DataPage"``."""
    return key.capitalize() + "Page"
