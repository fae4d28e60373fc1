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


def textured_photo(base: tuple[int, int, int], rng: np.random.Generator, size: int = 48) -> Image.Image:
    """A photo-like picture: a dark subject on a colour field around ``base``, from sharp and grainy to smooth (a macro
    shot's blurred background): every pixel its own shade."""
    coarse = rng.normal(0.0, 30.0, (4, 4, 3))
    field = np.asarray(Image.fromarray(np.uint8(np.clip(coarse + 128, 0, 255))).resize((size, size), Image.BICUBIC), np.float32) - 128
    grain = rng.normal(0.0, rng.uniform(1.5, 14.0), (size, size, 3))
    img = Image.fromarray(np.uint8(np.clip(np.asarray(base, np.float32) + field + grain, 0, 255)))
    draw = ImageDraw.Draw(img)
    x0, y0 = (int(v) for v in rng.integers(4, size // 2, 2))
    w, h = (int(v) for v in rng.integers(size // 6, size // 3, 2))
    draw.ellipse([x0, y0, x0 + w, y0 + h], fill=tuple(int(c * 0.3) for c in base))
    return img


def placeholder_picture(size: int = 48) -> Image.Image:
    """A web site's grey "image not found" placeholder: flat light grey, a thin frame and two lines of dark "text"."""
    img = Image.new("RGB", (size, size), (242, 242, 242))
    draw = ImageDraw.Draw(img)
    draw.rectangle([1, 1, size - 2, size - 2], outline=(225, 225, 225))
    draw.rectangle([size // 6, size * 2 // 5, size * 5 // 6, size * 2 // 5 + 4], fill=(70, 70, 70))
    draw.rectangle([size // 4, size * 3 // 5, size * 3 // 4, size * 3 // 5 + 2], fill=(130, 130, 130))
    return img


def make_photos_with_placeholder(root: Path, *, per_class: int = 20, seed: int = 0) -> Path:
    """``root/{ants,bees}/*.png`` photo-like pictures, and ``root/ants/imageNotFound.png``; returns the placeholder."""
    rng = np.random.default_rng(seed)
    for name, base in (("ants", (120, 80, 50)), ("bees", (190, 160, 60))):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):  # every other one on a pale, nearly grey background (a wall, the sky, paper)
            background = base if i % 2 else tuple(int(0.25 * c + 165) for c in base)
            textured_photo(background, rng).save(folder / f"{name}_{i:03d}.png")
    target = root / "ants" / "imageNotFound.png"
    placeholder_picture().save(target)
    return target
