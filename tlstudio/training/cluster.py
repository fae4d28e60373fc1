"""This process's place in a multi-worker cluster, read from ``TF_CONFIG``.

``TF_CONFIG`` is the JSON TensorFlow reads to join a cluster, e.g.::

    {"cluster": {"worker": ["host1:12345", "host2:12345"]},
     "task": {"type": "worker", "index": 0}}

The chief is the task of type ``"chief"`` when the cluster has one, else
worker 0. Only the chief writes the run folder; every other worker trains
in a private temporary folder that is deleted when its run ends (see
:func:`tlstudio.training.run_folder.worker_scratch_dir`).

``TF_CONFIG`` is checked field by field before TensorFlow reads it
(:func:`validate`), and :data:`WAIT_ENV` bounds how long a worker waits for
the others to join (:func:`wait_for_peers`).

This module is light (no TensorFlow): the CLI reads the role before it
loads Keras, to print it and to skip the ``--out`` check on workers that do
not write there.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import socket

from tlstudio.cancel import CancelToken
from tlstudio.errors import ConfigError

ENV = "TF_CONFIG"

WAIT_ENV = "TLSTUDIO_WORKER_WAIT"
"""Seconds a worker waits for every other worker to join before it stops (default :data:`DEFAULT_WAIT`)."""

DEFAULT_WAIT = 600.0

TASK_TYPES = ("chief", "worker")
"""The task types tlstudio trains with (``MultiWorkerMirroredStrategy``: no parameter servers, no evaluator)."""

_KEYS = frozenset({"cluster", "task", "environment", "rpc_layer"})


@dataclasses.dataclass(frozen=True)
class Role:
    """One task of the cluster.

    Attributes:
        kind: ``"chief"`` or ``"worker"`` (the ``task.type`` of ``TF_CONFIG``).
        index: ``task.index``.
        number: 1-based position among all training tasks (chief first).
        total: Training tasks in the cluster (chief and workers).
        chief: Whether this task writes the run folder.
        address: This task's ``host:port``.
        peers: The other tasks' addresses, in cluster order.
    """

    kind: str
    index: int
    number: int
    total: int
    chief: bool
    address: str = ""
    peers: tuple[str, ...] = ()

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


def _bad(field: str, expected: str, value: object) -> ConfigError:
    return ConfigError(f"{ENV}: {field} must be {expected}. Received: {value!r}")


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_address(field: str, address: object) -> str:
    if not isinstance(address, str) or ":" not in address:
        raise _bad(field, 'a "host:port" text such as "10.0.0.2:12345"', address)
    host, _, port = address.rpartition(":")
    if not host.strip("[]") or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise _bad(field, 'a "host:port" text with a port from 1 to 65535', address)
    return address


def _check_cluster(cluster: object) -> dict[str, list[str]]:
    if not isinstance(cluster, dict) or not cluster:
        raise _bad("cluster", f"a JSON object of task lists, e.g. {{\"worker\": [\"host1:12345\", \"host2:12345\"]}}", cluster)
    seen: dict[str, str] = {}
    out: dict[str, list[str]] = {}
    for kind, members in cluster.items():
        if kind not in TASK_TYPES:
            raise _bad(f"cluster.{kind}", f"absent: tlstudio trains with {' and '.join(TASK_TYPES)} tasks only "
                       "(MultiWorkerMirroredStrategy; no parameter servers or evaluator)", members)
        if not isinstance(members, list):
            raise _bad(f"cluster.{kind}", 'a list of "host:port" addresses', members)
        if not members:
            raise _bad(f"cluster.{kind}", "a list of at least one address (leave the key out otherwise)", members)
        for i, address in enumerate(members):
            _check_address(f"cluster.{kind}[{i}]", address)
            if address in seen:
                raise ConfigError(f"{ENV}: the address {address} is listed twice ({seen[address]} and cluster.{kind}[{i}]); "
                                  f"each task needs its own port. Received: {json.dumps(cluster)[:300]}")
            seen[address] = f"cluster.{kind}[{i}]"
        out[kind] = list(members)
    if len(out.get("chief", [])) > 1:
        raise _bad("cluster.chief", "a list of one chief address (a cluster has at most one chief)", out["chief"])
    return out


def validate(spec: dict) -> Role:
    """Check a parsed ``TF_CONFIG`` field by field and give this process's role.

    TensorFlow itself accepts some wrong values and then waits forever (a text
    ``"index": "0"``) or fails with an internal error; every field is checked
    here first.

    Raises:
        ConfigError: naming the field, what was expected and ``Received: ...``.
    """
    unknown = sorted(set(spec) - _KEYS)
    if unknown:
        raise ConfigError(f"{ENV}: unknown key(s) {', '.join(map(repr, unknown))}; expected \"cluster\" and \"task\". "
                          f"Received: {json.dumps(spec)[:300]}")
    if "cluster" not in spec:
        raise ConfigError(f"{ENV}: 'cluster' is missing; expected the addresses of every worker. Received: {json.dumps(spec)[:300]}")
    cluster = _check_cluster(spec["cluster"])
    task = spec.get("task")
    if not isinstance(task, dict):
        raise ConfigError(f"{ENV}: 'task' must be a JSON object such as {{\"type\": \"worker\", \"index\": 0}} naming this process. "
                          f"Received: {json.dumps(task)}")
    kind = task.get("type")
    if not isinstance(kind, str):
        raise _bad("task.type", f"a text, one of {', '.join(map(repr, TASK_TYPES))}", kind)
    index = task.get("index", 0)
    if not _is_whole(index):
        raise _bad("task.index", "a whole number (0, 1, ..., written without quotes)", index)
    members = cluster.get(kind)
    chiefs = cluster.get("chief", [])
    workers = cluster.get("worker", [])
    if members is None or not 0 <= index < len(members):
        raise ConfigError(
            f"{ENV}: task {kind}:{index} is not in the cluster (chief: {len(chiefs)}, worker: {len(workers)} addresses). "
            f"Received: {json.dumps(spec)[:300]}"
        )
    total = len(chiefs) + len(workers)
    number = index + 1 if kind == "chief" else len(chiefs) + index + 1
    chief = kind == "chief" or (not chiefs and kind == "worker" and index == 0)
    everyone = chiefs + workers
    address = members[index]
    return Role(kind=kind, index=index, number=number, total=total, chief=chief, address=address,
                peers=tuple(a for a in everyone if a != address))


def role() -> Role | None:
    """This process's role, or None when ``TF_CONFIG`` is not set (single-machine training).

    Raises:
        ConfigError: ``TF_CONFIG`` is not valid JSON, a field is wrong (see
            :func:`validate`), or its ``task`` is not in its ``cluster``.
    """
    spec = _spec()
    return None if spec is None else validate(spec)


def wait_seconds() -> float:
    """How long a worker waits for the others to join (``TLSTUDIO_WORKER_WAIT``, default 600 s).

    Raises:
        ConfigError: the variable is not a positive, finite number of seconds.
    """
    raw = os.environ.get(WAIT_ENV, "").strip()
    if not raw:
        return DEFAULT_WAIT
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{WAIT_ENV} must be a positive number of seconds, e.g. 600. Received: {raw!r}")
    return value


class PeersDidNotJoin(ConfigError):
    """The other workers did not answer within :func:`wait_seconds`."""


def _listen(port: int) -> socket.socket:
    """Hold this worker's own port, so that the others find it while it waits for them."""
    try:
        if socket.has_dualstack_ipv6():
            return socket.create_server(("", port), family=socket.AF_INET6, dualstack_ipv6=True, reuse_port=False)
        return socket.create_server(("", port))
    except OSError as exc:
        raise ConfigError(
            f"{ENV}: this worker's port {port} cannot be opened ({exc.strerror or exc}); another program may be using it. "
            f"Choose a free port for this task in {ENV}. Received: port {port}"
        ) from exc


def _answers(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_peers(worker: Role, cancel: CancelToken, timeout: float, *, step: float = 0.2) -> bool:
    """Wait until every other worker's port answers, before TensorFlow joins the cluster.

    TensorFlow's cluster start-up (``MultiWorkerMirroredStrategy()``) blocks
    in native code, holding the interpreter, until every worker answers: no
    signal handler runs and no time limit can stop it, so a worker whose peer
    never came ignored SIGINT and SIGTERM. This wait comes first, in plain
    Python: it holds this worker's own port (so the others see it) and tries
    the others' every ``step`` seconds, checking ``cancel`` (which SIGINT and
    SIGTERM set) and the time limit. It releases the port just before
    TensorFlow takes it.

    Returns:
        True when every other worker answered; False when ``cancel`` was set.

    Raises:
        PeersDidNotJoin: ``timeout`` seconds passed first, naming who did not answer.
        ConfigError: this worker's own port cannot be opened.
    """
    import time

    port = int(worker.address.rpartition(":")[2])
    deadline = time.monotonic() + timeout
    listener = _listen(port)
    try:
        pending = list(worker.peers)
        while True:
            pending = [p for p in pending if not _answers(p)]
            if not pending:
                return True
            if cancel.cancelled:
                return False
            if time.monotonic() >= deadline:
                who = ", ".join(pending)
                raise PeersDidNotJoin(
                    f"{ENV}: {who} did not join within {timeout:g} s ({WAIT_ENV}); start the same command with its own "
                    f"{ENV} on every worker, check the addresses and that their ports are open, or set {WAIT_ENV} higher. "
                    f"Received: no answer from {who}"
                )
            time.sleep(step)
    finally:
        listener.close()


def is_chief() -> bool:
    """True unless ``TF_CONFIG`` names this process as a non-chief worker.

    An unreadable ``TF_CONFIG`` counts as chief here; :func:`role` names the error.
    """
    try:
        found = role()
    except ConfigError:
        return True
    return found is None or found.chief
