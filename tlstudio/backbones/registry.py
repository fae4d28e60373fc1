"""The registry of backbones: what each one is, its input sizes and how its layers group into blocks.

The registry (:data:`BACKBONES`, :func:`get_spec`, :func:`block_of`,
:func:`assign_blocks`) is plain Python so the GUI can list backbones and name
their blocks without importing TensorFlow; :func:`layer_blocks` reads a built
model and imports Keras inside the function.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from tlstudio.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import keras


@dataclass(frozen=True)
class BackboneSpec:
    """What the app knows about one backbone before building it.

    Attributes:
        key: Registry key, the ``backbone`` value of a ``ModelConfig``.
        display_name: Name shown to people, e.g. ``"ResNet50 V2"``.
        family: ``"vgg"``, ``"resnet"``, ``"resnet_v2"``, ``"mobilenet_v2"`` or ``"efficientnet"``.
        default_size: The input side the ImageNet weights were trained at.
        min_size: The smallest input side the architecture accepts.
        blocks: Block names in input-to-output order (see :func:`block_of`).
        description: One or two plain sentences for the GUI.
        keras_name: The constructor in ``keras.applications``, e.g. ``"ResNet50V2"``.
        keras_module: The ``keras.applications`` sub-module holding its ``preprocess_input``.
        preprocess_mode: ``"caffe"`` (RGB to BGR, subtract the ImageNet mean),
            ``"tf"`` (scale to [-1, 1]) or ``"raw"`` (the network rescales itself).
        imagenet_mb: Approximate size of the ImageNet weights file without the top, in MB.
    """

    key: str
    display_name: str
    family: str
    default_size: int
    min_size: int
    blocks: tuple[str, ...]
    description: str
    keras_name: str
    keras_module: str = ""
    preprocess_mode: str = "caffe"
    imagenet_mb: float = 0.0


_RESNET_BLOCKS = ("conv1", "conv2_x", "conv3_x", "conv4_x", "conv5_x")
_VGG_BLOCKS = ("block1", "block2", "block3", "block4", "block5")


def _resnet(key: str, display: str, keras_name: str, depth: int, v2: bool, mb: float) -> BackboneSpec:
    if v2:
        how = (
            "pre-activation version (BatchNorm and ReLU before each convolution); "
            "expects pixels scaled to [-1, 1]"
        )
    else:
        how = "original version; expects BGR pixels minus the ImageNet mean"
    return BackboneSpec(
        key=key,
        display_name=display,
        family="resnet_v2" if v2 else "resnet",
        default_size=224,
        min_size=32,
        blocks=_RESNET_BLOCKS,
        description=(
            f"Residual network, {depth} layers deep, {how}. Stages conv1 (stem), "
            "conv2_x to conv5_x go from edges and textures to object parts."
        ),
        keras_name=keras_name,
        keras_module="resnet_v2" if v2 else "resnet",
        preprocess_mode="tf" if v2 else "caffe",
        imagenet_mb=mb,
    )


BACKBONES: dict[str, BackboneSpec] = {
    "vgg16": BackboneSpec(
        key="vgg16",
        display_name="VGG16",
        family="vgg",
        default_size=224,
        min_size=32,
        blocks=_VGG_BLOCKS,
        description=(
            "Simple stack of 3x3 convolutions in five blocks (13 conv layers). Large and slow "
            "but easy to inspect; a classic first choice for transfer learning."
        ),
        keras_name="VGG16",
        keras_module="vgg16",
        preprocess_mode="caffe",
        imagenet_mb=58.9,
    ),
    "vgg19": BackboneSpec(
        key="vgg19",
        display_name="VGG19",
        family="vgg",
        default_size=224,
        min_size=32,
        blocks=_VGG_BLOCKS,
        description="VGG16 with one more convolution in blocks 3 to 5 (16 conv layers). Slightly more accurate, slower.",
        keras_name="VGG19",
        keras_module="vgg19",
        preprocess_mode="caffe",
        imagenet_mb=80.1,
    ),
    "resnet50": _resnet("resnet50", "ResNet50", "ResNet50", 50, False, 94.7),
    "resnet101": _resnet("resnet101", "ResNet101", "ResNet101", 101, False, 171.4),
    "resnet152": _resnet("resnet152", "ResNet152", "ResNet152", 152, False, 234.7),
    "resnet50v2": _resnet("resnet50v2", "ResNet50 V2", "ResNet50V2", 50, True, 94.4),
    "resnet101v2": _resnet("resnet101v2", "ResNet101 V2", "ResNet101V2", 101, True, 171.3),
    "resnet152v2": _resnet("resnet152v2", "ResNet152 V2", "ResNet152V2", 152, True, 234.5),
    "mobilenetv2": BackboneSpec(
        key="mobilenetv2",
        display_name="MobileNetV2",
        family="mobilenet_v2",
        default_size=224,
        min_size=32,
        blocks=("stem",) + tuple(f"block_{i}" for i in range(17)) + ("top",),
        description=(
            "Small, fast network built from inverted residual blocks (3.5 M parameters). "
            "A good choice on a laptop CPU; expects pixels scaled to [-1, 1]."
        ),
        keras_name="MobileNetV2",
        keras_module="mobilenet_v2",
        preprocess_mode="tf",
        imagenet_mb=9.4,
    ),
    "efficientnetb0": BackboneSpec(
        key="efficientnetb0",
        display_name="EfficientNetB0",
        family="efficientnet",
        default_size=224,
        min_size=32,
        blocks=("stem",) + tuple(f"block{i}" for i in range(1, 8)) + ("top",),
        description=(
            "Small, accurate network (5.3 M parameters) scaled for efficiency. It rescales "
            "and normalises pixels itself, so it takes raw 0-255 pixels."
        ),
        keras_name="EfficientNetB0",
        keras_module="efficientnet",
        preprocess_mode="raw",
        imagenet_mb=16.7,
    ),
}
"""Every backbone the app offers, by registry key, in display order."""


def get_spec(key: str) -> BackboneSpec:
    """Return the :class:`BackboneSpec` registered under ``key``.

    Raises:
        ConfigError: when ``key`` is not a registered backbone.
    """
    spec = BACKBONES.get(key)
    if spec is None:
        raise ConfigError(f"Unknown backbone; choose one of {', '.join(BACKBONES)}. Received: backbone={key!r}")
    return spec


def _as_spec(spec_or_key: BackboneSpec | str) -> BackboneSpec:
    return spec_or_key if isinstance(spec_or_key, BackboneSpec) else get_spec(spec_or_key)


def resolve_image_size(key: str, image_size: int) -> int:
    """The input side to build at: ``image_size``, or the default when it is 0.

    Raises:
        ConfigError: when the size is below the backbone's minimum.
    """
    spec = get_spec(key)
    size = image_size or spec.default_size
    if size < spec.min_size:
        raise ConfigError(
            f"{spec.display_name} needs images of at least {spec.min_size} px. Received: image_size={image_size}"
        )
    return size


# --------------------------------------------------------------------------- blocks

_VGG_RE = re.compile(r"^(block\d+)_")
_RESNET_RE = re.compile(r"^conv(\d)_block\d+_")
_MOBILENET_RE = re.compile(r"^block_(\d+)_")
_EFFICIENTNET_RE = re.compile(r"^block(\d)[a-z]_")


def block_of(spec_or_key: BackboneSpec | str, layer_name: str) -> str | None:
    """Name the block a backbone layer belongs to, from its name alone.

    VGG: ``block1`` .. ``block5`` from the ``blockN_`` prefix. ResNet (v1 and
    v2): ``conv1`` for the stem (``conv1_*``, ``pool1_*``), ``conv2_x`` ..
    ``conv5_x`` from ``convN_blockM_*``; the v2 ``post_bn``/``post_relu`` belong
    to ``conv5_x``. MobileNetV2: ``stem`` (``Conv1``), ``block_0``
    (``expanded_conv_*``) .. ``block_16``, ``top`` (``Conv_1``, ``out_relu``).
    EfficientNet: ``stem``, ``block1`` .. ``block7``, ``top``.

    Returns:
        The block name, or None for layers whose name does not say (the input
        layer, auto-named pooling layers); :func:`layer_blocks` places those
        with their neighbours.
    """
    spec = _as_spec(spec_or_key)
    name = layer_name
    if spec.family == "vgg":
        m = _VGG_RE.match(name)
        return m.group(1) if m and m.group(1) in spec.blocks else None
    if spec.family in ("resnet", "resnet_v2"):
        m = _RESNET_RE.match(name)
        if m:
            return f"conv{m.group(1)}_x"
        if name.startswith(("conv1_", "pool1_")):
            return "conv1"
        if name in ("post_bn", "post_relu"):
            return "conv5_x"
        return None
    if spec.family == "mobilenet_v2":
        m = _MOBILENET_RE.match(name)
        if m:
            return f"block_{int(m.group(1))}"
        if name.startswith("expanded_conv_"):
            return "block_0"
        if name in ("Conv1", "bn_Conv1", "Conv1_relu"):
            return "stem"
        if name in ("Conv_1", "Conv_1_bn", "out_relu"):
            return "top"
        return None
    if spec.family == "efficientnet":
        m = _EFFICIENTNET_RE.match(name)
        if m:
            return f"block{m.group(1)}"
        if name.startswith("stem_") or re.match(r"^(rescaling|normalization)(_\d+)?$", name):
            return "stem"
        if name.startswith("top_"):
            return "top"
        return None
    return None  # pragma: no cover - every family is handled above


def assign_blocks(layer_names: Sequence[str], spec_or_key: BackboneSpec | str) -> list[str]:
    """Give every layer, in order, a block; unnamed layers join their neighbours.

    A layer :func:`block_of` cannot place takes the block of the layer before
    it (the first layers take the first block that follows).
    """
    spec = _as_spec(spec_or_key)
    blocks: list[str | None] = [block_of(spec, n) for n in layer_names]
    filled: list[str | None] = []
    last: str | None = None
    for b in blocks:
        last = b or last
        filled.append(last)
    first = next((b for b in blocks if b), spec.blocks[0])
    return [b or first for b in filled]


def layer_blocks(backbone_model: "keras.Model", key: str) -> dict[str, list[str]]:
    """Map each block of ``backbone_model`` to its layer names, in order.

    The input layer is left out. Blocks follow ``BACKBONES[key].blocks`` order.
    """
    spec = get_spec(key)
    names = _layer_names(backbone_model)
    result: dict[str, list[str]] = {b: [] for b in spec.blocks}
    for name, block in zip(names, assign_blocks(names, spec)):
        result.setdefault(block, []).append(name)
    return result


def _layer_names(backbone_model: "keras.Model") -> list[str]:
    import keras

    return [l.name for l in backbone_model.layers if not isinstance(l, keras.layers.InputLayer)]
