"""Where training runs: CPU, one GPU, several GPUs, several machines.

:func:`select_strategy` picks a :mod:`tf.distribute` strategy:

* ``TF_CONFIG`` set in the environment -> :class:`MultiWorkerMirroredStrategy`
  (every worker runs the same command; see the README). It must be created
  before TensorFlow runs any op, so ``tlstudio-cli train`` creates it first
  thing and passes it to ``run_training``;
* more than one visible GPU -> ``MirroredStrategy`` over all of them;
* otherwise the default strategy, which places work on the one GPU when
  there is one, else on the CPU.

``TrainConfig.batch_size`` is always the *global* batch: under a mirrored
strategy each replica gets ``batch_size / num_replicas_in_sync`` images per
step, so the optimisation (and the learning rate that suits it) is the same
on one device or many.

Across several workers (``run_training`` calls these; each is a no-op on one machine):

* :class:`MultiWorkerMirroredStrategy` mends the two ``strategy.reduce`` calls
  of Keras 3's ``fit`` that TensorFlow's multi-worker strategy rejects;
* :func:`check_same_run` stops every worker, naming the difference, when
  they were started with different options or hold different splits;
* :func:`distribute_ready` shards the datasets by data and keeps every
  replica's share of a batch non-empty (:func:`train_steps`,
  :func:`eval_batch_size`);
* only the chief writes the run folder (:func:`is_chief`, from
  :mod:`tlstudio.training.cluster`); the others use
  :func:`tlstudio.training.run_folder.worker_scratch_dir`.

The compute precision is chosen by :mod:`tlstudio.precision` and set on the
model's layers (never as the process-wide Keras policy); the model's softmax
output layer is float32 under any precision.
"""

from __future__ import annotations

import json
import logging
import math
import os

import numpy as np
import tensorflow as tf

from tlstudio.errors import ConfigError
from tlstudio.training.cluster import is_chief, role

_log = logging.getLogger(__name__)
_GPU_ERRORS_LOGGED: set[str] = set()  # each reason is logged once per process

__all__ = [
    "MultiWorkerMirroredStrategy",
    "any_worker",
    "check_same_run",
    "describe_devices",
    "distribute_ready",
    "eval_batch_size",
    "gpus",
    "is_chief",
    "is_multi_worker",
    "replicas",
    "role",
    "select_strategy",
    "train_steps",
    "workers_agree",
]


def gpus() -> list:
    """Visible physical GPUs; none, with a logged warning saying why, when TensorFlow cannot list them."""
    try:
        return tf.config.list_physical_devices("GPU")
    except Exception as exc:  # noqa: BLE001 - a broken CUDA install must not stop CPU training
        reason = f"{type(exc).__name__}: {exc}"
        if reason not in _GPU_ERRORS_LOGGED:
            _GPU_ERRORS_LOGGED.add(reason)
            _log.warning("TensorFlow could not list the GPUs, so training runs on the CPU: %s", reason)
        return []


class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """``tf.distribute.MultiWorkerMirroredStrategy`` with the ``reduce`` that Keras 3's ``fit`` calls.

    Keras 3 (3.15 here) calls ``strategy.reduce`` in two ways that
    ``tf.distribute``'s multi-worker strategy rejects, so every worker of a
    ``fit`` failed:

    * once per ``fit``, on the whole first ``(inputs, labels)`` batch with
      ``axis=None``, only to learn its shapes and build the metrics
      symbolically. ``Strategy.reduce`` does not support a nest (a TODO in
      TensorFlow), and with several workers the tuple reaches the collective
      all-reduce as one value: ``ValueError: Attempt to convert a value
      (PerReplica:{...}) ... to a Tensor``. Reducing each leaf would not do
      either: a global batch that does not split evenly (29 images on two
      workers: 15 and 14) gives the workers different shapes, and the
      collective fails. A nest (which only that call passes) gets this
      worker's own first replica's values, with no collective at all.
    * every step, on the scalar loss and metrics with ``axis=0``, which does
      not exist on a scalar: ``ValueError: Invalid reduction dimension 0 for
      input with 0 dimensions``. A scalar is reduced across replicas only
      (``axis=None``), which is the mean Keras asks for.

    Anything else goes through unchanged.
    """

    def reduce(self, reduce_op, value, axis):  # noqa: D102 - documented on the class
        if isinstance(value, (tuple, list, dict)):
            return tf.nest.map_structure(lambda v: self.experimental_local_results(v)[0], value)
        if axis is not None and _rank(self, value) == 0:
            axis = None
        return super().reduce(reduce_op, value, axis)


def _rank(strategy: tf.distribute.Strategy, value) -> int | None:
    """The rank of one replica's part of ``value`` (None when unknown)."""
    local = strategy.experimental_local_results(value)
    shape = getattr(local[0], "shape", None) if local else None
    return None if shape is None else shape.rank


def select_strategy(*, allow_multi_worker: bool = True) -> tf.distribute.Strategy:
    """The distribution strategy for this machine (see the module docstring).

    Args:
        allow_multi_worker: Honour ``TF_CONFIG`` (multi-machine training).
    """
    if allow_multi_worker and os.environ.get("TF_CONFIG"):
        return MultiWorkerMirroredStrategy()
    if len(gpus()) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def replicas(strategy: tf.distribute.Strategy) -> int:
    """Replicas that share each global batch."""
    return int(getattr(strategy, "num_replicas_in_sync", 1) or 1)


def describe_devices(strategy: tf.distribute.Strategy | None = None, *, precision: str = "float32") -> str:
    """One line saying where training runs, e.g. ``"CPU (2 cores), default strategy, float32"``.

    Args:
        strategy: The strategy in use; None describes :func:`select_strategy`'s choice.
        precision: The precision the run computes in (resolved, with its reason when known).
    """
    strategy = strategy or select_strategy()
    gpu_list = gpus()
    name = type(strategy).__name__
    n = replicas(strategy)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        try:
            workers = len(json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {}).get("worker", []))
        except ValueError:
            workers = 0
        where = f"{workers} workers, {n} replicas"
    elif gpu_list:
        where = f"{len(gpu_list)} GPU" + ("s" if len(gpu_list) > 1 else "")
    else:
        cpus = tf.config.list_logical_devices("CPU")
        where = f"CPU ({os.cpu_count() or 1} cores" + (f", {len(cpus)} logical devices" if len(cpus) > 1 else "") + ")"
    strategy_text = "default strategy" if name in ("_DefaultDistributionStrategy", "DefaultDistributionStrategy") else f"{name} x{n}"
    return f"{where}, {strategy_text}, {precision}"


def is_multi_worker(strategy: tf.distribute.Strategy | None) -> bool:
    """Whether ``strategy`` spans several workers (``TF_CONFIG``)."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and int(getattr(strategy.extended, "_num_workers", 1)) > 1


def train_steps(num_train: int, batch_size: int, strategy: tf.distribute.Strategy | None) -> int:
    """Training batches per epoch: all of them, less a last batch too small to give every replica an image.

    Across workers each global batch is split between the replicas; a last
    batch of fewer images than replicas leaves one with none, and TensorFlow's
    CPU convolution fails on an empty batch ("input depth must be evenly
    divisible by filter depth"). That batch is skipped: the images it would
    hold (fewer than the replicas) change every epoch with the shuffle.
    """
    full, rest = divmod(num_train, batch_size)
    if rest and is_multi_worker(strategy) and rest < replicas(strategy):
        return full
    return math.ceil(num_train / batch_size)


def eval_batch_size(num_val: int, batch_size: int, strategy: tf.distribute.Strategy | None) -> int:
    """A validation batch size whose every batch gives each replica at least one image.

    Validation must see every image, so instead of skipping a small last batch
    (see :func:`train_steps`) the batch size is lowered until the last batch
    is empty or large enough; for a tiny split, one batch holds it all.

    Raises:
        ConfigError: the validation split has fewer images than replicas.
    """
    n = replicas(strategy)
    rest = num_val % batch_size
    if not is_multi_worker(strategy) or num_val == 0 or rest == 0 or rest >= n:
        return batch_size
    if num_val < n:
        raise ConfigError(
            f"the validation split has {num_val} images, fewer than the {n} replicas training across workers: each needs at least one. "
            f"Raise the validation fraction (--val) or train on fewer workers. Received: {num_val} validation images"
        )
    for size in range(min(batch_size, num_val), n - 1, -1):
        if num_val % size == 0 or num_val % size >= n:
            return size
    return num_val


def distribute_ready(train_ds, val_ds, *, num_train: int, num_val: int, batch_size: int, strategy: tf.distribute.Strategy | None):
    """``(train_ds, val_ds)`` ready for ``fit`` under ``strategy``; unchanged unless it spans several workers.

    Across workers:

    * every dataset is sharded by data (``AutoShardPolicy.DATA``): each
      worker runs the same seeded pipeline, splits every global batch between
      the replicas and keeps its part, so together the workers see each image
      once per epoch. (The datasets are built from an index range, not from
      files, so sharding by file is impossible; ``AUTO`` would fall back to
      this with a warning.) Each worker reads every image of a batch;
    * the last training batch is skipped when it is too small for every
      replica to get an image (:func:`train_steps`), and the validation
      batches are resized so that every replica gets one (:func:`eval_batch_size`).

    Args:
        train_ds: Batched ``(inputs, labels)`` training dataset.
        val_ds: Batched validation dataset, or None.
        num_train: Training examples.
        num_val: Validation examples.
        batch_size: The global batch size of both datasets.
        strategy: The strategy ``fit`` runs under.
    """
    if not is_multi_worker(strategy):
        return train_ds, val_ds
    if batch_size < replicas(strategy):
        raise ConfigError(
            f"the batch size {batch_size} is smaller than the {replicas(strategy)} replicas training across workers; "
            f"each replica needs at least one image per batch. Raise --batch-size. Received: batch_size={batch_size}"
        )
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    steps = train_steps(num_train, batch_size, strategy)
    if steps < math.ceil(num_train / batch_size):
        train_ds = train_ds.take(steps)
    train_ds = train_ds.with_options(options)
    if val_ds is not None:
        size = eval_batch_size(num_val, batch_size, strategy)
        if size != batch_size:
            val_ds = val_ds.unbatch().batch(size)
        val_ds = val_ds.with_options(options)
    return train_ds, val_ds


def _digest(text: str) -> int:
    """A 56-bit digest of ``text``: exact in an int64 tensor on every device."""
    import hashlib

    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:7], "big")


def workers_agree(strategy: tf.distribute.Strategy | None, texts: list[str]) -> list[int]:
    """For each of ``texts``, how many different values the workers hold (1: they all agree).

    One all-gather of a digest per text and replica; every worker must call
    it at the same point with as many texts (they run the same code). On one
    machine nothing is exchanged and every count is 1.
    """
    if not is_multi_worker(strategy) or not texts:
        return [1] * len(texts)
    values = [_digest(t) for t in texts]
    local = strategy.experimental_distribute_values_from_function(lambda ctx: tf.constant([values], tf.int64))
    gathered = np.asarray(strategy.gather(local, axis=0))  # [replicas, len(texts)]
    return [len(set(column.tolist())) for column in gathered.T]


def _leaves(value, prefix: str = "") -> dict[str, str]:
    """``{"train.batch_size": "32", ...}`` from a nested dict, values as JSON."""
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for key, item in value.items():
            out.update(_leaves(item, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): json.dumps(value, sort_keys=True)}


def check_same_run(strategy: tf.distribute.Strategy | None, config, data) -> None:
    """Refuse to train when the workers' settings or datasets differ.

    Different settings (``--batch-size``, ``--epochs``...) or a different
    copy of the dataset make workers run different steps; their collectives
    then hang or fail with a shape mismatch deep inside TensorFlow. Every
    worker compares a digest of its settings (all but the data folder and the
    run folder) and of its split (each image's path relative to the data
    folder, its label, its split) with the others', and all stop with the
    same error when they differ.

    Args:
        strategy: The run's strategy; nothing is checked on one machine.
        config: The :class:`~tlstudio.config.RunConfig`.
        data: The prepared dataset (``class_names``, ``train``, ``val``, ``test``).

    Raises:
        ConfigError: naming what differs and this worker's side of it.
    """
    if not is_multi_worker(strategy):
        return
    import dataclasses
    import os

    from tlstudio.config import to_dict

    me = role()
    who = me.describe().split(" (")[0] if me else "this worker"
    settings = dataclasses.replace(config, data=dataclasses.replace(config.data, root=""), run_dir="", resume_from="")
    fields = _leaves(to_dict(settings))
    differ = [name for name, n in zip(fields, workers_agree(strategy, list(fields.values()))) if n > 1]
    if differ:
        shown = ", ".join(f"{name}={fields[name]}" for name in differ[:6]) + (" ..." if len(differ) > 6 else "")
        raise ConfigError(
            f"the workers were started with different settings ({', '.join(differ[:6])}): run the same tlstudio-cli train "
            f"options on every worker (only the data folder's location may differ). Received on {who}: {shown}"
        )
    root = config.data.root or (os.path.dirname(config.resume_from) if config.resume_from else "")
    lines = [json.dumps(list(data.class_names))]
    for split in ("train", "val", "test"):
        for item in getattr(data, split, ()):
            rel = os.path.relpath(item.path, root) if root else item.path
            lines.append(f"{split}\t{item.label}\t{rel}")
    if (n := workers_agree(strategy, ["\n".join(lines)])[0]) > 1:
        raise ConfigError(
            f"the workers' datasets differ ({n} different splits): put the same files at the same place on every host. "
            f"Received on {who}: {len(data.train)} training, {len(data.val)} validation and {len(data.test)} test images "
            f"in {len(data.class_names)} classes under {root or 'the data folder'} (digest {_digest(chr(10).join(lines)):014x})"
        )


def any_worker(strategy: tf.distribute.Strategy | None):
    """A function ``flag -> whether any worker's flag is set``, for :class:`~tlstudio.training.callbacks.CancelCallback`.

    Returns None on one machine. Across workers each call is one all-reduce
    of a scalar, so every worker must call it at the same points (after each
    batch: the workers run the same steps). It runs as a ``tf.function``:
    measured on two localhost CPU workers of a loaded machine, 3.7 ms a call
    against 15 ms eagerly.
    """
    if not is_multi_worker(strategy):
        return None

    @tf.function
    def total(flag):
        return strategy.reduce("SUM", strategy.run(tf.identity, args=(flag,)), axis=None)

    def agree(flag: bool) -> bool:
        return float(total(tf.constant(1.0 if flag else 0.0, tf.float32))) > 0.0

    return agree
