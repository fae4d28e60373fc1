"""``tlstudio-cli sweep``: JSON shape, text table, resume and one-line errors."""

from __future__ import annotations

import json

import pytest

from tests.support.analysis_data import make_presplit, seeded_weights
from tlstudio.cli import EXIT_DATA, EXIT_OK, EXIT_USAGE, main

CUTS = {f"block{b}_pool" for b in range(1, 6)}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    base = tmp_path_factory.mktemp("cli-sweep")
    make_presplit(base / "data", train=10, val=4)
    return base / "data", seeded_weights(base)


def _args(root, weights, *extra):
    return ["sweep", str(root), "--backbone", "vgg16", "--weights", weights, "--image-size", "32", "--folds", "2", *extra]


def test_sweep_json_resume_and_text(data, tmp_path, capsys):
    root, weights = data
    trials = tmp_path / "trials.json"
    assert main(_args(root, weights, "--trials", "2", "--seed", "5", "--json", "--resume", str(trials))) == EXIT_OK
    out = json.loads(capsys.readouterr().out)
    assert len(out["trials"]) == 2 and out["folds"] == 2 and out["best_index"] in (0, 1)
    for trial in out["trials"]:
        assert set(trial) >= {"params", "cv_accuracy", "cv_std", "seconds", "error"} and trial["params"]["cut"] in CUTS
    assert out["promoted"]["model"]["head"] and out["promoted"]["train"]["early_stopping"] is True
    assert len(json.loads(trials.read_text())["trials"]) == 2

    assert main(_args(root, weights, "--trials", "3", "--seed", "5", "--resume", str(trials))) == EXIT_OK
    text = capsys.readouterr().out
    assert text.count("(resumed)") == 2 and "<- best" in text and "trials/s" in text
    assert len(json.loads(trials.read_text())["trials"]) == 3


def test_sweep_usage_and_data_errors_are_one_line(data, tmp_path, capsys):
    root, weights = data
    assert main(_args(root, weights, "--trials", "0")) == EXIT_USAGE
    assert "--trials must be at least 1 (0 only with --search grid). Received: 0" in capsys.readouterr().err
    assert main(_args(root, weights, "--trials", "2", "--search", "bayes")) == EXIT_USAGE
    capsys.readouterr()
    assert main(_args(tmp_path / "missing", weights, "--trials", "1")) == EXIT_DATA
    err = capsys.readouterr().err
    assert err.startswith("tlstudio-cli: error:") and "missing" in err and "Traceback" not in err
    notes = tmp_path / "notes.json"
    notes.write_text("not json")
    assert main(_args(root, weights, "--trials", "1", "--resume", str(notes))) == 1
    err = capsys.readouterr().err
    assert "notes.json" in err and "Received" in err and "Traceback" not in err and notes.read_text() == "not json"
