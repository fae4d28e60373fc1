"""``tlstudio-cli probe``: JSON shape, text output and exit codes."""

from __future__ import annotations

import json

import pytest

from tests.support.analysis_data import make_presplit, seeded_weights
from tlstudio.cli import EXIT_DATA, EXIT_OK, EXIT_USAGE, main


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    base = tmp_path_factory.mktemp("cli-probe")
    make_presplit(base / "data", train=12, val=4)
    return base / "data", seeded_weights(base)


def test_probe_json_has_the_issue_shape(data, capsys):
    root, weights = data
    code = main(["probe", str(root), "--backbone", "vgg16", "--weights", weights, "--image-size", "32", "--folds", "3", "--json"])
    out = capsys.readouterr().out
    assert code == EXIT_OK
    result = json.loads(out)
    assert [c["layer"] for c in result["cuts"]] == [f"block{b}_pool" for b in range(1, 6)]
    for cut in result["cuts"]:
        assert set(cut) >= {"layer", "cv_accuracy", "cv_std", "features"} and 0.0 <= cut["cv_accuracy"] <= 1.0
    assert result["best"] in {c["layer"] for c in result["cuts"]}


def test_probe_text_marks_the_best_cut(data, capsys):
    root, weights = data
    assert main(["probe", str(root), "--backbone", "vgg16", "--weights", weights, "--image-size", "32", "--folds", "3"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "<- best" in out and "block5_pool" in out and "features cached" in out


def test_probe_usage_and_data_errors_are_one_line(data, tmp_path, capsys):
    root, weights = data
    assert main(["probe", str(root), "--backbone", "vgg16", "--weights", weights, "--folds", "1"]) == EXIT_USAGE
    assert "--folds must be at least 2. Received: 1" in capsys.readouterr().err
    assert main(["probe", str(root), "--backbone", "nope", "--weights", "none"]) == EXIT_USAGE
    assert "Received" in capsys.readouterr().err
    assert main(["probe", str(tmp_path / "missing"), "--backbone", "vgg16", "--weights", "none", "--image-size", "32"]) == EXIT_DATA
    err = capsys.readouterr().err
    assert err.startswith("tlstudio-cli: error:") and "missing" in err and "Traceback" not in err
