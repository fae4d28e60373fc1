"""Benchmark: the engine's resident memory over many ``predict`` jobs cycling more models than its LRU keeps.

The engine's model cache (:mod:`tlstudio.model_cache`) keeps 3 models. Asking
for 5 models in turn makes every job a miss: each loads a model and drops the
least recently used one. A dropped model must give its memory back, or the
engine grows with every job (the issue-25 report: 80 jobs, 906 -> 1,954 MB).

Two child processes, each on the same 5 model folders (VGG16 with random
weights at 32 px, 14.7 M parameters, 59 MB of weights each) and the same
images:

* **tlstudio**: ``predict`` jobs run as the engine runs them
  (:func:`tlstudio.jobs.run_job`), cycling the 5 models;
* **baseline**: hand-written Keras: ``keras.saving.load_model`` +
  ``predict_on_batch``, the last 3 models kept in a dict, the oldest ``del``-ed,
  then ``keras.backend.clear_session()`` and ``gc.collect()`` as the Keras
  documentation advises for models made in a loop.

Each child prints its resident set size (RSS, from ``/proc/self/status``)
after the first cycle of 5 jobs (every model loaded once, so the LRU is
full) and then every 10 jobs. The figure that matters is the growth after the
warm-up, per job; it is printed for both and as a ratio.

Run::

    .venv/bin/python benchmarks/bench_model_cache_memory.py [--jobs 80] [--models 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZE = 32

SETUP = textwrap.dedent(
    r"""
    import json, sys
    from pathlib import Path
    import numpy as np
    from PIL import Image
    from tlstudio.config import HeadConfig, ModelConfig
    from tlstudio.model import build_model

    base, count = Path(sys.argv[1]), int(sys.argv[2])
    for i in range(count):
        folder = base / f"model{i}"
        folder.mkdir(parents=True)
        model = build_model(ModelConfig(backbone="vgg16", weights="none", image_size=32, head=HeadConfig()), 3, seed=i)
        model.save(folder / "model.keras")
        (folder / "class_names.json").write_text(json.dumps(["a", "b", "c"]))
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(base / f"img{i}.png")
    """
)

CHILD = textwrap.dedent(
    r"""
    import gc, json, sys
    from pathlib import Path

    def rss_mb():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    mode, base, jobs, count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    folders = [str(base / f"model{i}") for i in range(count)]
    images = [str(p) for p in sorted(base.glob("img*.png"))]
    import numpy as np
    if mode == "tlstudio":
        from tlstudio.api.evaluate import PredictConfig
        from tlstudio.jobs import run_job

        def job(i):
            result = run_job("predict", PredictConfig(model=folders[i % count], paths=tuple(images)))
            assert len(result.rows) == len(images)
    else:
        import keras
        from collections import OrderedDict
        from tlstudio.data.pipeline import load_items_array
        from tlstudio.api.dataset import Item

        kept = OrderedDict()

        def job(i):
            path = folders[i % count]
            if path not in kept:
                kept[path] = keras.saving.load_model(path + "/model.keras", compile=False)
                while len(kept) > 3:
                    kept.popitem(last=False)
                    keras.backend.clear_session()
                    gc.collect()
            kept.move_to_end(path)
            batch, _ = load_items_array([Item(p, 0) for p in images], 32)
            out = kept[path].predict_on_batch(batch)
            assert np.asarray(out).shape == (len(images), 3)

    samples = []
    for i in range(jobs):
        job(i)
        if i + 1 == count or (i + 1) % 10 == 0 or i + 1 == jobs:
            samples.append((i + 1, rss_mb()))
            print(f"  {mode}: after {i + 1:3d} jobs RSS {samples[-1][1]:7.0f} MB", flush=True)
    print("RESULT " + json.dumps(samples), flush=True)
    """
)


def _run(code: str, *args: str) -> list[str]:
    """Run a child, printing its sample lines as they come; its output lines."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=err, text=True, env=env, cwd=ROOT)
        lines = []
        for line in proc.stdout:
            line = line.rstrip("\n")
            lines.append(line)
            if line.startswith("  "):
                print(line, flush=True)
        if proc.wait() != 0:
            err.seek(0)
            raise SystemExit(f"child failed (exit {proc.returncode}):\n{err.read()[-3000:]}")
    return lines


def _growth(samples: list[list[float]], warm: int) -> tuple[float, float, float]:
    """(RSS after warm-up, RSS at the end, MB per job between them)."""
    start = next(mb for n, mb in samples if n >= warm)
    start_n = next(n for n, mb in samples if n >= warm)
    end_n, end = samples[-1]
    return start, end, (end - start) / max(1, end_n - start_n)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=80)
    parser.add_argument("--models", type=int, default=5)
    parser.add_argument("--modes", nargs="+", default=["baseline", "tlstudio"], choices=["baseline", "tlstudio"],
                        help="which children to run (both by default; the ratio needs both)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-model-cache-") as tmp:
        _run(SETUP, tmp, str(args.models))
        results = {}
        for mode in args.modes:
            lines = _run(CHILD, mode, tmp, str(args.jobs), str(args.models))
            results[mode] = json.loads(next(line for line in lines if line.startswith("RESULT "))[7:])
    print(f"\n{args.jobs} predict jobs cycling {args.models} models (LRU of 3), RSS after the first {args.models} jobs -> at the end:")
    per_job = {}
    for mode, samples in results.items():
        start, end, slope = _growth(samples, args.models)
        per_job[mode] = slope
        print(f"  {mode:9s} {start:7.0f} MB -> {end:7.0f} MB   growth {end - start:+7.0f} MB, {slope:+6.2f} MB per job")
    if len(per_job) < 2:
        return 0
    base, ours = per_job["baseline"], per_job["tlstudio"]
    if base > 0.5:
        print(f"  growth per job, tlstudio / hand-written Keras: {ours / base:.2f}")
    else:  # a flat baseline makes a ratio meaningless: compare with one model's weights instead
        print(f"  the hand-written Keras loop stays flat ({base:+.2f} MB per job); tlstudio grows {ours:+.2f} MB per job, "
              f"{ours / 59:.2f} of one model's 59 MB of weights (0 = flat, 1 = every dropped model kept)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
