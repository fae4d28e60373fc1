"""The dataset audit's engine work from the GUI: its config, and which files an audit stands for.

The ``"audit"`` job (:mod:`tlstudio.jobs.audit`) looks at the Data page's
dataset and split with the Model page's backbone, weights and size. An audit
is tied to the dataset's file list by a fingerprint
(:func:`~tlstudio.project.audit_record.dataset_fingerprint`), so the GUI can
tell a saved audit of the same files from one that is out of date.
"""

from __future__ import annotations

import os

from tlstudio.api.audit import AuditConfig  # dataclasses only
from tlstudio.project.audit_record import dataset_fingerprint
from ui.state import AppState


def audit_config(state: AppState) -> AuditConfig:
    """The audit of the current dataset with the Model page's backbone, weights and size."""
    return AuditConfig(data=state.data_config, model=state.model_config, precision=state.train_config.precision)


def same_folder(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` are both given and name the same folder."""
    return bool(a) and bool(b) and os.path.realpath(a) == os.path.realpath(b)


def current_fingerprint(state: AppState) -> str:
    """The file-list fingerprint of the state's dataset as last scanned; "" when the scan is not of that folder."""
    prepared = state.prepared_data
    if prepared is None or not same_folder(prepared.root, state.data_config.root):
        return ""
    return dataset_fingerprint(prepared)
