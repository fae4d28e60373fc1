"""Empty class folders (issue 24): train on the usable classes, list the empty ones as skipped with their reason.

A dataset is refused only when fewer than two usable classes remain; the
refusal carries the validation report, so the GUI can show which files were
skipped and why.
"""

from __future__ import annotations

import json

import pytest
from PIL import Image

from tlstudio.cancel import CancelToken
from tlstudio.cli import main
from tlstudio.config import DataConfig
from tlstudio.data import prepare_data
from tlstudio.api.data import PrepareDataConfig
from tlstudio.errors import DataError
from tlstudio.jobs.data import prepare


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


def _make(root, counts):
    for cls, n in counts.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.new("RGB", (4, 4), (i * 20, 0, 0)).save(root / cls / f"{i}.png")
    return root


def test_an_empty_class_folder_is_skipped_and_the_rest_trains(tmp_path):
    root = _make(tmp_path / "d", {"ants": 6, "bees": 6, "birds": 0})
    (root / "birds" / "broken.jpg").write_bytes(b"")
    data = prepare_data(DataConfig(root=str(root), val_fraction=0.34))
    assert data.class_names == ("ants", "bees")
    assert [(s.name, s.reason) for s in data.report.skipped_classes] == [
        ("birds", f"no valid images in {root / 'birds'} (1 skipped: 1 zero bytes)")
    ]
    assert [s.path for s in data.report.skipped] == [str(root / "birds" / "broken.jpg")]
    summary = data.to_dict()
    assert summary["skipped_classes"] == [{"name": "birds", "folder": str(root / "birds"),
                                           "reason": f"no valid images in {root / 'birds'} (1 skipped: 1 zero bytes)"}]


def test_a_presplit_class_without_training_images_is_skipped_and_its_other_images_listed(tmp_path):
    root = tmp_path / "d"
    _make(root / "train", {"a": 3, "b": 3})
    _make(root / "val", {"a": 1, "b": 1, "c": 2})
    data = prepare_data(DataConfig(root=str(root)))
    assert data.class_names == ("a", "b")
    assert [s.name for s in data.report.skipped_classes] == ["c"]
    reasons = {s.path: s.reason for s in data.report.skipped}
    assert reasons[str(root / "val" / "c" / "0.png")] == "its class 'c' has no training images"
    assert len(reasons) == 2


def test_fewer_than_two_usable_classes_is_refused_with_the_report(tmp_path):
    root = _make(tmp_path / "d", {"ants": 4, "birds": 0})
    (root / "birds" / "a.jpg").write_bytes(b"")
    (root / "birds" / "b.jpg").write_bytes(b"")
    with pytest.raises(DataError, match=r"only one usable class \('ants'\).*'birds'.*no valid images"):
        prepare_data(DataConfig(root=str(root)))
    # the engine job does not raise: the Data page shows the refused folder and its report
    refused = prepare(PrepareDataConfig(DataConfig(root=str(root))), sink=lambda e: None, cancel=CancelToken())
    assert refused.refused and "only one usable class" in refused.refused
    assert refused.train == () and refused.val == ()
    assert refused.root == str(root)
    assert sorted(s.path for s in refused.report.skipped) == [str(root / "birds" / "a.jpg"), str(root / "birds" / "b.jpg")]


def test_the_skipped_message_counts_what_the_report_lists(tmp_path):
    from tlstudio.events import LogMessage

    root = _make(tmp_path / "d", {"ants": 4, "bees": 4, "birds": 0})
    (root / "birds" / "a.jpg").write_bytes(b"")
    (root / "ants" / "b.jpg").write_bytes(b"")
    events = []
    data = prepare_data(DataConfig(root=str(root)), sink=events.append)
    said = [e.message for e in events if isinstance(e, LogMessage) and "skipped" in e.message]
    assert any(m.startswith(f"{len(data.report.skipped)} file(s) skipped") for m in said)
    assert any("1 class folder(s) skipped (birds)" in m for m in said)


def test_cli_scan_trains_on_usable_classes_and_lists_the_empty_one(tmp_path, capsys):
    root = _make(tmp_path / "d", {"ants": 4, "bees": 4, "birds": 0})
    assert main(["scan", str(root)]) == 0
    out = capsys.readouterr().out
    assert "Skipped classes (1):" in out and f"birds: no valid images in {root / 'birds'}" in out
    assert main(["scan", str(root), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["usable"] is True and data["class_names"] == ["ants", "bees"]
    assert [c["name"] for c in data["skipped_classes"]] == ["birds"]
