"""``tlstudio-cli scan`` and ``tlstudio-cli sample``: output, --json and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tlstudio.cli import main


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


def _make(root, counts):
    for cls, n in counts.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.new("RGB", (4, 4), (i, 0, 0)).save(root / cls / f"{i}.png")
    return root


def test_scan_text_lists_counts_split_and_skipped_files(tmp_path, capsys):
    root = _make(tmp_path / "d", {"ants": 10, "bees": 5})
    (root / "bees" / "broken.jpg").write_bytes(b"")
    code = main(["scan", str(root), "--val", "0.2", "--test", "0.2", "--seed", "1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "ants" in out and "bees" in out
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.split()[:1] in (["ants"], ["bees"])}
    assert lines["ants"][:3] == ["6", "2", "2"]
    assert lines["bees"][:3] == ["3", "1", "1"]
    assert f"{root / 'bees' / 'broken.jpg'}: zero bytes" in out


def test_scan_json_is_machine_readable(tmp_path, capsys):
    root = _make(tmp_path / "d", {"a": 4, "b": 4})
    (root / "a" / "notes.txt").write_text("x")
    assert main(["scan", str(root), "--json", "--val", "0.25"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["usable"] is True and data["error"] is None
    assert data["counts"]["train"] == {"a": 3, "b": 3}
    assert data["counts"]["val"] == {"a": 1, "b": 1}
    assert data["class_weights"] == {"a": 1.0, "b": 1.0}
    assert data["skipped"] == [{"path": str(root / "a" / "notes.txt"), "reason": "not an image file type (.txt)"}]
    assert main(["scan", str(root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cache_hits"] == 8
    assert main(["scan", str(root), "--json", "--no-cache"]) == 0
    assert json.loads(capsys.readouterr().out)["cache_hits"] == 0


def test_scan_unusable_data_exits_3_with_one_line_error(tmp_path, capsys):
    root = _make(tmp_path / "d", {"only": 3})
    (root / "only" / "bad.png").write_text("x")
    assert main(["scan", str(root)]) == 3
    captured = capsys.readouterr()
    assert "bad.png: not an image" in captured.out  # the report is still printed
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tlstudio-cli: error:") and "only one class" in err[0]


def test_scan_unusable_json_reports_the_error(tmp_path, capsys):
    root = _make(tmp_path / "d", {"a": 3})
    assert main(["scan", str(root), "--json"]) == 3
    data = json.loads(capsys.readouterr().out)
    assert data["usable"] is False and "only one class" in data["error"]


def test_scan_missing_folder_exits_3(tmp_path, capsys):
    assert main(["scan", str(tmp_path / "missing")]) == 3
    assert "does not exist" in capsys.readouterr().err


def test_scan_bad_fraction_is_a_usage_error(tmp_path, capsys):
    root = _make(tmp_path / "d", {"a": 3, "b": 3})
    assert main(["scan", str(root), "--val", "1.5"]) == 2
    assert "val_fraction" in capsys.readouterr().err


def test_sample_writes_dataset_and_prints_path(tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["sample", str(out), "--per-class", "2"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert sorted(p.name for p in out.iterdir()) == ["circle", "square", "triangle"]
    assert len(list(out.rglob("*.png"))) == 6
    assert main(["sample", str(out), "--per-class", "2"]) == 1  # not empty any more
    assert "not empty" in capsys.readouterr().err
    assert main(["sample", str(out), "--per-class", "2", "--force", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["path"] == str(out)


def test_sample_default_goes_to_the_cache(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["sample"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "cache" / "sample-shapes-v1")
    assert main(["sample", "--per-class", "2", "--json"]) == 0
    small = json.loads(capsys.readouterr().out)["path"]
    assert small != str(tmp_path / "cache" / "sample-shapes-v1")
    assert len(list(Path(small).rglob("*.png"))) == 6


def test_cli_scan_and_sample_import_without_tensorflow():
    code = (
        "import sys, argparse; from tlstudio.cli import scan, sample;"
        "sub = argparse.ArgumentParser().add_subparsers(); scan.register(sub); sample.register(sub);"
        "sys.exit(1 if 'tensorflow' in sys.modules or 'keras' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_scan_json_matches_the_dataset_report_of_prepare_data(tmp_path, capsys):
    from tlstudio.config import DataConfig
    from tlstudio.data import prepare_data

    root = _make(tmp_path / "d", {"a": 7, "b": 9})
    (root / "b" / "x.gif").write_text("GIF89a but not really")
    assert main(["scan", str(root), "--json", "--val", "0.3", "--test", "0.1", "--seed", "4"]) == 0
    cli = json.loads(capsys.readouterr().out)
    report = prepare_data(DataConfig(root=str(root), val_fraction=0.3, test_fraction=0.1, seed=4)).to_dict()
    for key in ("root", "layout", "class_names", "seed", "counts", "totals", "class_weights", "skipped", "num_valid"):
        assert cli[key] == report[key], key


@pytest.mark.skipif(sys.platform != "linux", reason="needs a file system that accepts any bytes in names")
def test_file_names_that_are_not_utf8_are_listed_as_their_bytes(tmp_path, capfdbinary):
    import os

    root = _make(tmp_path / "d", {"a": 2, "b": 2})
    Image.new("RGB", (4, 4)).save(os.fsdecode(os.fsencode(str(root / "a")) + b"/\xff\xfe.png"), format="PNG")
    (root / "b" / os.fsdecode(b"bad\xff.jpg")).write_text("x")
    for _ in range(2):  # second run reads the cache
        assert main(["scan", str(root), "--val", "0.3"]) == 0
    out = capfdbinary.readouterr().out
    # printed with surrogateescape: the original bytes, as `ls` prints them, so a script can open the file
    assert os.fsencode(str(root / "b")) + b"/bad\xff.jpg: not an image" in out
    assert b"(6 cached)" in out
    assert main(["scan", str(root), "--json"]) == 0
    data = json.loads(capfdbinary.readouterr().out)
    assert [os.fsencode(s["path"]) for s in data["skipped"]] == [os.fsencode(str(root / "b")) + b"/bad\xff.jpg"]


@pytest.mark.skipif(sys.platform != "linux", reason="needs a file system that accepts any bytes in names")
def test_unusable_data_with_a_name_that_is_not_utf8_is_one_line(tmp_path, capfdbinary):
    import os

    root = tmp_path / "d"
    (root / os.fsdecode(b"caf\xe9")).mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(root / os.fsdecode(b"caf\xe9") / "0.png")
    assert main(["scan", str(root)]) == 3
    captured = capfdbinary.readouterr()
    assert b"caf\xe9" in captured.out  # the class is listed with its own bytes
    err = captured.err
    assert err.startswith(b"tlstudio-cli: error:") and err.count(b"\n") == 1 and b"Traceback" not in err
