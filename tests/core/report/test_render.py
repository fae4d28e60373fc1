"""The report page's arrangement of values that have no fixed shape."""

from __future__ import annotations


def test_a_certificate_of_any_shape_reads_as_rows_and_tables():
    from tlstudio.report.render import certificate_view

    view = certificate_view({"images": 6, "formats": [{"format": "onnx", "agreement": 0.98, "disagreements": [{"path": "a"}]},
                                                      {"format": "keras", "agreement": 1.0}],
                             "class_names": ["a", "b"], "failed": {}})
    assert view["scalars"] == [("images", 6), ("class_names", "a, b"), ("failed", "(none)")]
    assert view["tables"] == [("formats", ["format", "agreement", "disagreements"], [["onnx", 0.98, 1], ["keras", 1.0, ""]])]
    assert view["other"] == []
    nested = certificate_view({"runtime": {"tf": {"version": "2.21"}}})
    assert nested["other"] == [("runtime", {"tf": {"version": "2.21"}})]
