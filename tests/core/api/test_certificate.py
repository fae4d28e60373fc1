"""The export certificate's contract: JSON round trip, checked reading, class drops and agreement thresholds."""

from __future__ import annotations

import json

import pytest

from tlstudio.api.certificate import ClassCertificate, Disagreement, ExportCertificate, FormatCertificate, Latency
from tlstudio.errors import ExportError


def _certificate() -> ExportCertificate:
    fmt = FormatCertificate(
        format="tflite_int8", file="/x/model_int8.tflite", size_bytes=1234, runtime="tflite 2.21", images=4,
        agreement=0.75, accuracy=0.5, app_accuracy=0.75, max_abs_diff=0.4, mean_abs_diff=0.05,
        classes=(ClassCertificate("ants", 2, 1.0, 1.0, 1.0), ClassCertificate("bees", 2, 0.5, 0.5, 0.0)),
        latency=(Latency(1, 50, 1.5, 2.0), Latency(8, 50, 0.5, 0.7)),
        disagreements=(Disagreement("/d/bees/1.png", "bees", (("bees", 0.6), ("ants", 0.4)), (("ants", 0.55), ("bees", 0.45))),),
        float_ops=("head_norm",),
    )
    return ExportCertificate(class_names=("ants", "bees"), source="validation split", images=4, image_set_hash="ab",
                             split_manifest_hash="cd", formats=(fmt,), failed={"onnx": "no converter"},
                             runtime_versions={"tensorflow": "2.21.0"}, threads_all=8, latency_runs=50, created="2026-12-06T21:00:00+00:00")


def test_certificate_round_trips_through_json_text():
    cert = _certificate()
    again = ExportCertificate.from_dict(json.loads(cert.to_json()))
    assert again == cert
    assert again.formats[0].disagreements[0].format_top3 == (("ants", 0.55), ("bees", 0.45))


def test_class_drops_use_percentage_points_and_the_threshold():
    fmt = _certificate().formats[0]
    assert [c.name for c in fmt.class_drops(1.0)] == ["bees"]  # 50% -> 0%: -50 points
    assert fmt.class_drops(60.0) == ()
    assert fmt.accuracy_change_points == -25.0
    assert fmt.latency_for(8).median_ms == 0.5 and fmt.latency_for(3) is None


def test_below_agreement_names_the_formats_under_the_minimum():
    cert = _certificate()
    assert cert.below_agreement(0.98) == {"tflite_int8": 0.75}
    assert cert.below_agreement(0.5) == {}


@pytest.mark.parametrize(
    "path, value, field",
    [
        (("formats", 0, "agreement"), "high", "formats[0].agreement"),
        (("formats", 0, "classes", 1, "images"), 2.5, "formats[0].classes[1].images"),
        (("formats", 0, "disagreements", 0, "app_top3"), [["bees"]], "formats[0].disagreements[0].app_top3[0]"),
        (("version",), 99, "version"),
    ],
)
def test_a_damaged_certificate_file_is_refused_naming_the_field(path, value, field):
    data = _certificate().to_dict()
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ExportError, match=rf"certificate\.json: field '{__import__('re').escape(field)}' must be .*Received: "):
        ExportCertificate.from_dict(data)
