"""The Inspect page's engine jobs, called in-process with a list as the sink."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from tlstudio.cancel import CancelToken
from tlstudio.errors import ConfigError
from tlstudio.events import Progress
from tlstudio.shapes.calculator import CalcLayer, CalcSpec, CalculatorError, example_spec
from tlstudio.jobs import run_job
from tlstudio.api.inspect import (
    ActivationsConfig,
    ActivationsResult,
    CrossCheckConfig,
    FiltersConfig,
    FiltersResult,
    GradCamConfig,
    GradCamResult,
    InspectTableConfig,
)
from tlstudio.model_cache import CACHE
from tlstudio.api.model_ref import ModelRef

SIZE = 32


def small_cnn(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    x = keras.layers.Rescaling(1 / 255.0, name="scale")(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="small")


def save_model(model: keras.Model, path) -> str:
    """Save ``model`` with the labels.txt an export writes next to it (the engine's loader reads both)."""
    model.save(path)
    (path.parent / "labels.txt").write_text("circles\nsquares\nstripes\n", encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> str:
    return save_model(small_cnn(0), tmp_path_factory.mktemp("model") / "small.keras")


@pytest.fixture(scope="module")
def image_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("image") / "img.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(path)
    return str(path)


def test_inspect_table_of_a_model_file(model_file):
    events: list = []
    table = run_job("inspect_table", InspectTableConfig(ModelRef(path=model_file)), events.append)
    assert [r.name for r in table.rows] == ["image", "scale", "conv1", "pool", "conv2", "gap", "predictions"]
    assert table.row("conv1").params == (3 * 3 * 3 + 1) * 8
    assert table.totals.total_params == 224 + (3 * 3 * 8 + 1) * 16 + (16 + 1) * 3
    assert any(isinstance(e, Progress) and e.stage == "inspect" for e in events)
    assert pickle.loads(pickle.dumps(table)).row("conv2").output_shape == (16, 16, 16)


def test_inspect_table_of_a_backbone():
    table = run_job("inspect_table", InspectTableConfig(ModelRef(backbone="vgg16", image_size=SIZE)), [].append)
    assert table.name == "vgg16" and len(table.rows) == 19  # input + 13 conv + 5 pool
    assert table.totals.total_params == 14_714_688


def test_filters_job(model_file):
    first = run_job("filters", FiltersConfig(ModelRef(path=model_file), "conv1"), [].append)
    assert isinstance(first, FiltersResult)
    assert first.mode == "rgb" and first.kernel_shape == (3, 3, 3, 8) and first.shown == 8
    assert first.image.dtype == np.uint8 and first.image.ndim == 3
    deeper = run_job("filters", FiltersConfig(ModelRef(path=model_file), "conv2", mode="channel", channel=5, max_filters=4), [].append)
    assert deeper.mode == "channel" and deeper.channel == 5 and deeper.shown == 4 and deeper.image.ndim == 2


def test_filters_job_refuses_an_unknown_mode(model_file):
    with pytest.raises(ConfigError, match=r"Received: mode='colour'"):
        run_job("filters", FiltersConfig(ModelRef(path=model_file), "conv1", mode="colour"), [].append)


def test_activations_job(model_file, image_file):
    maps = run_job("activations", ActivationsConfig(ModelRef(path=model_file), image_file, "conv2", max_maps=9), [].append)
    assert isinstance(maps, ActivationsResult)
    assert maps.shape == (16, 16, 16) and len(maps.stats) == 16
    means = [s.mean for s in maps.stats]
    assert means == sorted(means, reverse=True)
    assert sorted(s.channel for s in maps.stats) == list(range(16))
    assert maps.image.dtype == np.uint8 and maps.image.shape[0] > 16  # a grid of the first nine maps


def test_gradcam_job(model_file, image_file):
    cam = run_job("gradcam", GradCamConfig(ModelRef(path=model_file), image_file, class_index=1), [].append)
    assert isinstance(cam, GradCamResult)
    assert cam.class_index == 1 and cam.layer == "conv2"
    assert cam.overlay.shape == (40, 48, 3) and cam.overlay.dtype == np.uint8
    assert cam.heatmap.shape == (40, 48) and 0 <= cam.heatmap.min() and cam.heatmap.max() <= 1
    assert cam.probabilities.shape == (3,) and abs(float(cam.probabilities.sum()) - 1) < 1e-4
    assert cam.probability == pytest.approx(float(cam.probabilities[1]))
    chosen = run_job("gradcam", GradCamConfig(ModelRef(path=model_file), image_file, layer="conv1"), [].append)
    assert chosen.layer == "conv1" and chosen.class_index == int(np.argmax(chosen.probabilities))


def test_gradcam_job_on_a_bare_backbone_says_why(image_file):
    with pytest.raises(ValueError, match="one score per class"):
        run_job("gradcam", GradCamConfig(ModelRef(backbone="vgg16", image_size=SIZE), image_file), [].append)


def test_cross_check_job():
    check = run_job("cross_check", CrossCheckConfig(example_spec()), [].append)
    assert check.ok and len(check.rows) == len(example_spec().layers)
    spec = CalcSpec((12, 12, 3), (CalcLayer("conv", f=3, s=1, p=0, k=4), CalcLayer("flatten"), CalcLayer("dense", k=2)))
    check = run_job("cross_check", CrossCheckConfig(spec), [].append)
    assert check.ok and [r.keras_shape for r in check.rows] == [(10, 10, 4), (400,), (2,)]


def test_cross_check_job_floors_like_keras_unless_strict():
    # (13 − 2)/2 + 1 = 6.5: Keras floors to 6; strict refuses it
    spec = CalcSpec((13, 13, 3), (CalcLayer("pool", f=2, s=2, p=0),))
    check = run_job("cross_check", CrossCheckConfig(spec), [].append)
    assert check.ok and check.rows[0].keras_shape == (6, 6, 3)
    with pytest.raises(CalculatorError, match="6.5"):
        run_job("cross_check", CrossCheckConfig(spec, strict=True), [].append)


def test_repeated_jobs_on_one_model_do_not_reload_it_and_a_resaved_file_is_reloaded(tmp_path, image_file):
    path = tmp_path / "again.keras"
    save_model(small_cnn(1), path)
    ref = ModelRef(path=str(path))
    before = CACHE.loads
    first = run_job("filters", FiltersConfig(ref, "conv1"), [].append)
    assert CACHE.loads == before + 1
    run_job("activations", ActivationsConfig(ref, image_file, "conv1"), [].append)
    run_job("gradcam", GradCamConfig(ref, image_file), [].append)
    again = run_job("filters", FiltersConfig(ref, "conv1"), [].append)
    assert CACHE.loads == before + 1  # one load for four jobs
    assert np.array_equal(first.image, again.image)

    save_model(small_cnn(2), path)  # trained again at the same path: other weights
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a coarse-clock file system still sees a change
    changed = run_job("filters", FiltersConfig(ref, "conv1"), [].append)
    assert CACHE.loads == before + 2
    assert not np.array_equal(first.image, changed.image)


def test_a_cancelled_job_returns_none_without_loading(tmp_path, image_file):
    path = tmp_path / "never.keras"
    save_model(small_cnn(3), path)
    token = CancelToken()
    token.cancel()
    before = CACHE.loads
    ref = ModelRef(path=str(path))
    for name, config in (
        ("inspect_table", InspectTableConfig(ref)),
        ("filters", FiltersConfig(ref, "conv1")),
        ("activations", ActivationsConfig(ref, image_file, "conv1")),
        ("gradcam", GradCamConfig(ref, image_file)),
        ("cross_check", CrossCheckConfig(example_spec())),
    ):
        assert run_job(name, config, [].append, token) is None, name
    assert CACHE.loads == before


def test_results_unpickle_in_a_process_without_tensorflow(model_file, image_file, tmp_path):
    ref = ModelRef(path=model_file)
    results = [
        run_job("inspect_table", InspectTableConfig(ref), [].append),
        run_job("filters", FiltersConfig(ref, "conv1"), [].append),
        run_job("activations", ActivationsConfig(ref, image_file, "conv1"), [].append),
        run_job("gradcam", GradCamConfig(ref, image_file), [].append),
        run_job("cross_check", CrossCheckConfig(example_spec()), [].append),
    ]
    blob = tmp_path / "results.pickle"
    blob.write_bytes(pickle.dumps(results))
    code = (
        "import pickle, sys; r = pickle.load(open(sys.argv[1], 'rb')); "
        "print(len(r), [m for m in ('tensorflow', 'keras') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code, str(blob)], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "5 []", out.stderr
