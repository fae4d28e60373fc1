"""The precision choice with the device list faked: rules, measurement, cache, and the old switch's migration. Keras-free."""

from __future__ import annotations

import json

import pytest

from tlstudio.config import TrainConfig, from_dict, to_dict
from tlstudio.errors import ConfigError
from tlstudio.options import PRECISIONS, option_of
from tlstudio.precision import MIN_SPEEDUP, Gpu, Hardware, candidate, choose, read_cpu

AMX_CPU = Hardware("Intel Xeon 8480", frozenset({"avx2", "amx_bf16", "amx_int8", "avx512_bf16"}), 2)
AVX512_CPU = Hardware("AMD EPYC 9654", frozenset({"avx2", "avx512_bf16"}), 8)
PLAIN_CPU = Hardware("AMD EPYC", frozenset({"avx2", "fma"}), 2)
A100 = Hardware("x", frozenset(), 8, (Gpu("NVIDIA A100", (8, 0)),))
P100 = Hardware("x", frozenset(), 8, (Gpu("Tesla P100", (6, 0)),))


@pytest.mark.parametrize("hardware, expected, why", [
    (AMX_CPU, "bfloat16", "AMX"),
    (AVX512_CPU, "bfloat16", "AVX512-BF16"),
    (PLAIN_CPU, "float32", "no AMX or AVX512-BF16"),
    (A100, "float16", "tensor cores, compute 8.0"),
    (P100, "float32", "GPU without tensor cores"),
    (Hardware("x", frozenset({"amx_bf16"}), 2, (Gpu("GPU", None),)), "float32", "GPU of unknown compute capability"),
])
def test_auto_follows_the_hardware(hardware, expected, why):
    assert candidate("auto", hardware) == (expected, why)


def test_an_explicit_request_is_honoured_and_never_measured():
    def measure(_):
        raise AssertionError("an explicit precision is not measured")

    choice = choose("bfloat16", PLAIN_CPU, measure=measure)
    assert (choice.precision, choice.reason, choice.policy) == ("bfloat16", "asked for", "mixed_bfloat16")
    assert "slow on a CPU" in choose("float16", PLAIN_CPU, measure=measure).reason
    f16 = choose("float16", A100)
    assert f16.loss_scale and f16.policy == "mixed_float16" and f16.jit_compile
    assert not choose("bfloat16", AMX_CPU).jit_compile  # never XLA on a CPU


def test_auto_keeps_float32_where_the_fast_precision_measures_slower(tmp_path):
    calls = []

    def slower(precision):
        calls.append(precision)
        return 0.8

    choice = choose("auto", AMX_CPU, measure=slower, folder=tmp_path, versions={"tensorflow": "2.21"})
    assert choice.precision == "float32" and choice.speedup == 0.8
    assert choice.sentence() == "CPU: 2 cores, float32 (AMX, but bfloat16 measured 0.80x float32)"
    assert calls == ["bfloat16"]


def test_a_measurement_is_cached_per_device_and_versions(tmp_path):
    calls = []

    def faster(precision):
        calls.append(precision)
        return 3.14

    first = choose("auto", AMX_CPU, measure=faster, folder=tmp_path, versions={"tensorflow": "2.21"})
    again = choose("auto", AMX_CPU, measure=faster, folder=tmp_path, versions={"tensorflow": "2.21"})
    assert first == again and first.precision == "bfloat16" and calls == ["bfloat16"]
    assert first.sentence() == "CPU: 2 cores, bfloat16 (AMX, 3.1x float32 measured)"
    choose("auto", AMX_CPU, measure=faster, folder=tmp_path, versions={"tensorflow": "2.22"})  # a new TensorFlow
    choose("auto", AVX512_CPU, measure=faster, folder=tmp_path, versions={"tensorflow": "2.21"})  # another CPU
    assert len(calls) == 3
    assert len(json.loads((tmp_path / "measured.json").read_text())) == 3


def test_a_damaged_cache_is_measured_again_and_a_failed_measurement_keeps_float32(tmp_path):
    (tmp_path / "measured.json").write_text("{not json")
    assert choose("auto", AMX_CPU, measure=lambda p: MIN_SPEEDUP + 1, folder=tmp_path).precision == "bfloat16"

    def broken(_):
        raise RuntimeError("no kernel")

    choice = choose("auto", A100, measure=broken, folder=tmp_path / "other")
    assert choice.precision == "float32" and "could not be measured" in choice.reason


def test_read_cpu_reads_model_and_flags(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\nflags\t\t: fpu AVX2 amx_bf16\n\n"
                    "processor\t: 1\nmodel name\t: other\n")
    assert read_cpu(str(info)) == ("Intel(R) Xeon(R) Platinum 8480+", frozenset({"fpu", "avx2", "amx_bf16"}))
    assert read_cpu(str(tmp_path / "absent")) == ("CPU", frozenset())


def test_the_option_is_described_once_and_checked():
    opt = option_of(TrainConfig, "precision")
    assert opt.choices == PRECISIONS and opt.default == "auto" and opt.label == "Precision"
    with pytest.raises(ConfigError, match=r"precision must be one of .* Received: 'float64'"):
        TrainConfig(precision="float64")
    assert from_dict(TrainConfig, to_dict(TrainConfig(precision="bfloat16"))).precision == "bfloat16"


@pytest.mark.parametrize("old, new", [(True, "auto"), (False, "float32")])
def test_an_older_files_mixed_precision_switch_is_migrated(old, new):
    data = {**to_dict(TrainConfig()), "mixed_precision": old}
    del data["precision"]
    assert from_dict(TrainConfig, data).precision == new
    assert from_dict(TrainConfig, {**data, "precision": "bfloat16"}).precision == "bfloat16"  # a newer file wins
    with pytest.raises(ConfigError, match="mixed_precision .* must be true or false. Received: mixed_precision=\"yes\""):
        from_dict(TrainConfig, {**data, "mixed_precision": "yes"}, "train")


@pytest.mark.parametrize("module, name", [("probe", "ProbeConfig"), ("audit", "AuditConfig"), ("embed", "EmbedConfig"),
                                          ("sweep", "SweepConfig"), ("evaluate", "EvaluateConfig")])
def test_every_job_with_a_precision_uses_the_one_description(module, name):
    import importlib

    from tlstudio.config import DataConfig

    cls = getattr(importlib.import_module(f"tlstudio.api.{module}"), name)
    opt = option_of(cls, "precision")
    assert opt.choices == PRECISIONS and opt.label == option_of(TrainConfig, "precision").label
    assert opt.default == ("float32" if name == "EvaluateConfig" else "auto")  # evaluation: float32 unless opted in
    first = "/m/model.keras" if name == "EvaluateConfig" else DataConfig(root="/d")
    with pytest.raises(ConfigError, match=r"precision must be one of .* Received: 'fp8'"):
        cls(first, precision="fp8")
