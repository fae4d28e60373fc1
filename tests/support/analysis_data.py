"""Generated datasets for the probe and audit tests: two colour classes with planted problems."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

HUES = {"red": (200, 40, 40), "blue": (40, 60, 200)}


def colour_image(base: tuple[int, int, int], rng: np.random.Generator, size: int = 48) -> Image.Image:
    """A class-coloured picture with a few random shapes, so every image has its own layout."""
    jitter = rng.integers(-25, 26, 3)
    background = tuple(int(np.clip(c + j, 0, 255)) for c, j in zip(base, jitter))
    img = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(img)
    for _ in range(3):
        x0, y0 = (int(v) for v in rng.integers(0, size - 12, 2))
        w, h = (int(v) for v in rng.integers(8, 24, 2))
        shade = tuple(int(np.clip(c * rng.uniform(0.4, 1.3), 0, 255)) for c in base)
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([x0, y0, x0 + w, y0 + h], fill=shade)
    return img


def make_presplit(root: Path, *, train: int = 24, val: int = 8, seed: int = 0) -> dict[str, list[Path]]:
    """``root/{train,val}/{red,blue}/*.png``; returns the paths per class (train first)."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[Path]] = {name: [] for name in HUES}
    for split, n in (("train", train), ("val", val)):
        for name, base in HUES.items():
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                path = folder / f"{name}_{split}_{i:03d}.png"
                colour_image(base, rng).save(path)
                out[name].append(path)
    return out


def plant_flips(root: Path, count: int, seed: int = 1) -> list[Path]:
    """Write ``count`` red pictures into train/blue: mislabelled images."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        path = root / "train" / "blue" / f"flipped_{i}.png"
        colour_image(HUES["red"], rng).save(path)
        paths.append(path)
    return paths


def plant_exact_leak(source: Path, root: Path) -> Path:
    """Copy a training image byte for byte into val (same class)."""
    target = root / "val" / source.parent.name / f"copy_of_{source.name}"
    shutil.copyfile(source, target)
    return target


def plant_near_copy(source: Path, root: Path) -> Path:
    """A resized and JPEG-recompressed copy of ``source`` in val."""
    target = root / "val" / source.parent.name / f"near_{source.stem}.jpg"
    with Image.open(source) as img:
        img.convert("RGB").resize((40, 40), Image.Resampling.BICUBIC).save(target, quality=70)
    return target


def plant_noise(root: Path, seed: int = 2) -> Path:
    """A uniform noise picture in train/red: an outlier."""
    rng = np.random.default_rng(seed)
    target = root / "train" / "red" / "noise.png"
    Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(target)
    return target


def seeded_weights(folder: Path, seed: int = 0, backbone: str = "vgg16", size: int = 32) -> str:
    """A ``file:`` weights source of a randomly initialised backbone built with a fixed seed.

    Random ``"none"`` weights differ at every build; a file makes the features,
    and so the tests, the same in every process.
    """
    import keras

    from tlstudio.backbones import build_backbone

    path = folder / f"{backbone}-{size}-seed{seed}.weights.h5"
    if not path.exists():
        keras.utils.set_random_seed(seed)
        build_backbone(backbone, "none", size).save_weights(str(path))
    return f"file:{path}"
