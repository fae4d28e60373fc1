"""A labelled dataset, an unsorted folder and a run folder for the active-labelling tests (imports Keras)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from tests.support.analysis_data import HUES, colour_image, seeded_weights
from tlstudio.config import DataConfig, HeadConfig, ModelConfig, RunConfig, TrainConfig, to_json

SIZE = 32


def make_flat(root: Path, per_class: int = 8, seed: int = 0) -> dict[str, list[Path]]:
    """``root/{red,blue}/*.png``."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[Path]] = {}
    for name, base in HUES.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        out[name] = []
        for i in range(per_class):
            path = root / name / f"{name}_{i:03d}.png"
            colour_image(base, rng).save(path)
            out[name].append(path)
    return out


def make_pool(pool: Path, labelled: dict[str, list[Path]], per_class: int = 6, seed: int = 5) -> dict[str, Path]:
    """Unsorted images in sub-folders, plus an exact and a near copy of labelled images; returns the planted copies."""
    rng = np.random.default_rng(seed)
    for k in range(per_class):
        for name, base in HUES.items():
            folder = pool / ("day1" if k % 2 else "day2" / Path("sub"))
            folder.mkdir(parents=True, exist_ok=True)
            colour_image(base, rng).save(folder / f"shot_{name}_{k}.png")
    exact = pool / "exact_copy.png"
    shutil.copyfile(labelled["red"][0], exact)
    near = pool / "near_copy.jpg"
    with Image.open(labelled["blue"][1]) as img:
        img.convert("RGB").resize((40, 40), Image.Resampling.BICUBIC).save(near, quality=70)
    return {"exact": exact, "near": near}


def make_run(base: Path, data_root: Path, *, val_fraction: float = 0.25) -> Path:
    """A run folder with a real tlstudio model (seeded VGG16 at 32 px, an untrained average head)."""
    from tlstudio.model import build_model

    weights = seeded_weights(base)
    model_config = ModelConfig(backbone="vgg16", weights=weights, image_size=SIZE, head=HeadConfig(pooling="avg"))
    run_dir = base / "run"
    run_dir.mkdir()
    build_model(model_config, 2).save(run_dir / "model.keras")
    config = RunConfig(data=DataConfig(root=str(data_root), val_fraction=val_fraction), model=model_config,
                       train=TrainConfig(epochs=5, batch_size=8, learning_rate=1e-2), run_dir=str(run_dir))
    (run_dir / "run_config.json").write_text(to_json(config), encoding="utf-8")
    (run_dir / "class_names.json").write_text(json.dumps(sorted(HUES)), encoding="utf-8")
    return run_dir
