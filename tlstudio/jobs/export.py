"""The Export page's jobs: export a model with its verification, and say which formats work here.

``export`` loads its own copy of the model rather than one from the engine's
model cache: the export writes and traces that model, and a cached model may
be in use by another job at the same time (Grad-CAM briefly swaps its output
activation), which must never leak into an exported file. Its result is an
:class:`~tlstudio.api.export.ExportResult`, which the GUI unpickles without
TensorFlow. Neither job changes process-wide state.

This module imports TensorFlow only inside the job functions. The config and
result are in :mod:`tlstudio.api.export`.
"""

from __future__ import annotations

from tlstudio.api.export import ExportJobConfig, ExportResult
from tlstudio.cancel import CancelToken
from tlstudio.events import Sink


def export(config: ExportJobConfig, *, sink: Sink, cancel: CancelToken) -> ExportResult:
    """Write the chosen formats of ``config.source`` and check each one in a fresh TensorFlow process.

    Sends :class:`~tlstudio.events.Progress` per step (stage ``"certify"``
    while the certificate is measured); cancel is checked between steps, and
    a cancelled export writes nothing, except that a cancel during the
    certificate keeps the written files without one.

    Raises:
        ModelFileError: the run folder or model file cannot be read.
        ExportError: a target exists without overwrite, a writer failed, or a
            file's predictions differ from the app's by more than its limit.
    """
    from tlstudio.export.exporter import export_run

    return export_run(config.source, config.config, sink=sink, cancel=cancel)


def export_formats(config: None = None, *, sink: Sink, cancel: CancelToken) -> dict[str, str | None]:
    """Every export format mapped to None when it works here, else the reason it does not.

    The ONNX check converts a tiny model, once per engine process.
    """
    from tlstudio.export.formats import available_formats

    return available_formats()
