"""The training job: the two-phase transfer-learning recipe on one :class:`~tlstudio.config.RunConfig`.

It runs alone in the engine process (:data:`tlstudio.jobs.EXCLUSIVE_JOBS`):
it sets the global random seeds of Python, NumPy, TensorFlow and Keras.
"""

from __future__ import annotations

from typing import Any

from tlstudio.cancel import CancelToken
from tlstudio.config import RunConfig
from tlstudio.events import Sink


def train(config: RunConfig, *, sink: Sink, cancel: CancelToken) -> Any:
    """Train and write the run folder; returns the :class:`~tlstudio.training.RunResult`."""
    from tlstudio.training.run import run_training

    return run_training(config, sink, cancel)
