"""Benchmark: does the GUI thread stall when big results appear? (issue 24, item 13)

A walk on real photos measured two freezes: 769 ms when the audit's results
appeared on the Data page, and 1,646 ms when a project was opened right after
launch. This script replays both offscreen with the heartbeat of
:mod:`bench_gui_responsiveness` (a 10 ms ``QTimer`` on the GUI thread; a
gap between two beats is a freeze) and no engine work at all: the results are
built by hand at the walk's size, so what is measured is the GUI's own work.

* ``audit results appear``: the Audit tab receives an
  :class:`~tlstudio.api.audit.AuditResult` of ``--images`` photos with 107
  label suspects, 12 duplicate groups and 20 outliers (the walk's audit of 398
  photos) and shows it, until every card is built and every thumbnail loaded.
* ``open a project after launch``: a main window is made and shown, and at
  once a project is opened that holds ``--runs`` runs (10 epochs each), that
  audit, a transfer probe and an embedding map of ``--images`` points, until
  the window is idle (3 s).

Each scenario runs both ways in the same process: **before** (the old way:
every pyqtgraph plot built with its page, every page built whole, the style
sheet set on the application, the Audit tab's cards built in the call that
receives the result) and **now** (plots built when first shown, one per
event-loop turn, :mod:`ui.widgets.lazy_plot`; a page's heavy parts built on
turns after it, :mod:`ui.widgets.sections`; the style sheet on the main
window; audit cards a few per turn, :mod:`ui.panels.audit_builder`, and none
inside the open call when restored from a project). The baseline is the same work the old way,
measured in this run. Target: the worst gap under 50 ms.

Besides the gap, the table gives the GUI thread's own CPU time in its worst
gap, and for the project scenario the CPU of the open call itself: on a
loaded machine (the shared 2-core machine ran other engineers' TensorFlow
jobs at load 4-9) most of a gap is waiting for a core, and the thread's own
CPU is what the app controls. Set ``PYTHONDONTWRITEBYTECODE`` off (the
default) so that page imports are not compiled on every run. ``--trace``
samples the GUI thread's stack in each gap over 50 ms (opening a project,
now), as :class:`bench_gui_responsiveness.StallTracer` does.

Measured on the shared 2-core machine (other engineers' jobs at load
3.5-3.8), two runs of ``--repeat 2``; the range of the worst gap of each
run, with the GUI thread's CPU in that gap:

================================  ========================  ======================
scenario                          before                    now
================================  ========================  ======================
audit results appear (398 photos) 404-915 ms (316-474 CPU)  50-132 ms (0-99 CPU)
open a project after launch       435-821 ms (321-603 CPU)  116-189 ms (60-99 CPU)
  its open call alone (CPU)       270-506 ms                22-35 ms
================================  ========================  ======================

After the background builders took turns (:mod:`ui.widgets.turns`: one step,
then 12 ms before another builder's step) and the sweep table fitted its
columns only when shown, four runs of ``--repeat 3`` (12 measurements each
way) at load 0.8-1.5, the machine otherwise idle:

================================  ========================  ======================
scenario                          before                    now
================================  ========================  ======================
audit results appear (398 photos) 369-650 ms (301-554 CPU)  50-90 ms (36-81 CPU)
open a project after launch       392-580 ms (343-496 CPU)  50-126 ms (0-71 CPU)
  its p99 gap                     130-259 ms                31-56 ms
  its gaps over 50 ms             4-8                       0-3
  its open call alone (CPU)       291-425 ms                20-38 ms
================================  ========================  ======================

In the open's worst gap the GUI thread often used far less CPU than the gap
lasted: it waited. The thumbnail threads decoding beside it were suspected
(the GIL), but they are not the wait: in the same process, alternating, the
worst gap was no shorter with the decoding in a process pool, nor with no
decoding at all (a stand-in tile); the wait is for a core of the loaded
machine (the issue 24 note has the figures).

Then the heavy parts of a page became sections built after it
(:mod:`ui.widgets.sections`: Inspect's calculator and memory tabs,
Evaluate's Runs tab; each made on one turn and placed on the next). Main
and this change alternately, three runs each of ``--repeat 2`` (the "now"
rows only, 6 measurements each) at load 4.3-6.0:

================================  ========================  ======================
open a project after launch       main                      sections
================================  ========================  ======================
worst gap                         100-287 ms                98-151 ms
p99 gap                           67-155 ms                 37-95 ms
gaps over 50 ms                   3-8                       2-6
================================  ========================  ======================

Then a builder's spacing counted from the pass after the previous step
(its layout and paint), and opening a project became such a step. Same
comparison at load 7.0-8.3: main 100-226 ms worst, 68-124 ms p99, 3-10 gaps
over 50 ms; this change 117-193 ms, 36-64 ms, 2-5. The p99 and the count
halve; the worst gap (the open call and its paint) much less.

With the sections, the largest steps seen in gaps over 50 ms were 20-31 ms
of GUI CPU at load 5 (a page step had reached 49-63 ms, Inspect's). The
worst gap left is the open call itself (``Project.load`` 12-14 ms of CPU, the
configs pushed to the pages 8 ms, the settings file written with a disk sync,
10-20 ms of waiting) followed, in the same pass, by the Data page taking the
scan's result and the window's paint (12-16 ms of CPU).

(Main before this change, same script's old "chunked" way, load 1.7:
582-666 ms, 406-561 ms CPU.) Every step the app now takes after launch is
under 40 ms of GUI CPU: making a page (7-37 ms), placing it in the window
(6-30 ms), one plot (12-17 ms), one chunk of audit cards (5-20 ms), the open
call (20-40 ms; ``Project.load`` parsing and checking the runs is most of it).
What remains over 50 ms is such a step and the layout and paint that follow
it in the same pass, and the thread waiting for a core.

On the idle machine (load 0.7-1.6), with all of the above, the call that
receives an audit had become the audit's worst gap: it built its first
eight cards at once (about 40 ms) before the paint, 65-67 ms in all. It now
keeps to one chunk's time like every later turn. Seven runs after that
change (19 measurements of the shipped way, 12 of the old way):

================================  ========================  ======================
scenario                          before                    now
================================  ========================  ======================
audit results appear (398 photos) 377-590 ms                32-63 ms (17 of 19 under 50)
open a project after launch       363-660 ms                44-101 ms (4 of 19 under 50)
  its p99 gap                     104-195 ms                31-47 ms
  its gaps over 50 ms             5-8                       0-3
================================  ========================  ======================

The open's worst gap holds 50-72 ms of GUI CPU (the open call, 21-39 ms,
and the paint after it). Beside it, one decoding thread instead of two per
pool, or a 0.5 ms GIL switch interval, changed nothing measurable (same
minutes, three runs each).

Run (offscreen; the ants-bees photos are used for thumbnails when present)::

    .venv/bin/python benchmarks/bench_gui_stalls.py [--images 398] [--runs 8] [--repeat 2] [--json]
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_gui_responsiveness import TARGET_MS, Heartbeat, quiet_qt_messages, run_until  # noqa: E402

ANTS_BEES = ROOT / ".." / "shared" / "datasets" / "ants-bees"


def photos(n: int, tmp: Path) -> list[str]:
    """``n`` image paths: the ants-bees photos repeated (symlinks), or generated pictures."""
    if ANTS_BEES.is_dir():
        source = sorted(p for p in ANTS_BEES.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    else:
        from tlstudio.data import generate_sample_dataset

        source = sorted(generate_sample_dataset(tmp / "shapes", per_class=40, size=96).rglob("*.png"))
    out = []
    for i in range(n):
        src = source[i % len(source)]
        cls = "ants" if i % 2 else "bees"
        target = tmp / "photos" / cls / f"{i:04d}{src.suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            target.symlink_to(src.resolve())
        out.append(str(target))
    return out


def start_beating(beat: Heartbeat) -> None:
    """Start the heartbeat counting from now: a freeze that begins at once is a gap too."""
    beat.start()
    beat._last, beat._last_cpu = time.perf_counter(), time.thread_time()


def finish(beat: Heartbeat, t0: float) -> dict:
    """The heartbeat's figures, the seconds since ``t0``, and the GUI thread's own CPU in its worst long gap.

    On a loaded machine a gap is mostly waiting for a core; the CPU the GUI
    thread itself used in the gap is what the app can change.
    """
    stats = beat.stop()
    stats["seconds"] = time.perf_counter() - t0
    stats["worst_gap_cpu_ms"] = max((cpu for _t, _gap, cpu in beat.long), default=0.0)
    return stats


def audit_result(paths: list[str]):
    from tlstudio.api.audit import AuditResult, DuplicateGroup, Imbalance, LabelIssue, Outlier

    issues = tuple(LabelIssue(paths[i], "ants" if i % 2 else "bees", "bees" if i % 2 else "ants", 0.99 + 0.0001 * (i % 100))
                   for i in range(0, min(len(paths), 214), 2))[:107]
    groups = tuple(DuplicateGroup("near", (paths[300 + 2 * g], paths[301 + 2 * g]), ("train", "val"), True, 0.985)
                   for g in range(12) if 301 + 2 * g < len(paths))
    outliers = tuple(Outlier(paths[i], 0.5 - 0.01 * k) for k, i in enumerate(range(250, min(len(paths), 270))))
    return AuditResult(groups, issues, outliers, Imbalance({"ants": len(paths) // 2, "bees": len(paths) - len(paths) // 2}, 1.0, "Balanced."),
                       ("ants", "bees"), len(paths), "block5_pool", 60.0, oof_accuracy=0.62, label_note="")


def measure_audit(app, beat: Heartbeat, paths: list[str], chunked: bool) -> dict:
    from tlstudio.config import DataConfig
    from ui.panels import audit_builder
    from ui.panels.audit_view import AuditView
    from ui.state import AppState

    audit_builder.CHUNKED = chunked
    state = AppState(data_config=DataConfig(root=str(Path(paths[0]).parents[1])))
    view = AuditView(state)
    view.resize(1200, 800)
    view.show()
    run_until(lambda: False, 0.3)
    result = audit_result(paths)
    from ui.panels.audit_view import LABEL_PAGE

    wanted = min(LABEL_PAGE, len(result.label_issues)) + sum(len(g.paths) for g in result.duplicates) + len(result.outliers)
    start_beating(beat)
    t0 = time.perf_counter()
    view._submitted = (state.data_config.root, "")
    view._on_result(result)
    done = run_until(lambda: len(view.cards()) >= wanted and view.loader.pending() == 0, 120)
    stats = finish(beat, t0)
    stats["cards"] = len(view.cards())
    stats["finished"] = done
    view.shutdown()
    view.deleteLater()
    run_until(lambda: False, 0.2)
    return stats


def make_project(tmp: Path, paths: list[str], runs: int) -> Path:
    """A saved project like the walk's: runs with ten-epoch histories, the audit, a probe and a map of ``paths``."""
    import numpy as np

    from tlstudio.api.embed import EmbedConfig, EmbedResult
    from tlstudio.api.probe import CutScore, ProbeConfig, ProbeResult
    from tlstudio.api.train import RunResult
    from tlstudio.config import DataConfig, ModelConfig, RunConfig, TrainConfig, to_json
    from tlstudio.project import Project
    from tlstudio.project.analysis_records import MapRecord, ProbeRecord
    from tlstudio.project.audit_record import AuditRecord

    root = str(Path(paths[0]).parents[1])
    data, model = DataConfig(root=root), ModelConfig(backbone="vgg16", weights="none", image_size=64)
    project = Project.new("walk", data=data, model=model, train=TrainConfig(epochs=10))
    for r in range(runs):
        run_dir = tmp / "runs" / f"run-{r:02d}"
        (run_dir / "logs").mkdir(parents=True, exist_ok=True)
        (run_dir / ".tlstudio-run").write_text('{"format": "tlstudio-run", "version": 1}')
        config = RunConfig(data=data, model=model, train=TrainConfig(epochs=10, learning_rate=1e-3 * (1 + r)))
        (run_dir / "run_config.json").write_text(to_json(config))
        history = tuple({"epoch": i, "phase": 1, "loss": 1.0 / (i + 1), "accuracy": 0.5 + 0.04 * i, "val_loss": 1.1 / (i + 1),
                         "val_accuracy": 0.45 + 0.04 * i, "lr": 1e-3, "seconds": 2.0} for i in range(10))
        project.add_run(RunResult(run_dir=str(run_dir), best_metrics=dict(history[-1]), history=history,
                                  class_names=("ants", "bees"), epochs_completed=10), config)
    project.set_audit(AuditRecord.from_result(audit_result(paths), root, ""))
    probe = ProbeResult(cuts=tuple(CutScore(f"block{b}_pool", 0.5 + 0.08 * b, 0.03, 64 * b, 0, "avg", (("avg", 0.5 + 0.08 * b, 0.03),))
                                   for b in range(1, 6)), best="block5_pool", explanation="block5 transfers best",
                        class_names=("ants", "bees"), num_images=len(paths), folds=5, chance=0.5, seconds=30.0)
    project.set_probe(ProbeRecord.of(ProbeConfig(data, model), probe, ""))
    rng = np.random.default_rng(0)
    labels = np.array([i % 2 for i in range(len(paths))])
    embed = EmbedResult(coords=rng.normal(0, 0.3, (len(paths), 2)).astype(np.float32), labels=labels, paths=tuple(paths),
                        splits=tuple("val" if i % 5 == 0 else "train" for i in range(len(paths))), class_names=("ants", "bees"),
                        predicted=labels, predicted_names=tuple(("ants", "bees")[k] for k in labels), method="tsne", cut="block5_pool")
    project.set_map(MapRecord.of(EmbedConfig(data, model), embed, ""))
    return project.save(tmp / "walk.tlsproj")


def set_way(app, now: bool) -> None:
    """The app's way now (plots built when shown, the style sheet on the window, audit cards in chunks) or before."""
    from ui.app import WINDOW_STYLE_SHEET
    from ui.panels import audit_builder
    from ui.widgets import lazy_plot, sections
    from ui.widgets.icons import style_sheet

    audit_builder.CHUNKED = now
    lazy_plot.EAGER = not now
    sections.EAGER = not now
    app.setStyleSheet("" if now else style_sheet("light"))
    app.setProperty(WINDOW_STYLE_SHEET, style_sheet("light") if now else "")


def measure_open(app, beat: Heartbeat, project: Path, chunked: bool, tracer=None) -> dict:
    """A main window made and shown, and at once the project opened (as ``main.py walk.tlsproj`` right after launch)."""
    from ui.main_window import MainWindow
    from ui.project_actions import ProjectActions, install_project_actions
    from ui.widgets.lazy_plot import build_queue

    ProjectActions._ask_save = lambda self, text: "discard"  # closing the window at the end asks nothing
    window = MainWindow(restore=False)
    actions = install_project_actions(window, window.state, offer_recovery=False)
    window.resize(1600, 1000)
    window.show()
    run_until(lambda: False, 0.2)  # the first paint; the other pages are still being built in the background
    start_beating(beat)
    t0 = time.perf_counter()
    if tracer is not None:
        tracer.samples.clear()
    cpu = time.thread_time()
    opened = actions.open(str(project))
    open_call_cpu = (time.thread_time() - cpu) * 1000.0
    run_until(lambda: False, 3.0)  # the window settles: pages build, views restore
    stats = finish(beat, t0)
    stats["opened"] = bool(opened)
    stats["open_call_cpu_ms"] = open_call_cpu
    stats["plots_waiting"] = build_queue().pending()
    if tracer is not None:
        stats["stacks"] = list(tracer.samples)
    window.close()
    window.deleteLater()
    run_until(lambda: False, 0.3)
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=398, help="photos in the audit (default 398, the walk's)")
    parser.add_argument("--runs", type=int, default=8, help="runs in the project (default 8)")
    parser.add_argument("--repeat", type=int, default=2, help="measurements of each way (default 2)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--trace", action="store_true", help="print what the GUI thread ran in each gap over 50 ms (opening a project, now)")
    args = parser.parse_args(argv)

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    quiet_qt_messages()
    from ui.app import configure_application
    from ui.engine import EngineClient, set_engine

    configure_application(app)
    from tests.support.fake_engine import FakeEngineProcess

    server = FakeEngineProcess()  # no engine work is measured: the pages' jobs answer from the test table
    for job in sorted(server.light_jobs):
        server.run_in_process(job)
    client = EngineClient(server, parent=app)
    set_engine(client)
    client.start()

    tmp = Path(tempfile.mkdtemp(prefix="bench-stalls-"))
    os.environ.setdefault("TLSTUDIO_CACHE_DIR", str(tmp / "cache"))
    paths = photos(args.images, tmp)
    # In the app the dataset scan runs in the engine process; on a thread of this one it would compete with
    # the GUI thread for the GIL. It is scanned once here, and the fake engine answers with it at once.
    from tlstudio.api.data import PrepareDataConfig
    from tlstudio.config import DataConfig
    from tlstudio.jobs import run_job

    server.register("prepare_data", run_job("prepare_data", PrepareDataConfig(DataConfig(root=str(Path(paths[0]).parents[1])))))
    beat = Heartbeat()
    tracer = None
    if args.trace:
        from bench_gui_responsiveness import StallTracer

        tracer = StallTracer(beat)
        tracer.start()
    rows: list[tuple[str, dict]] = []
    project = make_project(tmp, paths, args.runs)
    for _ in range(args.repeat):
        for now in (False, True):
            way = "now" if now else "before"
            set_way(app, now)
            rows.append((f"audit results appear ({way})", measure_audit(app, beat, paths, now)))
            print(rows[-1], file=sys.stderr, flush=True)
            rows.append((f"open a project after launch ({way})", measure_open(app, beat, project, now, tracer if now else None)))
            stacks = rows[-1][1].pop("stacks", [])
            print(rows[-1], file=sys.stderr, flush=True)
            for gap, text in stacks:
                print(f"--- gap {gap:.0f} ms\n{text}", file=sys.stderr, flush=True)
    if tracer is not None:
        tracer.stop()
    client.shutdown(5)
    return report(rows, args.json, tmp)


def report(rows, as_json: bool, tmp: Path) -> int:
    if as_json:
        print(json.dumps({"results": rows, "load_avg": os.getloadavg()}, indent=2))
        return 0
    print(f"load average {os.getloadavg()[0]:.2f}; target < {TARGET_MS:.0f} ms")
    print(f"{'scenario':48} {'worst ms':>9} {'its CPU ms':>10} {'p99 ms':>8} {'>50ms':>6} {'seconds':>8} {'open call CPU':>14}")
    for name, s in rows:
        call = f"{s['open_call_cpu_ms']:14.1f}" if "open_call_cpu_ms" in s else ""
        print(f"{name:48} {s['worst_ms']:9.1f} {s['worst_gap_cpu_ms']:10.1f} {s['p99_ms']:8.1f} {s['over_50ms']:6d} {s['seconds']:8.2f} {call}")
    by_way: dict[str, list[dict]] = {}
    for name, s in rows:
        by_way.setdefault(name, []).append(s)
    for name in sorted({n.rsplit(" (", 1)[0] for n, _ in rows}):
        one, chunk = by_way.get(f"{name} (before)", []), by_way.get(f"{name} (now)", [])
        if one and chunk:
            worst = lambda runs, key: max(r[key] for r in runs)  # noqa: E731
            print(f"{name}: worst gap before {worst(one, 'worst_ms'):.0f} ms ({worst(one, 'worst_gap_cpu_ms'):.0f} ms of GUI CPU), "
                  f"now {worst(chunk, 'worst_ms'):.0f} ms ({worst(chunk, 'worst_gap_cpu_ms'):.0f} ms of GUI CPU): "
                  f"{worst(one, 'worst_ms') / max(worst(chunk, 'worst_ms'), 1e-9):.1f}x smaller")
    return 0


if __name__ == "__main__":
    sys.exit(main())
