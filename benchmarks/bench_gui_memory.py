"""Benchmark: how much memory does the GUI process hold, and does it load TensorFlow?

Each measurement starts the app the way ``main.py`` does (QApplication, main
window shown, the engine warm-up started 200 ms after the first paint;
offscreen, with settings, caches and runs in a temporary folder) in a fresh
process, and reads that process's own memory from ``/proc/self/status``:
``VmRSS`` (resident now) and ``VmHWM`` (peak resident), and whether
``libtensorflow`` is mapped (``/proc/self/maps``) and ``tensorflow`` is in
``sys.modules``. The engine process's ``VmRSS`` is read from ``/proc`` too,
for comparison.

1. **after warm-up**: the status bar says the engine is ready (the
   ``tensorflow_ready_changed(True)`` signal) and every page is built;
   **launch to engine ready** is the wall time from starting the Python
   process to that signal.
2. **after a full workflow**, driven through the real pages: open the data
   (Data page), the Model page's layer listing of VGG16, a short training
   (Train page), Evaluate (the run's validation split), Inspect (the trained
   model's layer table, then Grad-CAM of a photo), and Export of ``.keras``,
   SavedModel and TFLite with verification.

"Before" runs the same script on the code of commit 09b0978 (the last commit
before the engine-process rework: Keras imported in the GUI process's
warm-up; Inspect, Evaluate and Export run in GUI-process threads, training in
the engine process), checked out in a temporary ``git worktree`` and put
first on ``PYTHONPATH`` (same venv); the page APIs used here are the same in
both versions, so the old app is driven the same way. The worktree is
removed afterwards.

Target: under 400 MB RSS in the GUI process after a full workflow.

Measured on a shared 2-core CPU machine, no GPU, ``--quick`` (ants-bees
photos, VGG16 at 64 px from scratch, 1 + 1 epochs at batch 16; Evaluate on
the run's validation and test splits; export of .keras, SavedModel and
TFLite, verified), two runs one after the other, figures "run 1 / run 2";
``uptime`` load averages 2.15, 2.48, 2.09 at the start of run 1 and 2.18,
2.36, 2.17 at the end of run 2 (other jobs on the machine). "RSS warm" is
after warm-up, "RSS after" and "peak" (VmHWM) after the full workflow, the
engine's RSS after the workflow too:

==========================  =================  ===========  ============  ===========  ====================  =============
code                        launch to ready s  RSS warm MB  RSS after MB  peak MB      libtensorflow in GUI  engine RSS MB
==========================  =================  ===========  ============  ===========  ====================  =============
this code (engine process)  3.4 / 2.8          158 / 158    184 / 184     184 / 184    no / no               1455 / 1479
before (09b0978)            5.6 / 5.6          734 / 733    1316 / 1315   1546 / 1541  yes / yes             1124 / 1058
==========================  =================  ===========  ============  ===========  ====================  =============

Every step of the workflow succeeded in both versions. The GUI process's RSS
after each step (run 1), this code: open data 169, layer listing 169,
training 175, evaluate 176, Inspect table 176, Grad-CAM 184, export 184 MB;
before: 750, 750, 756, 925, 983, 1033, 1316 MB (Evaluate, Inspect and
Export loaded models into the GUI process). So the GUI process holds 7 times
less after a full workflow (184 MB, target < 400 MB met), never maps
``libtensorflow``, and the engine is ready 2.2-2.8 s sooner (the old warm-up
also imported Keras in the GUI process after the engine was ready). The
engine process holds more than before (about 1.47 GB instead of 1.1 GB):
it now runs every job and keeps up to three models in its cache; the two
processes together hold about 1.65 GB instead of about 2.4 GB.

Run::

    .venv/bin/python benchmarks/bench_gui_memory.py [--quick] [--data PATH] [--size 96]
        [--before 09b0978 | --no-before] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ANTS_BEES = ROOT / ".." / "shared" / "datasets" / "ants-bees"
BEFORE_COMMIT = "09b0978"
WORKTREE = Path("/tmp/before")
TARGET_MB = 400.0
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


# --------------------------------------------------------------------- /proc


def proc_status(pid: int | str = "self") -> dict[str, float]:
    """``VmRSS`` and ``VmHWM`` of ``pid`` in MB (MiB), from ``/proc/<pid>/status``."""
    out: dict[str, float] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024.0
    return out


def libtensorflow_mapped(pid: int | str = "self") -> bool:
    try:
        return "libtensorflow" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def child_pids(pid: int) -> list[int]:
    """Direct children of ``pid`` (scans ``/proc/*/stat``)."""
    kids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            kids.append(int(entry.name))
    return kids


def snapshot() -> dict:
    """The GUI process's memory and TensorFlow state now, and its children's RSS."""
    import gc

    gc.collect()
    status = proc_status()
    children = {}
    for pid in child_pids(os.getpid()):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        children[pid] = {"rss_mb": proc_status(pid).get("VmRSS", 0.0), "libtensorflow": libtensorflow_mapped(pid),
                         "cmd": cmd[:120]}
    return {
        "rss_mb": status.get("VmRSS", 0.0),
        "hwm_mb": status.get("VmHWM", 0.0),
        "libtensorflow_mapped": libtensorflow_mapped(),
        "tensorflow_in_sys_modules": "tensorflow" in sys.modules,
        "keras_in_sys_modules": "keras" in sys.modules,
        "children": children,
    }


# --------------------------------------------------------------------- the measured app (child process)


def child(spec: dict) -> int:
    """Start the app of the code on ``PYTHONPATH``, warm it up, run the workflow; print one JSON line."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from PySide6.QtCore import QEventLoop, QSettings, QTimer, qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    qInstallMessageHandler(lambda _m, _c, message: None if "propagateSizeHints" in message else print(message, file=sys.stderr))
    tmp = Path(spec["tmp"])
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
        QSettings.setPath(QSettings.Format.IniFormat, scope, str(tmp / "ini"))
    out: dict = {"steps": []}

    def emit() -> int:
        print("RESULT " + json.dumps(out), flush=True)
        return 0

    def run_until(condition, timeout_s: float) -> bool:
        loop = QEventLoop()
        poll = QTimer()
        poll.setInterval(20)
        deadline = time.monotonic() + timeout_s
        poll.timeout.connect(lambda: loop.quit() if condition() or time.monotonic() > deadline else None)
        poll.start()
        if not (condition() or time.monotonic() > deadline):
            loop.exec()
        poll.stop()
        return bool(condition())

    def settle(seconds: float = 1.0) -> None:
        run_until(lambda: False, seconds)

    app = QApplication.instance() or QApplication(sys.argv[:1])
    import tlstudio
    import ui
    from ui import app as app_module
    from ui import worker

    out["code"] = {"tlstudio": tlstudio.__file__, "ui": ui.__file__}
    app_module.configure_application(app)
    worker.install_gui_thread_gc()
    from ui.main_window import MainWindow
    from ui.pages import PAGES

    window = MainWindow()
    if hasattr(app_module, "install_project_actions") or hasattr(app_module, "install_exception_hook"):
        from ui.project_actions import install_project_actions

        install_project_actions(window, window.state)
    elif hasattr(app_module, "_install_optional_actions"):
        app_module._install_optional_actions(window)
    errors: list[str] = []
    window.state.error_reported.connect(lambda message, _details: errors.append(message))
    ready: list[bool] = []
    window.tensorflow_ready_changed.connect(ready.append)
    window.show()
    out["shown_after_launch_s"] = time.time() - spec["launched"]
    QTimer.singleShot(200, lambda: app_module.start_warmup(window))
    run_until(lambda: bool(ready), 600)
    out["launch_to_engine_ready_s"] = time.time() - spec["launched"]
    out["engine_ready"] = bool(ready and ready[0])
    run_until(lambda: all(key in window.pages for key, _t, _d in PAGES), 60)
    settle(2.0)
    out["after_warmup"] = snapshot()
    if not out["engine_ready"]:
        out["errors"] = errors
        return emit()

    state = window.state
    data_root = spec["data"]

    def step(name: str, action, done, timeout_s: float, check=None) -> bool:
        t0 = time.perf_counter()
        error = ""
        try:
            action()
            finished = run_until(done, timeout_s)
            if not finished:
                error = f"not done within {timeout_s:.0f} s"
            elif check is not None:
                error = check() or ""
        except Exception as exc:  # noqa: BLE001 - reported in the step
            error = f"{type(exc).__name__}: {exc}"
        settle(0.5)
        out["steps"].append({"step": name, "seconds": round(time.perf_counter() - t0, 1), "error": error or None,
                             "rss_mb": proc_status().get("VmRSS", 0.0)})
        print(f"  [{spec['label']}] {name}: {out['steps'][-1]}", file=sys.stderr, flush=True)
        return not error

    # 1. open the data (Data page: scan, validate, split)
    changed: list = []
    state.data_changed.connect(changed.append)
    step("open data", lambda: window.open_folder(data_root), lambda: bool(changed) and not state.busy, 600,
         lambda: None if state.dataset_root == str(data_root) else f"dataset_root is {state.dataset_root!r}")

    # 2. the Model page lists the layers of the backbone to train
    from tlstudio.config import FreezeConfig

    model_page = window.pages["model"]
    layouts: list = []
    model_page.layout_ready.connect(layouts.append)
    size = spec["size"]

    def pick_model() -> None:
        state.update_model_config(backbone="vgg16", weights="none", image_size=size,
                                  freeze=FreezeConfig(mode="blocks", blocks=("block1", "block2", "block3")))
        window.show_page("model")

    step("Model page layer listing", pick_model,
         lambda: any((layout.key, layout.image_size) == ("vgg16", size) for layout in layouts) and not model_page.runner.is_running(), 600)

    # 3. a short training (Train page)
    train_page = window.pages["train"]
    finished: list = []
    train_page.run_finished.connect(finished.append)

    def train() -> None:
        state.update_train_config(epochs=spec["epochs"], fine_tune_epochs=spec["fine_tune_epochs"], batch_size=16,
                                  feature_cache="off", tensorboard=False)
        window.show_page("train")
        if not train_page.start():
            raise RuntimeError("the Train page did not start: " + "; ".join(errors))

    trained = step("training", train, lambda: bool(finished) and not train_page.is_running(), 3600,
                   lambda: None if finished and finished[0] is not None and not getattr(finished[0], "error", None)
                   else f"the run failed: {getattr(finished[0], 'error', None) if finished else None}")
    if not trained:
        out["errors"] = errors
        out["after_workflow"] = snapshot()
        return emit()

    # 4. evaluate the trained model (Evaluate page: opens on the stale model and evaluates it)
    eval_page = window.pages["evaluate"]
    step("evaluate", lambda: window.show_page("evaluate"),
         lambda: bool(eval_page.results) and not eval_page.runner.is_running(), 1800)

    # 5. inspect: the trained model's table, then Grad-CAM of a photo
    inspect_page = window.pages["inspect"]
    tables: list = []
    inspect_page.table_ready.connect(tables.append)
    step("Inspect layer table", lambda: window.show_page("inspect"),
         lambda: bool(tables) and not inspect_page.build_runner.is_running(), 600)
    cams: list = []
    inspect_page.visual_runner.result.connect(cams.append)

    def gradcam() -> None:
        inspect_page.tabs.setCurrentIndex(inspect_page._tab_index["Grad-CAM"])
        inspect_page.set_image(spec["image"])
        inspect_page.cam_button.click()

    step("Inspect Grad-CAM", gradcam, lambda: bool(cams) and not inspect_page.visual_runner.is_running(), 600,
         lambda: None if not inspect_page.cam_image.pixmap().isNull() else inspect_page.cam_info.text())

    # 6. export with verification (Export page, default formats)
    export_page = window.pages["export"]

    def export() -> None:
        window.show_page("export")
        if not run_until(lambda: bool(export_page.availability) and not export_page.probe_runner.is_running(), 600):
            raise RuntimeError("the format probe did not finish")
        export_page.out_edit.setText(str(tmp / "export"))
        export_page.verify_check.setChecked(True)
        out["export_formats"] = list(export_page.selected_formats())
        export_page.export_button.click()

    step("export + verification", export,
         lambda: export_page.last_result is not None and not export_page.runner.is_running(), 1800,
         lambda: None if getattr(export_page.last_result, "verified", False) else "not verified")
    settle(2.0)
    out["after_workflow"] = snapshot()
    out["errors"] = errors
    emit()
    # leave the way the app does: stop the tasks and the engine before Qt tears down
    worker.wait_all(60_000)
    try:
        from ui.engine import engine

        engine().shutdown(30)
    except ImportError:  # the code before the rework: the module-wide engine server
        from tlstudio.procrun import engine_server

        engine_server().shutdown()
    return 0


# --------------------------------------------------------------------- orchestration


def measure(label: str, code_root: Path, args, tmp: Path, image: str) -> dict:
    """Run :func:`child` on the code in ``code_root`` in a fresh process; its JSON result."""
    work = tmp / label.replace(" ", "_")
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update({
        "PYTHONPATH": str(code_root),
        "QT_QPA_PLATFORM": "offscreen",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "TLSTUDIO_CACHE_DIR": str(work / "cache"),
        "TLSTUDIO_RUNS_DIR": str(work / "runs"),
        "XDG_CONFIG_HOME": str(work / "xdg"),
    })
    spec = {"label": label, "tmp": str(work), "data": str(args.data), "size": args.size, "epochs": args.epochs,
            "fine_tune_epochs": args.fine_tune_epochs, "image": image}
    spec["launched"] = time.time()
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
                          cwd=str(code_root), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sys.stderr.write("".join(line + "\n" for line in proc.stderr.splitlines() if line.startswith("  [")))
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
            result["exit_code"] = proc.returncode
            return result
    return {"failed": True, "exit_code": proc.returncode, "stderr": proc.stderr[-4000:]}


def print_report(results: dict[str, dict], info: dict) -> None:
    print(f"setup: {info}")
    print(f"{'code':28} {'launch→ready s':>14} {'RSS warm MB':>11} {'RSS after MB':>12} {'peak MB':>8} "
          f"{'TF in GUI (warm/after)':>22} {'engine RSS MB':>13}")
    for label, r in results.items():
        if r.get("failed"):
            print(f"{label:28} could not be measured (exit code {r.get('exit_code')}):\n{r.get('stderr', '')}")
            continue
        warm, after = r.get("after_warmup", {}), r.get("after_workflow", {})
        engine = max((c["rss_mb"] for c in after.get("children", {}).values() if c.get("libtensorflow")), default=0.0)
        tf = f"{'yes' if warm.get('libtensorflow_mapped') else 'no'}/{'yes' if after.get('libtensorflow_mapped') else 'no'}"
        print(f"{label:28} {r.get('launch_to_engine_ready_s', float('nan')):14.1f} {warm.get('rss_mb', 0):11.0f} "
              f"{after.get('rss_mb', 0):12.0f} {after.get('hwm_mb', 0):8.0f} {tf:>22} {engine:13.0f}")
        print(f"    code: {r.get('code', {}).get('ui', '?')}; engine ready: {r.get('engine_ready')}")
        for s in r.get("steps", []):
            print(f"    {s['step']:28} {s['seconds']:7.1f} s  RSS {s['rss_mb']:6.0f} MB" + (f"  ERROR: {s['error']}" if s["error"] else ""))
        if r.get("errors"):
            print("    errors reported by the pages:", *r["errors"], sep="\n      ")
    after = results.get("after (this code)", {}).get("after_workflow")
    if after:
        verdict = "meets" if after["rss_mb"] < TARGET_MB else "MISSES"
        print(f"this code {verdict} the target: {after['rss_mb']:.0f} MB RSS after a full workflow (target < {TARGET_MB:.0f} MB).")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (64 px, 1 + 1 epochs)")
    parser.add_argument("--data", help="dataset folder (default: ants-bees if present, else generated shapes)")
    parser.add_argument("--size", type=int, default=None, help="input size (default 96; 64 with --quick)")
    parser.add_argument("--epochs", type=int, default=None, help="phase-1 epochs (default 2; 1 with --quick)")
    parser.add_argument("--fine-tune-epochs", type=int, default=1)
    parser.add_argument("--before", default=BEFORE_COMMIT, help=f"commit measured as 'before' (default {BEFORE_COMMIT})")
    parser.add_argument("--no-before", action="store_true", help="measure only this code")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(json.loads(args.child))
    args.size = args.size or (64 if args.quick else 96)
    args.epochs = args.epochs if args.epochs is not None else (1 if args.quick else 2)

    tmp = Path(tempfile.mkdtemp(prefix="bench-mem-"))
    if args.data:
        args.data = Path(args.data).resolve()
    elif ANTS_BEES.is_dir():
        args.data = ANTS_BEES.resolve()
    else:
        from tlstudio.data import generate_sample_dataset

        args.data = generate_sample_dataset(tmp / "shapes", per_class=60, size=64)
    first_class = sorted(d for d in Path(args.data).iterdir() if d.is_dir())[0]
    image = str(sorted(p for p in first_class.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[0])
    info = {"data": str(args.data), "model": f"vgg16@{args.size}, {args.epochs} + {args.fine_tune_epochs} epochs",
            "load_avg_at_start": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count()}

    results: dict[str, dict] = {}
    results["after (this code)"] = measure("after", ROOT, args, tmp, image)
    if not args.no_before:
        if WORKTREE.exists():
            print(f"{WORKTREE} exists: remove it first (git worktree remove --force {WORKTREE})", file=sys.stderr)
            return 2
        subprocess.run(["git", "worktree", "add", "--detach", str(WORKTREE), args.before], cwd=str(ROOT), check=True,
                       stdout=subprocess.DEVNULL)
        try:
            results[f"before ({args.before})"] = measure("before", WORKTREE, args, tmp, image)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(WORKTREE)], cwd=str(ROOT), check=False)
    info["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    if args.json:
        print(json.dumps({"setup": info, "results": results}, indent=2))
    else:
        print_report(results, info)
    after = results["after (this code)"].get("after_workflow") or {}
    return 0 if after and after.get("rss_mb", 1e9) < TARGET_MB and not after.get("tensorflow_in_sys_modules") else 1


if __name__ == "__main__":
    sys.exit(main())
