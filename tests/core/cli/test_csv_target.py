"""``predict --csv`` and ``evaluate --csv`` never write over an image or into the images they read (issue 25.5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tlstudio.cli import main as cli_main


def _save_model(path: Path) -> None:
    import keras

    inputs = keras.Input((16, 16, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    outputs = keras.layers.Dense(2, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs)
    kernel = np.array([[1.0, -1.0], [0.0, 0.0], [-1.0, 1.0]], np.float32) / 50.0
    model.get_layer("predictions").set_weights([kernel, np.zeros(2, np.float32)])
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    (path.parent / "labels.txt").write_text("red\nblue\n")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("csv-target")
    _save_model(root / "model" / "model.keras")
    for cls, rgb in (("red", (200, 10, 10)), ("blue", (10, 10, 200))):
        (root / "data" / cls).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (20, 20), rgb).save(root / "data" / cls / f"{i}.png")
    return root


def _bytes(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("target", ["data/red/0.png", "data/blue/new.csv", "elsewhere.jpg", "model/model.keras"])
def test_predict_refuses_a_csv_target_that_is_an_image_or_among_its_inputs(setup, target, capsys):
    before = _bytes(setup)
    code = cli_main(["predict", str(setup / "model" / "model.keras"), str(setup / "data"), "--csv", str(setup / target)])
    assert code == 2
    err = capsys.readouterr().err
    assert f"--csv {setup / target}" in err and "Received:" in err
    assert _bytes(setup) == before  # nothing written, nothing replaced


def test_predict_refuses_a_csv_target_that_is_one_input_image(setup, capsys):
    image = setup / "data" / "red" / "1.png"
    renamed = setup / "photo.csv"  # an input image whose name does not say it is an image
    renamed.write_bytes(image.read_bytes())
    try:
        before = renamed.read_bytes()
        assert cli_main(["predict", str(setup / "model" / "model.keras"), str(renamed), "--csv", str(renamed)]) in (2, 3)
        assert renamed.read_bytes() == before
    finally:
        renamed.unlink()


@pytest.mark.parametrize("target", ["data/red/0.png", "data/summary.csv", "x.webp"])
def test_evaluate_refuses_a_csv_target_that_is_an_image_or_inside_the_dataset(setup, target, capsys):
    before = _bytes(setup)
    code = cli_main(["evaluate", str(setup / "model" / "model.keras"), str(setup / "data"), "--split", "all", "--csv", str(setup / target)])
    assert code == 2
    err = capsys.readouterr().err
    assert f"--csv {setup / target}" in err and "Received:" in err
    assert _bytes(setup) == before


def test_a_csv_beside_the_inputs_is_written(setup, tmp_path, capsys):
    out = tmp_path / "rows.csv"
    assert cli_main(["evaluate", str(setup / "model" / "model.keras"), str(setup / "data"), "--split", "all", "--csv", str(out)]) == 0
    assert out.read_text().startswith("path,true,predicted")
    out2 = tmp_path / "pred.csv"
    assert cli_main(["predict", str(setup / "model" / "model.keras"), str(setup / "data"), "--csv", str(out2)]) == 0
    assert len(out2.read_text().splitlines()) == 7


def test_the_csv_writer_itself_refuses_to_replace_an_image_it_lists(tmp_path):
    from tlstudio.api.evaluate import ImagePrediction, write_predictions_csv
    from tlstudio.errors import DataError

    image = tmp_path / "a.dat"
    image.write_bytes(b"\x89PNG\r\n\x1a\n rest")
    row = ImagePrediction(index=0, path=str(image), true=0, pred=0, confidence=0.9, probs=(0.9, 0.1))
    with pytest.raises(DataError, match="Received"):
        write_predictions_csv(image, [row], ["a", "b"])
    assert image.read_bytes().startswith(b"\x89PNG")
