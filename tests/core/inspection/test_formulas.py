"""The inspector's pure arithmetic and the layer calculator (no Keras unless cross-checking)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tlstudio.errors import ConfigError
from tlstudio.shapes import formulas as fm
from tlstudio.shapes.calculator import CalcLayer, CalcSpec, CalculatorError, calculate, cross_check, example_spec


def test_conv_output_formula_shows_numbers():
    f = fm.conv_output(224, 3, 1, 1)
    assert f.text == "(224 − 3 + 2·1)/1 + 1 = 224"
    assert f.value == 224


def test_same_padding_is_asymmetric_for_even_kernels_and_strides():
    # 224, F=3, S=2 'same': out = 112, total padding (112 − 1)·2 + 3 − 224 = 1, all of it after.
    assert fm.same_padding(224, 3, 2) == (112, 0, 1)
    f, before, after = fm.conv_output_same(224, 3, 2)
    assert (before, after) == (0, 1)
    assert fm.framework_output(f) == 112
    assert "asymmetric" in f.text and "⌈224/2⌉ = 112" in f.text


def test_params_formulas():
    assert fm.conv_params(3, 3, 3, 64).text == "(3·3·3 + 1)·64 = 1792"
    assert fm.conv_params(3, 3, 64, 64, bias=False).value == 3 * 3 * 64 * 64
    assert fm.dense_params(4096, 1000).value == 4_097_000
    formula, trainable = fm.batchnorm_params(64)
    assert formula.value == 256 and trainable == 128


def test_pool_formula():
    f = fm.pool_output(224, 2, 2)
    assert f.text == "(224 − 2)/2 + 1 = 112"


def test_receptive_field_of_three_stacked_3x3_convs_is_7():
    spec = CalcSpec((32, 32, 3), tuple(CalcLayer("conv", f=3, s=1, p=1, k=8) for _ in range(3)))
    table = calculate(spec)
    assert [r.rf for r in table.rows] == [1, 3, 5, 7]
    assert [r.jump for r in table.rows] == [1, 1, 1, 1]
    # ...the same field as one 7×7 conv, with fewer parameters (3·(3·3·C·C) vs 7·7·C·C).
    single = calculate(CalcSpec((32, 32, 3), (CalcLayer("conv", f=7, s=1, p=3, k=8),)))
    assert single.rows[-1].rf == 7


def test_calculator_rows_and_totals():
    table = calculate(example_spec())
    shapes = [r.output_shape for r in table.rows]
    assert shapes == [(32, 32, 3), (32, 32, 16), (32, 32, 16), (16, 16, 16), (16, 16, 32), (8, 8, 32), (2048,), (10,)]
    params = [r.params for r in table.rows]
    assert params == [0, 448, 2320, 0, 4640, 0, 0, 20490]
    assert table.totals.total_params == sum(params)
    assert table.rows[3].rf == 6 and table.rows[3].jump == 2
    assert table.totals.activation_elements == sum(fm.prod(s) for s in shapes)


def test_non_integer_output_is_a_teaching_error_in_strict_mode():
    spec = CalcSpec((10, 10, 3), (CalcLayer("conv", f=3, s=1, p=1, k=4), CalcLayer("conv", f=3, s=2, p=0, k=4)))
    with pytest.raises(CalculatorError) as info:
        calculate(spec, strict=True)
    msg = str(info.value)
    assert "Layer 2 (conv, F=3, S=2, P=0)" in msg
    assert "(10 − 3 + 2·0)/2 + 1 = 4.5" in msg
    assert "not a whole number" in msg
    assert "S=1 (→ 8)" in msg  # a fix that works, with its result
    assert "Received: width 10, F=3, S=2, P=0" in msg
    assert isinstance(info.value, ConfigError)
    # the default floors as Keras does and says so
    table = calculate(spec)
    row = table.rows[-1]
    assert row.output_shape == (4, 4, 4) and row.exact_output_shape == (4.5, 4.5, 4) and row.floored
    assert "floored" in row.note and "S=1 (→ 8)" in row.fix
    assert table.floored_rows == [row]


def test_suggested_padding_fixes_really_work():
    # (10 − 3 + 2·0)/3 + 1 = 3.33…; P=1 gives (10 − 3 + 2)/3 + 1 = 4.
    spec = CalcSpec((10, 10, 3), (CalcLayer("conv", f=3, s=3, p=0, k=4),))
    with pytest.raises(CalculatorError) as info:
        calculate(spec, strict=True)
    assert "3.333" in str(info.value)
    assert "P=1 (→ 4)" in str(info.value)
    assert "P=1 (→ 4)" in calculate(spec).rows[-1].fix
    fixed = calculate(CalcSpec((10, 10, 3), (CalcLayer("conv", f=3, s=3, p=1, k=4),)), strict=True)
    assert fixed.rows[-1].output_shape == (4, 4, 4) and not fixed.floored_rows


def test_filter_larger_than_input_is_explained():
    spec = CalcSpec((4, 4, 3), (CalcLayer("conv", f=7, s=1, p=0, k=2),))
    with pytest.raises(CalculatorError, match="does not fit"):
        calculate(spec)


@pytest.mark.parametrize(
    "row, words",
    [
        (CalcLayer("conv", f=0, k=2), "filter size F"),
        (CalcLayer("conv", s=0, k=2), "stride S"),
        (CalcLayer("conv", p=-1, k=2), "padding P"),
        (CalcLayer("conv", k=0), "filters K"),
        (CalcLayer("dropout"), "kind must be one of"),
    ],
)
def test_invalid_rows_name_the_layer(row, words):
    with pytest.raises(CalculatorError) as info:
        calculate(CalcSpec((8, 8, 3), (row,)))
    assert "Layer 1" in str(info.value) and words in str(info.value)


def test_conv_after_flatten_is_refused():
    spec = CalcSpec((8, 8, 3), (CalcLayer("flatten"), CalcLayer("conv", k=2)))
    with pytest.raises(CalculatorError, match="before Flatten"):
        calculate(spec)


def test_spec_json_round_trip_and_unknown_keys():
    spec = example_spec()
    assert CalcSpec.from_json(spec.to_json()) == spec
    bad = {"input_shape": [8, 8, 3], "layers": [{"kind": "conv", "filters": 3}]}
    with pytest.raises(CalculatorError, match="unknown keys"):
        CalcSpec.from_json(json.dumps(bad))
    with pytest.raises(CalculatorError, match="not valid JSON"):
        CalcSpec.from_json("{")


@pytest.mark.parametrize(
    "data, words",
    [
        ({"input_shape": "ab", "layers": []}, "input_shape must be [height, width, channels]"),
        ({"input_shape": [32, 32], "layers": []}, "Received: input_shape=[32, 32]"),
        ({"input_shape": [32, 32.5, 3], "layers": []}, "three whole numbers"),
        ({"input_shape": [8, 8, 3], "layers": 5}, '"layers" must be a list'),
        ({"input_shape": [8, 8, 3], "layers": [5]}, "layers[1] (Layer 1) must be an object"),
        ({"input_shape": [8, 8, 3], "layers": [{"kind": "conv", "f": "3"}]}, "layers[1].f (Layer 1) must be a whole number"),
        ({"input_shape": [8, 8, 3], "layers": [{"kind": "conv", "k": 2}, {"kind": "dense", "bias": "yes"}]},
         "layers[2].bias (Layer 2) must be true or false"),
        ({"input_shape": [8, 8, 3], "layers": [{"kind": 3}]}, "layers[1].kind (Layer 1) must be one of"),
        ([1, 2], 'a JSON object with "input_shape" and "layers"'),
    ],
)
def test_spec_fields_are_checked_with_their_name(data, words):
    with pytest.raises(CalculatorError) as info:
        CalcSpec.from_dict(data)
    assert words in str(info.value) and "Received:" in str(info.value)


def test_spec_file_errors_name_the_file_and_field(tmp_path):
    bad = tmp_path / "latin1.json"
    bad.write_bytes(b'{"input_shape": [8, 8, 3],\n "layers": [{"kind": "conv", "k": 2, "name": "caf\xe9"}]}')
    with pytest.raises(CalculatorError) as info:
        CalcSpec.from_file(bad)
    msg = str(info.value)
    assert msg.startswith(f"{bad}: ") and "layers[1].name" in msg and "line 2" in msg and "0xe9" in msg
    assert "Received:" in msg
    shape = tmp_path / "shape.json"
    shape.write_text('{"input_shape": "ab", "layers": []}', encoding="utf-8")
    with pytest.raises(CalculatorError, match=r"shape\.json: input_shape must be .*Received: input_shape='ab'"):
        CalcSpec.from_file(shape)
    with pytest.raises(CalculatorError, match=r"missing\.json: cannot read the calculator spec"):
        CalcSpec.from_file(tmp_path / "missing.json")
    good = tmp_path / "good.json"
    good.write_text(example_spec().to_json(), encoding="utf-8-sig")  # a BOM from a Windows editor is fine
    assert CalcSpec.from_file(good) == example_spec()


def test_same_padding_in_calculator():
    table = calculate(CalcSpec((15, 15, 3), (CalcLayer("conv", f=3, s=2, p="same", k=4),)))
    row = table.rows[-1]
    assert row.output_shape == (8, 8, 4)
    assert row.pad == (1, 1, 1, 1)


def test_memory_estimate_and_largest_batch():
    totals = fm.Totals(total_params=1000, trainable_params=600, frozen_params=400, activation_elements=5000, input_elements=1000)
    m = fm.training_memory(totals, 8, "adam")
    assert m.params_bytes == 4000
    assert m.grads_bytes == 2400
    assert m.optimizer_bytes == 4800  # Adam: two slots per trainable weight
    assert m.activations_bytes == m.activation_grads_bytes == (5000 - 1000) * 8 * 4
    assert m.input_bytes == 1000 * 8 * 4
    budget = fm.training_memory(totals, 10).total_bytes
    assert fm.largest_batch(totals, budget) == 10
    assert fm.largest_batch(totals, budget - 1) == 9
    assert fm.largest_batch(totals, 100) == 0
    assert fm.training_memory(totals, 8, "sgd").optimizer_bytes == 2400


def test_calculator_cross_check_agrees_with_keras():
    spec = CalcSpec(
        (20, 20, 3),
        (
            CalcLayer("conv", f=5, s=1, p=2, k=6),
            CalcLayer("pool", f=2, s=2, p=0, pool="avg"),
            CalcLayer("conv", f=3, s=2, p="same", k=8, bias=False),
            CalcLayer("pool", f=3, s=1, p="valid"),
            CalcLayer("flatten"),
            CalcLayer("dense", k=3, activation="softmax"),
        ),
    )
    check = cross_check(spec)
    assert check.ok, check.mismatches()
    assert [r.keras_shape for r in check.rows] == [(20, 20, 6), (10, 10, 6), (5, 5, 8), (3, 3, 8), (72,), (3,)]


def test_calculator_does_not_import_tensorflow():
    code = (
        "import sys\n"
        "from tlstudio.shapes.calculator import calculate, example_spec\n"
        "calculate(example_spec())\n"
        "sys.exit(1 if {'tensorflow', 'keras'} & set(sys.modules) else 0)\n"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
