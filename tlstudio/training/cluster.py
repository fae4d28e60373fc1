"""This process's place in a multi-worker cluster, read from ``TF_CONFIG``.

``TF_CONFIG`` is the JSON TensorFlow reads to join a cluster, e.g.::

    {"cluster": {"worker": ["host1:12345", "host2:12345"]},
     "task": {"type": "worker", "index": 0}}

The chief is the task of type ``"chief"`` when the cluster has one, else
worker 0. Only the chief writes the run folder; every other worker trains
in a private temporary folder that is deleted when its run ends (see
:func:`tlstudio.training.run_folder.worker_scratch_dir`).

This module is light (no TensorFlow): the CLI reads the role before it
loads Keras, to print it and to skip the ``--out`` check on workers that do
not write there.
"""

from __future__ import annotations

import dataclasses
import json
import os

from tlstudio.errors import ConfigError

ENV = "TF_CONFIG"


@dataclasses.dataclass(frozen=True)
class Role:
    """One task of the cluster.

    Attributes:
        kind: ``"chief"`` or ``"worker"`` (the ``task.type`` of ``TF_CONFIG``).
        index: ``task.index``.
        number: 1-based position among all training tasks (chief first).
        total: Training tasks in the cluster (chief and workers).
        chief: Whether this task writes the run folder.
    """

    kind: str
    index: int
    number: int
    total: int
    chief: bool

    def describe(self) -> str:
        """E.g. ``"worker 1 of 2 (chief)"`` or ``"worker 2 of 2 (writes to a temporary folder)"``."""
        what = "chief" if self.chief else "writes to a temporary folder, deleted at the end"
        return f"{self.kind} {self.number} of {self.total} ({what})"


def _spec() -> dict | None:
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return None
    try:
        spec = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"{ENV} must be JSON like {{\"cluster\": {{\"worker\": [...]}}, \"task\": {{...}}}}. Received: {raw[:200]!r} ({exc})") from None
    if not isinstance(spec, dict):
        raise ConfigError(f"{ENV} must be a JSON object. Received: {raw[:200]!r}")
    return spec


def role() -> Role | None:
    """This process's role, or None when ``TF_CONFIG`` is not set (single-machine training).

    Raises:
        ConfigError: ``TF_CONFIG`` is not valid JSON, or its ``task`` is not in its ``cluster``.
    """
    spec = _spec()
    if spec is None:
        return None
    cluster = spec.get("cluster") or {}
    task = spec.get("task") or {}
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise ConfigError(f"{ENV}: 'cluster' and 'task' must be JSON objects. Received: {json.dumps(spec)[:200]}")
    kind = str(task.get("type", "worker"))
    try:
        index = int(task.get("index", 0))
    except (TypeError, ValueError):
        raise ConfigError(f"{ENV}: task.index must be a whole number. Received: {task.get('index')!r}") from None
    chiefs = list(cluster.get("chief") or [])
    workers = list(cluster.get("worker") or [])
    members = cluster.get(kind)
    if kind not in ("chief", "worker") or not isinstance(members, list) or not 0 <= index < len(members):
        raise ConfigError(
            f"{ENV}: task {kind}:{index} is not in the cluster (chief: {len(chiefs)}, worker: {len(workers)} addresses). "
            f"Received: {json.dumps(spec)[:300]}"
        )
    total = len(chiefs) + len(workers)
    number = index + 1 if kind == "chief" else len(chiefs) + index + 1
    chief = kind == "chief" or (not chiefs and kind == "worker" and index == 0)
    return Role(kind=kind, index=index, number=number, total=total, chief=chief)


def is_chief() -> bool:
    """True unless ``TF_CONFIG`` names this process as a non-chief worker.

    An unreadable ``TF_CONFIG`` counts as chief here; :func:`role` names the error.
    """
    try:
        found = role()
    except ConfigError:
        return True
    return found is None or found.chief
