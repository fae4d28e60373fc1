"""Contract tests: the installed Keras still behaves as tlstudio.compat relies on, one test per item.

When one of these fails after a Keras upgrade, fix the one function in
``tlstudio/compat.py`` it names; nothing else in tlstudio touches these internals.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest

from tlstudio import compat
from tlstudio.backbones import BACKBONES

ROOT = Path(__file__).resolve().parents[2]


def _tiny_functional() -> keras.Model:
    inputs = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(2, 3, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="tiny")


def test_compat_imports_without_keras():
    code = "import sys, tlstudio.compat; print('keras' in sys.modules, 'tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_keras_history_names_the_producing_layer_and_nested_model():
    """Grad-CAM finds the output layer through ``tensor._keras_history.operation``."""
    model = _tiny_functional()
    assert compat.producing_layer(model.outputs[0]) is model.get_layer("predictions")
    inner = _tiny_functional()
    inputs = keras.Input((8, 8, 3))
    outer = keras.Model(inputs, inner(inputs))
    assert compat.producing_layer(outer.outputs[0]) is inner  # a nested model is the operation itself


def test_nodes_by_depth_gives_execution_order_for_functional_and_sequential():
    """The layer table walks ``Functional._nodes_by_depth`` (and ``Sequential._functional``)."""
    model = _tiny_functional()
    assert compat.functional_graph(model) is model
    order = [node.operation.name for node in compat.graph_nodes(model)]
    assert order == ["image", "conv", "pool", "predictions"]

    seq = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d1"), keras.layers.Dense(2, name="d2")])
    graph = compat.functional_graph(seq)
    assert graph is not None and graph is not seq
    assert [n.operation.name for n in compat.graph_nodes(graph)][-2:] == ["d1", "d2"]
    assert compat.functional_graph(keras.layers.Dense(2)) is None


def test_saving_with_optimizers_detached_drops_their_state_and_still_loads(tmp_path):
    """Checkpoints and model.keras are saved with ``optimizer = None`` and ``compiled = False``."""
    model = _tiny_functional()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).uniform(0, 255, (4, 8, 8, 3)).astype("float32")
    model.fit(x, np.array([0, 1, 0, 1]), epochs=1, verbose=0)
    optimizer = model.optimizer

    model.save_weights(tmp_path / "with.weights.h5")
    with compat.without_optimizers(model):
        assert model.optimizer is None and not model.compiled
        model.save(tmp_path / "model.keras")
        model.save_weights(tmp_path / "without.weights.h5")
    assert model.optimizer is optimizer and model.compiled  # restored afterwards
    assert (tmp_path / "without.weights.h5").stat().st_size < (tmp_path / "with.weights.h5").stat().st_size

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "optimizer variables were not loaded" warning
        reloaded = keras.saving.load_model(tmp_path / "model.keras", compile=False)
        fresh = _tiny_functional()
        fresh.load_weights(tmp_path / "without.weights.h5")
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    np.testing.assert_allclose(fresh.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_normalization_uses_set_weights_after_finalize_state():
    """Weights loaded into a Normalization layer count only after ``finalize_state``."""
    inputs = keras.Input((2, 2, 3))
    norm = keras.layers.Normalization(axis=-1)
    model = keras.Model(inputs, norm(inputs))
    mean = np.array([10.0, 20.0, 30.0], "float32")
    variance = np.array([4.0, 16.0, 64.0], "float32")
    norm.set_weights([mean, variance, norm.get_weights()[2]])
    compat.finalize_layer_state(norm)
    x = np.random.default_rng(1).uniform(0, 100, (1, 2, 2, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(model(x)), (x - mean) / np.sqrt(variance), rtol=1e-5)

    # The EfficientNet correction reproduces Keras' "imagenet" branch: Normalization, then Rescaling(1/sqrt(stddev)).
    from keras.src.applications import efficientnet as keras_efficientnet

    assert tuple(keras_efficientnet.IMAGENET_STDDEV_RGB) == compat.EFFICIENTNET_STDDEV_RGB
    compat.match_efficientnet_imagenet_scaling(model)
    expected = (x - mean) / np.sqrt(variance) / np.sqrt(np.asarray(compat.EFFICIENTNET_STDDEV_RGB))
    np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-5)


class _Download(Exception):
    """Raised by the stand-in for ``get_file`` with the name and address Keras asked for."""


def test_imagenet_file_table_matches_what_keras_applications_downloads(monkeypatch):
    """Build one backbone per Keras module with weights="imagenet" and catch its download request."""
    from keras.src.applications import resnet as keras_resnet
    from keras.src.utils import file_utils

    def fake_get_file(fname=None, origin=None, **kwargs):
        raise _Download(fname, origin)

    monkeypatch.setattr(file_utils, "get_file", fake_get_file)
    cases = [("vgg16", 32), ("vgg19", 32), ("resnet50v2", 32), ("mobilenetv2", 160), ("mobilenetv2", 100), ("efficientnetb0", 32)]
    assert {BACKBONES[k].family for k, _ in cases} | {"resnet"} == {spec.family for spec in BACKBONES.values()}
    for key, size in cases:
        spec = BACKBONES[key]
        with pytest.raises(_Download) as info, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MobileNetV2 warns that 100 px uses the 224 weights
            getattr(keras.applications, spec.keras_name)(include_top=False, weights="imagenet", input_shape=(size, size, 3))
        name, url = info.value.args
        assert (compat.imagenet_file_name(spec.family, key, size), compat.imagenet_url(spec.family, key, size)) == (name, url)

    # ResNet v1 and v2 share keras.applications.resnet: every registry key has weights there, at that address.
    for key, spec in BACKBONES.items():
        if spec.family in ("resnet", "resnet_v2"):
            assert key in keras_resnet.WEIGHTS_HASHES
            name = compat.imagenet_file_name(spec.family, key, 224)
            assert compat.imagenet_url(spec.family, key, 224) == f"{keras_resnet.BASE_WEIGHTS_PATH}{name}"


def test_normalization_as_constants_swaps_the_statistics_for_numpy_and_back():
    import keras
    import numpy as np

    from tlstudio import compat

    inputs = keras.Input((3,))
    norm = keras.layers.Normalization(name="norm")
    model = keras.Model(inputs, norm(inputs))
    norm.adapt(np.array([[0.0, 1.0, 2.0], [2.0, 3.0, 4.0]], np.float32))
    before = norm.mean
    with compat.normalization_as_constants(model):
        assert isinstance(norm.mean, np.ndarray) and isinstance(norm.variance, np.ndarray)
        np.testing.assert_allclose(model(np.array([[1.0, 2.0, 3.0]], np.float32)), [[0.0, 0.0, 0.0]], atol=1e-6)
    assert norm.mean is before


def test_the_optimizer_skips_the_single_replica_all_reduce_and_still_trains():
    variable = keras.Variable(np.ones((2,), np.float32))
    optimizer = keras.optimizers.SGD(learning_rate=0.5)
    optimizer.build([variable])
    assert compat.skip_single_replica_all_reduce(optimizer) is True
    optimizer.apply([keras.ops.convert_to_tensor(np.array([1.0, 2.0], np.float32))], [variable])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(variable), [0.5, 0.0])


def test_op_determinism_is_on_inside_the_block_and_as_before_after_it():
    from tensorflow.python.framework import config as tf_config

    assert not tf_config.is_op_determinism_enabled()
    with compat.op_determinism(True):
        assert tf_config.is_op_determinism_enabled()
    assert not tf_config.is_op_determinism_enabled()
    with pytest.raises(RuntimeError), compat.op_determinism(True):
        raise RuntimeError("a failed run")
    assert not tf_config.is_op_determinism_enabled()  # turned off again after an error too
    with compat.op_determinism(False):
        assert not tf_config.is_op_determinism_enabled()
