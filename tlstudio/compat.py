"""Everything that depends on Keras internals or on one Keras version's behaviour.

tlstudio relies on a few things Keras does not promise. They live here, each
behind one function, and ``tests/core/test_compat.py`` has one contract test
per item that fails when an installed Keras stops behaving as relied on:

* :func:`producing_layer`: which layer made a symbolic tensor
  (``tensor._keras_history.operation``);
* :func:`functional_graph` and :func:`graph_nodes`: a model's graph in
  execution order (``Sequential._functional``, ``Functional._nodes_by_depth``);
* :func:`without_optimizers`: saving a compiled model without its optimizer
  state (``model.optimizer = None``, ``model.compiled = False``);
* :func:`finalize_layer_state` and :func:`match_efficientnet_imagenet_scaling`:
  ``Normalization`` keeps constants that only ``finalize_state`` refreshes,
  and Keras' EfficientNet adds an input rescaling only on its ``"imagenet"``
  branch;
* :func:`imagenet_file_name` and :func:`imagenet_url`: the file names and
  download addresses ``keras.applications`` uses for ImageNet weights;
* :func:`skip_single_replica_all_reduce`: the TensorFlow optimizer's
  ``_all_reduce_sum_gradients``, replaced by the identity on one replica;
* :func:`op_determinism`: TensorFlow's public API can turn op determinism on
  (``tf.config.experimental.enable_op_determinism``) but not off again, so
  the engine, which runs many jobs in one process, uses the framework
  module's ``disable_op_determinism`` and ``is_op_determinism_enabled``.

Importing this module is cheap: Keras is imported inside the functions.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

from tlstudio.errors import ConfigError

# --------------------------------------------------------------------------- graph


def producing_layer(tensor: Any) -> Any:
    """The layer (or nested model) whose call produced the symbolic ``tensor``."""
    return tensor._keras_history.operation


def functional_graph(model: Any) -> Any:
    """The functional graph behind ``model``: itself, a built Sequential's inner Functional, or None."""
    import keras

    if isinstance(model, keras.Sequential):
        return getattr(model, "_functional", None)
    if getattr(model, "_nodes_by_depth", None):
        return model
    return None


def graph_nodes(graph: Any) -> list:
    """The nodes of a functional graph (from :func:`functional_graph`) in execution order."""
    by_depth = graph._nodes_by_depth
    return [node for depth in sorted(by_depth, reverse=True) for node in by_depth[depth]]


# --------------------------------------------------------------------------- saving


@contextlib.contextmanager
def without_optimizers(model: Any) -> Iterator[None]:
    """Detach the optimizers (and compile state) of ``model`` and its nested models meanwhile.

    Keras writes a compiled model's optimizer state into ``save_weights`` and
    ``.keras`` files; for Adam that triples a VGG16 checkpoint (59 -> 176 MB),
    and a ``.keras`` file saved compiled warns about the missing optimizer
    variables on every load. A new optimizer is made for each phase anyway, so
    checkpoints and the usable model hold layer weights only, and
    ``model.keras`` loads uncompiled, ready for ``predict``.
    """
    import keras

    owners = [model] + [layer for layer in getattr(model, "layers", ()) if isinstance(layer, keras.Model)]
    saved = [(owner, getattr(owner, "optimizer", None), getattr(owner, "compiled", False)) for owner in owners]
    try:
        for owner, optimizer, compiled in saved:
            if optimizer is not None:
                owner.optimizer = None
            if compiled:
                owner.compiled = False
        yield
    finally:
        for owner, optimizer, compiled in saved:
            if optimizer is not None:
                owner.optimizer = optimizer
            if compiled:
                owner.compiled = True


# --------------------------------------------------------------------------- layer state


def finalize_layer_state(layer: Any) -> None:
    """Make ``layer`` use weights just given to it with ``set_weights``.

    ``Normalization`` computes with constants made from its mean and variance
    variables, refreshed only by ``finalize_state`` (as Keras' own loaders do).
    """
    if hasattr(layer, "finalize_state"):
        layer.finalize_state()


@contextlib.contextmanager
def normalization_as_constants(model: Any) -> Iterator[None]:
    """Within the block, every ``Normalization`` layer of ``model`` computes with NumPy constants.

    After ``finalize_state`` a ``Normalization`` layer holds its mean and
    variance as eager tensors made outside any graph; the ONNX converter
    turns such captured tensors into extra graph inputs that no caller feeds
    ("Required inputs (['…/head_norm/Sub/y:0', …]) are missing"). NumPy arrays
    are converted inside ``call`` instead, so they become graph constants.
    The layers get their tensors back afterwards.
    """
    import keras
    import numpy as np

    saved = []
    stack = [model]
    while stack:
        layer = stack.pop()
        stack.extend(getattr(layer, "layers", ()))
        if isinstance(layer, keras.layers.Normalization) and getattr(layer, "mean", None) is not None:
            saved.append((layer, layer.mean, layer.variance))
            layer.mean = np.asarray(layer.mean)
            layer.variance = np.asarray(layer.variance)
    try:
        yield
    finally:
        for layer, mean, variance in saved:
            layer.mean, layer.variance = mean, variance


EFFICIENTNET_STDDEV_RGB = (0.229, 0.224, 0.225)
"""Per-channel ImageNet standard deviation of ``keras.applications.efficientnet``."""


def match_efficientnet_imagenet_scaling(model: Any) -> None:
    """Give a file-loaded EfficientNet the input scaling of ``weights="imagenet"``.

    With ``weights="imagenet"`` Keras adds a ``Rescaling(1 / sqrt(stddev))``
    after the stem's ``Normalization``; loading the same file by path does
    not. Multiplying the normalisation variance by ``stddev`` gives the same
    output, since ``(x - mean) / sqrt(var * s) == (x - mean) / sqrt(var) / sqrt(s)``.
    """
    import keras
    import numpy as np

    norm = next(layer for layer in model.layers if isinstance(layer, keras.layers.Normalization))
    mean, variance, *rest = norm.get_weights()
    norm.set_weights([mean, variance * np.asarray(EFFICIENTNET_STDDEV_RGB, variance.dtype), *rest])
    finalize_layer_state(norm)


# --------------------------------------------------------------------------- ImageNet files

KERAS_APPLICATIONS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"
"""Download folder of the VGG, ResNet and MobileNetV2 ImageNet weights."""

EFFICIENTNET_URL = "https://storage.googleapis.com/keras-applications/"
"""Download folder of the EfficientNet ImageNet weights."""

MOBILENET_V2_SIZES = (96, 128, 160, 192, 224)
"""Input sizes with their own MobileNetV2 weights file; other sizes use the 224 one."""


def imagenet_file_name(family: str, key: str, image_size: int) -> str:
    """The file ``keras.applications`` downloads for backbone ``key`` without its top.

    Args:
        family: The backbone family (``"vgg"``, ``"resnet"``, ``"resnet_v2"``,
            ``"mobilenet_v2"``, ``"efficientnet"``).
        key: The registry key, which is Keras' own model name (``"resnet50v2"``).
        image_size: Input side (only MobileNetV2's file depends on it).

    Raises:
        ConfigError: no ImageNet file is known for ``family``.
    """
    if family in ("vgg", "resnet", "resnet_v2"):
        return f"{key}_weights_tf_dim_ordering_tf_kernels_notop.h5"
    if family == "mobilenet_v2":
        rows = image_size if image_size in MOBILENET_V2_SIZES else 224
        return f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{rows}_no_top.h5"
    if family == "efficientnet":
        return f"{key}_notop.h5"
    raise ConfigError(f"No ImageNet weights are known for this backbone family. Received: {family!r} ({key!r})")


def imagenet_url(family: str, key: str, image_size: int) -> str:
    """Where ``keras.applications`` downloads :func:`imagenet_file_name` from."""
    name = imagenet_file_name(family, key, image_size)
    folder = {"vgg": f"{key}/", "resnet": "resnet/", "resnet_v2": "resnet/", "mobilenet_v2": "mobilenet_v2/"}
    if family == "efficientnet":
        return f"{EFFICIENTNET_URL}{name}"
    return f"{KERAS_APPLICATIONS_URL}{folder[family]}{name}"


# --------------------------------------------------------------------------- optimizer


def skip_single_replica_all_reduce(optimizer: Any) -> bool:
    """Make ``optimizer`` skip the gradient all-reduce, which is the identity on one replica.

    Keras' TensorFlow optimizer sums the gradients over replicas with
    ``ReplicaContext.all_reduce`` even under the default (one-replica)
    strategy. Traced in a ``tf.function``, that all-reduce is a
    ``tf.custom_gradient`` whose gradient function TensorFlow registers in its
    process-wide gradient registry and never removes; its closure holds
    tensors of the traced graph, so every sweep trial's ``train_step`` graph
    (about 2 MB) stayed alive for the life of the engine process.

    Returns:
        True when the optimizer now skips it; False under a distribution
        strategy (nothing changes) or when the optimizer has no such method.
    """
    import tensorflow as tf

    if tf.distribute.has_strategy() or not hasattr(optimizer, "_all_reduce_sum_gradients"):
        return False
    optimizer._all_reduce_sum_gradients = lambda grads_and_vars: list(grads_and_vars)
    return True


# --------------------------------------------------------------------------- determinism


@contextlib.contextmanager
def op_determinism(enabled: bool) -> Iterator[None]:
    """Within the block, TensorFlow's op determinism is on when ``enabled``; afterwards as before.

    With ``enabled`` False nothing changes. The flag is process-wide, so the
    caller must be the only job running (``train`` is an exclusive job).
    """
    if not enabled:
        yield
        return
    from tensorflow.python.framework import config as tf_config

    before = tf_config.is_op_determinism_enabled()
    tf_config.enable_op_determinism()
    try:
        yield
    finally:
        if not before:
            tf_config.disable_op_determinism()
