"""``tlstudio-cli inspect``: tables, PNGs and the calculator from the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from tlstudio.cli import main


def test_inspect_backbone_writes_table_and_pngs(tmp_path, capsys):
    image = tmp_path / "img.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (50, 60, 3), dtype=np.uint8)).save(image)
    out = tmp_path / "out"
    code = main(["inspect", "vgg16", "--image-size", "32", "--layer", "block1_conv1", "--layer", "block3_conv1",
                 "--image", str(image), "--out", str(out), "--format", "csv", "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    names = sorted(p.split("/")[-1] for p in data["files"])
    assert names == [
        "activations_block1_conv1.png", "activations_block3_conv1.png", "filters_block1_conv1.png",
        "filters_block3_conv1.png", "vgg16_layers.csv",
    ]
    assert data["totals"]["total_params"] == 14_714_688  # VGG16 without its top
    assert data["memory"]["largest_batch"] > 0
    assert (out / "vgg16_layers.csv").read_text().count("\n") == len(data["rows"]) + 1
    assert Image.open(out / "filters_block1_conv1.png").mode == "RGB"


def test_inspect_calc_strict_error_is_one_line(tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"input_shape": [10, 10, 3], "layers": [{"kind": "conv", "f": 3, "s": 2, "p": 0, "k": 4}]}))
    assert main(["inspect", "--calc", str(spec), "--strict"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "4.5" in err and err.startswith(f"tlstudio-cli: error: {spec}: Layer 1")
    assert "Received:" in err
    # without --strict the same spec is floored, as Keras does: (10 − 3)/2 + 1 = 4.5 → 4
    assert main(["inspect", "--calc", str(spec), "--json"]) == 0
    row = json.loads(capsys.readouterr().out)["table"]["rows"][1]
    assert row["output_shape"] == [4, 4, 4] and row["exact_output_shape"] == [4.5, 4.5, 4] and row["floored"]


@pytest.mark.parametrize(
    "content, words",
    [
        (b'{"input_shape": "ab", "layers": []}', ["input_shape must be [height, width, channels]", "Received: input_shape='ab'"]),
        (b'{"input_shape": [8, 8, 3], "layers": [{"kind": "conv", "k": 2, "name": "caf\xe9"}]}',
         ["not UTF-8", "layers[1].name", "0xe9", "Received:"]),
        (b'{"input_shape": [8, 8, 3], "layers": [{"kind": "conv", "k": "two"}]}', ["layers[1].k (Layer 1)", "Received: k='two'"]),
        (b"{", ["not valid JSON", "Received:"]),
    ],
)
def test_inspect_calc_bad_spec_file_is_one_line_naming_file_and_field(tmp_path, capsys, content, words):
    spec = tmp_path / "spec.json"
    spec.write_bytes(content)
    assert main(["inspect", "--calc", str(spec)]) == 1
    captured = capsys.readouterr()
    err = captured.err
    assert err.count("\n") == 1 and err.startswith(f"tlstudio-cli: error: {spec}: ")
    assert "Traceback" not in err + captured.out
    for word in words:
        assert word in err


def test_inspect_usage_errors_exit_2(tmp_path, capsys):
    assert main(["inspect"]) == 2
    assert "give a MODEL_OR_BACKBONE" in capsys.readouterr().err
    assert main(["inspect", "vgg16", "--strict"]) == 2
    assert "--strict goes with --calc" in capsys.readouterr().err
    assert main(["inspect", "vgg16", "--batch-size", "0"]) == 2
    assert "--batch-size must be >= 1. Received: 0" in capsys.readouterr().err


def test_inspect_calc_cross_check(tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"input_shape": [16, 16, 3], "layers": [
        {"kind": "conv", "f": 3, "s": 1, "p": 1, "k": 4}, {"kind": "pool", "f": 2, "s": 2}, {"kind": "flatten"},
        {"kind": "dense", "k": 2, "activation": "softmax"}]}))
    assert main(["inspect", "--calc", str(spec), "--cross-check"]) == 0
    out = capsys.readouterr().out
    assert "(16 − 3 + 2·1)/1 + 1 = 16" in out and "Keras agrees with every row." in out


@pytest.mark.parametrize("argv, words", [
    (["inspect", "nosuchnet"], "neither a .keras file nor a backbone"),
    (["inspect", "missing.keras"], "no such model file"),
    (["inspect", "vgg16", "--image-size", "32", "--layer", "nope"], "no layer 'nope'"),
])
def test_inspect_errors(argv, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 1
    assert words in capsys.readouterr().err


def test_inspect_saved_app_model_with_gradcam(tmp_path, capsys):
    from tlstudio.config import ModelConfig
    from tlstudio.model import build_model

    path = tmp_path / "model.keras"
    build_model(ModelConfig(backbone="vgg16", weights="none", image_size=32), num_classes=2).save(path)
    image = tmp_path / "img.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 48, 3), dtype=np.uint8)).save(image)
    out = tmp_path / "out"
    code = main(["inspect", str(path), "--image", str(image), "--layer", "backbone/block2_conv1", "--out", str(out), "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    names = sorted(p.split("/")[-1] for p in data["files"])
    assert "gradcam.png" in names and "activations_backbone_block2_conv1.png" in names
    assert Image.open(out / "gradcam.png").size == (48, 64)  # the heatmap comes back at the image's size
    paths = [r["path"] for r in data["rows"]]
    assert "backbone/block1_conv1" in paths and "head/predictions" in paths
