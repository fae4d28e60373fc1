"""Analysis on pooled backbone features: the transfer probe and the dataset audit.

Light at import: the modules here import Keras, scikit-learn, imagehash and
cleanlab inside their functions only.

* :mod:`~tlstudio.analysis.kfold`: stratified k-fold fits of a linear head, with
  out-of-fold probabilities (shared by the probe and the audit).
* :mod:`~tlstudio.analysis.probe`: score every cut.
* :mod:`~tlstudio.analysis.audit`: duplicates, leaks, label issues, outliers, imbalance.
* :mod:`~tlstudio.analysis.sweep`: the head sweep, its trials and its store.

The pooled features they work on come from :mod:`tlstudio.features`.
"""
