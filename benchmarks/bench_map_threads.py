"""Benchmark: the map's t-SNE with OpenMP threads that spin or sleep while they wait.

The engine runs beside the GUI, and on a laptop beside everything else.
scikit-learn's t-SNE runs its gradient in OpenMP loops; by default libgomp's
idle threads spin before they sleep, and on busy cores a spinning thread takes
the core the thread it waits for needs. The engine and the CLI therefore set
``OMP_WAIT_POLICY=PASSIVE`` (:func:`tlstudio.tf_startup.passive_openmp`).

Each case runs in a fresh process (libgomp reads the variable when it loads):

* **baseline**: what a scikit-learn user writes, ``PCA`` then ``TSNE`` with the
  defaults, in a process with the default environment;
* **tlstudio**: :func:`tlstudio.analysis.embed.project_2d` in a process set up
  as the engine sets itself up (``passive_openmp`` first).

Both map the same random ``[N, 512]`` features (the pooled features' width of
VGG16), alone on the machine and beside one busy process that keeps a core
(the GUI drawing, or a browser). The ratio is baseline time / tlstudio time,
each the median of ``--repeat`` runs.

Run::

    .venv/bin/python benchmarks/bench_map_threads.py [--sizes 245,1000,3000] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import textwrap
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BASELINE = """
import sys, time
import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
n = int(sys.argv[1])
x = np.random.default_rng(0).normal(size=(n, 512)).astype(np.float32)
start = time.perf_counter()
reduced = PCA(n_components=50, random_state=0).fit_transform(x)
TSNE(n_components=2, perplexity=min(30.0, (n - 1) / 3), init="pca", learning_rate="auto", random_state=0).fit_transform(reduced)
print(time.perf_counter() - start)
"""

TLSTUDIO = """
import sys, time
from tlstudio.tf_startup import passive_openmp
passive_openmp()
import numpy as np
from tlstudio.analysis.embed import project_2d
n = int(sys.argv[1])
x = np.random.default_rng(0).normal(size=(n, 512)).astype(np.float32)
start = time.perf_counter()
project_2d(x, method="tsne", seed=0)
print(time.perf_counter() - start)
"""


def _busy(stop) -> None:
    """Keep one core busy until ``stop`` is set."""
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def _run(script: str, n: int) -> float:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["PYTHONPATH"] = ROOT
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(script), str(n)], env=env, cwd=ROOT,
                         capture_output=True, text=True, check=True, timeout=900)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="245,1000,3000", help="numbers of images mapped, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each case; the median is reported")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    rows = []
    for busy in (False, True):
        stop = multiprocessing.Event()
        worker = multiprocessing.Process(target=_busy, args=(stop,), daemon=True) if busy else None
        if worker:
            worker.start()
        try:
            for n in (int(s) for s in args.sizes.split(",")):
                base = statistics.median(_run(BASELINE, n) for _ in range(args.repeat))
                ours = statistics.median(_run(TLSTUDIO, n) for _ in range(args.repeat))
                rows.append({"images": n, "beside a busy core": busy, "baseline_s": round(base, 2),
                             "tlstudio_s": round(ours, 2), "speed-up": round(base / ours, 2)})
                print(json.dumps(rows[-1]) if args.json else
                      f"{n:>6} images  {'busy core' if busy else 'alone    '}  baseline {base:6.2f} s  "
                      f"tlstudio {ours:6.2f} s  speed-up {base / ours:4.2f}x", flush=True)
        finally:
            if worker:
                stop.set()
                worker.join(5)
    print(f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.2f} at the end ({time.strftime('%H:%M')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
