"""predict(): exported models on real files, with one row per file and clear errors."""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from PIL import Image  # noqa: E402

from tests.support.tiny_model import CLASS_NAMES, SIZE, build_tiny_model, train_tiny_model  # noqa: E402
from tlstudio.cli import main as cli_main  # noqa: E402
from tlstudio.config import ExportConfig  # noqa: E402
from tlstudio.errors import ModelFileError  # noqa: E402
from tlstudio.export import Prediction, export_model, load_predictor, predict  # noqa: E402
from tlstudio.imaging import load_image  # noqa: E402


@pytest.fixture(scope="module")
def model_and_export(tmp_path_factory):
    model = train_tiny_model(build_tiny_model(seed=5), seed=5)
    out = tmp_path_factory.mktemp("predict-export")
    export_model(
        model,
        ExportConfig(formats=("keras", "savedmodel", "tflite"), out_dir=str(out), verify=False),
        metadata={"class_names": CLASS_NAMES},
    )
    return model, out


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("mixed")
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 255, (50, 70, 3), dtype=np.uint8)).save(folder / "a_good.jpg", quality=95)
    Image.fromarray(rng.integers(0, 255, (33, 33, 4), dtype=np.uint8), "RGBA").save(folder / "b_good_rgba.png")
    (folder / "c_empty.jpg").write_bytes(b"")
    (folder / "d_text.jpg").write_text("this is not a picture\n")
    big = folder / "tmp_big.jpg"
    Image.fromarray(rng.integers(0, 255, (120, 120, 3), dtype=np.uint8)).save(big, quality=95)
    data = big.read_bytes()
    (folder / "e_truncated.jpg").write_bytes(data[: len(data) // 3])
    big.unlink()
    (folder / "notes.txt").write_text("ignored: not an image suffix")
    return folder


def test_folder_with_bad_files_gives_one_row_per_file(model_and_export, mixed_folder):
    _, out = model_and_export
    events = []
    rows = predict(out / "model.keras", [mixed_folder], top_k=2, batch_size=2, sink=events.append)
    assert [Path(r.path).name for r in rows] == ["a_good.jpg", "b_good_rgba.png", "c_empty.jpg", "d_text.jpg", "e_truncated.jpg"]
    errors = {Path(r.path).name: r.error for r in rows}
    assert errors["a_good.jpg"] is None and errors["b_good_rgba.png"] is None
    assert errors["c_empty.jpg"] == "empty file (0 bytes)"
    assert errors["d_text.jpg"].startswith("not an image Pillow can read")
    assert errors["e_truncated.jpg"].startswith("truncated or damaged image data")
    for row in rows:
        if row.error:
            assert row.top == ()
        else:
            assert [c for c, _ in row.top] and all(c in CLASS_NAMES for c, _ in row.top)
            assert len(row.top) == 2 and row.top[0][1] >= row.top[1][1]
    assert events[-1].done == events[-1].total == 5


def test_probabilities_are_the_models_on_the_training_pixel_path(model_and_export, mixed_folder):
    model, out = model_and_export
    files = [mixed_folder / "a_good.jpg", mixed_folder / "b_good_rgba.png"]
    rows = predict(out / "model.keras", files, top_k=len(CLASS_NAMES))
    x = np.stack([load_image(f, size=SIZE) for f in files]).astype("float32")
    expected = model.predict(x, verbose=0)
    for row, probs in zip(rows, expected):
        got = dict(row.top)
        np.testing.assert_allclose([got[c] for c in CLASS_NAMES], probs, atol=1e-6)


@pytest.mark.parametrize("target", ["model_savedmodel", "model.tflite"])
def test_savedmodel_and_tflite_agree_with_keras(model_and_export, mixed_folder, target):
    _, out = model_and_export
    ref = predict(out / "model.keras", [mixed_folder], top_k=3)
    got = predict(out / target, [mixed_folder], top_k=3)
    assert [r.path for r in got] == [r.path for r in ref]
    assert [r.error for r in got] == [r.error for r in ref]
    for a, b in zip(got, ref):
        assert [c for c, _ in a.top] == [c for c, _ in b.top]
        np.testing.assert_allclose([p for _, p in a.top], [p for _, p in b.top], atol=1e-5)


def test_predictor_reads_input_size_and_labels(model_and_export):
    _, out = model_and_export
    for target, kind in [("model.keras", "keras"), ("model_savedmodel", "savedmodel"), ("model.tflite", "tflite")]:
        p = load_predictor(out / target)
        assert (p.kind, p.height, p.width, p.class_names) == (kind, SIZE, SIZE, CLASS_NAMES)


def test_exif_orientation_is_applied(model_and_export, tmp_path):
    _, out = model_and_export
    rng = np.random.default_rng(9)
    upright = rng.integers(0, 255, (40, 64, 3), dtype=np.uint8)
    upright[:, :20, 0] = 255  # something that changes when rotated
    Image.fromarray(upright).save(tmp_path / "upright.png")
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(upright, k=1)))  # as a camera stores a portrait shot
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    stored.save(tmp_path / "rotated.png", exif=exif.tobytes())
    a, b = predict(out / "model.keras", [tmp_path / "upright.png", tmp_path / "rotated.png"], top_k=3)
    assert a.error is None and b.error is None
    np.testing.assert_allclose(sorted(p for _, p in a.top), sorted(p for _, p in b.top), atol=1e-6)


def test_missing_or_unknown_model_is_a_model_file_error(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        predict(tmp_path / "nope.keras", [])
    (tmp_path / "weights.h5").write_bytes(b"x")
    with pytest.raises(ModelFileError, match=r"use a \.keras, \.tflite or \.onnx file or a SavedModel folder"):
        predict(tmp_path / "weights.h5", [])
    (tmp_path / "broken.keras").write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match=r"Cannot load .*broken\.keras"):
        predict(tmp_path / "broken.keras", [])


def test_missing_image_file_gets_a_row(model_and_export, tmp_path):
    _, out = model_and_export
    (row,) = predict(out / "model.keras", [tmp_path / "gone.jpg"])
    assert row == Prediction(str(tmp_path / "gone.jpg"), (), "file not found")


def test_cli_predict_csv_and_json(model_and_export, mixed_folder, tmp_path, capsys):
    _, out = model_and_export
    csv_path = tmp_path / "rows.csv"
    code = cli_main(["predict", str(out / "model.keras"), str(mixed_folder), "--top-k", "2", "--csv", str(csv_path), "--json"])
    assert code == 1  # some files could not be read
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert len(rows) == 5 and sum(r["error"] is not None for r in rows) == 3
    assert "3 of 5 file(s) could not be read" in captured.err
    with open(csv_path, newline="", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    assert [Path(r["path"]).name for r in table] == [Path(r["path"]).name for r in rows]
    good = table[0]
    assert good["class_1"] in CLASS_NAMES and float(good["prob_1"]) >= float(good["prob_2"]) and good["error"] == ""
    assert table[2]["error"] == "empty file (0 bytes)"

    code = cli_main(["predict", str(out / "model_savedmodel"), str(mixed_folder / "a_good.jpg")])
    assert code == 0
    captured = capsys.readouterr()
    assert "runs the graph code stored in it" in captured.err and "source you trust" in captured.err
    line = captured.out.strip()
    assert line.startswith(str(mixed_folder / "a_good.jpg")) and line.split("\t")[1].split()[0] in CLASS_NAMES

    empty = tmp_path / "empty_dir"
    empty.mkdir()
    assert cli_main(["predict", str(out / "model.keras"), str(empty)]) == 3  # unusable data
    assert "no image files found" in capsys.readouterr().err


@pytest.mark.skipif(sys.platform != "linux", reason="needs a file system that accepts any bytes in names")
def test_cli_predict_file_names_that_are_not_utf8(model_and_export, tmp_path, capfdbinary):
    _, out = model_and_export
    folder = tmp_path / "photos"
    folder.mkdir()
    raw_name = os.fsencode(str(folder)) + b"/caf\xe9.png"  # Latin-1 é: not valid UTF-8
    Image.fromarray(np.full((40, 40, 3), 120, dtype=np.uint8)).save(os.fsdecode(raw_name), format="PNG")
    Image.fromarray(np.full((40, 40, 3), 30, dtype=np.uint8)).save(folder / "plain.png")
    csv_path = tmp_path / "rows.csv"
    code = cli_main(["predict", str(out / "model.keras"), str(folder), "--csv", str(csv_path)])
    captured = capfdbinary.readouterr()
    assert code == 0, captured.err
    assert b"Traceback" not in captured.err
    lines = [line for line in captured.out.splitlines() if line.startswith(raw_name)]
    assert len(lines) == 1 and lines[0].split(b"\t")[1].split()[0].decode() in CLASS_NAMES  # printed as its own bytes
    with open(csv_path, newline="", encoding="utf-8", errors="surrogateescape") as fh:
        table = list(csv.DictReader(fh))
    assert sorted(os.fsencode(r["path"]) for r in table) == sorted([raw_name, os.fsencode(str(folder / "plain.png"))])
    assert all(r["error"] == "" for r in table)
    assert os.path.exists(os.fsdecode(next(os.fsencode(r["path"]) for r in table if b"caf" in os.fsencode(r["path"]))))

    code = cli_main(["predict", str(out / "model.keras"), str(folder), "--json"])
    rows = json.loads(capfdbinary.readouterr().out)
    assert code == 0 and sorted(os.fsencode(r["path"]) for r in rows)[0] == raw_name


def test_cli_predict_never_truncates_an_existing_csv_before_the_table_exists(model_and_export, mixed_folder, tmp_path, capsys):
    _, out = model_and_export
    csv_path = tmp_path / "keep.csv"
    csv_path.write_text("precious,rows\n1,2\n", encoding="utf-8")
    # the model cannot be loaded: the command fails and the old CSV is untouched, no temporary left behind
    assert cli_main(["predict", str(tmp_path / "missing.keras"), str(mixed_folder), "--csv", str(csv_path)]) == 1
    assert "missing.keras" in capsys.readouterr().err
    assert csv_path.read_text(encoding="utf-8") == "precious,rows\n1,2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.csv"]
    # a good run replaces it with the complete table, written next to it and renamed
    good = mixed_folder / "a_good.jpg"
    assert cli_main(["predict", str(out / "model.keras"), str(good), "--csv", str(csv_path)]) == 0
    capsys.readouterr()
    with open(csv_path, newline="", encoding="utf-8") as fh:
        assert [r["path"] for r in csv.DictReader(fh)] == [str(good)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.csv"]


def test_cli_predict_csv_that_is_a_folder_is_refused_before_predicting(model_and_export, mixed_folder, tmp_path, capsys):
    _, out = model_and_export
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "old.csv").write_text("x", encoding="utf-8")
    assert cli_main(["predict", str(out / "model.keras"), str(mixed_folder), "--csv", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--csv {folder} is a folder" in err and "Received:" in err
    assert (folder / "old.csv").read_text(encoding="utf-8") == "x"  # nothing in it was touched
    assert cli_main(["predict", str(out / "model.keras"), str(mixed_folder), "--csv", str(tmp_path / "no" / "x.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli_main(["predict", str(out / "model.keras"), str(mixed_folder), "--top-k", "0"]) == 2
    assert "--top-k must be at least 1. Received: 0" in capsys.readouterr().err


def test_public_names_are_the_functions_not_submodules():
    import tlstudio.export as export
    import tlstudio.export.prediction  # noqa: F401  (importing a submodule must not shadow a function)

    assert callable(export.predict) and export.predict.__module__ == "tlstudio.export.prediction"
    assert export.export_run.__name__ == "export_run" and export.verify_export.__name__ == "verify_export"
