"""Training runs: the two-phase transfer-learning recipe as one cancellable function.

Public API::

    from tlstudio.training import run_training, RunResult, load_run, resume_config

    result = run_training(config, sink, cancel)   # -> RunResult

:func:`run_training` (in :mod:`tlstudio.training.run`) loads Keras and
TensorFlow. :class:`RunResult` and :func:`load_run` live in the light module
:mod:`tlstudio.training.result` and :func:`resume_config` in
:mod:`tlstudio.run_folders`, so the GUI can read
finished runs without loading TensorFlow. The names are resolved lazily here
for the same reason: ``import tlstudio.training`` stays cheap until
``run_training`` is used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RunResult", "load_run", "resume_config", "run_training"]

_LIGHT = {"RunResult", "load_run"}


def __getattr__(name: str) -> Any:
    if name == "resume_config":
        from tlstudio.run_folders import resume_config

        return resume_config
    if name in _LIGHT:
        from tlstudio.training import result

        return getattr(result, name)
    if name == "run_training":
        from tlstudio.training.run import run_training

        return run_training
    raise AttributeError(f"module 'tlstudio.training' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
