"""Layer arithmetic without Keras: what every layer does to shapes and parameters.

* :mod:`~tlstudio.shapes.formulas`: pure arithmetic (output sizes, implied
  padding, parameter counts, receptive fields, memory estimates) and the
  :class:`LayerRow`/:class:`LayerTable` dataclasses. No TensorFlow: the GUI
  calculator runs it on every keystroke.
* :mod:`~tlstudio.shapes.calculator`: a plain CNN spec to a full table
  without Keras; ``cross_check`` builds the equivalent Keras model on demand.

This package sits below :mod:`tlstudio.schemas` (which reads calculator
files) and :mod:`tlstudio.inspection` (which fills the tables from Keras models).
"""
