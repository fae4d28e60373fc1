"""Where training runs: CPU, one GPU, several GPUs, several machines.

:func:`select_strategy` picks a :mod:`tf.distribute` strategy:

* ``TF_CONFIG`` set in the environment -> ``MultiWorkerMirroredStrategy``
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

Mixed precision (``mixed_float16``) is applied only when a GPU is visible; on
CPU it would be slower and less accurate. The model's softmax output layer is
float32 under any policy.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Iterator

import keras
import tensorflow as tf

from tlstudio.training.cluster import is_chief, role

__all__ = ["describe_devices", "gpus", "is_chief", "precision_policy", "replicas", "role", "select_strategy"]


def gpus() -> list:
    """Visible physical GPUs."""
    try:
        return tf.config.list_physical_devices("GPU")
    except Exception:  # noqa: BLE001 - a broken CUDA install must not stop CPU training
        return []


class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """``tf.distribute.MultiWorkerMirroredStrategy`` with the ``reduce`` that Keras 3's ``fit`` calls.

    Keras 3 (3.15 here) calls ``strategy.reduce`` in two ways that
    ``tf.distribute``'s multi-worker strategy rejects, so every worker of a
    ``fit`` failed:

    * once per ``fit``, on the whole first ``(inputs, labels)`` batch with
      ``axis=None``, to build the metrics symbolically. ``Strategy.reduce``
      does not support a nest (a TODO in TensorFlow), and with several workers
      the tuple reaches the collective all-reduce as one value:
      ``ValueError: Attempt to convert a value (PerReplica:{...}) ... to a
      Tensor``. Here each leaf is reduced on its own, in the same order on
      every worker, so the collectives match.
    * every step, on the scalar loss and metrics with ``axis=0``, which does
      not exist on a scalar: ``ValueError: Invalid reduction dimension 0 for
      input with 0 dimensions``. A scalar is reduced across replicas only
      (``axis=None``), which is the mean Keras asks for.

    Anything else goes through unchanged.
    """

    def reduce(self, reduce_op, value, axis):  # noqa: D102 - documented on the class
        if isinstance(value, (tuple, list, dict)):
            return tf.nest.map_structure(lambda v: self.reduce(reduce_op, v, axis), value)
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


def describe_devices(strategy: tf.distribute.Strategy | None = None, *, mixed_precision: bool = False) -> str:
    """One line saying where training runs, e.g. ``"CPU (2 threads), default strategy"``.

    Args:
        strategy: The strategy in use; None describes :func:`select_strategy`'s choice.
        mixed_precision: Whether mixed precision was asked for.
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
    precision = "mixed_float16" if (mixed_precision and gpu_list) else "float32"
    return f"{where}, {strategy_text}, {precision}"


@contextlib.contextmanager
def precision_policy(mixed_precision: bool) -> Iterator[str]:
    """Set the Keras dtype policy for a run and restore the previous one afterwards.

    Yields the policy name in use: ``"mixed_float16"`` when asked for and a GPU
    is visible, else ``"float32"``.
    """
    previous = keras.config.dtype_policy()
    name = "mixed_float16" if (mixed_precision and gpus()) else "float32"
    keras.config.set_dtype_policy(name)
    try:
        yield name
    finally:
        keras.config.set_dtype_policy(previous)
