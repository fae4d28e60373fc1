"""``predict`` warns when the served file's certificate in ``model.json`` shows a class drop above the threshold."""

from __future__ import annotations

import json

from tlstudio.export.certificate_check import certificate_warnings


def _export(tmp_path, bees_accuracy: float):
    (tmp_path / "model_int8.tflite").write_bytes(b"x")
    (tmp_path / "model.tflite").write_bytes(b"x")
    classes = [{"name": "ants", "images": 3, "agreement": 1.0, "app_accuracy": 1.0, "accuracy": 1.0},
               {"name": "bees", "images": 3, "agreement": 0.5, "app_accuracy": 1.0, "accuracy": bees_accuracy}]
    model_json = {"files": {"tflite": "model.tflite", "tflite_int8": "model_int8.tflite"},
                  "certificates": {"tflite_int8": {"classes": classes}, "tflite": {"classes": classes[:1]}}}
    (tmp_path / "model.json").write_text(json.dumps(model_json))


def test_a_class_drop_above_the_threshold_is_named(tmp_path):
    _export(tmp_path, bees_accuracy=0.9)
    (line,) = certificate_warnings(tmp_path / "model_int8.tflite", 1.0)
    assert "class 'bees'" in line and "(-10.0 points" in line and "tflite_int8" in line
    assert certificate_warnings(tmp_path / "model_int8.tflite", 15.0) == []
    assert certificate_warnings(tmp_path / "model.tflite", 1.0) == []  # that file's certificate shows no drop


def test_no_model_json_or_no_certificate_means_no_warning(tmp_path):
    (tmp_path / "m.keras").write_bytes(b"x")
    assert certificate_warnings(tmp_path / "m.keras") == []
    (tmp_path / "model.json").write_text(json.dumps({"files": {"keras": "m.keras"}}))
    assert certificate_warnings(tmp_path / "m.keras") == []
