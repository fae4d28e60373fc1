"""The calculator accepts every network Keras accepts: non-whole sizes are floored and flagged, or refused in strict mode."""

from __future__ import annotations

import dataclasses
import json

import keras
import pytest

from tlstudio.cli import main
from tlstudio.shapes.calculator import CalcLayer, CalcSpec, CalculatorError, calculate, cross_check

# 32×32×3 → conv 32 (3×3) → pool 2 → conv 64 (3×3) → pool 2 → conv 64 (3×3) → flatten → dense 64 → dense 10
CNN_LAYERS = (
    CalcLayer("conv", f=3, s=1, p=0, k=32),
    CalcLayer("pool", f=2, s=2),
    CalcLayer("conv", f=3, s=1, p=0, k=64),
    CalcLayer("pool", f=2, s=2),  # 13 → (13 − 2)/2 + 1 = 6.5, Keras floors to 6
    CalcLayer("conv", f=3, s=1, p=0, k=64),
    CalcLayer("flatten"),
    CalcLayer("dense", k=64),
    CalcLayer("dense", k=10, activation="softmax"),
)
CNN = CalcSpec((32, 32, 3), CNN_LAYERS)


def keras_cnn(input_shape=(32, 32, 3), second_pool_padding="valid") -> "keras.Model":
    """The same network written directly in Keras, as a tutorial would."""
    layers = keras.layers
    return keras.Sequential([
        keras.Input(shape=input_shape),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(2, padding=second_pool_padding),
        layers.Conv2D(64, 3, activation="relu"),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])


def _assert_rows_match_keras(table, model) -> None:
    assert len(table.rows) - 1 == len(model.layers)
    for row, layer in zip(table.rows[1:], model.layers):
        assert tuple(row.output_shape) == tuple(layer.output.shape[1:]), (row.name, layer.name)
        assert row.params == layer.count_params(), (row.name, layer.name)
    assert table.totals.total_params == model.count_params()


def test_the_32x32_cnn_totals_122570_with_its_13_to_6_pool_flagged():
    table = calculate(CNN)
    assert table.totals.total_params == 122_570
    assert [r.output_shape for r in table.rows[1:]] == [
        (30, 30, 32), (15, 15, 32), (13, 13, 64), (6, 6, 64), (4, 4, 64), (1024,), (64,), (10,),
    ]
    assert [r.name for r in table.floored_rows] == ["pool4"]
    pool = table.row("pool4")
    assert pool.floored is True
    assert pool.exact_output_shape == (6.5, 6.5, 64) and pool.output_shape == (6, 6, 64)
    assert "padding 'same' (→ 7" in pool.fix
    assert "an input of 30×30" in pool.fix  # 30 → 28 → 14 → 12 → 6 → 4: every size whole
    assert "6.5" in pool.note and "floored to 6" in pool.note and "Fix:" in pool.note
    assert "(13 − 2)/2 + 1 = 6.5, floored to 6 as Keras does" in pool.formula("output width").text
    assert pool.formula("output width").value == 6.5  # the exact value is kept
    for row in table.rows:
        if row.name != "pool4":
            assert row.floored is False and row.exact_output_shape is None and row.fix == ""
    data = table.to_dict()
    assert data["floored"] == ["pool4"]
    assert data["rows"][4]["exact_output_shape"] == (6.5, 6.5, 64) and data["rows"][4]["floored"] is True


def test_every_row_matches_a_real_keras_model():
    table = calculate(CNN)
    model = keras_cnn()
    assert model.count_params() == 122_570
    _assert_rows_match_keras(table, model)
    check = cross_check(CNN)  # the calculator's own Keras build agrees too
    assert check.ok, check.mismatches()


def test_the_suggested_fixes_really_give_whole_sizes_and_keras_agrees():
    same = CalcSpec((32, 32, 3), tuple(
        dataclasses.replace(layer, p="same") if i == 3 else layer for i, layer in enumerate(CNN_LAYERS)
    ))
    table = calculate(same, strict=True)
    assert table.floored_rows == [] and table.row("pool4").output_shape == (7, 7, 64)
    _assert_rows_match_keras(table, keras_cnn(second_pool_padding="same"))

    smaller = CalcSpec((30, 30, 3), CNN_LAYERS)
    table = calculate(smaller, strict=True)
    assert table.floored_rows == []
    _assert_rows_match_keras(table, keras_cnn(input_shape=(30, 30, 3)))


def test_a_non_square_input_floors_only_the_axis_that_needs_it():
    spec = CalcSpec((32, 30, 3), CNN_LAYERS)  # height 32 → 13 → 6.5; width 30 → 12 → 6
    table = calculate(spec)
    pool = table.row("pool4")
    assert pool.exact_output_shape == (6.5, 6, 64) and pool.output_shape == (6, 6, 64)
    assert "height (13 − 2)/2 + 1 = 6.5" in pool.note and "width" not in pool.note.split("Fix:")[0]
    assert "an input height of 30" in pool.fix
    _assert_rows_match_keras(table, keras_cnn(input_shape=(32, 30, 3)))


def test_strict_mode_refuses_it_naming_the_layer():
    with pytest.raises(CalculatorError) as info:
        calculate(CNN, strict=True)
    message = str(info.value)
    assert message.startswith("Layer 4 (pool, F=2, S=2, P=0) on width 13: (13 − 2)/2 + 1 = 6.5")
    assert "not a whole number" in message and "Keras would silently floor this to 6" in message
    assert "padding 'same' (→ 7" in message and "an input of 30×30" in message
    assert "Received: width 13, F=2, S=2, P=0" in message
    assert "\n" not in message
    with pytest.raises(CalculatorError, match="Layer 4"):
        calculate(CNN, True)  # the positional form the GUI could use keeps working
    with pytest.raises(CalculatorError, match="Layer 4"):
        cross_check(CNN, strict=True)


def test_same_padding_is_ceil_and_never_flagged():
    # F=1, S=2 on 5 pixels: 'same' gives ⌈5/2⌉ = 3 by definition (Keras agrees), not a floor
    spec = CalcSpec((5, 5, 3), (CalcLayer("conv", f=1, s=2, p="same", k=2), CalcLayer("flatten")))
    table = calculate(spec, strict=True)
    assert table.rows[1].output_shape == (3, 3, 2) and table.floored_rows == []
    assert cross_check(spec).ok


def test_a_filter_larger_than_its_input_is_refused_even_without_strict():
    spec = CalcSpec((4, 4, 3), (CalcLayer("conv", f=7, k=2),))
    with pytest.raises(CalculatorError) as info:
        calculate(spec)
    assert "does not fit" in str(info.value) and "Received: width 4, F=7" in str(info.value)


def _write_cnn(tmp_path):
    spec = tmp_path / "cnn.json"
    spec.write_text(CNN.to_json(), encoding="utf-8")
    return spec


def test_cli_floors_by_default_and_prints_the_fix(tmp_path, capsys):
    spec = _write_cnn(tmp_path)
    assert main(["inspect", "--calc", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "Parameters: 122,570 total" in out
    notes = [line for line in out.splitlines() if line.startswith("note: pool4:")]
    assert len(notes) == 1 and "6.5" in notes[0] and "floored to 6" in notes[0] and "padding 'same'" in notes[0]

    assert main(["inspect", "--calc", str(spec), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["table"]["totals"]["total_params"] == 122_570
    assert data["table"]["floored"] == ["pool4"]
    row = data["table"]["rows"][4]
    assert row["exact_output_shape"] == [6.5, 6.5, 64] and row["output_shape"] == [6, 6, 64] and row["fix"]


def test_cli_strict_refuses_it_in_one_line(tmp_path, capsys):
    spec = _write_cnn(tmp_path)
    assert main(["inspect", "--calc", str(spec), "--strict"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"tlstudio-cli: error: {spec}: Layer 4 (pool, F=2, S=2, P=0)")
    assert "Received: width 13" in err


def test_cli_cross_check_agrees_on_the_floored_network(tmp_path, capsys):
    spec = _write_cnn(tmp_path)
    assert main(["inspect", "--calc", str(spec), "--cross-check"]) == 0
    assert "Keras agrees with every row." in capsys.readouterr().out
