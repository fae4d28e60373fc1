"""``tlstudio-cli label suggest|apply``: the JSON it prints and its exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.label_data import make_flat, make_pool, make_run
from tlstudio.cli import EXIT_DATA, EXIT_OK, EXIT_USAGE, main


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("label-cli")
    labelled = make_flat(base / "data", per_class=6)
    planted = make_pool(base / "pool", labelled, per_class=4)
    return base, make_run(base, base / "data"), planted


def test_suggest_prints_the_batch_and_the_skipped_copies_as_json(world, capsys):
    base, run_dir, planted = world
    args = ["label", "suggest", str(base / "pool"), "--run", str(run_dir), "--n", "5", "--strategy", "uncertainty"]
    assert main(args + ["--seed", "2", "--json"]) == EXIT_OK
    result = json.loads(capsys.readouterr().out)
    assert len(result["suggestions"]) == 5
    first = result["suggestions"][0]
    assert set(first) == {"path", "suggested", "probability", "margin", "rank"}
    assert first["rank"] == 1 and first["suggested"] in ("red", "blue") and Path(first["path"]).is_file()
    assert [s["margin"] for s in result["suggestions"]] == sorted(s["margin"] for s in result["suggestions"])
    skipped = {s["path"]: s["reason"] for s in result["skipped"]}
    assert "exact copy" in skipped[str(planted["exact"])]
    assert main(args) == EXIT_OK
    assert "5 of 8 images to label (uncertainty)" in capsys.readouterr().out


def test_suggest_refuses_a_bad_strategy_and_a_missing_pool(world, capsys, tmp_path):
    base, run_dir, _ = world
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "broken.jpg").write_bytes(b"not a jpeg")
    assert main(["label", "suggest", str(tmp_path / "empty"), "--run", str(run_dir), "--json"]) == EXIT_OK
    empty = json.loads(capsys.readouterr().out)
    assert empty["suggestions"] == [] and empty["skipped"][0]["path"].endswith("broken.jpg")
    assert main(["label", "suggest", str(base / "pool"), "--run", str(run_dir), "--strategy", "smart"]) == EXIT_USAGE
    assert main(["label", "suggest", str(base / "nope"), "--run", str(run_dir)]) == EXIT_DATA
    assert "nope: expected a folder of unsorted images. Received: no such folder" in capsys.readouterr().err


def test_apply_copies_prints_where_and_never_overwrites(world, tmp_path, capsys):
    base, _, _ = world
    data = tmp_path / "data"
    make_flat(data, per_class=2)
    source = base / "pool" / "day1" / "shot_red_1.png"
    clash = tmp_path / "red_000.png"  # the name of an image already in data/red
    clash.write_bytes(source.read_bytes())
    decisions = tmp_path / "decisions.json"
    decisions.write_text(json.dumps([{"path": str(source), "label": "red"}, {"path": str(clash), "label": "red"}]))
    before = (data / "red" / "red_000.png").read_bytes()
    assert main(["label", "apply", str(decisions), "--dataset", str(data)]) == EXIT_OK
    out = capsys.readouterr().out.splitlines()
    assert out == [f"copied {source} -> {data / 'red' / 'shot_red_1.png'}",
                   f"copied {clash} -> {data / 'red' / 'red_000-1.png'}  (renamed: a file of that name was there)"]
    assert (data / "red" / "red_000.png").read_bytes() == before and source.is_file()


def test_apply_exits_3_on_an_unknown_image_or_class_and_files_nothing(world, tmp_path, capsys):
    base, _, _ = world
    data = tmp_path / "data"
    make_flat(data, per_class=2)
    source = base / "pool" / "day1" / "shot_red_1.png"
    decisions = tmp_path / "decisions.json"
    decisions.write_text(json.dumps([{"path": str(source), "label": "green"}, {"path": str(tmp_path / "gone.png"), "label": "red"}]))
    assert main(["label", "apply", str(decisions), "--dataset", str(data)]) == EXIT_DATA
    err = capsys.readouterr().err
    assert "unknown class 'green'" in err and "gone.png: not an image" in err and "nothing was filed" in err
    assert sorted(p.name for p in (data / "red").iterdir()) == ["red_000.png", "red_001.png"]
    assert main(["label", "apply", str(decisions), "--dataset", str(data), "--new-class", "green"]) == EXIT_DATA
    decisions.write_text(json.dumps([{"path": str(source), "label": "green"}]))
    assert main(["label", "apply", str(decisions), "--dataset", str(data), "--new-class", "green", "--json"]) == EXIT_OK
    placed = json.loads(capsys.readouterr().out)["placed"]
    assert placed[0]["target"] == str(data / "green" / "shot_red_1.png") and placed[0]["moved"] is False
    decisions.write_text('{"path": 1}')
    assert main(["label", "apply", str(decisions), "--dataset", str(data)]) == EXIT_DATA
    assert "expected a JSON list" in capsys.readouterr().err
