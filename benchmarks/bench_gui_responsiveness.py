"""Benchmark: does the GUI thread stay responsive while training and building a model?

A ``QTimer`` heartbeat fires every 10 ms on the GUI thread and records the gap
between two beats. A frozen GUI shows up as a long gap. The scenarios:

* ``process: engine start``: the start-up warm-up
  :func:`ui.pages.train_page.wait_for_engine`, run in a background
  :class:`~ui.worker.TaskRunner`: it spawns the shared engine process
  (:mod:`tlstudio.procrun`), which imports TensorFlow and the heavy tlstudio
  modules, and waits until the child is ready.
* ``process: training + model build``: the real Train page runs
  :func:`tlstudio.training.run_training` through its worker thread, which
  relays the run from the engine process (the app's default), with live
  plots, the log and the progress bar fed by the throttled events, while the
  real Model page has a second backbone (``--build``, ResNet50 by default)
  built in the same engine process to list its layers.
* ``--thread``: the same, with TensorFlow in the GUI process's worker
  threads (``worker: TensorFlow import``, ``worker: training + model build``).
* ``naive: training on the GUI thread``: the hand-written baseline, the same
  training called directly from a slot with the plots as its sink.
* ``naive: model build on the GUI thread``: the layer-list build called directly.

Target: worst gap < 50 ms while training and a model build run.

Measured on a shared 2-core CPU machine (ants-bees, VGG16 at 96 px from
scratch, 2 + 1 epochs, batch 16, no feature cache, ResNet50 built at 224 px
meanwhile; 1-minute load average 1.7-2.7 from other jobs; one line per
configuration, ranges over the runs):

================================================  ====  ==========  =========  =====  =======
scenario                                          runs  worst ms    p99 ms     >50ms  seconds
================================================  ====  ==========  =========  =====  =======
engine process: training + model build (default)  11    29-50       13.6-14.3  0      24-45
engine process: training alone                    5     24-61       12.9-16.1  0-1    22-36
engine process: start (TensorFlow import)         13    17-88       10.8-17.7  0-1    2.4-3.6
worker threads: training + model build            2     168-170     17-18      2-3    23-32
worker threads: TensorFlow import                 2     126-132     84-101     4-5    2.5
naive: training on the GUI thread (1 epoch)       -     6800-44000  -          -      -
naive: model build on the GUI thread              -     640-1020    -          -      -
================================================  ====  ==========  =========  =====  =======

So the default path meets the target, training and a model build included:
11 of 11 runs stayed under 50 ms (28.6, 29.8, 31.3, 32.3, 33.2, 36.0, 37.8,
42.8, 43.3, 47.6, 49.8 ms). Before the child's niceness was raised from 5 to 10, two runs
measured 105 and 165 ms: ``--trace-stalls`` showed the GUI thread painting
the plots with only 22 of the 105 ms on the CPU, i.e. waiting for a core
while the child's TensorFlow threads had it. The rare gaps left over 50 ms
(training alone, 59 and 61 ms, load 2.5-2.7) are the same: the first paint of
the plot axes costs ~27 ms of GUI CPU and the OS gave it half the wall time;
no other thread of the GUI process was running. Engine start: the gaps
over 50 ms come from spawning the child (fork/exec of the GUI process, whose
Qt and pyqtgraph memory makes it slower); it happens once per session, at
start-up, before anything is trained.

In the worker-thread mode the stalls are TensorFlow C calls that hold the GIL
of the GUI process (graph building when each ``fit`` starts, freeing a
concrete function, h5py writing a checkpoint, converting arrays to tensors)
and two Python-heavy workers (training and a Keras build) taking turns with
the GUI thread for the GIL; no amount of GUI-side throttling removes them,
hence the engine process. The per-run subprocess tried before (a new process
and TensorFlow import for every run) measured 44-116 ms.

``--trace-stalls`` prints, for the training scenario, a timeline of the gaps
over 50 ms with the GUI thread's own CPU time in each (low CPU: it waited for
the GIL or the OS; high: it was busy itself) next to the run's milestones,
and the stack of every thread right after each stall.

Run (offscreen; the ants-bees photos are used when present, else generated shapes)::

    .venv/bin/python benchmarks/bench_gui_responsiveness.py [--data PATH] [--size 96]
        [--epochs 2] [--fine-tune-epochs 1] [--build resnet50] [--thread] [--no-naive] [--trace-stalls] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from PySide6.QtCore import QEventLoop, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

ANTS_BEES = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "ants-bees"
BEAT_MS = 10
TARGET_MS = 50.0


class Heartbeat:
    """Records the time between consecutive 10 ms timer ticks on the GUI thread."""

    def __init__(self, interval_ms: int = BEAT_MS):
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._beat)
        self.gaps: list[float] = []
        self.long: list[tuple[float, float, float]] = []
        """Gaps over the target: (seconds since start, gap ms, GUI-thread CPU ms during the gap)."""
        self.marks: list[tuple[float, str]] = []
        self._last: float | None = None
        self._last_cpu = 0.0
        self._t0 = 0.0

    def _beat(self) -> None:
        now = time.perf_counter()
        cpu = time.thread_time()
        if self._last is not None:
            gap = (now - self._last) * 1000.0
            self.gaps.append(gap)
            if gap > TARGET_MS:
                # little CPU in the gap: the GUI thread waited (GIL, OS); much: it was busy itself
                self.long.append((self._last - self._t0, gap, (cpu - self._last_cpu) * 1000.0))
        self._last, self._last_cpu = now, cpu

    def mark(self, what: str) -> None:
        """Note when something happened, to read the long gaps against."""
        self.marks.append((time.perf_counter() - self._t0, what))

    def start(self) -> None:
        self.gaps, self.long, self.marks, self._last = [], [], [], None
        self._t0 = time.perf_counter()
        self.timer.start()

    def stop(self) -> dict:
        self.timer.stop()
        self._beat()  # a stall that lasts until the end still counts
        gaps = np.asarray(self.gaps or [0.0])
        return {
            "beats": int(len(self.gaps)),
            "worst_ms": float(gaps.max()),
            "p99_ms": float(np.percentile(gaps, 99)),
            "p50_ms": float(np.percentile(gaps, 50)),
            "over_50ms": int((gaps > TARGET_MS).sum()),
        }


class StallTracer:
    """A watchdog thread that, when the heartbeat is late, records what every thread runs.

    It needs the GIL too, so it sees the stack right after a long GIL hold
    ends; the frame that held it is usually still on that stack.
    """

    def __init__(self, beat: Heartbeat, threshold_ms: float = TARGET_MS):
        import threading

        self.beat = beat
        self.threshold = threshold_ms / 1000.0
        self.samples: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._main = threading.main_thread().ident

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        import traceback

        while not self._stop.wait(0.005):
            last = self.beat._last
            if last is None:
                continue
            late = time.perf_counter() - last
            if late > self.threshold:
                lines = []
                for ident, frame in sys._current_frames().items():
                    if ident == self._thread.ident:
                        continue
                    who = "GUI" if ident == self._main else f"thread {ident}"
                    stack = traceback.extract_stack(frame)[-14:]
                    lines.append(f"  [{who}] " + " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(stack)))
                self.samples.append((late * 1000.0, "\n".join(lines)))
                while not self._stop.is_set() and self.beat._last == last:
                    time.sleep(0.002)  # one sample per stall


def run_until(condition, timeout_s: float) -> bool:
    """Spin the GUI event loop until ``condition()`` is true (or the timeout)."""
    loop = QEventLoop()
    poll = QTimer()
    poll.setInterval(20)
    deadline = time.monotonic() + timeout_s

    def check() -> None:
        if condition() or time.monotonic() > deadline:
            loop.quit()

    poll.timeout.connect(check)
    poll.start()
    loop.exec()
    poll.stop()
    return bool(condition())


def dataset(path: str | None, tmp: Path) -> Path:
    if path:
        return Path(path)
    if ANTS_BEES.is_dir():
        return ANTS_BEES.resolve()
    from tlstudio.data import generate_sample_dataset

    return generate_sample_dataset(tmp / "shapes", per_class=60, size=64)


def warm_up_import() -> str:
    """What the app's start-up warm-up does: import TensorFlow and the heavy modules."""
    import importlib

    for name in ("tensorflow", "keras", "tlstudio.backbones", "tlstudio.model", "tlstudio.training.run"):
        importlib.import_module(name)
    import tensorflow as tf

    return tf.__version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="dataset folder (default: ants-bees if present, else generated shapes)")
    parser.add_argument("--backbone", default="vgg16", help="backbone to train (default vgg16)")
    parser.add_argument("--weights", default="none", help="weights of the trained backbone (default none)")
    parser.add_argument("--size", type=int, default=96, help="input size in pixels (default 96)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--fine-tune-epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--feature-cache", default="off", choices=("auto", "off"),
                        help="off (default) sends a batch event for every image batch: the harder case")
    parser.add_argument("--build", default="resnet50", help="backbone the Model page builds meanwhile (default resnet50; 'none' to train alone)")
    parser.add_argument("--build-size", type=int, default=224)
    parser.add_argument("--switch-interval", type=float, default=0.0, help="sys.setswitchinterval in seconds (0 = Python's default)")
    parser.add_argument("--intra-op-threads", type=int, default=0,
                        help="TensorFlow intra/inter-op threads (0 = TensorFlow's default, one per core)")
    parser.add_argument("--thread", action="store_true",
                        help="run TensorFlow in the worker threads (train_in_worker) instead of the engine process (the app's default)")
    parser.add_argument("--no-naive", action="store_true", help="skip the GUI-thread baselines")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--trace-stalls", action="store_true", help="print what each thread ran during gaps > 50 ms")
    args = parser.parse_args(argv)

    if args.intra_op_threads > 0:  # read by TensorFlow when it initialises
        os.environ["TF_NUM_INTRAOP_THREADS"] = str(args.intra_op_threads)
        os.environ["TF_NUM_INTEROP_THREADS"] = str(args.intra_op_threads)
    if args.switch_interval > 0:
        sys.setswitchinterval(args.switch_interval)
    tmp = Path(tempfile.mkdtemp(prefix="bench-gui-"))
    os.environ.setdefault("TLSTUDIO_RUNS_DIR", str(tmp / "runs"))

    app = QApplication.instance() or QApplication([])
    from tlstudio.config import DataConfig, FreezeConfig, ModelConfig, TrainConfig
    from ui.pages.model_page import ModelPage, describe_backbone
    from ui.pages.train_page import TrainPage, train_in_process, train_in_worker, wait_for_engine
    from ui.state import AppState
    from ui.worker import TaskRunner

    root = dataset(args.data, tmp)
    state = AppState(
        data_config=DataConfig(root=str(root)),
        model_config=ModelConfig(backbone=args.backbone, weights=args.weights, image_size=args.size,
                                 freeze=FreezeConfig(mode="blocks", blocks=("block1", "block2", "block3"))
                                 if args.backbone.startswith("vgg") else FreezeConfig(mode="all")),
        train_config=TrainConfig(epochs=args.epochs, fine_tune_epochs=args.fine_tune_epochs, batch_size=args.batch_size,
                                 feature_cache=args.feature_cache, tensorboard=False),
    )
    errors: list[str] = []
    state.error_reported.connect(lambda message, details: errors.append(message))
    process = not args.thread
    train_page = TrainPage(state, train_fn=train_in_process if process else train_in_worker)
    train_page.resize(1200, 800)
    train_page.show()
    build_state = AppState(model_config=ModelConfig(backbone=args.build, weights="none", image_size=args.build_size))
    model_page = ModelPage(build_state)
    model_page.resize(1100, 700)
    beat = Heartbeat()
    rows: list[tuple[str, dict]] = []

    # 1. the start-up warm-up: the engine process imports TensorFlow, or a worker does
    runner = TaskRunner(background=True)
    done = {"import": False}
    runner.finished.connect(lambda: done.__setitem__("import", True))
    runner.error.connect(lambda message, details: errors.append(message))
    beat.start()
    t0 = time.perf_counter()
    runner.start(wait_for_engine if process else warm_up_import)
    run_until(lambda: done["import"], 600)
    stats = beat.stop()
    stats["seconds"] = time.perf_counter() - t0
    rows.append(("process: engine start (TensorFlow import)" if process else "worker: TensorFlow import", stats))

    # 2. training and a model build at the same time, each in its worker
    events = {"batch": 0}
    train_page.runner.event.connect(lambda e: events.__setitem__("batch", events["batch"] + (type(e).__name__ == "BatchEnd")))
    train_page.runner.event.connect(
        lambda e: beat.mark(type(e).__name__) if type(e).__name__ in ("RunStarted", "PhaseChanged", "EpochEnd", "RunFinished") else None
    )
    train_page.runner.finished.connect(lambda: beat.mark("training finished"))
    model_page.layout_ready.connect(lambda _layout: beat.mark("layer list shown"))
    layouts: list = []
    model_page.layout_ready.connect(layouts.append)
    tracer = StallTracer(beat) if args.trace_stalls else None
    if tracer is not None:
        tracer.start()
    beat.start()
    t0 = time.perf_counter()
    train_page.start()
    building = args.build != "none"
    if building:
        model_page.show()  # starts the layer-list build in its worker
    run_until(lambda: not train_page.is_running() and (bool(layouts) or not building) and not model_page.runner.is_running(), 3600)
    stats = beat.stop()
    stats["seconds"] = time.perf_counter() - t0
    stats["batch_events"] = events["batch"]
    stats["epochs"] = getattr(train_page.last_result, "epochs_completed", 0)
    where = "process" if process else "worker"
    rows.append((f"{where}: training + model build" if building else f"{where}: training", stats))
    if args.trace_stalls:
        timeline = sorted([(t, f"gap {gap:.0f} ms, GUI thread CPU {cpu:.0f} ms") for t, gap, cpu in beat.long] + beat.marks)
        print("timeline (s):", *(f"{t:7.2f}  {what}" for t, what in timeline), sep="\n  ", file=sys.stderr)
    if tracer is not None:
        tracer.stop()
        for late, where in tracer.samples:
            print(f"stall seen at {late:.0f} ms:\n{where}", file=sys.stderr)
    if errors:
        print("errors:", *errors, sep="\n  ", file=sys.stderr)
        return 1

    # 3. the naive baselines, on the GUI thread
    if not args.no_naive:
        from tlstudio.training import run_training

        import dataclasses

        config = dataclasses.replace(
            state.run_config(),
            train=TrainConfig(epochs=1, fine_tune_epochs=0, batch_size=args.batch_size,
                              feature_cache=args.feature_cache, tensorboard=False),
        )
        finished = {"train": False, "build": False}

        def naive_train() -> None:
            train_page.plots.reset()
            run_training(config, train_page.handle_event)
            train_page.plots.redraw()
            finished["train"] = True

        beat.start()
        t0 = time.perf_counter()
        QTimer.singleShot(50, naive_train)
        run_until(lambda: finished["train"], 3600)
        stats = beat.stop()
        stats["seconds"] = time.perf_counter() - t0
        rows.append(("naive: training on the GUI thread (1 epoch)", stats))

        def naive_build() -> None:
            describe_backbone(ModelConfig(backbone=args.build, weights="none", image_size=args.build_size))
            finished["build"] = True

        if building:
            beat.start()
            t0 = time.perf_counter()
            QTimer.singleShot(50, naive_build)
            run_until(lambda: finished["build"], 600)
            stats = beat.stop()
            stats["seconds"] = time.perf_counter() - t0
            rows.append(("naive: model build on the GUI thread", stats))

    model_page.shutdown()
    train_page.shutdown()
    if process:
        from tlstudio.procrun import engine_server

        engine_server().shutdown()
    info = {
        "data": str(root),
        "backbone": args.backbone,
        "size": args.size,
        "build": f"{args.build}@{args.build_size}",
        "switch_interval_s": sys.getswitchinterval(),
        "tf_threads": args.intra_op_threads or "default",
        "training_in": "engine process" if process else "worker thread",
        "load_avg": round(os.getloadavg()[0], 1),
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps({"setup": info, "results": {name: stats for name, stats in rows}}, indent=2))
    else:
        print(f"setup: {info}")
        print(f"{'scenario':46} {'beats':>6} {'worst ms':>9} {'p99 ms':>8} {'p50 ms':>7} {'>50ms':>6} {'seconds':>8}")
        for name, s in rows:
            print(f"{name:46} {s['beats']:6d} {s['worst_ms']:9.1f} {s['p99_ms']:8.1f} {s['p50_ms']:7.1f} {s['over_50ms']:6d} {s['seconds']:8.1f}")
        worker = [s for n, s in rows if n.startswith(("worker: training", "process: training"))]
        if worker:
            verdict = "meets" if worker[0]["worst_ms"] < TARGET_MS else "MISSES"
            print(f"work in workers {verdict} the target: worst gap {worker[0]['worst_ms']:.1f} ms (target < {TARGET_MS:.0f} ms); "
                  f"{worker[0]['batch_events']} batch events reached the GUI.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
