"""Pooled backbone features, shared by the analyses and by training.

* :mod:`~tlstudio.features.cuts`: the cut points of a backbone (each block's or stage's output).
* :mod:`~tlstudio.features.pooled_cache`: one pass over the images stores the
  global-pooled features at every cut, as memory-mapped ``.npy`` files.
* :mod:`~tlstudio.features.shards`: the sharded row files the cache writes and reads.

This package sits below :mod:`tlstudio.analysis` and :mod:`tlstudio.training`,
which both read the cache. Light at import: Keras loads inside functions only.
"""
