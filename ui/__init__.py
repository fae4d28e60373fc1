"""tlstudio's Qt front end. Imports tlstudio and PySide6, never Keras or TensorFlow."""
