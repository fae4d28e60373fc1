"""``tlstudio-cli`` exit codes and one-line errors, run in-process through ``main(argv)``."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from PIL import Image

import tlstudio.cli.sample
from tlstudio.cli import main
from tlstudio.cli.exit_codes import (
    EXIT_CANCELLED,
    EXIT_CODES,
    EXIT_DATA,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_UNUSABLE,
    EXIT_USAGE,
)
from tlstudio.errors import DataError, ModelFileError

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("TLSTUDIO_DEBUG", raising=False)


def _dataset(root: Path, classes=("a", "b"), per_class=4) -> Path:
    for cls in classes:
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(root / cls / f"{i}.png")
    return root


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


def _assert_one_error_line(err: str, *words: str) -> str:
    lines = _error_lines(err)
    assert len(lines) == 1, err
    assert lines[0].startswith("tlstudio-cli: error: "), err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


# --------------------------------------------------------------------------- the table


def test_codes_are_distinct_and_match_the_readme_table():
    assert (EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_DATA, EXIT_CANCELLED) == (0, 1, 2, 3, 130)
    assert EXIT_UNUSABLE == EXIT_DATA  # the older name still works
    codes = [code for code, _, _ in EXIT_CODES]
    assert len(set(codes)) == len(codes)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Exit codes", 1)[1].split("\n## ", 1)[0]
    table = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", section, flags=re.M))
    assert sorted(int(c) for c in table) == sorted(codes)
    for code, _, meaning in EXIT_CODES:
        assert table[str(code)].startswith(meaning), code


def test_help_lists_the_codes_and_returns_instead_of_exiting(capsys):
    assert main(["--help"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "exit codes:" in out and "130  cancelled with Ctrl-C" in out and "  3    the dataset cannot be used" in out
    assert main(["--version"]) == EXIT_OK
    assert main(["scan", "--help"]) == EXIT_OK


# --------------------------------------------------------------------------- usage errors: 2


@pytest.mark.parametrize(
    "argv, words",
    [
        ([], "usage: tlstudio-cli"),
        (["nosuchcommand"], "invalid choice"),
        (["scan"], "the following arguments are required: DATA"),
        (["scan", "DATA", "--val", "x"], "invalid float value"),
        (["predict", "m.keras"], "the following arguments are required"),
        (["evaluate", "run", "--split", "nope"], "invalid choice"),
    ],
)
def test_argparse_usage_errors_exit_2(argv, words, capsys):
    assert main(argv) == EXIT_USAGE
    assert words in capsys.readouterr().err


def test_out_of_range_option_values_are_usage_errors_in_one_line(tmp_path, capsys):
    data = _dataset(tmp_path / "d")
    cases = [
        (["scan", str(data), "--val", "1.5"], "val_fraction must be within [0, 1)"),
        (["sample", str(tmp_path / "s"), "--per-class", "0"], "Received: --per-class 0"),
        (["train", str(data), "--freeze", "half"], "--freeze must be all, none"),
        (["train", str(data), "--head", "avg:dense=many"], "--head dense= takes comma-separated unit counts"),
        (["train"], "DATA is required"),
        (["predict", "m.keras", str(data), "--top-k", "0"], "--top-k must be at least 1. Received: 0"),
        (["export", "run", "--format", "keras,pdf", "--out", str(tmp_path / "e")], "unknown export format(s) ['pdf']"),
        (["inspect"], "give a MODEL_OR_BACKBONE"),
        (["inspect", "vgg16", "--cross-check"], "--cross-check goes with --calc"),
    ]
    for argv, words in cases:
        assert main(argv) == EXIT_USAGE, argv
        _assert_one_error_line(capsys.readouterr().err, words, "Received:")


def test_a_share_given_for_min_agreement_is_named_as_a_percentage(tmp_path, capsys):
    """``--min-agreement 0.95`` means 0.95 %, so it passed a format that agreed on 91.7 % without a word."""
    main(["export", str(tmp_path / "no-run"), "--min-agreement", "0.95", "--out", str(tmp_path / "e")])
    err = capsys.readouterr().err
    assert "warning: --min-agreement is a percentage: 0.95 means 0.95%, not 95%." in err
    main(["export", str(tmp_path / "no-run"), "--min-agreement", "95", "--out", str(tmp_path / "e")])
    assert "is a percentage" not in capsys.readouterr().err


# --------------------------------------------------------------------------- unusable data: 3


def test_unusable_data_exits_3_distinct_from_usage(tmp_path, capsys):
    assert main(["scan", str(tmp_path / "missing")]) == EXIT_DATA
    _assert_one_error_line(capsys.readouterr().err, str(tmp_path / "missing"), "does not exist")
    one_class = _dataset(tmp_path / "one", classes=("only",))
    assert main(["scan", str(one_class)]) == EXIT_DATA
    _assert_one_error_line(capsys.readouterr().err, "only one class")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["predict", "m.keras", str(empty)]) == EXIT_DATA
    _assert_one_error_line(capsys.readouterr().err, "no image files found")


def test_train_on_unusable_data_exits_3(tmp_path, capsys):
    code = main(["train", str(tmp_path / "nothing"), "--weights", "none", "--epochs", "1", "--no-tensorboard",
                 "--out", str(tmp_path / "run")])
    assert code == EXIT_DATA
    lines = [l for l in capsys.readouterr().err.splitlines() if l.startswith("tlstudio-cli: error:")]
    assert len(lines) == 1 and str(tmp_path / "nothing") in lines[0]


# --------------------------------------------------------------------------- main's safety net


@pytest.mark.parametrize(
    "exc, code, words",
    [
        (DataError("the folder has one class.\nAdd another."), EXIT_DATA, "the folder has one class. Add another."),
        (ModelFileError("m.keras cannot be read. Received: 3 bytes"), EXIT_ERROR, "m.keras cannot be read"),
        (KeyboardInterrupt(), EXIT_CANCELLED, "interrupted"),
        (PermissionError(13, "Permission denied", "/tmp/x/out.csv"), EXIT_ERROR, "/tmp/x/out.csv: Permission denied"),
        (RuntimeError("boom"), EXIT_ERROR, "unexpected RuntimeError: boom"),
        (UnicodeEncodeError("utf-8", "caf\udce9", 3, 4, "surrogates not allowed"), EXIT_ERROR, "unexpected UnicodeEncodeError"),
    ],
)
def test_every_error_is_one_line_with_its_code(monkeypatch, capsys, exc, code, words):
    def boom(args):
        raise exc

    monkeypatch.setattr(tlstudio.cli.sample, "run", boom)
    assert main(["sample"]) == code
    captured = capsys.readouterr()
    _assert_one_error_line(captured.err, words)
    assert "Traceback" not in captured.out


def test_debug_variable_shows_the_traceback_of_an_unexpected_error(monkeypatch):
    def boom(args):
        raise RuntimeError("boom")

    monkeypatch.setattr(tlstudio.cli.sample, "run", boom)
    monkeypatch.setenv("TLSTUDIO_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        main(["sample"])


def test_main_restores_the_streams_it_made_file_name_safe(capsys):
    before = (sys.stdout.errors, sys.stderr.errors)
    assert main(["--version"]) == EXIT_OK
    assert (sys.stdout.errors, sys.stderr.errors) == before


# --------------------------------------------------------------------------- train --resume on a damaged run


def _run_folder(base: Path) -> Path:
    """A run folder as training writes it (no training needed: the checks run before anything loads)."""
    import h5py

    from tlstudio.config import DataConfig, ModelConfig, RunConfig, TrainConfig, to_json

    data = _dataset(base / "data")
    run = base / "run"
    run.mkdir()
    config = RunConfig(
        data=DataConfig(root=str(data)), model=ModelConfig(weights="none", image_size=32),
        train=TrainConfig(epochs=2, batch_size=4), run_dir=str(run),
    )
    (run / "run_config.json").write_text(to_json(config), encoding="utf-8")
    history = [{"epoch": 0, "phase": 1, "loss": 0.9, "accuracy": 0.5, "val_loss": 0.8, "val_accuracy": 0.5, "lr": 1e-3, "seconds": 1.0},
               {"epoch": 1, "phase": 1, "loss": 0.7, "accuracy": 0.6, "val_loss": 0.7, "val_accuracy": 0.6, "lr": 1e-3, "seconds": 1.0}]
    (run / "history.json").write_text(json.dumps(history), encoding="utf-8")
    (run / "class_names.json").write_text(json.dumps(["a", "b"]), encoding="utf-8")
    (run / "result.json").write_text(json.dumps({"best_metrics": {"val_accuracy": 0.6}, "monitor": "val_accuracy",
                                                  "class_names": ["a", "b"]}), encoding="utf-8")
    with h5py.File(run / "last.weights.h5", "w") as fh:
        fh.create_dataset("w", data=list(range(1000)))
    return run


def _edit_json(path: Path, edit) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def _truncate(path: Path) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw[:100])


DAMAGES = {
    "config not JSON": (lambda run: (run / "run_config.json").write_text("{not json", encoding="utf-8"),
                        ["run_config.json", "is not valid JSON", "Received: '{not json'"]),
    "config not UTF-8": (lambda run: (run / "run_config.json").write_bytes(
        (run / "run_config.json").read_bytes().replace(b'"vgg16"', b'"vgg\xe9"')),
        ["run_config.json", "model.backbone", "not UTF-8", "0xe9"]),
    "config a list": (lambda run: (run / "run_config.json").write_text("[1]", encoding="utf-8"),
                      ["run_config.json", "must hold a JSON object (the RunConfig settings)", "Received: [1]"]),
    "epochs a text": (lambda run: _edit_json(run / "run_config.json", lambda d: d["train"].update(epochs="abc")),
                      ["run_config.json", "train.epochs must be a whole number", 'Received: train.epochs="abc"']),
    "batch size a fraction": (lambda run: _edit_json(run / "run_config.json", lambda d: d["train"].update(batch_size=2.5)),
                              ["run_config.json", "train.batch_size must be a whole number", "Received: train.batch_size=2.5"]),
    "weights a number": (lambda run: _edit_json(run / "run_config.json", lambda d: d["model"].update(weights=5)),
                         ["run_config.json", "model.weights must be a text", "Received: model.weights=5"]),
    "dense units a text": (lambda run: _edit_json(run / "run_config.json",
                                                  lambda d: d["model"]["head"].update(dense=[{"units": "x"}])),
                           ["run_config.json", "model.head.dense[0].units must be a whole number"]),
    "fraction out of range": (lambda run: _edit_json(run / "run_config.json", lambda d: d["data"].update(val_fraction=3)),
                              ["run_config.json", "val_fraction must be within [0, 1)", "Received:"]),
    "history of numbers": (lambda run: (run / "history.json").write_text("[1, 2]", encoding="utf-8"),
                           ["history.json", "history[0] must be an object", "Received: history[0]=1"]),
    "history phase a text": (lambda run: (run / "history.json").write_text('[{"epoch": 0, "phase": "x"}]', encoding="utf-8"),
                             ["history.json", "history[0].phase must be a whole number", 'Received: history[0].phase="x"']),
    "history not a list": (lambda run: (run / "history.json").write_text('{"a": 1}', encoding="utf-8"),
                           ["history.json", "history must be a list of epochs", "Received:"]),
    "history loss a text": (lambda run: (run / "history.json").write_text('[{"epoch": 0, "phase": 1, "loss": "low"}]', encoding="utf-8"),
                            ["history.json", "history[0].loss must be a number", 'Received: history[0].loss="low"']),
    "result metrics texts": (lambda run: _edit_json(run / "result.json", lambda d: d.update(best_metrics={"val_accuracy": "hi"})),
                             ["result.json", "best_metrics.val_accuracy must be a number", 'Received: best_metrics.val_accuracy="hi"']),
    "class names a number": (lambda run: (run / "class_names.json").write_text("5", encoding="utf-8"),
                             ["class_names.json", "must be a list of class names", "Received:"]),
    "checkpoint truncated": (lambda run: _truncate(run / "last.weights.h5"),
                             ["last.weights.h5", "the checkpoint is damaged", "Received: a file of 100 bytes"]),
}


def test_an_intact_run_folder_passes_the_checks(tmp_path, capsys):
    from tlstudio.cli.train import check_run_folder

    run = _run_folder(tmp_path)
    check_run_folder(str(run))  # nothing raised
    # it gets as far as the resume plan: nothing left to train without more epochs (exit 1, one line)
    assert main(["train", "--resume", str(run), "--epochs", "0", "--fine-tune-epochs", "0"]) == EXIT_ERROR
    _assert_one_error_line(capsys.readouterr().err, "already completed its 2 planned epochs")


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_train_resume_on_a_damaged_run_names_the_file_and_field(tmp_path, capsys, damage):
    run = _run_folder(tmp_path)
    make, words = DAMAGES[damage]
    make(run)
    assert main(["train", "--resume", str(run), "--epochs", "1", "--no-tensorboard"]) == EXIT_ERROR
    captured = capsys.readouterr()
    line = _assert_one_error_line(captured.err, *words)
    assert line.startswith(f"tlstudio-cli: error: {run}/")  # the full path of the damaged file
    assert "Traceback" not in captured.out


def test_train_resume_on_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path), "--epochs", "1"]) == EXIT_ERROR
    _assert_one_error_line(capsys.readouterr().err, str(tmp_path), "run_config.json is missing")
