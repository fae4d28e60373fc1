"""The certificate's numbers: agreement is measured against the app's predictions, accuracy against the labels."""

from __future__ import annotations

import numpy as np

from tlstudio.export.certificate_stats import format_certificate, latency, top3

NAMES = ["ants", "bees", "wasps"]


def _probs(tops: list[int], n_classes: int = 3) -> np.ndarray:
    p = np.full((len(tops), n_classes), 0.1, dtype=np.float32)
    for i, t in enumerate(tops):
        p[i, t] = 0.8
    return p


def test_agreement_is_against_the_app_not_the_labels(tmp_path):
    f = tmp_path / "m.tflite"
    f.write_bytes(b"x" * 100)
    labels = np.array([0, 0, 1, 1, 2, 2])
    app = _probs([0, 1, 0, 0, 0, 0])  # the app is wrong on 5 of 6 images
    same_as_app = format_certificate("tflite_int8", str(f), app, app.copy(), labels, [f"i{i}" for i in range(6)], NAMES)
    assert same_as_app.agreement == 1.0 and same_as_app.disagreements == ()
    assert same_as_app.accuracy == same_as_app.app_accuracy == round(1 / 6, 6)

    right = _probs([0, 0, 1, 1, 2, 2])  # the file is right where the app is wrong: accuracy up, agreement down
    cert = format_certificate("tflite_int8", str(f), app, right, labels, [f"i{i}" for i in range(6)], NAMES)
    assert cert.agreement == round(1 / 6, 6)
    assert cert.accuracy == 1.0 and cert.accuracy_change_points > 80
    assert [d.path for d in cert.disagreements] == ["i1", "i2", "i3", "i4", "i5"]
    assert cert.disagreements[0].app_top3[0][0] == "bees" and cert.disagreements[0].format_top3[0][0] == "ants"
    assert cert.size_bytes == 100


def test_per_class_numbers_and_probability_differences(tmp_path):
    labels = np.array([0, 0, 1, 1])
    app = _probs([0, 0, 1, 1])
    got = _probs([0, 0, 1, 0])
    got[0] = [0.7, 0.2, 0.1]
    cert = format_certificate("tflite", str(tmp_path), app, got, labels, ["a", "b", "c", "d"], NAMES)
    ants, bees, wasps = cert.classes
    assert (ants.images, ants.agreement, ants.accuracy) == (2, 1.0, 1.0)
    assert (bees.images, bees.agreement, bees.app_accuracy, bees.accuracy, bees.change_points) == (2, 0.5, 1.0, 0.5, -50.0)
    assert wasps.images == 0
    assert cert.max_abs_diff == np.float32(0.7) and abs(cert.mean_abs_diff - float(np.abs(got - app).mean())) < 1e-6


def test_unknown_labels_count_for_agreement_only(tmp_path):
    app = _probs([0, 1])
    cert = format_certificate("onnx", str(tmp_path), app, app, np.array([-1, -1]), ["a", "b"], NAMES)
    assert cert.agreement == 1.0 and cert.accuracy == 0.0 and cert.classes[0].images == 1


def test_latency_and_top3():
    lat = latency([0.001] * 9 + [0.01], threads=1)
    assert (lat.calls, lat.median_ms) == (10, 1.0) and lat.p90_ms >= 1.0
    assert top3(np.array([0.1, 0.7, 0.2]), NAMES) == (("bees", 0.7), ("wasps", 0.2), ("ants", 0.1))
