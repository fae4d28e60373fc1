"""Analysis on pooled backbone features: the transfer probe and the dataset audit.

Light at import: the modules here import Keras, scikit-learn, imagehash and
cleanlab inside their functions only.

* :mod:`~tlstudio.analysis.cuts`: the cut points of a backbone (each block's or stage's output).
* :mod:`~tlstudio.analysis.pooled_cache`: one pass over the images stores the
  global-average-pooled features at every cut, as memory-mapped ``.npy`` files.
* :mod:`~tlstudio.analysis.kfold`: stratified k-fold fits of a linear head, with
  out-of-fold probabilities (shared by the probe and the audit).
* :mod:`~tlstudio.analysis.probe`: score every cut.
* :mod:`~tlstudio.analysis.audit`: duplicates, leaks, label issues, outliers, imbalance.
"""
