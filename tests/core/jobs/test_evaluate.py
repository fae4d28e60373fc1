"""The ``evaluate`` and ``predict`` engine jobs, run in-process with a list as the sink.

A tiny hand-weighted Keras model tells red images from blue ones: a 1x1
identity convolution (so Grad-CAM has a layer to explain), the mean colour,
then softmax((red - blue) / 50, (blue - red) / 50).
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tlstudio.cancel import CancelToken
from tlstudio.config import DataConfig
from tlstudio.errors import ConfigError, ModelFileError
from tlstudio.evaluation.runner import BATCH_SIZE
from tlstudio.events import LogMessage, Progress
from tlstudio.jobs import run_job
from tlstudio.api.evaluate import EvaluateConfig, PredictConfig, PredictResult
from tlstudio.model_cache import CACHE
from tlstudio.api.model_ref import ModelRef

ROOT = Path(__file__).resolve().parents[3]


def _save_model(path: Path, conv: bool = True) -> None:
    import keras

    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(3, 1, name="conv", use_bias=False)(inputs) if conv else inputs
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs)
    if conv:
        model.get_layer("conv").set_weights([np.eye(3, dtype=np.float32).reshape(1, 1, 3, 3)])
    kernel = np.array([[1.0, -1.0], [0.0, 0.0], [-1.0, 1.0]], np.float32) / 50.0
    model.get_layer("predictions").set_weights([kernel, np.zeros(2, np.float32)])
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    (path.parent / "labels.txt").write_text("red\nblue\n")


def _image(path: Path, rgb: tuple[int, int, int], size: int = 20) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), rgb).save(path)
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("jobs-evaluate")
    _save_model(root / "model" / "model.keras")
    _save_model(root / "dense" / "model.keras", conv=False)
    for i, rgb in enumerate([(250, 0, 0), (200, 20, 10), (180, 0, 60), (90, 0, 160)]):
        _image(root / "data" / "red" / f"r{i}.png", rgb)
    for i, rgb in enumerate([(0, 0, 250), (10, 30, 200), (40, 0, 120)]):
        _image(root / "data" / "blue" / f"b{i}.png", rgb)
    for i in range(3 * BATCH_SIZE // 2):  # enough images for several batches
        _image(root / "many" / "red" / f"r{i}.png", (200, i, 0))
        _image(root / "many" / "blue" / f"b{i}.png", (0, i, 200))
    return root


def test_evaluate_job_returns_metrics_per_split(files):
    events: list[object] = []
    config = EvaluateConfig(str(files / "model" / "model.keras"), DataConfig(root=str(files / "data"), val_fraction=0.0), ("all",))
    results = run_job("evaluate", config, events.append)
    assert list(results) == ["all"]
    result = results["all"]
    assert result.metrics.confusion.tolist() == [[3, 1], [0, 3]]
    assert [os.path.basename(r.path) for r in result.mistakes()] == ["r3.png"]
    assert any(isinstance(e, Progress) and e.stage == "evaluate" for e in events)
    copy = pickle.loads(pickle.dumps(results))["all"]  # crosses the process boundary whole
    assert copy.metrics.confusion.tolist() == [[3, 1], [0, 3]] and copy.cell(0, 1)[0].path == result.cell(0, 1)[0].path


def test_predict_again_on_the_same_model_does_not_reload_it(files):
    ref = ModelRef(path=str(files / "model" / "model.keras"))
    image = str(files / "data" / "blue" / "b1.png")
    CACHE.clear()
    loads = CACHE.loads
    first = run_job("predict", PredictConfig(ref, (image,), gradcam=True))
    assert CACHE.loads == loads + 1
    second = run_job("predict", PredictConfig(ref, (str(files / "data" / "red" / "r0.png"),)))
    assert CACHE.loads == loads + 1  # served from the engine's model cache
    assert first.class_names == ("red", "blue") and first.rows[0].pred == 1 and second.rows[0].pred == 0
    assert first.gradcam_error is None
    assert first.overlay.dtype == np.uint8 and first.overlay.shape == (20, 20, 3)
    assert second.overlay is None and second.gradcam_error is None  # not asked for


def test_predict_folder_keeps_readable_rows_and_says_why_others_were_skipped(files, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a picture")
    paths = (str(files / "data" / "red" / "r0.png"), str(bad), str(files / "data" / "blue" / "b0.png"))
    result = run_job("predict", PredictConfig(str(files / "model" / "model.keras"), paths, gradcam=True))
    assert [Path(r.path).name for r in result.rows] == ["r0.png", "b0.png"]
    assert [r.true for r in result.rows] == [-1, -1]
    assert [p for p, _ in result.skipped] == [str(bad)]
    assert result.overlay is None and result.gradcam_error is None  # Grad-CAM is for one image only


def test_grad_cam_failure_keeps_the_prediction_and_records_why(files):
    events: list[object] = []
    image = str(files / "data" / "red" / "r0.png")
    result = run_job("predict", PredictConfig(str(files / "dense" / "model.keras"), (image,), gradcam=True), events.append)
    assert result.rows[0].pred == 0 and result.overlay is None
    assert result.gradcam_error  # this model has no convolution to explain
    warnings = [e.message for e in events if isinstance(e, LogMessage) and e.level == "warning"]
    assert warnings == [f"Grad-CAM of {image} unavailable: {result.gradcam_error}"]


def test_cancel_stops_an_evaluation_early(files):
    token = CancelToken()
    events: list[object] = []

    def sink(event: object) -> None:
        events.append(event)
        if isinstance(event, Progress) and event.stage == "evaluate":
            token.cancel()  # after the first batch

    config = EvaluateConfig(files / "model" / "model.keras", DataConfig(root=str(files / "many"), val_fraction=0.0), ("all",))
    results = run_job("evaluate", config, sink, token)
    total = 3 * BATCH_SIZE
    assert results["all"].cancelled
    assert results["all"].metrics.num_images == BATCH_SIZE < total
    assert [e.done for e in events if isinstance(e, Progress) and e.stage == "evaluate"] == [BATCH_SIZE]


@pytest.mark.parametrize("job", ["evaluate", "predict"])
def test_damaged_model_file_gives_a_model_file_error_naming_it(job, files, tmp_path):
    bad = tmp_path / "damaged.keras"
    bad.write_bytes(b"PK\x03\x04 this zip ends here")
    (tmp_path / "labels.txt").write_text("red\nblue\n")
    config = (
        EvaluateConfig(str(bad), str(files / "data"), ("all",))
        if job == "evaluate"
        else PredictConfig(str(bad), (str(files / "data" / "red" / "r0.png"),))
    )
    with pytest.raises(ModelFileError) as info:
        run_job(job, config)
    assert str(bad) in str(info.value)


def test_configs_refuse_what_cannot_work():
    with pytest.raises(ConfigError, match=r"Received: splits=\('validation',\)"):
        EvaluateConfig("m.keras", None, ("validation",))
    with pytest.raises(ConfigError, match="Received: paths=()"):
        PredictConfig("m.keras", ())
    with pytest.raises(ConfigError, match="Received: None"):
        PredictConfig(None, ("a.png",))
    assert EvaluateConfig(Path("m.keras"), Path("data"), ["val"]) == EvaluateConfig(ModelRef(path="m.keras"), "data", ("val",))


def test_results_reach_a_process_without_tensorflow(files, tmp_path):
    """What the jobs return unpickles in a process that has not imported TensorFlow (the GUI)."""
    model = str(files / "model" / "model.keras")
    evaluated = run_job("evaluate", EvaluateConfig(model, DataConfig(root=str(files / "data"), val_fraction=0.0), ("all",)))
    predicted = run_job("predict", PredictConfig(model, (str(files / "data" / "red" / "r0.png"),), gradcam=True))
    assert isinstance(predicted, PredictResult) and predicted.overlay is not None
    dump = tmp_path / "results.pickle"
    dump.write_bytes(pickle.dumps((evaluated, predicted)))
    code = (
        "import pickle, sys\n"
        f"evaluated, predicted = pickle.loads(open({str(dump)!r}, 'rb').read())\n"
        "print(evaluated['all'].metrics.accuracy, predicted.overlay.shape, sorted({'tensorflow', 'keras'} & set(sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    accuracy, shape = proc.stdout.split(" ", 1)
    assert float(accuracy) == pytest.approx(6 / 7) and shape.strip() == "(20, 20, 3) []"
