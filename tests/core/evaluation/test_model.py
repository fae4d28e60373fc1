"""evaluate_model on a tiny, hand-weighted Keras model: red vs blue images."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from tlstudio.config import DataConfig, RunConfig, to_json
from tlstudio.errors import DataError, ModelFileError
from tlstudio.evaluation import evaluate_model, evaluate_splits, predict_images, resolve_model
from tlstudio.cancel import CancelToken


def _tiny_model(path):
    """Mean colour -> softmax(red - blue, blue - red) / 50: a red image is class 0 ("red")."""
    import keras

    inputs = keras.Input((16, 16, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    outputs = keras.layers.Dense(2, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs)
    kernel = np.array([[1.0, -1.0], [0.0, 0.0], [-1.0, 1.0]], np.float32) / 50.0
    model.get_layer("predictions").set_weights([kernel, np.zeros(2, np.float32)])
    model.save(path)
    return model


def _image(path, rgb):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (20, 20), rgb).save(path)
    return str(path)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    (root / "model").mkdir()
    _tiny_model(root / "model" / "model.keras")
    (root / "model" / "labels.txt").write_text("red\nblue\n")
    data = root / "data"
    # red images: 3 clearly red, 1 purple-ish leaning blue (a confident-ish mistake)
    for i, rgb in enumerate([(250, 0, 0), (200, 20, 10), (180, 0, 60), (90, 0, 160)]):
        _image(data / "red" / f"r{i}.png", rgb)
    for i, rgb in enumerate([(0, 0, 250), (10, 30, 200), (40, 0, 120)]):
        _image(data / "blue" / f"b{i}.png", rgb)
    return root


def test_resolve_model_reads_labels_without_tensorflow(exported):
    source = resolve_model(exported / "model" / "model.keras")
    assert source.kind == "keras" and source.class_names == ("red", "blue") and source.run_dir is None


def test_resolve_model_errors_name_the_file(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        resolve_model(tmp_path / "nope.keras")
    (tmp_path / "m.keras").write_bytes(b"x")
    with pytest.raises(ModelFileError, match="labels.txt"):
        resolve_model(tmp_path / "m.keras")


def test_evaluate_exported_model_on_a_folder(exported):
    events = []
    result = evaluate_model(exported / "model" / "model.keras", DataConfig(root=str(exported / "data"), val_fraction=0.0), split="all", sink=events.append)
    m = result.metrics
    assert m.num_images == 7 and m.class_names == ("red", "blue")
    # the purple image (90, 0, 160) is the only mistake: true red, predicted blue
    assert m.confusion.tolist() == [[3, 1], [0, 3]]
    assert m.accuracy == pytest.approx(6 / 7)
    cell = result.cell(0, 1)
    assert [os.path.basename(r.path) for r in cell] == ["r3.png"]
    assert cell[0].true == 0 and cell[0].pred == 1 and cell[0].confidence > 0.5
    # the red cell is sorted by confidence: the reddest first
    assert [os.path.basename(r.path) for r in result.cell(0, 0)] == ["r0.png", "r1.png", "r2.png"]
    assert [os.path.basename(r.path) for r in result.mistakes()] == ["r3.png"]
    assert any(type(e).__name__ == "Progress" and e.stage == "evaluate" for e in events)


def test_csv_and_unreadable_files(exported, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    good = exported / "data" / "blue" / "b0.png"
    result = evaluate_model(exported / "model" / "model.keras", [(str(good), 1), (str(bad), 0)], split="val")
    assert result.paths == (str(good),)
    assert result.skipped and result.skipped[0][0] == str(bad)
    out = tmp_path / "per_image.csv"
    result.write_csv(out)
    lines = out.read_text().splitlines()
    assert lines[0] == "path,true,predicted,confidence,correct,p_red,p_blue"
    assert lines[1].startswith(f"{good},blue,blue,") and lines[1].split(",")[4] == "1"


def test_dataset_classes_are_matched_by_name(exported, tmp_path):
    # A folder whose classes sort differently from the model's labels (blue < red).
    result = evaluate_model(exported / "model" / "model.keras", str(exported / "data"), split="val")
    for i, path in enumerate(result.paths):
        expected = 0 if os.sep + "red" + os.sep in path else 1
        assert result.y_true[i] == expected


def test_unknown_class_is_a_data_error(exported, tmp_path):
    _image(tmp_path / "d" / "red" / "a.png", (255, 0, 0))
    _image(tmp_path / "d" / "green" / "a.png", (0, 255, 0))
    with pytest.raises(DataError, match="green"):
        evaluate_model(exported / "model" / "model.keras", DataConfig(root=str(tmp_path / "d"), val_fraction=0.0), split="all")


def test_run_folder_uses_its_own_dataset_split(exported, tmp_path):
    import shutil

    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(exported / "model" / "model.keras", run / "model.keras")
    (run / "class_names.json").write_text(json.dumps(["red", "blue"]))
    config = RunConfig(data=DataConfig(root=str(exported / "data"), val_fraction=0.3, test_fraction=0.3))
    (run / "run_config.json").write_text(to_json(config))
    results = evaluate_splits(run, None, splits=("val", "test"))
    assert set(results) == {"val", "test"}
    assert results["val"].metrics.num_images >= 2 and results["test"].metrics.num_images >= 1
    assert not set(results["val"].paths) & set(results["test"].paths)


def test_cancel_before_start_returns_a_cancelled_result(exported):
    token = CancelToken()
    token.cancel()
    result = evaluate_model(exported / "model" / "model.keras", [(str(exported / "data" / "red" / "r0.png"), 0)], cancel=token)
    assert result.cancelled and result.metrics.num_images == 0


def test_predict_images_unlabelled(exported):
    rows, skipped = predict_images(exported / "model" / "model.keras", [str(exported / "data" / "blue" / "b0.png")])
    assert not skipped and rows[0].pred == 1 and rows[0].true == -1
    assert rows[0].top(2)[0] == (1, pytest.approx(rows[0].confidence))


def test_cli_evaluate_text_json_and_csv(exported, tmp_path, capsys):
    from tlstudio.cli import main

    model = str(exported / "model" / "model.keras")
    data = str(exported / "data")
    assert main(["evaluate", model, data, "--split", "all", "--csv", str(tmp_path / "out.csv")]) == 0
    out = capsys.readouterr().out
    assert "Accuracy: 0.8571" in out and "Confusion matrix" in out
    assert "red -> blue" in out and "r3.png" in out
    assert len((tmp_path / "out.csv").read_text().splitlines()) == 8

    assert main(["evaluate", model, data, "--split", "all", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["confusion"] == [[3, 1], [0, 3]] and report["per_class"][0]["name"] == "red"
    assert report["mistakes"][0]["true"] == "red"


def test_cli_evaluate_errors_are_one_line(exported, tmp_path, capsys):
    from tlstudio.cli import main

    assert main(["evaluate", str(tmp_path / "none.keras")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tlstudio-cli: error:") and "does not exist" in err and err.count("\n") == 1
    # an exported model needs a dataset folder: exit 2 (unusable input)
    assert main(["evaluate", str(exported / "model" / "model.keras")]) == 2


def test_savedmodel_and_tflite_exports_give_the_keras_numbers(exported, tmp_path):
    import keras
    import tensorflow as tf

    model = keras.saving.load_model(exported / "model" / "model.keras")
    saved = tmp_path / "model_savedmodel"
    model.export(str(saved), verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
    (tmp_path / "model.tflite").write_bytes(converter.convert())
    (tmp_path / "labels.txt").write_text("red\nblue\n")  # next to the exports, as the export writes it
    config = DataConfig(root=str(exported / "data"), val_fraction=0.0)
    reference = evaluate_model(exported / "model" / "model.keras", config, split="all")
    for path, kind in ((saved, "savedmodel"), (tmp_path / "model.tflite", "tflite")):
        assert resolve_model(path).kind == kind
        result = evaluate_model(path, config, split="all")
        assert result.paths == reference.paths
        np.testing.assert_allclose(result.probs, reference.probs, atol=1e-4)
