"""The training loss with label smoothing on integer labels."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from tlstudio.config import TrainConfig
from tlstudio.training.loss import PLAIN_LOSS, SparseSmoothedCrossentropy, make_loss


def test_no_smoothing_keeps_the_plain_sparse_loss():
    assert make_loss(TrainConfig()) == PLAIN_LOSS


@pytest.mark.parametrize("labels_shape", [(3,), (3, 1)])
def test_smoothed_loss_equals_the_categorical_loss_on_smoothed_one_hot(labels_shape):
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]], np.float32)
    labels = np.array([0, 1, 2]).reshape(labels_shape)
    loss = make_loss(TrainConfig(label_smoothing=0.3))
    assert isinstance(loss, SparseSmoothedCrossentropy)
    got = float(loss(labels, probs))
    target = 0.7 * np.eye(3)[[0, 1, 2]] + 0.3 / 3
    expected = float(np.mean(-np.sum(target * np.log(probs), axis=1)))
    assert got == pytest.approx(expected, rel=1e-5)
    reference = keras.losses.CategoricalCrossentropy(label_smoothing=0.3)(np.eye(3)[[0, 1, 2]], probs)
    assert got == pytest.approx(float(reference), rel=1e-5)
    # smoothing raises the loss of confident right answers above the plain loss
    plain = float(keras.losses.SparseCategoricalCrossentropy()(labels.reshape(-1), probs))
    assert got > plain and math.isfinite(got)


def test_sample_weights_apply_per_image():
    probs = np.array([[0.9, 0.1], [0.2, 0.8]], np.float32)
    loss = SparseSmoothedCrossentropy(0.1)
    both = float(loss(np.array([0, 1]), probs, sample_weight=np.array([1.0, 0.0])))
    only_first = float(loss(np.array([0]), probs[:1]))
    assert both == pytest.approx(only_first / 2, rel=1e-5)  # sum over batch / batch size


def test_a_model_compiled_with_it_trains_and_saves_and_loads(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss=make_loss(TrainConfig(label_smoothing=0.2)), metrics=["accuracy"])
    x = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    history = model.fit(x, y, epochs=2, verbose=0)
    assert all(math.isfinite(v) for v in history.history["loss"])
    path = tmp_path / "m.keras"
    model.save(path)
    back = keras.saving.load_model(path)
    assert isinstance(back.loss, SparseSmoothedCrossentropy) and back.loss.label_smoothing == pytest.approx(0.2)


def test_cli_label_smoothing_option_reaches_the_config_and_is_checked():
    from tlstudio.cli import build_parser
    from tlstudio.cli.train import _config

    args = build_parser().parse_args(["train", "photos", "--label-smoothing", "0.1"])
    assert _config(args).train.label_smoothing == pytest.approx(0.1)
    assert _config(build_parser().parse_args(["train", "photos"])).train.label_smoothing == 0.0
    from tlstudio.cli import UsageError

    with pytest.raises(UsageError, match="Received: label_smoothing=1.5"):
        _config(build_parser().parse_args(["train", "photos", "--label-smoothing", "1.5"]))
