"""The one model loader: every exported format loads, predicts alike, and fails with one wording."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.support.tiny_model import CLASS_NAMES, SIZE, build_tiny_model
from tlstudio.config import ExportConfig
from tlstudio.errors import ModelFileError
from tlstudio.export import FORMAT_TOLERANCES, available_formats, export_model
from tlstudio.io import model_files as io_models
from tlstudio.io.model_files import LoadedModel, find_model, load_keras_model, load_model, resolve_model

ROOT = Path(__file__).resolve().parents[3]
TARGETS = {"keras": "model.keras", "savedmodel": "model_savedmodel", "tflite": "model.tflite", "onnx": "model.onnx"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny model exported to every format this environment can write (ONNX needs tf2onnx)."""
    formats = tuple(f for f in ("keras", "savedmodel", "tflite", "onnx") if not available_formats().get(f))
    out = tmp_path_factory.mktemp("io-models")
    model = build_tiny_model(seed=7)
    export_model(model, ExportConfig(formats=formats, out_dir=str(out), verify=False), metadata={"class_names": CLASS_NAMES})
    images = np.random.default_rng(0).uniform(0, 255, (4, SIZE, SIZE, 3)).astype(np.float32)
    return out, formats, images, np.asarray(model.predict(images, verbose=0))


@pytest.mark.parametrize("kind", list(TARGETS))
def test_each_format_loads_with_size_labels_and_kind(exported, kind):
    out, formats, _, _ = exported
    if kind not in formats:
        reason = f"{kind} export is not available: {available_formats().get(kind)}"
        if kind == "onnx":  # an optional extra (pip install tlstudio[onnx])
            pytest.skip(reason)
        pytest.fail(reason)
    loaded = load_model(out / TARGETS[kind])
    assert isinstance(loaded, LoadedModel)
    assert (loaded.kind, loaded.image_size, loaded.num_classes) == (kind, (SIZE, SIZE), len(CLASS_NAMES))
    assert loaded.class_names == tuple(CLASS_NAMES)
    assert loaded.source.model_path == str(out / TARGETS[kind])
    assert (loaded.model is not None) == (kind == "keras")


def test_every_format_gives_the_keras_probabilities(exported):
    out, formats, images, expected = exported
    for kind in formats:
        probs = load_model(out / TARGETS[kind]).predict(images)
        assert probs.shape == expected.shape and probs.dtype == np.float64
        assert float(np.max(np.abs(probs - expected))) <= FORMAT_TOLERANCES[kind], kind


def test_a_run_folder_means_its_model_keras(exported, tmp_path):
    out, _, images, expected = exported
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_bytes((out / "model.keras").read_bytes())
    (run / "class_names.json").write_text(json.dumps(CLASS_NAMES))
    source = resolve_model(run)
    assert (source.model_path, source.kind, source.run_dir) == (str(run / "model.keras"), "keras", str(run))
    np.testing.assert_allclose(load_model(run).predict(images), expected, atol=1e-6)
    assert load_keras_model(run).output_shape == (None, len(CLASS_NAMES))


def test_class_names_are_required_unless_asked_otherwise(exported, tmp_path):
    out, _, _, _ = exported
    bare = tmp_path / "bare.keras"
    bare.write_bytes((out / "model.keras").read_bytes())
    with pytest.raises(ModelFileError, match=r"bare\.keras: it has no class names.*Received: "):
        load_model(bare)
    assert load_model(bare, require_class_names=False).class_names == ("class_0", "class_1", "class_2")
    (tmp_path / "labels.txt").write_text("a\nb\n")
    with pytest.raises(ModelFileError, match=r"its labels list 2 classes but the model has 3 outputs\. Received: \['a', 'b'\]"):
        load_model(bare)


def _damaged(tmp_path: Path, kind: str) -> Path:
    if kind == "savedmodel":
        path = tmp_path / "broken_savedmodel"
        path.mkdir()
        (path / "saved_model.pb").write_bytes(b"\x08\x01 not a protobuf \xff\xfe")
    else:
        path = tmp_path / f"broken.{'keras' if kind == 'keras' else kind}"
        path.write_bytes(b"PK\x03\x04 this is not a model at all")
    (tmp_path / "labels.txt").write_text("\n".join(CLASS_NAMES))
    return path


@pytest.mark.parametrize("kind", list(TARGETS))
def test_a_damaged_file_is_one_model_file_error(tmp_path, kind):
    path = _damaged(tmp_path, kind)
    label = io_models.KIND_LABELS[kind]
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    message = str(info.value)
    assert message.startswith(f"Cannot load {path}: it cannot be read as a") and f" {label} model. Received: " in message
    assert info.value.path == str(path)


def test_a_missing_file_names_the_path_and_what_was_expected(tmp_path):
    missing = tmp_path / "nope.keras"
    for call in (load_model, resolve_model, load_keras_model, find_model):
        with pytest.raises(ModelFileError) as info:
            call(missing)
        message = str(info.value)
        assert str(missing) in message and "no such model file" in message and "Received: " in message
        assert "use a .keras, .tflite or .onnx file or a SavedModel folder" in message


def test_unknown_files_and_folders_are_refused_before_loading(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ModelFileError, match=r"weights\.bin: it is not a model tlstudio can read.*Received: \.bin"):
        resolve_model(tmp_path / "weights.bin")
    with pytest.raises(ModelFileError, match=r"a folder without saved_model\.pb or model\.keras.*Received: a folder"):
        resolve_model(tmp_path)


def test_load_keras_model_refuses_other_formats(exported):
    out, formats, _, _ = exported
    model = load_keras_model(out / "model.keras")
    assert model.input_shape == (None, SIZE, SIZE, 3)
    with pytest.raises(ModelFileError, match=r"model\.tflite: only a Keras model .*Received: a TFLite model"):
        load_keras_model(out / "model.tflite")


def test_importing_the_io_package_does_not_load_tensorflow():
    code = (
        "import sys, tlstudio.io, tlstudio.io.atomic, tlstudio.io.model_files, tlstudio.io.runners\n"
        "print([m for m in ('tensorflow', 'keras', 'onnxruntime') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_runners_file_stays_free_of_tlstudio_imports():
    # The export verification executes this file in a process that must not import tlstudio.
    tree = ast.parse((ROOT / "tlstudio" / "io" / "runners.py").read_text(encoding="utf-8"))
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m and m.split(".")[0] == "tlstudio"]
