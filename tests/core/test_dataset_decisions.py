"""Label overrides, exclusions and dismissed suspects survive a project save and are schema-checked."""

from __future__ import annotations

import json

import pytest

from tlstudio.errors import ProjectError
from tlstudio.project import Project


def test_decisions_round_trip_through_the_project_file(tmp_path):
    project = Project.new(name="p")
    project.decisions.relabel("/data/cats/1.jpg", "dogs")
    project.decisions.exclude("/data/cats/2.jpg")
    project.decisions.exclude("/data/cats/2.jpg")  # once only
    project.decisions.dismiss("label:/data/dogs/3.jpg")
    path = project.save(tmp_path / "p.tlsproj")

    raw = json.loads(path.read_text(encoding="utf-8"))
    assert raw["label_overrides"] == {"/data/cats/1.jpg": "dogs"}
    assert raw["excluded"] == ["/data/cats/2.jpg"]
    assert raw["audit_dismissed"] == ["label:/data/dogs/3.jpg"]

    again = Project.load(path)
    assert again.decisions == project.decisions
    assert again.decisions.is_decided("/data/cats/1.jpg")
    again.decisions.clear_label("/data/cats/1.jpg")
    again.decisions.include("/data/cats/2.jpg")
    assert again.decisions.is_dismissed("label", "/data/dogs/3.jpg") and not again.decisions.is_dismissed("outlier", "/data/dogs/3.jpg")
    again.decisions.undismiss("label:/data/dogs/3.jpg")
    assert not any(again.decisions.is_decided(p) for p in ("/data/cats/1.jpg", "/data/cats/2.jpg"))
    assert again.decisions.dismissed == []


def test_a_project_without_the_fields_opens_with_no_decisions(tmp_path):
    path = tmp_path / "old.tlsproj"
    path.write_text(json.dumps({"schema_version": 1, "app": "tlstudio", "name": "old", "runs": []}), encoding="utf-8")
    project = Project.load(path)
    assert project.decisions.label_overrides == {} and project.decisions.excluded == []


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("label_overrides", ["dogs"], "label_overrides must be an object"),
        ("label_overrides", {"/a.jpg": 3}, 'label_overrides["/a.jpg"] must be a class name'),
        ("excluded", "/a.jpg", "excluded must be a list, each item an image path"),
        ("audit_dismissed", [""], "audit_dismissed[0] must be a finding such as"),
    ],
)
def test_a_bad_decision_field_names_file_field_and_value(tmp_path, field, value, expected):
    path = tmp_path / "bad.tlsproj"
    path.write_text(json.dumps({"schema_version": 1, "app": "tlstudio", "name": "bad", "runs": [], field: value}), encoding="utf-8")
    with pytest.raises(ProjectError) as info:
        Project.load(path)
    message = str(info.value)
    assert str(path) in message and expected in message and "Received:" in message
