"""The engine's contract with its callers: every job's config, result and event dataclasses.

One module per job family (``probe``, ``sweep``, ``audit``, ``embed``,
``evaluate``, ``inspect``, ``export``, ``data``, ``device``, ``weights``),
plus :mod:`~tlstudio.api.model_ref` (how a job names a model) and
:mod:`~tlstudio.api.metrics` (the evaluation metrics, pure NumPy). This is the
only place those types are defined; :mod:`tlstudio.jobs` holds the job
functions ``f(config, *, sink, cancel) -> result`` that use them.

Nothing here imports TensorFlow or Keras: the GUI imports these modules to
build configs and to read the results it unpickles.
"""
