"""Cut points of a backbone: the layers a model may end at, known without building it, and the cut itself.

Plain Python except :func:`truncate_backbone`, which imports Keras inside the function.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tlstudio.backbones.registry import get_spec
from tlstudio.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import keras

_RESNET_STAGES = {"resnet50": (3, 4, 6, 3), "resnet101": (3, 4, 23, 3), "resnet152": (3, 8, 36, 3)}
_MOBILENETV2_CUTS = (
    "Conv1_relu", "expanded_conv_project_BN", "block_1_project_BN", "block_2_add", "block_3_project_BN",
    "block_4_add", "block_5_add", "block_6_project_BN", "block_7_add", "block_8_add", "block_9_add",
    "block_10_project_BN", "block_11_add", "block_12_add", "block_13_project_BN", "block_14_add",
    "block_15_add", "block_16_project_BN", "out_relu",
)  # fmt: skip
_EFFICIENTNETB0_CUTS = (
    "stem_activation", "block1a_project_bn", "block2b_add", "block3b_add", "block4c_add",
    "block5c_add", "block6d_add", "block7a_project_bn", "top_activation",
)  # fmt: skip


def cut_points(key: str) -> tuple[str, ...]:
    """The layers a model of backbone ``key`` may be cut at, input to output, without building it.

    The last layer of each block (what :func:`tlstudio.features.cuts.cut_points`
    finds on the built model; a test checks the two agree): ``block1_pool`` ..
    ``block5_pool`` for VGG, the stage outputs for ResNet, each block's output
    for MobileNetV2 and EfficientNetB0. The last one is the whole backbone.

    Raises:
        ConfigError: unknown backbone.
    """
    spec = get_spec(key)
    if spec.family == "vgg":
        return tuple(f"{b}_pool" for b in spec.blocks)
    if spec.family in ("resnet", "resnet_v2"):
        stages = _RESNET_STAGES[key[:-2] if key.endswith("v2") else key]
        outs = tuple(f"conv{i}_block{n}_out" for i, n in enumerate(stages, start=2))
        return ("pool1_pool",) + (outs[:-1] + ("post_relu",) if spec.family == "resnet_v2" else outs)
    if spec.family == "mobilenet_v2":
        return _MOBILENETV2_CUTS
    if spec.family == "efficientnet":
        return _EFFICIENTNETB0_CUTS
    raise ConfigError(f"No cut points are known for {spec.display_name}. Received: backbone={key!r}")  # pragma: no cover


def check_cut(key: str, cut: str) -> None:
    """Refuse a ``cut`` that is not a cut point of backbone ``key`` ("" is the whole backbone).

    Raises:
        ConfigError: naming the backbone's cut points and ``Received: cut=...``.
    """
    if not cut:
        return
    points = cut_points(key)
    if cut not in points:
        raise ConfigError(
            f"cut must be a cut point of {get_spec(key).display_name} ({', '.join(points)}) or \"\" for the whole "
            f"backbone. Received: cut={cut!r}"
        )


def truncate_backbone(backbone_model: "keras.Model", key: str, cut: str) -> "keras.Model":
    """The backbone up to and including layer ``cut``, sharing its layers and weights.

    Args:
        backbone_model: A backbone made by :func:`~tlstudio.backbones.build.build_backbone` (the whole network).
        key: Its registry key.
        cut: A cut point (:func:`cut_points`), or "" for the whole backbone.

    Returns:
        ``backbone_model`` itself when ``cut`` is "" or its last layer, else a
        functional model of the same name from its input to ``cut``'s output.

    Raises:
        ConfigError: ``cut`` is not a cut point of ``key``.
    """
    import keras

    check_cut(key, cut)
    if not cut or cut == backbone_model.layers[-1].name:
        return backbone_model
    return keras.Model(backbone_model.inputs, backbone_model.get_layer(cut).output, name=backbone_model.name)
