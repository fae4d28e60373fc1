"""The project's record of the labelling loop: round trip, and a damaged record that does not block the project."""

from __future__ import annotations

import json

import pytest

from tlstudio.api.label import AppliedBatch, Placed
from tlstudio.errors import ProjectError
from tlstudio.project.label_record import LabelRecord, LabelRound
from tlstudio.project.project import Project


def _record() -> LabelRecord:
    batch = AppliedBatch("/data", (Placed("/pool/a.jpg", "/data/ants/a.jpg", "ants"),
                                   Placed("/pool/b.jpg", "/data/bees/b-1.jpg", "bees", moved=True)))
    return LabelRecord(pool="/pool", run_dir="/runs/r1", strategy="uncertainty", n=16, baseline=(10, 0.7),
                       baseline_head="/h/round-0.keras", baseline_classes=("ants", "bees"),
                       rounds=[LabelRound("uncertainty", batch, ("/pool/c.jpg",), 12, 0.75, "/h/round-1.keras", ("ants", "bees"))])


def test_a_record_survives_the_project_file():
    project = Project.new()
    project.set_label(_record())
    again = Project.from_dict(json.loads(json.dumps(project.to_dict())))
    record = again.label
    assert record.curve() == [(10, 0.7, "start"), (12, 0.75, "uncertainty")]
    assert record.labelled() == (("/pool/a.jpg", "ants"), ("/pool/b.jpg", "bees"))
    assert record.targets() == ("/data/ants/a.jpg", "/data/bees/b-1.jpg")
    assert record.skipped() == ("/pool/c.jpg",) and record.head() == ("/h/round-1.keras", ("ants", "bees"))
    assert record.rounds[0].batch.placed[1].moved and record.rounds[0].batch.placed[1].renamed


def test_a_damaged_record_is_dropped_with_a_message_and_the_project_opens():
    data = Project.new().to_dict()
    data["label"] = {**_record().to_dict(), "strategy": "smart"}
    project = Project.from_dict(data)
    assert project.label is None
    assert "field 'strategy' must be one of" in project.label_problem and "Received: 'smart'" in project.label_problem
    assert any("labelling rounds" in p for p in project.problems)
    with pytest.raises(ProjectError, match=r"rounds\[0\].*val_accuracy"):
        LabelRecord.from_dict({"rounds": [{"strategy": "random", "batch": {"dataset": "/d", "placed": []},
                                           "val_accuracy": "high"}]})
