"""The cut points of a backbone: where a probe or a truncated model may take its features.

A cut is the last layer of each block of the registry's block structure
(:func:`tlstudio.backbones.assign_blocks`): ``block1_pool`` ... ``block5_pool``
for VGG, the stage outputs ``pool1_pool``, ``conv2_block3_out`` ...
``conv5_block3_out`` (``post_relu`` for the V2 networks) for ResNet. Plain
Python: it works on layer names, so it needs no Keras.
"""

from __future__ import annotations

from typing import Sequence

from tlstudio.backbones import BackboneSpec, assign_blocks, get_spec


def cut_points(layer_names: Sequence[str], spec_or_key: BackboneSpec | str) -> tuple[str, ...]:
    """The cut layers of a backbone, input to output.

    Args:
        layer_names: The backbone's layer names in model order (input layers included or not).
        spec_or_key: The backbone's registry spec or key.

    Returns:
        The last layer of each block, in block order; blocks without layers are skipped.
    """
    spec = get_spec(spec_or_key) if isinstance(spec_or_key, str) else spec_or_key
    names = [n for n in layer_names if not n.startswith("input")]
    last: dict[str, str] = {}
    for name, block in zip(names, assign_blocks(names, spec)):
        last[block] = name
    return tuple(last[b] for b in spec.blocks if b in last)


def depth_sentence(index: int, count: int) -> str:
    """What a cut at position ``index`` of ``count`` says about the images, in one clause."""
    if count <= 1 or index == count - 1:
        return (
            "the deepest features transfer best, so these images are close to what the backbone was trained on; "
            "fine-tuning the last block may still help"
        )
    if index <= (count - 1) / 3:
        return (
            "only early, general features (edges, colours, textures) transfer, so these images are far from "
            "what the backbone was trained on; consider cutting there or other weights"
        )
    return (
        "mid-level features (textures and parts) transfer better than the last block's, which are specific to "
        "the backbone's training images; cutting the backbone there gives a smaller, better model"
    )
