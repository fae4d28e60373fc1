"""The training job: the two-phase transfer-learning recipe on one :class:`~tlstudio.config.RunConfig`.

It runs alone in the engine process (:data:`tlstudio.jobs.EXCLUSIVE_JOBS`):
it sets the global random seeds of Python, NumPy, TensorFlow and Keras.

With ``config.train.auto_head`` (``train --head auto``, the GUI's "Auto"
choice) the job first probes the cut points and sweeps small heads on the
pooled feature cache, then trains the chosen cut and head and records the
choice in the run folder (:mod:`tlstudio.jobs.auto_head`). A resumed run
(``resume_from``) continues the run it resumes: it searches nothing again.
"""

from __future__ import annotations

from typing import Any

from tlstudio.cancel import CancelToken
from tlstudio.config import RunConfig
from tlstudio.events import Sink


def train(config: RunConfig, *, sink: Sink, cancel: CancelToken, strategy: Any = None) -> Any:
    """Train and write the run folder; returns the :class:`~tlstudio.training.RunResult`.

    Args:
        config: The run.
        sink: Receives the events.
        cancel: Cancels the search or the training.
        strategy: A ``tf.distribute`` strategy (the CLI's multi-worker training); None chooses one.
    """
    if config.train.auto_head and not config.resume_from:
        from tlstudio.jobs.auto_head import train_with_auto_head

        return train_with_auto_head(config, sink, cancel, strategy=strategy)
    from tlstudio.training.run import run_training

    return run_training(config, sink, cancel, strategy=strategy)
