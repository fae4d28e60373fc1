"""Export: every format reloads outside the app with the app's probabilities.

One tiny trained model, shaped like tlstudio's (raw RGB input, preprocessing
layer, nested frozen "backbone" with BatchNorm called with training=False,
softmax head), is exported once per module to every available format.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import keras  # noqa: E402

from tlstudio.cli import main as cli_main  # noqa: E402
from tlstudio.config import EXPORT_FORMATS, ExportConfig, ModelConfig  # noqa: E402
from tlstudio.errors import ExportError  # noqa: E402
from tlstudio.export import FORMAT_TOLERANCES, available_formats, export_model, export_run  # noqa: E402
from tlstudio.export import exporter as exporter_module  # noqa: E402

from tests.support.tiny_model import CLASS_NAMES, SIZE, build_tiny_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """The session's tiny run (tests.support.tiny_model.make_run_dir); these tests only read it."""
    from tests.support.tiny_run import tiny_run

    return tiny_run(tmp_path_factory)


@pytest.fixture(scope="module")
def formats_here() -> tuple[str, ...]:
    reasons = available_formats()  # int8 calibrates on a run's split manifest: tests/core/export/test_quantize.py
    return tuple(f for f in EXPORT_FORMATS if reasons[f] is None and f != "tflite_int8")


@pytest.fixture(scope="module")
def exported(run_dir, formats_here, tmp_path_factory):
    out = tmp_path_factory.mktemp("export-out") / "export"
    events = []
    result = export_run(run_dir, ExportConfig(formats=formats_here, out_dir=str(out)), sink=events.append)
    return result, out, events


@pytest.fixture(scope="module")
def check_images(run_dir) -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.uniform(0, 255, size=(5, SIZE, SIZE, 3)).astype("float32")


INDEPENDENT_LOADER = textwrap.dedent(
    r'''
    import sys, json, numpy as np
    files, images_npy, out_json = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
    x = np.load(images_npy)
    out = {}
    for fmt, path in files.items():
        if fmt == "keras":
            import keras
            p = keras.saving.load_model(path).predict(x, verbose=0)
        elif fmt == "savedmodel":
            import tensorflow as tf
            p = tf.saved_model.load(path).signatures["serving_default"](image=tf.constant(x))["output_0"].numpy()
        elif fmt.startswith("tflite"):
            import tensorflow as tf
            it = tf.lite.Interpreter(model_path=path)
            i = it.get_input_details()[0]["index"]
            it.resize_tensor_input(i, list(x.shape)); it.allocate_tensors(); it.set_tensor(i, x); it.invoke()
            p = it.get_tensor(it.get_output_details()[0]["index"])
        elif fmt == "onnx":
            import onnxruntime as ort
            s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            p = s.run(None, {s.get_inputs()[0].name: x})[0]
        out[fmt] = np.asarray(p).tolist()
    assert "tlstudio" not in sys.modules, "tlstudio was imported"
    with open(out_json, "w") as fh:
        json.dump(out, fh)
    import os
    os._exit(0)  # written and closed: skip TensorFlow's interpreter teardown (1.2-1.8 s)
    '''
)


@pytest.fixture(scope="module")
def independent_probs(exported, check_images, tmp_path_factory):
    """Predictions of every exported file, computed by our own TF/Keras-only process."""
    result, _, _ = exported
    tmp = tmp_path_factory.mktemp("independent")
    np.save(tmp / "x.npy", check_images)
    proc = subprocess.run(
        [sys.executable, "-I", "-c", INDEPENDENT_LOADER, json.dumps(dict(result.files)), str(tmp / "x.npy"), str(tmp / "p.json")],
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {k: np.asarray(v, dtype=np.float32) for k, v in json.loads((tmp / "p.json").read_text()).items()}


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_each_format_reloads_without_tlstudio_with_app_probabilities(fmt, exported, independent_probs, check_images, run_dir):
    if available_formats()[fmt] is not None:
        pytest.skip(available_formats()[fmt])
    if fmt == "tflite_int8":
        pytest.skip("int8 needs a run with a split manifest; tests/core/export/test_quantize.py exports it")
    result, out, _ = exported
    assert Path(result.files[fmt]).exists()
    # The export's own fresh-process verification ran and passed its bound.
    assert result.parity[fmt] <= FORMAT_TOLERANCES[fmt] or result.top1_agreement[fmt] == 1.0
    # Our independent reload agrees with the in-app model on other images.
    app = keras.saving.load_model(run_dir / "model.keras").predict(check_images, verbose=0)
    got = independent_probs[fmt]
    assert got.shape == (len(check_images), len(CLASS_NAMES))
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-4)
    bound = {"keras": 1e-5, "savedmodel": 1e-5, "tflite": 1e-3, "onnx": 1e-4}.get(fmt)
    if bound is None:  # dynamic-range quantized or float16: same decisions
        assert (got.argmax(1) == app.argmax(1)).mean() >= 0.8
        assert np.abs(got - app).max() <= 0.1
    else:
        assert np.abs(got - app).max() <= bound


def test_verification_used_real_dataset_images(exported):
    result, _, events = exported
    assert result.num_verify_images == 6  # 3 classes x 2 images in the run's dataset folder
    assert result.verified
    messages = [getattr(e, "message", "") for e in events]
    assert any("fresh TensorFlow process" in m for m in messages)


def test_labels_and_model_json(exported, run_dir):
    result, out, _ = exported
    assert Path(result.labels_path).read_text(encoding="utf-8") == "ants\nbees\nwasps\n"
    meta = json.loads(Path(result.metadata_path).read_text(encoding="utf-8"))
    assert meta["class_names"] == CLASS_NAMES
    assert meta["input"]["height"] == SIZE and meta["input"]["width"] == SIZE
    assert meta["input"]["range"] == [0, 255] and "no further preprocessing" in meta["input"]["description"]
    assert meta["backbone"] == "vgg16" and meta["weights"] == "none"
    assert meta["head"]["pooling"] == "avg" and meta["freeze"]["mode"] == "all"
    assert meta["frozen_layers"] == ["block1_conv1", "block1_bn"]
    assert meta["training"]["epochs"] == 2 and meta["training"]["batch_size"] == 8
    assert meta["best_metrics"] == {"val_accuracy": 0.75, "val_loss": 0.6}
    assert meta["dataset_class_counts"] == {"train": {"ants": 2, "bees": 2, "wasps": 2}}
    import tensorflow as tf

    assert meta["versions"]["tensorflow"] == tf.__version__ and meta["versions"]["keras"] == keras.__version__
    assert "tlstudio" in meta["versions"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["created"])
    assert set(meta["files"]) == set(result.files)
    assert meta["verification"]["max_abs_diff"] == pytest.approx(dict(result.parity))
    # Nothing but the final files: no temporaries left behind.
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]


def _tiny_config(out: Path, **kw) -> ExportConfig:
    return ExportConfig(formats=kw.pop("formats", ("keras",)), out_dir=str(out), **kw)


@pytest.fixture(scope="module")
def tiny_model():
    return build_tiny_model(seed=3)


@pytest.mark.parametrize("fmt", ["keras", "savedmodel"])
def test_writer_killed_midway_leaves_no_file_under_final_name(fmt, tiny_model, tmp_path, monkeypatch):
    def half_writer(model, path: Path):
        if fmt == "savedmodel":
            path.mkdir()
            (path / "saved_model.pb").write_bytes(b"\x08\x01partial")
        else:
            path.write_bytes(b"PK\x03\x04partial zip")
        raise KeyboardInterrupt("simulated kill")

    monkeypatch.setitem(exporter_module.WRITERS, fmt, half_writer)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        export_model(tiny_model, _tiny_config(out, formats=(fmt,)), metadata={"class_names": CLASS_NAMES})
    assert list(out.iterdir()) == []  # no final file, no temporary, no labels/model.json


def test_writer_error_is_reported_for_its_format_and_the_others_are_written(tiny_model, tmp_path, monkeypatch):
    def broken(model, path):
        path.write_bytes(b"half")
        raise RuntimeError("disk full")

    monkeypatch.setitem(exporter_module.WRITERS, "tflite", broken)
    out = tmp_path / "out"
    result = export_model(
        tiny_model, _tiny_config(out, formats=("keras", "tflite"), verify=False), metadata={"class_names": CLASS_NAMES}
    )
    assert re.search(r"model\.tflite failed: RuntimeError: disk full", result.failed["tflite"])
    assert list(result.files) == ["keras"]
    assert sorted(p.name for p in out.iterdir()) == ["labels.txt", "model.json", "model.keras"]  # no half .tflite, no temporary

    with pytest.raises(ExportError, match=r"model\.tflite failed: RuntimeError: disk full"):  # alone, it is an error
        export_model(tiny_model, _tiny_config(tmp_path / "o2", formats=("tflite",), verify=False), metadata={"class_names": CLASS_NAMES})
    assert list((tmp_path / "o2").iterdir()) == []


def test_failed_verification_fails_loudly_and_writes_nothing(tiny_model, tmp_path, monkeypatch):
    def drifting_writer(model, path):
        clone = keras.models.clone_model(model)
        clone.set_weights([w + 0.5 for w in model.get_weights()])
        clone.save(str(path))

    monkeypatch.setitem(exporter_module.WRITERS, "keras", drifting_writer)
    out = tmp_path / "out"
    with pytest.raises(ExportError, match=r"does not reproduce the app's predictions: max \|Δ\|") as info:
        export_model(tiny_model, _tiny_config(out), metadata={"class_names": CLASS_NAMES})
    assert info.value.path == str(out / "model.keras")
    assert list(out.iterdir()) == []


def test_existing_target_is_never_overwritten_silently(tiny_model, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.keras").write_bytes(b"someone else's model")
    with pytest.raises(ExportError, match=r"Not overwriting existing files .*model\.keras") as info:
        export_model(tiny_model, _tiny_config(out, verify=False), metadata={"class_names": CLASS_NAMES})
    assert info.value.path == str(out / "model.keras")
    assert (out / "model.keras").read_bytes() == b"someone else's model"
    assert sorted(p.name for p in out.iterdir()) == ["model.keras"]

    result = export_model(tiny_model, _tiny_config(out, verify=False, overwrite=True), metadata={"class_names": CLASS_NAMES})
    reloaded = keras.saving.load_model(result.files["keras"])
    assert reloaded.count_params() == tiny_model.count_params()
    assert not result.parity and not result.verified


def test_savedmodel_folder_is_replaced_whole_with_overwrite(tiny_model, tmp_path):
    out = tmp_path / "out"
    stale = out / "model_savedmodel"
    stale.mkdir(parents=True)
    (stale / "stale.txt").write_text("old")
    cfg = _tiny_config(out, formats=("savedmodel",), verify=False)
    with pytest.raises(ExportError, match="model_savedmodel"):
        export_model(tiny_model, cfg, metadata={"class_names": CLASS_NAMES})
    export_model(tiny_model, ExportConfig(**{**cfg.__dict__, "overwrite": True}), metadata={"class_names": CLASS_NAMES})
    assert (stale / "saved_model.pb").is_file() and not (stale / "stale.txt").exists()
    assert sorted(p.name for p in out.iterdir()) == ["labels.txt", "model.json", "model_savedmodel"]


def test_unavailable_format_is_refused_with_its_reason(tiny_model, tmp_path, monkeypatch):
    reasons = available_formats()
    assert set(reasons) == set(EXPORT_FORMATS)
    assert all(reasons[f] is None for f in ("keras", "savedmodel", "tflite", "tflite_dynamic"))
    fake = dict(reasons, onnx="ONNX export needs tf2onnx (pip install tf2onnx onnx onnxruntime); not installed.")
    monkeypatch.setattr(exporter_module, "available_formats", lambda: fake)
    with pytest.raises(ExportError, match="ONNX export is not available: ONNX export needs tf2onnx"):
        export_model(tiny_model, _tiny_config(tmp_path / "o", formats=("keras", "onnx")), metadata={"class_names": CLASS_NAMES})
    assert not (tmp_path / "o").exists()


def test_class_names_must_match_outputs(tiny_model, tmp_path):
    with pytest.raises(ExportError, match="3 outputs but 2 class names"):
        export_model(tiny_model, _tiny_config(tmp_path), metadata={"class_names": ["a", "b"]})


def test_cancelled_export_writes_nothing(tiny_model, tmp_path):
    from tlstudio.cancel import CancelToken

    token = CancelToken()
    token.cancel()
    result = export_model(tiny_model, _tiny_config(tmp_path / "o"), metadata={"class_names": CLASS_NAMES}, cancel=token)
    assert result.cancelled and not result.files
    assert list((tmp_path / "o").iterdir()) == []


def test_cli_export_refuses_then_forces(run_dir, tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["export", str(run_dir), "--format", "keras", "--out", str(out), "--no-verify", "--name", "ants_bees", "--json"]
    assert cli_main(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert Path(data["files"]["keras"]) == out / "ants_bees.keras"
    assert data["verified"] is False
    assert cli_main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("tlstudio-cli: error: Not overwriting existing files") and "--force" in err
    assert cli_main(args + ["--force"]) == 0
    assert cli_main(["export", str(run_dir), "--format", "keras,pdf", "--out", str(out)]) == 2  # a usage error
    assert "unknown export format(s) ['pdf']" in capsys.readouterr().err


def test_readme_snippet_runs_without_tlstudio(exported):
    """The README's snippet loads .keras and SavedModel without tlstudio and agrees with predict()."""
    from PIL import Image

    from tlstudio.export import predict

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Using an exported model without tlstudio", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1
    code = blocks[0]
    assert len(code.strip().splitlines()) <= 10
    _, out, _ = exported
    work = out.parent
    arr = np.zeros((60, 45, 3), dtype=np.uint8)
    arr[..., 1] = 230
    Image.fromarray(arr).save(work / "photo.jpg")
    proc = subprocess.run(
        # After the snippet and the check: its output flushed, then no TensorFlow teardown (1.2-1.8 s).
        [sys.executable, "-I", "-c", code + "\nimport sys\nassert 'tlstudio' not in sys.modules\nsys.stdout.flush()\nimport os\nos._exit(0)\n"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    printed = proc.stdout.split()
    expected = predict(out / "model.keras", [work / "photo.jpg"], top_k=1)[0].top[0][0]
    assert printed == [expected, expected]


def test_cli_and_export_names_import_without_tensorflow():
    """The GUI and the CLI dispatcher import these on their own thread: no TensorFlow allowed."""
    code = textwrap.dedent(
        """
        import sys
        import tlstudio.export, tlstudio.export.formats, tlstudio.cli.export, tlstudio.cli.predict
        from tlstudio.export import target_paths, FORMAT_LABELS
        from tlstudio.cli import build_parser
        build_parser()
        heavy = sorted(m for m in ("tensorflow", "keras") if m in sys.modules)
        print(heavy)
        sys.exit(1 if heavy else 0)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]


def test_real_build_model_layout_exports_with_parity(tmp_path):
    """The app's own model (preprocess layer, nested backbone and head) survives every core format."""
    from tlstudio.model import build_model

    model = build_model(ModelConfig(backbone="vgg16", weights="none", image_size=SIZE), len(CLASS_NAMES))
    images = np.random.default_rng(11).uniform(0, 255, size=(4, SIZE, SIZE, 3)).astype("float32")
    probs = model.predict(images, verbose=0)
    assert np.ptp(probs) > 1e-3  # not a constant output, so parity means something
    result = export_model(
        model,
        ExportConfig(formats=("keras", "savedmodel", "tflite"), out_dir=str(tmp_path)),
        metadata={"class_names": CLASS_NAMES},
        verify_images=images,
    )
    assert result.parity["keras"] <= 1e-5 and result.parity["savedmodel"] <= 1e-5 and result.parity["tflite"] <= 1e-3
    meta = json.loads(Path(result.metadata_path).read_text(encoding="utf-8"))
    assert "block1_conv1" in meta["frozen_layers"] and "block5_conv3" in meta["frozen_layers"]
    assert meta["input"]["height"] == SIZE


def test_formats_exported_one_at_a_time_are_all_described_in_model_json(tiny_model, tmp_path):
    """Issue 15 item 8: model.json describes every file in the folder, not only the last export's."""
    out = tmp_path / "out"
    meta = {"class_names": CLASS_NAMES}
    export_model(tiny_model, _tiny_config(out, formats=("keras",)), metadata=meta)
    second = export_model(tiny_model, _tiny_config(out, formats=("tflite",)), metadata=meta)  # no --force needed
    data = json.loads(Path(second.metadata_path).read_text(encoding="utf-8"))
    assert data["files"] == {"keras": "model.keras", "tflite": "model.tflite"}
    assert set(data["file_details"]) == {"keras", "tflite"} and data["file_details"]["keras"]["verified"] is True
    assert set(data["verification"]["max_abs_diff"]) == {"keras", "tflite"}
    on_disk = {p.name for p in out.iterdir()} - {"labels.txt", "model.json"}
    assert on_disk == set(data["files"].values())
    # A file removed by the user is no longer described by the next export.
    (out / "model.keras").unlink()
    third = export_model(tiny_model, _tiny_config(out, formats=("savedmodel",), verify=False), metadata=meta)
    assert json.loads(Path(third.metadata_path).read_text())["files"] == {"tflite": "model.tflite", "savedmodel": "model_savedmodel"}


def test_another_models_export_cannot_share_the_folder(tiny_model, tmp_path):
    out = tmp_path / "out"
    export_model(tiny_model, _tiny_config(out, verify=False), metadata={"class_names": CLASS_NAMES})
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    other = build_tiny_model(num_classes=2, seed=4)
    with pytest.raises(ExportError, match=r"already holds .*model\.keras exported from another model.*Received: classes \['a', 'b'\]"):
        export_model(other, _tiny_config(out, formats=("tflite",), verify=False), metadata={"class_names": ["a", "b"]})
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_files_of_another_model_are_refused_or_removed_once_confirmed_and_never_described(tiny_model, tmp_path):
    """Issue 24: exporting only .keras of another run left the old files, and model.json listed them as this model's."""
    out = tmp_path / "out"
    first = {"class_names": CLASS_NAMES, "source_model": "/runs/a/model.keras"}
    export_model(tiny_model, _tiny_config(out, formats=("keras", "tflite"), verify=False), metadata=first)
    second = {"class_names": CLASS_NAMES, "source_model": "/runs/b/model.keras"}  # same classes, another run
    with pytest.raises(ExportError, match=rf"{re.escape(str(out / 'model.keras'))}, {re.escape(str(out / 'model.tflite'))} "
                                          "exported from another model"):
        export_model(tiny_model, _tiny_config(out, formats=("keras",), verify=False, name="b"), metadata=second)
    assert (out / "model.tflite").exists() and not (out / "b.keras").exists()  # refused: nothing removed, nothing written
    from tlstudio.export.formats import other_model_files

    assert other_model_files(out, "model", ("keras",), "/runs/b/model.keras") == [out / "model.tflite"]
    result = export_model(tiny_model, _tiny_config(out, formats=("keras",), verify=False, overwrite=True), metadata=second)
    data = json.loads(Path(result.metadata_path).read_text(encoding="utf-8"))
    assert not (out / "model.tflite").exists()  # the user confirmed the list: removed
    assert data["files"] == {"keras": "model.keras"} and data["labels_file"] == "labels.txt"
    assert sorted(p.name for p in out.iterdir()) == ["labels.txt", "model.json", "model.keras"]
