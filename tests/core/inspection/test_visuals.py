"""Filter grids, activation maps and Grad-CAM, on small models."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tlstudio.inspection.activations import activation_maps, feature_extractor
from tlstudio.inspection.filters import filter_grid
from tlstudio.inspection.gradcam import grad_cam, last_conv_layer
from tlstudio.inspection.report import save_png, to_csv, to_markdown
from tlstudio.inspection.table import layer_table

SIZE = 32
SQUARE = 8


def small_cnn(seed: int = 0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    x = keras.layers.Rescaling(1 / 255.0, name="scale")(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(x)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv3")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="small")


def test_filter_grid_shapes_and_modes():
    model = small_cnn()
    first = filter_grid(model, "conv1")
    # 8 RGB filters of 3×3, scaled 8× (24 px), in a 3×3 grid with 1 px gaps: 3·(24 + 1) + 1 = 76.
    assert first.mode == "rgb" and first.kernel_shape == (3, 3, 3, 8)
    assert first.image.shape == (76, 76, 3) and first.image.dtype == np.uint8
    deeper = filter_grid(model, "conv2", mode="channel", channel=5)
    assert deeper.image.shape == (4 * 25 + 1, 4 * 25 + 1) and deeper.channel == 5
    mean = filter_grid(model, "conv2")
    assert mean.mode == "mean" and mean.image.ndim == 2
    # Each filter is normalised to its own range: every tile spans 0..255.
    k = np.moveaxis(model.get_layer("conv1").kernel.numpy(), 3, 0)
    assert k.shape[0] == first.shown
    tile = first.image[1 : 1 + 24, 1 : 1 + 24]
    assert tile.min() == 0 and tile.max() == 255
    # 1×1 kernels: one value per tile, shaded on one scale across filters (not a flat grey).
    from tlstudio.inspection.filters import filter_tiles

    tiles, _ = filter_tiles(np.arange(8, dtype=np.float32).reshape(1, 1, 2, 4), "channel", 1)
    assert tiles[:, 0, 0].tolist() == [0, 85, 170, 255]  # channel 1 holds 4, 5, 6, 7
    with pytest.raises(ValueError, match="channel must be within"):
        filter_grid(model, "conv2", mode="channel", channel=99)
    with pytest.raises(ValueError, match="no 2-D convolution kernel"):
        filter_grid(model, "pool")


def test_activation_maps_sorted_with_stats_and_cached():
    model = small_cnn()
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (48, 40, 3), dtype=np.uint8)  # resized to the model input
    maps = activation_maps(model, image, ["conv1", "conv3"])
    a1, a3 = maps["conv1"], maps["conv3"]
    assert a1.shape == (32, 32, 8) and a1.maps.shape == (8, 32, 32)
    assert a3.shape == (16, 16, 16) and a3.maps.shape == (16, 16, 16)
    means = [s.mean for s in a3.stats]
    assert means == sorted(means, reverse=True)
    assert sorted(s.channel for s in a3.stats) == list(range(16))
    for s, m in zip(a3.stats, a3.maps):
        assert s.mean == pytest.approx(float(m.mean()), rel=1e-5)
        assert s.frac_zero == pytest.approx(float((m == 0).mean()))
    # 8 maps of 32 px in a 3×3 grid: 3·33 + 1; 16 maps of 16 px scaled 2× in a 4×4 grid: 4·33 + 1.
    assert a1.image.shape == (100, 100) and a3.image.shape == (133, 133)
    # Same values as a plain sub-model, and the extractor is built once.
    sub = keras.Model(model.inputs[0], model.get_layer("conv3").output)
    expected = sub(image_resized(image)[None], training=False).numpy()[0]
    order = [s.channel for s in a3.stats]
    np.testing.assert_allclose(a3.maps, np.moveaxis(expected, -1, 0)[order], rtol=1e-5, atol=1e-6)
    assert feature_extractor(model, ["conv1", "conv3"]) is feature_extractor(model, ["conv1", "conv3"])


def image_resized(image):
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((SIZE, SIZE), Image.Resampling.BILINEAR)).astype(np.float32)


def make_squares(n: int, rng):
    """Dark noisy images; label 1 ones carry a bright square at a random spot."""
    x = rng.integers(0, 70, (n, SIZE, SIZE, 3)).astype(np.float32)
    y = rng.integers(0, 2, n)
    for i in np.flatnonzero(y):
        r, c = rng.integers(0, SIZE - SQUARE, 2)
        x[i, r : r + SQUARE, c : c + SQUARE] = 255
    return x, y


def test_grad_cam_peaks_inside_the_bright_square(tmp_path):
    rng = np.random.default_rng(1)
    model = small_cnn(seed=1)
    x, y = make_squares(600, rng)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=6, batch_size=32, verbose=0)
    hits = 0
    spots = [(3, 4), (20, 18), (6, 21), (19, 2)]
    for r, c in spots:
        image = rng.integers(0, 70, (SIZE, SIZE, 3)).astype(np.uint8)
        image[r : r + SQUARE, c : c + SQUARE] = 255
        cam = grad_cam(model, image)  # predicted class, last conv layer
        assert cam.layer == "conv3"
        assert cam.heatmap.shape == (SIZE, SIZE) and 0 <= cam.heatmap.min() and cam.heatmap.max() <= 1
        assert cam.overlay.shape == (SIZE, SIZE, 3) and cam.overlay.dtype == np.uint8
        assert cam.class_index == 1, f"the trained model should see the square (p={cam.probabilities})"
        peak = np.unravel_index(np.argmax(cam.heatmap), cam.heatmap.shape)
        inside = (r - 2 <= peak[0] < r + SQUARE + 2) and (c - 2 <= peak[1] < c + SQUARE + 2)
        box = cam.heatmap[max(r - 2, 0) : r + SQUARE + 2, max(c - 2, 0) : c + SQUARE + 2]
        mass = box.sum() / cam.heatmap.sum()
        hits += int(inside and mass > 0.6)
    assert hits == len(spots)
    assert save_png(cam.overlay, tmp_path / "cam.png").stat().st_size > 0


def test_app_model_layout_nested_backbone_and_head():
    from tlstudio.config import ModelConfig
    from tlstudio.model import build_model

    model = build_model(ModelConfig(backbone="vgg16", weights="none", image_size=SIZE), num_classes=3)
    table = layer_table(model)
    paths = [r.path for r in table.rows]
    assert "backbone/block1_conv1" in paths and any(p.startswith("head/") for p in paths)
    assert table.row("backbone/block1_conv1").frozen is True  # phase 1: backbone frozen
    assert table.row("predictions").frozen is False
    assert table.totals.total_params == model.count_params()
    image = np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    maps = activation_maps(model, image, ["backbone/block1_conv1", "block2_pool"])
    assert maps["backbone/block1_conv1"].maps.shape == (64, SIZE, SIZE)
    # The backbone sees preprocessed pixels: compare with running the parts by hand.
    pre = model.get_layer("preprocess")  # the app's preprocessing sub-model
    bb = model.get_layer("backbone")
    sub = keras.Model(bb.inputs[0], bb.get_layer("block1_conv1").output)
    expected = sub(pre(image_resized(image)[None])).numpy()[0]
    got = maps["backbone/block1_conv1"]
    order = [s.channel for s in got.stats]
    np.testing.assert_allclose(got.maps, np.moveaxis(expected, -1, 0)[order], rtol=1e-4, atol=1e-4)
    assert last_conv_layer(model) == "backbone/block5_conv3"
    cam = grad_cam(model, image, class_index=2)
    assert cam.class_index == 2 and cam.heatmap.shape == (40, 40) and cam.overlay.shape == (40, 40, 3)
    assert cam.probabilities.shape == (3,) and cam.probabilities.sum() == pytest.approx(1, abs=1e-4)
    from tlstudio.inspection.gradcam import _plan

    assert _plan(model, cam.layer) is _plan(model, cam.layer)  # sub-models built once per model and layer
    # The output layer's softmax is restored after the logit gradient.
    assert model.get_layer("head").get_layer("predictions").activation is keras.activations.softmax


def test_table_markdown_and_csv():
    table = layer_table(small_cnn())
    md = to_markdown(table)
    assert "| conv1 | Conv2D |" in md and "(3·3·3 + 1)·8 = 224" in md
    csv_text = to_csv(table)
    lines = csv_text.strip().splitlines()
    assert len(lines) == len(table.rows) + 1 and lines[0].startswith("index,path,type")


def test_any_size_preprocessing_rows_get_concrete_shapes():
    from tlstudio.config import ModelConfig
    from tlstudio.model import build_model

    model = build_model(ModelConfig(backbone="resnet50", weights="none", image_size=SIZE), num_classes=2)
    table = layer_table(model)
    pre = [r for r in table.rows if r.path.startswith("preprocess/")]
    assert pre and all(r.output_shape == (SIZE, SIZE, 3) for r in pre)  # the sub-model itself says (None, None, 3)
    assert all(r.act_elements == SIZE * SIZE * 3 for r in pre)
    assert all(None not in r.output_shape for r in table.rows)
