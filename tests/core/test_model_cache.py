"""The engine's model LRU gives a dropped model's memory back (issue 25, item 12).

The issue's case: 80 ``predict`` jobs cycling 5 models in one engine grew
its RSS from 906 to 1,954 MB: every model the LRU dropped stayed alive,
held by its run lock. Here plain objects stand in for the models (a
:class:`LoadedModel` and the Keras model inside it share one lock), and a
weak reference says whether a dropped one is gone. The RSS over real jobs is
``benchmarks/bench_model_cache_memory.py``.
"""

from __future__ import annotations

import gc
import weakref

from tlstudio.model_cache import ModelCache


class _Net:
    """Stands in for a Keras model."""


class _Loaded:
    """Stands in for a LoadedModel: the Keras model is its ``.model``."""

    def __init__(self) -> None:
        self.model = _Net()


def test_a_dropped_model_is_freed_even_after_a_job_held_its_lock():
    cache = ModelCache(capacity=3)
    refs = []
    for i in range(8):  # 5+ models in turn: every get past the third drops one
        value = cache.get(("file", f"m{i % 5}", i), _Loaded)
        with cache.lock(value.model):  # as predict and Grad-CAM do (model_lock locks the Keras model)
            pass
        with cache.lock(value):
            pass
        refs.append((weakref.ref(value), weakref.ref(value.model)))
        del value
    gc.collect()
    alive = [i for i, (loaded, net) in enumerate(refs) if loaded() is not None or net() is not None]
    assert alive == [5, 6, 7]  # only what the LRU keeps
    assert len(cache._locks) <= 2 * cache.capacity


def test_a_lock_asked_for_after_the_drop_does_not_keep_the_model():
    cache = ModelCache(capacity=1)
    first = cache.get("a", _Loaded)
    ref = weakref.ref(first.model)
    cache.get("b", _Loaded)  # a job still holds `first` while another job's load drops it
    with cache.lock(first.model):
        pass
    del first
    gc.collect()
    assert ref() is None


def test_a_dropped_model_is_released(monkeypatch):
    released = []
    cache = ModelCache(capacity=1)
    monkeypatch.setattr("tlstudio.model_cache.release_memory", lambda: released.append(True))
    cache.get("a", _Loaded)
    assert not released
    cache.get("b", _Loaded)
    assert released == [True]
