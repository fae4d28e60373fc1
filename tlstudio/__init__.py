"""tlstudio: the Transfer Learning Studio engine.

This package is pure Python plus Keras/TensorFlow and never imports Qt. Importing
it is cheap: TensorFlow and Keras load only when a function needs them, so a GUI
can show its window first.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
