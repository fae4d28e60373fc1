"""float16 and int8 exports: calibration from the run's training split, per-format failures, the certificate end to end.

One tiny run folder with a split manifest (3 classes, 4 training and 3
validation images each, one training image excluded). Latency is timed with
few calls: the numbers are not asserted, only that they were measured.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import keras

from tlstudio.api.certificate import CERTIFICATE_FILE, ExportCertificate
from tlstudio.cancel import CancelToken
from tlstudio.cli import main as cli_main
from tlstudio.config import ExportConfig
from tlstudio.errors import ExportError
from tlstudio.events import Progress
from tlstudio.export import export_run
from tlstudio.export import writers as writers_module
from tlstudio.export.quantize import calibration_files, stratified_pick, write_tflite_int8

from tests.support.manifest_run import make_manifest_run
from tests.support.tiny_model import CLASS_NAMES


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_manifest_run(tmp_path_factory.mktemp("quant"))


def test_calibration_takes_only_training_images_and_honours_exclusions(tmp_path):
    run = make_manifest_run(tmp_path, train_per_class=5, val_per_class=4, with_model=False)
    picked = calibration_files(run, json.loads((run / "run_config.json").read_text()), n=100)
    names = sorted(p.relative_to(run.parent / "data").as_posix() for p, _ in picked)
    assert all("/train_" in n for n in names)  # never validation or test
    assert "ants/train_0.png" not in names  # excluded in the run's data config
    assert len(names) == 3 * 5 - 1


def test_calibration_is_stratified_by_class(tmp_path):
    run = make_manifest_run(tmp_path, train_per_class=6, val_per_class=1, with_model=False)
    picked = calibration_files(run, json.loads((run / "run_config.json").read_text()), n=6)
    assert sorted(c for _, c in picked) == ["ants", "ants", "bees", "bees", "wasps", "wasps"]
    assert picked == calibration_files(run, json.loads((run / "run_config.json").read_text()), n=6)  # seeded
    big = stratified_pick({"a": list(range(90)), "b": list(range(10)), "c": [0]}, 20)
    assert len(big) == 20 and sum(1 for _ in big) == 20


def test_int8_and_float16_export_with_a_certificate(run_dir, tmp_path):
    out = tmp_path / "out"
    events: list[object] = []
    cfg = ExportConfig(formats=("tflite", "tflite_float16", "tflite_int8"), out_dir=str(out), calibration=6, latency_runs=3)
    result = export_run(run_dir, cfg, sink=events.append)
    assert set(result.files) == {"tflite", "tflite_float16", "tflite_int8"} and not result.failed
    cert = result.certificate
    assert cert is not None and cert.images == 9 and cert.source == "validation split"
    assert cert.split_manifest_hash and len(cert.split_manifest_hash) == 64
    int8 = cert.get("tflite_int8")
    assert int8.size_bytes == (out / "model_int8.tflite").stat().st_size
    assert [c.name for c in int8.classes] == CLASS_NAMES and sum(c.images for c in int8.classes) == 9
    assert [lat.threads for lat in int8.latency][0] == 1 and all(lat.calls == 3 for lat in int8.latency)
    assert cert.get("tflite").max_abs_diff < 1e-4
    on_disk = ExportCertificate.from_dict(json.loads((out / CERTIFICATE_FILE).read_text()))
    assert on_disk == cert and result.certificate_path == str(out / CERTIFICATE_FILE)
    model_json = json.loads((out / "model.json").read_text())
    assert set(model_json["certificates"]) == set(result.files)
    assert model_json["certificate"]["split_manifest_hash"] == cert.split_manifest_hash
    assert model_json["int8"]["io"] == "uint8" and model_json["int8"]["calibration_images"] == 6
    # this tiny model is not laid out image -> preprocess -> backbone -> head: converted as it is (only its
    # calibrated ranges clipped), its head in int8, and said so
    assert model_json["int8"]["graph_changes"] == list(int8.graph_changes)
    assert all(line.startswith("activation ranges of") for line in int8.graph_changes)
    assert model_json["int8"]["graph_changes_skipped"][0].startswith("no int8 rewrite: the model is not image -> preprocess")
    assert model_json["int8"]["graph_changes_skipped"][1].startswith("head kept in int8")
    assert int8.float_ops == ()
    assert any(isinstance(e, Progress) and e.stage == "certify" and e.total for e in events)


def test_a_format_that_cannot_be_built_is_reported_and_the_others_are_written(run_dir, tmp_path):
    out = tmp_path / "out"
    model_file = tmp_path / "alone" / "model.keras"  # a bare model file: no training split to calibrate int8 on
    model_file.parent.mkdir()
    model_file.write_bytes((run_dir / "model.keras").read_bytes())
    result = export_run(model_file, ExportConfig(formats=("keras", "tflite_int8"), out_dir=str(out), certify=False))
    assert list(result.files) == ["keras"] and (out / "model.keras").is_file()
    assert "calibrat" in result.failed["tflite_int8"]
    assert not any(p.name.startswith(".") or "int8" in p.name for p in out.iterdir())  # no temporary left
    assert json.loads((out / "model.json").read_text())["failed"]["tflite_int8"] == result.failed["tflite_int8"]


def test_only_format_failing_is_an_error(run_dir, tmp_path):
    model_file = tmp_path / "model.keras"
    model_file.write_bytes((run_dir / "model.keras").read_bytes())
    with pytest.raises(ExportError, match="calibrat"):
        export_run(model_file, ExportConfig(formats=("tflite_int8",), out_dir=str(tmp_path / "o"), certify=False))


class Cosine(keras.layers.Layer):
    def call(self, x):
        return keras.ops.cos(x)


def test_an_op_int8_cannot_quantize_names_its_layer_and_float_fallback_keeps_it(tmp_path):
    inputs = keras.Input((16, 16, 3), name="image")
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Conv2D(4, 3, name="conv")(x)
    x = Cosine(name="wavy_activation")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    calibration = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    with pytest.raises(ExportError, match=r"cannot quantize layer\(s\) wavy_activation .*float fallback"):
        write_tflite_int8(model, tmp_path / "a.tflite", calibration=calibration)
    kept = write_tflite_int8(model, tmp_path / "b.tflite", calibration=calibration, float_fallback=True)
    assert kept.float_ops == ("wavy_activation",)


def test_zeroed_weights_fail_min_agreement(run_dir, tmp_path, monkeypatch, capsys):
    original = writers_module.WRITERS["tflite"]

    def zeroed(model, path):
        broken = keras.models.clone_model(model)
        broken.set_weights([np.zeros_like(w) for w in model.get_weights()])
        original(broken, path)

    monkeypatch.setitem(writers_module.WRITERS, "tflite", zeroed)
    out = tmp_path / "out"
    code = cli_main(["export", str(run_dir), "--format", "tflite", "--out", str(out), "--no-verify",
                     "--latency-runs", "2", "--min-agreement", "90"])
    assert code == 1
    err = capsys.readouterr().err
    assert "tflite: top-1 agreement with the app is" in err and "below --min-agreement 90%" in err
    assert (out / "model.tflite").is_file() and (out / CERTIFICATE_FILE).is_file()


def test_cancel_during_the_certificate_keeps_the_files(run_dir, tmp_path):
    token = CancelToken()

    def sink(event):
        if isinstance(event, Progress) and event.stage == "certify":
            token.cancel()

    out = tmp_path / "out"
    result = export_run(run_dir, ExportConfig(formats=("tflite",), out_dir=str(out), latency_runs=2), sink=sink, cancel=token)
    assert result.certificate is None and "cancelled" in result.certificate_note
    assert (out / "model.tflite").is_file() and not (out / CERTIFICATE_FILE).exists()
