"""The one Pillow path every image takes: training, prediction, inspection.

Reading through a single function guarantees that the app, the CLI and an
export's predictions see the same pixels: EXIF orientation applied, every
mode converted to 8-bit RGB, the first frame of animations, then resized.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

RESAMPLE = Image.Resampling.BILINEAR


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow image to 8-bit RGB.

    Handles L, LA, P (with or without transparency), RGBA, CMYK, I;16, I, F and
    the first frame of animated images. Transparent pixels are composited onto
    white, so a logo on a transparent background does not turn black.
    """
    if getattr(img, "is_animated", False):
        img.seek(0)
    img = ImageOps.exif_transpose(img)
    mode = img.mode
    if mode == "RGB":
        return img
    if mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
        mode = img.mode
    if mode in ("LA", "PA"):
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode == "RGBA":
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img, mask=img.getchannel("A"))
        return background
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        arr8 = ((arr - lo) * scale).round().astype(np.uint8)
        return Image.fromarray(arr8, mode="L").convert("RGB")
    return img.convert("RGB")


def load_rgb(path: str | Path) -> Image.Image:
    """Open, fully decode and convert a file to RGB (no resize).

    Raises:
        OSError / PIL.UnidentifiedImageError: when the file is not a readable image.
    """
    with Image.open(path) as img:
        img.load()
        return to_rgb(img).copy()


def resize(img: Image.Image, size: int | tuple[int, int]) -> Image.Image:
    """Resize an RGB image to ``size`` (square side, or (width, height))."""
    wh = (size, size) if isinstance(size, int) else tuple(size)
    if img.size == wh:
        return img
    return img.resize(wh, RESAMPLE)


def load_image(path: str | Path, size: int | tuple[int, int] | None = None) -> np.ndarray:
    """Read an image file as a ``uint8`` array of shape (H, W, 3), RGB.

    Args:
        path: Image file.
        size: Square side or (width, height) to resize to; None keeps the size.
    """
    img = load_rgb(path)
    if size is not None:
        img = resize(img, size)
    return np.asarray(img, dtype=np.uint8)
