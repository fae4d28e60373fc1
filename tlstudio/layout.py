"""Freeze and head arithmetic without Keras: what the Model page shows before anything trains.

One module for both processes. The engine process builds a backbone once and
describes it as a plain :class:`BackboneLayout` (job ``describe_backbone``,
:mod:`tlstudio.jobs.layers`); from then on the GUI answers every question
about a freeze choice or a head with the functions here, on its own thread,
without TensorFlow:

* :func:`resolve_freeze`: which backbone layers a :class:`~tlstudio.config.FreezeConfig`
  keeps frozen (also what :func:`tlstudio.model.apply_freeze` freezes);
* :func:`freeze_config_for` and :func:`preset_frozen`: the other way round,
  from checked layers or a preset to a config;
* :func:`head_param_count`, :func:`head_stat_count`, :func:`fine_tune_counts` and :func:`head_training_counts`:
  the parameter counts of the head and of the whole model in each phase,
  equal to what Keras counts on the built model.

Importing this module never loads TensorFlow or Keras (the registry in
:mod:`tlstudio.backbones` is plain Python).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from tlstudio import backbones
from tlstudio.config import FreezeConfig, HeadConfig
from tlstudio.errors import ConfigError

PRESET_KEYS = ("all", "last", "none")
"""Freezing presets: everything frozen, fine-tune the last block, fine-tune everything."""


@dataclass(frozen=True)
class ParamCounts:
    """Parameter counts of a model.

    Attributes:
        trainable: Values the optimizer would update.
        non_trainable: Frozen values (frozen layers, BatchNorm statistics...).
        total: ``trainable + non_trainable``.
    """

    trainable: int
    non_trainable: int
    total: int


@dataclass(frozen=True)
class LayerInfo:
    """One backbone layer that holds weights.

    Attributes:
        name: Keras layer name, e.g. ``"block5_conv3"``.
        kind: Layer class name, e.g. ``"Conv2D"``.
        block: The registry block it belongs to.
        trainable: Parameters that train when the layer is not frozen.
        fixed: Parameters that never train (every BatchNorm parameter: the
            engine keeps BatchNorm frozen, in inference mode).
    """

    name: str
    kind: str
    block: str
    trainable: int
    fixed: int

    @property
    def selectable(self) -> bool:
        """True when freezing or unfreezing the layer changes anything (not BatchNorm)."""
        return self.trainable > 0


@dataclass(frozen=True)
class BackboneLayout:
    """A backbone described as plain values: layers with weights, blocks and output shape.

    Attributes:
        key: Registry key of the backbone.
        image_size: Input side the layout was built for.
        layers: Layers with weights, in model order.
        blocks: Block names in model order (only blocks that hold weights).
        feature_shape: Shape of the backbone output for one image, ``(h, w, channels)``.
        frozen: Selectable layers the requested freeze config freezes.
        names: Every backbone layer name in model order, the input layer left
            out (pooling and activation layers too: ``up_to`` may name them).
            Empty means the names of ``layers``.
        note: What the describing job could not honour, in a sentence (e.g. a
            freeze selection made for another backbone); "" when nothing.
        cut: The cut point the layout ends at ("" = the whole backbone): layers
            after it are not listed, and ``feature_shape`` is its output.
        cut_points: Every cut point of the whole backbone, input to output (the
            choices of ``ModelConfig.cut``; the last one is the whole backbone).
    """

    key: str
    image_size: int
    layers: tuple[LayerInfo, ...]
    blocks: tuple[str, ...]
    feature_shape: tuple[int, int, int]
    frozen: frozenset[str] = frozenset()
    names: tuple[str, ...] = ()
    note: str = ""
    cut: str = ""
    cut_points: tuple[str, ...] = ()

    def block_layers(self, block: str, selectable_only: bool = True) -> list[LayerInfo]:
        """Layers of ``block`` (by default only those a checkbox controls)."""
        return [layer for layer in self.layers if layer.block == block and (layer.selectable or not selectable_only)]

    @property
    def selectable_names(self) -> list[str]:
        """Names of the layers a freeze choice can change, in model order."""
        return [layer.name for layer in self.layers if layer.selectable]

    @property
    def all_names(self) -> tuple[str, ...]:
        """Every layer name :func:`resolve_freeze` needs, in model order."""
        return self.names or tuple(layer.name for layer in self.layers)

    @property
    def total_params(self) -> int:
        """Parameters of the whole backbone."""
        return sum(layer.trainable + layer.fixed for layer in self.layers)


# ------------------------------------------------------------------ freezing


def resolve_freeze(backbone_layers: Sequence[str], key: str, freeze_cfg: FreezeConfig) -> set[str]:
    """Name the backbone layers that a freeze config keeps frozen.

    A pure function of layer names, shared by :func:`tlstudio.model.apply_freeze`,
    the GUI and tests. BatchNorm layers are frozen anyway by ``apply_freeze``;
    this only answers for the selection.

    Args:
        backbone_layers: Backbone layer names in model order.
        key: Backbone registry key (for block names).
        freeze_cfg: The selection: ``all``, ``none``, ``blocks``, ``up_to`` or ``layers``.
            ``up_to`` accepts a layer name or a block name (freezes through
            the block's last layer).

    Raises:
        ConfigError: a named block or layer does not exist; the message lists the choices.
    """
    names = list(backbone_layers)
    mode = freeze_cfg.mode
    if mode == "all":
        return set(names)
    if mode == "none":
        return set()
    blocks = backbones.assign_blocks(names, key)
    if mode == "blocks":
        valid = backbones.get_spec(key).blocks
        unknown = [b for b in freeze_cfg.blocks if b not in valid]
        if unknown:
            raise ConfigError(f"Unknown block(s) {unknown}; {key} has blocks {list(valid)}. Received: blocks={list(freeze_cfg.blocks)}")
        wanted = set(freeze_cfg.blocks)
        return {n for n, b in zip(names, blocks) if b in wanted}
    if mode == "up_to":
        target = freeze_cfg.up_to
        if target in names:
            last = names.index(target)
        elif target in blocks:
            last = len(blocks) - 1 - blocks[::-1].index(target)
        else:
            raise ConfigError(
                f"freeze up_to names no layer or block of {key} (e.g. {names[len(names) // 2]!r} or "
                f"{backbones.get_spec(key).blocks[1]!r}). Received: up_to={target!r}"
            )
        return set(names[: last + 1])
    if mode == "layers":
        unknown = [n for n in freeze_cfg.layers if n not in names]
        if unknown:
            raise ConfigError(f"Unknown layer(s) of {key}: {unknown[:8]}. Received: layers={list(freeze_cfg.layers)[:8]}")
        return set(freeze_cfg.layers)
    raise ConfigError(f"Unknown freeze mode. Received: mode={mode!r}")  # pragma: no cover - config validates


def frozen_for(layout: BackboneLayout, freeze: FreezeConfig) -> set[str]:
    """The selectable layers of ``layout`` that ``freeze`` keeps frozen (what the checkboxes show).

    Raises:
        ConfigError: ``freeze`` names blocks or layers this backbone lacks
            (a selection made for another backbone).
    """
    frozen = resolve_freeze(layout.all_names, layout.key, freeze)
    return {name for name in layout.selectable_names if name in frozen}


def frozen_or_all(layout: BackboneLayout, freeze: FreezeConfig) -> tuple[set[str], str]:
    """:func:`frozen_for`, or every layer frozen with a note saying what was dropped.

    Returns:
        ``(frozen, note)``; ``note`` is "" when ``freeze`` fits ``layout``, else
        a sentence naming the selection that was set aside and why.
    """
    try:
        return frozen_for(layout, freeze), ""
    except ConfigError as exc:
        note = (
            f"The freeze selection ({freeze.mode}) does not fit {layout.key}, so every layer is shown frozen "
            f"until you choose again: {exc}"
        )
        return set(layout.selectable_names), note


def freeze_config_for(layout: BackboneLayout, frozen: Iterable[str]) -> FreezeConfig:
    """The simplest :class:`FreezeConfig` that freezes exactly ``frozen``.

    ``"all"`` or ``"none"`` when everything or nothing is frozen, ``"blocks"``
    when the frozen layers are exactly some whole blocks, else ``"layers"``
    with the exact names in model order. Names that are not selectable
    layers of ``layout`` are ignored.
    """
    frozen = set(frozen)
    names = layout.selectable_names
    if all(n in frozen for n in names):
        return FreezeConfig(mode="all")
    if not any(n in frozen for n in names):
        return FreezeConfig(mode="none")
    whole = [b for b in layout.blocks if layout.block_layers(b) and all(layer.name in frozen for layer in layout.block_layers(b))]
    covered = {layer.name for b in whole for layer in layout.block_layers(b)}
    if covered == frozen & set(names):
        return FreezeConfig(mode="blocks", blocks=tuple(whole))
    return FreezeConfig(mode="layers", layers=tuple(n for n in names if n in frozen))


def preset_frozen(layout: BackboneLayout, preset: str) -> set[str]:
    """Frozen layer names for a preset key (``"all"``, ``"last"``, ``"none"``).

    Raises:
        ValueError: ``preset`` is not one of :data:`PRESET_KEYS`.
    """
    names = set(layout.selectable_names)
    if preset == "all":
        return names
    if preset == "none":
        return set()
    if preset == "last":
        blocks = [b for b in layout.blocks if layout.block_layers(b)]
        last = blocks[-1] if blocks else ""
        return names - {layer.name for layer in layout.block_layers(last)}
    raise ValueError(f"preset must be one of {', '.join(repr(k) for k in PRESET_KEYS)}. Received: {preset!r}")


# ------------------------------------------------------------------ counting


def head_param_count(head: HeadConfig, feature_shape: Sequence[int], num_classes: int) -> int:
    """Trainable parameters of the head :func:`tlstudio.model.build_head` builds.

    Pooling and dropout hold no weights; every Dense layer has
    ``inputs * units + units``. ``"flatten"`` feeds ``h * w * channels``
    values to the first Dense layer, the global poolings ``channels``. The
    input statistics of ``head_norm`` never train: see :func:`head_stat_count`.

    Raises:
        ConfigError: fewer than 2 classes, or ``feature_shape`` is not ``(h, w, channels)``.
    """
    if num_classes < 2:
        raise ConfigError(f"A classifier needs at least 2 classes. Received: num_classes={num_classes}")
    width = _pooled_width(head, feature_shape)
    total = 0
    for spec in head.dense:
        total += width * spec.units + spec.units
        width = spec.units
    return total + width * num_classes + num_classes


def head_stat_count(head: HeadConfig, feature_shape: Sequence[int]) -> int:
    """Non-trainable values of the head: ``head_norm``'s mean and variance per pooled feature, and its count.

    Raises:
        ConfigError: ``feature_shape`` is not ``(h, w, channels)``.
    """
    return 2 * _pooled_width(head, feature_shape) + 1


def _pooled_width(head: HeadConfig, feature_shape: Sequence[int]) -> int:
    shape = tuple(int(d) for d in feature_shape)
    if len(shape) != 3:
        raise ConfigError(f"The head expects a (height, width, channels) feature map. Received: {tuple(feature_shape)}")
    return shape[0] * shape[1] * shape[2] if head.pooling == "flatten" else shape[2]


def fine_tune_counts(layout: BackboneLayout, frozen: Iterable[str], head_params: int, head_stats: int = 0) -> ParamCounts:
    """Parameters of the full model while fine-tuning (phase 2) with ``frozen`` kept frozen.

    What :func:`tlstudio.model.apply_freeze` followed by
    :func:`tlstudio.model.param_counts` reports: the head always trains,
    BatchNorm never does, and a backbone with nothing left to train stays
    frozen as a whole.

    Args:
        layout: The backbone.
        frozen: Layers kept frozen.
        head_params: Trainable parameters of the head (:func:`head_param_count`).
        head_stats: Its non-trainable input statistics (:func:`head_stat_count`).
    """
    frozen = set(frozen)
    trainable = sum(layer.trainable for layer in layout.layers if layer.name not in frozen)
    fixed = sum(layer.fixed + (layer.trainable if layer.name in frozen else 0) for layer in layout.layers) + head_stats
    return ParamCounts(trainable + head_params, fixed, trainable + fixed + head_params)


def head_training_counts(layout: BackboneLayout, head_params: int, head_stats: int = 0) -> ParamCounts:
    """Parameters of the full model while the head trains alone (phase 1): the whole backbone frozen.

    ``head_params`` and ``head_stats`` as for :func:`fine_tune_counts`.
    """
    total = layout.total_params + head_stats
    return ParamCounts(head_params, total, total + head_params)
