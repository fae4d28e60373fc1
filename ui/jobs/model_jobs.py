"""The Model page's jobs: the backbone's layer list and the default-weights check, asked of the engine once per session.

Two engine jobs serve the page, both submitted through the one engine client
(:mod:`ui.engine`) in the background:

* ``"describe_backbone"`` builds the backbone in the engine process and sends
  back a plain :class:`~tlstudio.layout.BackboneLayout` (layer names, blocks and
  parameter counts). :class:`LayoutJob` runs it and keeps each layout of the
  session by (backbone, input size, cut), which never changes.
* ``"default_weights"`` checks whether the ImageNet weights a config asks for
  can be had (:func:`tlstudio.backbones.default_weights`). :class:`DefaultWeightsJob`
  runs it and keeps each decision by (backbone, input size).

The functions below say what a layer list depends on; they use the engine's
registry (:mod:`tlstudio.backbones`, plain Python).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from tlstudio.backbones import BACKBONES, DefaultWeights, cut_points
from tlstudio.config import ModelConfig
from tlstudio.api.weights import DefaultWeightsConfig
from tlstudio.layout import BackboneLayout
from ui.engine import engine

LayoutKey = tuple[str, int, str]
"""What a layer list depends on: (backbone key, input side, cut as the cut combo shows it)."""

_DEFAULT_CHOICES: dict[tuple[str, int], DefaultWeights] = {}
"""Default-weights decisions of this session, by (backbone key, input size): the network is probed once."""

_LAYOUTS: dict[LayoutKey, BackboneLayout] = {}
"""Layer lists already described in this session, by (backbone key, input size, cut): they never change."""


def cut_choices(backbone: str) -> tuple[str, ...]:
    """The cut points the combo offers for ``backbone``: all but the last, which is the whole backbone ("")."""
    if backbone not in BACKBONES:
        return ()
    return cut_points(backbone)[:-1]


def shown_cut(backbone: str, cut: str) -> str:
    """The combo's value for ``cut``: the backbone's last cut point is the whole backbone, ``""``."""
    points = cut_points(backbone) if backbone in BACKBONES else ()
    return "" if points and cut == points[-1] else cut


def layout_size(config: ModelConfig) -> int | None:
    """The input side the backbone of ``config`` is built at (its default for 0); None for an unknown backbone."""
    spec = BACKBONES.get(config.backbone)
    if spec is None:
        return None
    return config.image_size or spec.default_size


def layout_key(config: ModelConfig) -> LayoutKey | None:
    """What a layer list depends on: (backbone, input side, cut); None for an unknown backbone."""
    size = layout_size(config)
    return None if size is None else (config.backbone, size, shown_cut(config.backbone, config.cut))


def key_of(layout: BackboneLayout) -> LayoutKey:
    """The :data:`LayoutKey` a layout was described for."""
    return layout.key, layout.image_size, shown_cut(layout.key, layout.cut)


class LayoutJob(QObject):
    """Lists the layers of a backbone in the engine, once per backbone, size and cut in a session.

    Args:
        parent: The page that owns the job (its engine task is parented to it).

    Attributes:
        runner: The engine task of the ``"describe_backbone"`` job.

    Signals:
        ready(object): a :class:`~tlstudio.layout.BackboneLayout` arrived (from the engine or this session's list).
        failed(str, str): the engine could not build the backbone: message and details.
        finished(): a build in the engine ended (after ``ready`` or ``failed``).
    """

    ready = Signal(object)
    failed = Signal(str, str)
    finished = Signal()

    def __init__(self, parent: QObject):
        super().__init__(parent)
        self.runner = engine().task(parent, background=True)
        self.runner.result.connect(self._on_result)
        self.runner.error.connect(self.failed)
        self.runner.finished.connect(self.finished)
        self.wanted: LayoutKey | None = None
        """A layout asked for while another was being built: the page asks again when that one ends."""

    def request(self, config: ModelConfig, wanted: LayoutKey) -> str:
        """Get the layout ``wanted`` of ``config``'s backbone.

        Returns:
            ``"waiting"`` when a build is running (``wanted`` is kept for later),
            ``"cached"`` when ``ready`` was sent already from this session's list,
            ``"started"`` when the engine builds it now.
        """
        if self.runner.is_running():
            self.wanted = wanted
            return "waiting"
        self.wanted = None
        cached = _LAYOUTS.get(wanted)
        if cached is not None:  # the same backbone at the same size was listed before
            self.ready.emit(cached)
            return "cached"
        backbone, size, cut = wanted
        self.runner.start("describe_backbone", ModelConfig(backbone=backbone, weights="none", image_size=size,
                                                           freeze=config.freeze, cut=cut))
        return "started"

    def _on_result(self, layout: BackboneLayout) -> None:
        _LAYOUTS[key_of(layout)] = layout
        self.ready.emit(layout)


class DefaultWeightsJob(QObject):
    """Checks, off the GUI thread, that the ImageNet weights a config asks for can be had.

    Args:
        parent: The page that owns the job.

    Attributes:
        runner: The engine task of the ``"default_weights"`` job.

    Signals:
        decided(object, object): the (backbone, input size) asked about and its
            :class:`~tlstudio.backbones.DefaultWeights`.
        failed(str): the check failed, in words.
    """

    decided = Signal(object, object)
    failed = Signal(str)

    def __init__(self, parent: QObject):
        super().__init__(parent)
        self.runner = engine().task(parent, background=True)
        self.runner.result.connect(self._on_result)
        self.runner.error.connect(lambda message, _details: self.failed.emit(message))
        self._asked: tuple[str, int] = ("", 0)

    def check(self, config: ModelConfig) -> None:
        """Decide the weights of a config that asks for ImageNet's (at once when this session decided already)."""
        if config.weights != "imagenet" or config.backbone not in BACKBONES or self.runner.is_running():
            return
        key = (config.backbone, config.image_size)
        cached = _DEFAULT_CHOICES.get(key)
        if cached is not None:
            self._decide(key, cached)
            return
        self._asked = key
        self.runner.start("default_weights", DefaultWeightsConfig(config.backbone, config.weights, config.image_size))

    def _on_result(self, choice: DefaultWeights) -> None:
        self._decide(self._asked, choice)

    def _decide(self, key: tuple[str, int], choice: DefaultWeights) -> None:
        _DEFAULT_CHOICES[key] = choice
        self.decided.emit(key, choice)


def counts_text(layout, frozen, head, num_classes: int) -> str:
    """The Model page's parameter counts while fine-tuning and while the head trains alone.

    Counted as the engine counts them (its log says the same figures): the
    head's normalization statistics (``head_norm``'s mean and variance per
    pooled feature, and their count) are non-trainable values of the model,
    named once in the phase-1 line.
    """
    from tlstudio.layout import fine_tune_counts, head_param_count, head_stat_count, head_training_counts
    from ui.panels.freeze_tree import fmt

    params = head_param_count(head, layout.feature_shape, num_classes)
    stats = head_stat_count(head, layout.feature_shape)
    tuning = fine_tune_counts(layout, frozen, params, stats)
    alone = head_training_counts(layout, params, stats)
    return (f"<b>Fine-tuning:</b> {fmt(tuning.trainable)} trainable · {fmt(tuning.non_trainable)} non-trainable parameters"
            f"<br><b>Head training (phase 1):</b> {fmt(alone.trainable)} trainable · {fmt(alone.non_trainable)} frozen "
            f"(the backbone, and the head's {fmt(stats)} normalization statistics)")
