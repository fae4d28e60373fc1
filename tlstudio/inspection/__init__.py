"""The layer inspector: what every layer does, with its arithmetic shown.

Modules, one job each:

* :mod:`~tlstudio.inspection.report`: a table as Markdown or CSV, arrays to PNG.
* :mod:`~tlstudio.inspection.table`: the layer table of any Keras model,
  nested backbones expanded and ResNet blocks grouped (imports Keras).
* :mod:`~tlstudio.inspection.filters`, :mod:`~tlstudio.inspection.activations`,
  :mod:`~tlstudio.inspection.gradcam`: kernel grids, feature-map grids and
  Grad-CAM heatmaps (import Keras).

The arithmetic itself (formulas and the Keras-free calculator) is in
:mod:`tlstudio.shapes`.
"""
