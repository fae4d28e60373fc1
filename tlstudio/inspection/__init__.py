"""The layer inspector: what every layer does, with its arithmetic shown.

Modules, one job each:

* :mod:`~tlstudio.inspection.formulas`: pure arithmetic (output sizes, implied
  padding, parameter counts, receptive fields, memory estimates) and the
  :class:`LayerRow`/:class:`LayerTable` dataclasses. No TensorFlow: the GUI
  calculator runs it on every keystroke.
* :mod:`~tlstudio.inspection.calculator`: a plain CNN spec to a full table
  without Keras; ``cross_check`` builds the equivalent Keras model on demand.
* :mod:`~tlstudio.inspection.report`: a table as Markdown or CSV, arrays to PNG.
* :mod:`~tlstudio.inspection.table`: the layer table of any Keras model,
  nested backbones expanded and ResNet blocks grouped (imports Keras).
* :mod:`~tlstudio.inspection.filters`, :mod:`~tlstudio.inspection.activations`,
  :mod:`~tlstudio.inspection.gradcam`: kernel grids, feature-map grids and
  Grad-CAM heatmaps (import Keras).

This package's ``__init__`` imports nothing heavy so that
``tlstudio.inspection.formulas`` and ``.calculator`` stay light.
"""
