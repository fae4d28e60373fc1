"""``tlstudio-cli audit``: JSON shape, text output and exit codes."""

from __future__ import annotations

import json

from tests.support.analysis_data import make_presplit, plant_exact_leak, seeded_weights
from tlstudio.cli import EXIT_OK, EXIT_USAGE, main


def test_audit_json_reports_a_leak_and_text_says_so(tmp_path, capsys):
    paths = make_presplit(tmp_path / "data", train=12, val=4)
    copy = plant_exact_leak(paths["blue"][2], tmp_path / "data")
    weights = seeded_weights(tmp_path)
    args = ["audit", str(tmp_path / "data"), "--backbone", "vgg16", "--weights", weights, "--image-size", "32", "--folds", "3"]
    assert main(args + ["--json"]) == EXIT_OK
    result = json.loads(capsys.readouterr().out)
    assert set(result) >= {"duplicates", "label_issues", "outliers", "imbalance"}
    leak = result["duplicates"][0]
    assert leak == {"kind": "exact", "paths": sorted([str(paths["blue"][2]), str(copy)]),
                    "splits": leak["splits"], "cross_split": True, "similarity": 1.0}
    assert sorted(leak["splits"]) == ["train", "val"]
    assert set(result["imbalance"]) == {"counts", "ratio", "advice"}
    assert main(args) == EXIT_OK
    out = capsys.readouterr().out
    assert "LEAK exact" in out and str(copy) in out and "Class balance" in out


def test_audit_rejects_a_bad_limit_as_usage(tmp_path, capsys):
    make_presplit(tmp_path / "data", train=4, val=2)
    assert main(["audit", str(tmp_path / "data"), "--backbone", "vgg16", "--weights", "none", "--limit", "0"]) == EXIT_USAGE
    assert "--limit must be at least 1. Received: 0" in capsys.readouterr().err
