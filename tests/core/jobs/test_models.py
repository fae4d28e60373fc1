"""The engine's model cache: LRU eviction, one load per model, a lock per model, ModelRef checks."""

from __future__ import annotations

import threading
import time

import pytest

from tlstudio.config import ModelConfig
from tlstudio.errors import ConfigError
from tlstudio.model_cache import ModelCache
from tlstudio.api.model_ref import ModelRef


class Thing:
    """A stand-in for a loaded model: the cache stores whatever its loader returns."""

    def __init__(self, name):
        self.name = name
        self.model = None


def test_least_recently_used_model_is_dropped_first():
    cache = ModelCache(capacity=2)
    a = cache.get(("a",), lambda: Thing("a"))
    cache.get(("b",), lambda: Thing("b"))
    assert cache.get(("a",), lambda: Thing("a2")) is a  # a is now the most recent
    cache.get(("c",), lambda: Thing("c"))
    assert len(cache) == 2 and cache.loads == 3
    assert cache.get(("a",), lambda: Thing("a3")) is a
    assert cache.get(("b",), lambda: Thing("b2")).name == "b2"  # b was dropped and is loaded again
    assert cache.loads == 4


def test_two_jobs_asking_for_one_model_load_it_once():
    cache = ModelCache()
    calls = []

    def slow_load():
        calls.append(1)
        time.sleep(0.2)
        return Thing("m")

    got = []
    threads = [threading.Thread(target=lambda: got.append(cache.get(("m",), slow_load))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(calls) == 1 and len({id(g) for g in got}) == 1


def test_a_model_lock_excludes_a_second_user_until_released():
    cache = ModelCache()
    model = cache.get(("m",), lambda: Thing("m"))
    lock = cache.lock(model)
    assert cache.lock(model) is lock
    order = []
    with lock:
        t = threading.Thread(target=lambda: (cache.lock(model).acquire(), order.append("second"), cache.lock(model).release()))
        t.start()
        time.sleep(0.1)
        order.append("first done")
    t.join(5)
    assert order == ["first done", "second"]


def test_model_lock_is_shared_by_a_loaded_model_and_its_keras_model(monkeypatch):
    from tlstudio import model_cache as models

    cache = ModelCache()
    monkeypatch.setattr(models, "CACHE", cache)
    loaded = Thing("loaded")
    loaded.model = Thing("keras")
    assert models.model_lock(loaded) is models.model_lock(loaded.model)


def test_a_model_ref_names_exactly_one_model():
    assert ModelRef(path="/runs/a").label == "trained model /runs/a"
    assert ModelRef(backbone="vgg16", image_size=64).label == "vgg16 backbone at 64 px (untrained weights)"
    assert "from the Model page" in ModelRef(model_config=ModelConfig(backbone="resnet50")).label
    with pytest.raises(ConfigError, match="exactly one"):
        ModelRef()
    with pytest.raises(ConfigError, match="Received: path='/x'"):
        ModelRef(path="/x", backbone="vgg16")


def test_a_bare_keras_file_without_class_names_can_still_be_inspected(tmp_path, monkeypatch):
    import keras

    from tlstudio import model_cache as models

    monkeypatch.setattr(models, "CACHE", ModelCache())
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs)))
    path = tmp_path / "bare.keras"
    keras.Model(inputs, outputs).save(path)
    model = models.keras_model(ModelRef(path=str(path)))
    assert [layer.__class__.__name__ for layer in model.layers][1] == "Conv2D"
    assert models.keras_model(ModelRef(path=str(path))) is model and models.CACHE.loads == 1
    with pytest.raises(Exception, match="no class names"):
        models.loaded_model(ModelRef(path=str(path)))  # prediction still needs them
