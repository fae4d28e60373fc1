"""Small generated images for the GUI tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_images(folder: Path, n: int, color: tuple[int, int, int], size: int = 40, seed: int = 0) -> None:
    """Write ``n`` noisy PNG images of colour ``color`` into ``folder`` (created when missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        noise = rng.integers(-30, 30, size=(size, size, 3))
        arr = np.clip(np.array(color)[None, None, :] + noise, 0, 255).astype(np.uint8)
        Image.fromarray(arr).save(folder / f"img_{i:03d}.png")
