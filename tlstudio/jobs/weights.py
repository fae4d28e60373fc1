"""The job ``default_weights``: which weights source a first run should select.

A network probe for the ImageNet download server takes up to a few seconds;
the job runs it in the engine process, so the GUI never waits on it.
It needs no TensorFlow (:data:`tlstudio.jobs.LIGHT_JOBS`).
"""

from __future__ import annotations

from tlstudio.api.weights import DefaultWeightsConfig
from tlstudio.cancel import CancelToken
from tlstudio.events import Sink


def default_weights(config: DefaultWeightsConfig, *, sink: Sink, cancel: CancelToken):
    """The :class:`tlstudio.backbones.DefaultWeights` for ``config`` (see :func:`tlstudio.backbones.default_weights`)."""
    from tlstudio.backbones import default_weights as decide

    return decide(config.backbone, config.wanted, image_size=config.image_size)
