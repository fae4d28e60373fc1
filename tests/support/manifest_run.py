"""A tiny run folder with a stored split manifest: train and val images per class, one training image excluded.

For the int8 calibration and the export certificate. Importing this module imports Keras.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from tlstudio.config import DataConfig, ModelConfig, RunConfig, TrainConfig, to_json
from tlstudio.data.manifest import ManifestEntry, SplitManifest, write_manifest

from tests.support.tiny_model import CLASS_NAMES, SIZE, build_tiny_model, train_tiny_model


def _image(path: Path, channel: int, rng: np.random.Generator) -> None:
    from PIL import Image

    arr = rng.integers(0, 120, size=(SIZE, SIZE, 3), dtype=np.uint8)
    arr[..., channel % 3] = rng.integers(180, 255, size=(SIZE, SIZE), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def make_manifest_run(base: Path, *, train_per_class: int = 4, val_per_class: int = 3, model=None, with_model: bool = True) -> Path:
    """``base/run`` (model.keras, run_config.json with one excluded training image, split_manifest.json) and ``base/data``.

    Training images are ``<class>/train_<i>.png``, validation ``<class>/val_<i>.png``;
    ``ants/train_0.png`` is excluded in the run's data config.
    """
    rng = np.random.default_rng(3)
    data = base / "data"
    splits: dict[str, list[ManifestEntry]] = {"train": [], "val": [], "test": []}
    for ci, name in enumerate(CLASS_NAMES):
        for split, n in (("train", train_per_class), ("val", val_per_class)):
            for i in range(n):
                rel = f"{name}/{split}_{i}.png"
                _image(data / rel, ci, rng)
                st = os.stat(data / rel)
                splits[split].append(ManifestEntry(rel, name, int(st.st_size), int(st.st_mtime_ns)))
    run_dir = base / "run"
    run_dir.mkdir(parents=True)
    if with_model:
        (model or train_tiny_model(build_tiny_model())).save(run_dir / "model.keras")
    excluded = str(data / "ants" / "train_0.png")
    run_config = RunConfig(
        data=DataConfig(root=str(data), exclude=(excluded,)),
        model=ModelConfig(backbone="vgg16", weights="none", image_size=SIZE),
        train=TrainConfig(epochs=2, batch_size=8),
        run_dir=str(run_dir),
    )
    (run_dir / "run_config.json").write_text(to_json(run_config), encoding="utf-8")
    (run_dir / "class_names.json").write_text(json.dumps(CLASS_NAMES), encoding="utf-8")
    manifest = SplitManifest(root=str(data), layout="flat", seed=0, val_fraction=0.4, test_fraction=0.0,
                             class_names=tuple(CLASS_NAMES), splits={k: tuple(v) for k, v in splits.items()})
    write_manifest(run_dir, manifest)
    return run_dir
