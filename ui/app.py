"""Application entry point: ``tlstudio [FOLDER] [--sample]``.

The window goes on screen first; afterwards a background thread starts the
engine process where training runs, waits until it has loaded TensorFlow, then
imports the heavy engine modules here for the Inspect, Evaluate and Export
pages, and the status bar flips from "Loading TensorFlow…" to "TensorFlow ready". Nothing on the path
to the first paint imports TensorFlow or Keras.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

HEAVY_MODULES = ("tlstudio.model", "tlstudio.backbones")
"""Engine modules the GUI process imports in the warm-up thread (they load Keras and TensorFlow)."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="tlstudio",
        description="Transfer Learning Studio: fine-tune pretrained VGG/ResNet image classifiers.",
    )
    parser.add_argument("folder", nargs="?", help="dataset folder to open (one sub-folder per class)")
    parser.add_argument("--sample", action="store_true", help="open the bundled sample dataset")
    parser.add_argument("--no-warmup", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(list(argv) if argv is not None else sys.argv[1:])


def warm_up_tensorflow() -> str:
    """Load TensorFlow where it is needed; runs in a background worker.

    Training runs in the persistent engine process
    (:func:`ui.pages.train_page.wait_for_engine`), so that process is started
    and loads TensorFlow first. The Inspect, Evaluate and Export pages run their
    Keras work in this process's worker threads, so the heavy engine modules are
    imported here afterwards, once, rather than on the first click there.

    Returns:
        A short description, e.g. ``"TensorFlow 2.21.0 loaded in the engine process in 3.2 s"``.
    """
    from ui.pages.train_page import wait_for_engine

    text = wait_for_engine()
    for name in HEAVY_MODULES:
        importlib.import_module(name)
    return text


def configure_application(app) -> None:
    """Names for QSettings, the window icon and the style sheet."""
    from ui.settings import APPLICATION, ORGANIZATION
    from ui.widgets.icons import icon, style_sheet

    app.setOrganizationName(ORGANIZATION)
    app.setOrganizationDomain("tlstudio.invalid")
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName(APPLICATION)
    app.setApplicationVersion(_version())
    app.setWindowIcon(icon("app"))
    app.setStyle("Fusion")
    app.setStyleSheet(style_sheet("light"))


def start_warmup(window):
    """Start the TensorFlow import in a TaskRunner; the window's indicator follows it."""
    from ui.worker import TaskRunner

    runner = TaskRunner(window, background=True)
    runner.result.connect(lambda text: window.set_tensorflow_ready(True, text))
    runner.error.connect(lambda message, _details: window.set_tensorflow_ready(False, message))
    runner.start(warm_up_tensorflow)
    window.warmup_runner = runner
    return runner


def main(argv: Sequence[str] | None = None) -> int:
    """Start the GUI and return the exit code."""
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    configure_application(app)

    from ui import worker

    worker.install_gui_thread_gc()
    from ui.main_window import MainWindow

    window = MainWindow()
    _install_optional_actions(window)
    window.show()

    if args.folder:
        QTimer.singleShot(0, lambda: window.open_folder(os.path.abspath(args.folder)))
    elif args.sample:
        QTimer.singleShot(0, window.state.request_open_sample)
    if not args.no_warmup:
        # After the first paint: the import competes for the GIL with painting.
        QTimer.singleShot(200, lambda: start_warmup(window))

    app.aboutToQuit.connect(lambda: _shutdown(worker))
    return app.exec()


def _install_optional_actions(window) -> None:
    """Add the File-menu project actions when the project module is present."""
    try:
        from ui.project_actions import install_project_actions
    except ModuleNotFoundError as exc:
        if exc.name != "ui.project_actions":
            raise
        return
    install_project_actions(window, window.state)


def _shutdown(worker_module) -> None:
    """Stop every background task and thumbnail job before Qt tears down."""
    from PySide6.QtCore import QThreadPool

    worker_module.wait_all(30_000)
    QThreadPool.globalInstance().clear()
    QThreadPool.globalInstance().waitForDone(5_000)


def _version() -> str:
    from tlstudio import __version__

    return __version__
