"""Application entry point: ``tlstudio [FOLDER] [--sample]``.

The window goes on screen first; afterwards the engine client
(:mod:`ui.engine`) starts the engine process, which sets up its device and
loads TensorFlow, and the status bar flips from "Engine starting…" to the
device the engine computes on. This process never imports TensorFlow or
Keras: every model job runs in the engine process.

Unexpected exceptions on the GUI thread reach :func:`install_exception_hook`:
the user sees the error dialog (with "Copy details"), and the traceback is
appended to ``<cache>/logs/gui-errors.log``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="tlstudio",
        description="Transfer Learning Studio: fine-tune pretrained VGG/ResNet image classifiers.",
    )
    parser.add_argument("folder", nargs="?", help="dataset folder to open (one sub-folder per class)")
    parser.add_argument("--sample", action="store_true", help="open the bundled sample dataset")
    parser.add_argument("--no-warmup", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(list(argv) if argv is not None else sys.argv[1:])


WINDOW_STYLE_SHEET = "tlstudioWindowStyleSheet"
"""The application property holding the style sheet every :class:`~ui.main_window.MainWindow` sets on itself."""


SHEET_POINT_SIZE = 10.0
"""The style sheet's ``QWidget { font-size }``, in points."""


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
    # The style sheet goes on each main window, not on the application: with an application-wide sheet,
    # every widget added to a layout restyles its whole subtree, which doubled the time a page took to build.
    app.setProperty(WINDOW_STYLE_SHEET, style_sheet("light"))
    # The sheet's text size for every widget, also while it is built outside the window (a card measures its
    # wrapped text when made, before it is placed) and for the windows outside a main window (tooltips, menus).
    font = app.font()
    font.setPointSizeF(SHEET_POINT_SIZE)
    app.setFont(font)


def start_warmup(window):
    """Start the engine process in the background; the window's status bar follows it."""
    from ui.engine import engine

    client = engine()
    window.watch_engine(client)
    client.start()
    return client


def error_log_path():
    """Where unexpected GUI errors are logged: ``<cache>/logs/gui-errors.log``."""
    from tlstudio.paths import cache_dir

    return cache_dir("logs") / "gui-errors.log"


def install_exception_hook(window) -> None:
    """Show unexpected exceptions in the error dialog and append them to the log file.

    Replaces :data:`sys.excepthook` (PySide6 routes exceptions raised in slots
    and event handlers there), so a bug shows a readable dialog with the
    details to copy, instead of only a traceback on a terminal nobody reads.
    """
    import datetime
    import traceback

    def hook(exc_type, exc, tb) -> None:
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        log = error_log_path()
        try:
            log.parent.mkdir(parents=True, exist_ok=True)
            with open(log, "a", encoding="utf-8") as fh:
                fh.write(f"--- {datetime.datetime.now().isoformat(timespec='seconds')}\n{details}\n")
            where = f"The details were written to {log}."
        except OSError as write_error:
            where = f"The details could not be written to {log} ({write_error})."
        text = str(exc).strip()
        message = f"An unexpected error occurred: {exc_type.__name__}{': ' + text if text else ''}. {where}"
        sys.__stderr__.write(details)
        try:
            window.show_error(message, details)
        except Exception:  # noqa: BLE001 - the window itself may be what failed
            traceback.print_exc()

    sys.excepthook = hook


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
    from ui.project_actions import install_project_actions

    window = MainWindow()
    install_exception_hook(window)
    install_project_actions(window, window.state)
    window.show()

    if args.folder or args.sample:
        QTimer.singleShot(0, lambda: open_at_launch(window, os.path.abspath(args.folder) if args.folder else None))
    if not args.no_warmup:
        # After the first paint: spawning the engine process takes some 50 ms of Python work here.
        QTimer.singleShot(200, lambda: start_warmup(window))

    app.aboutToQuit.connect(lambda: _shutdown(worker))
    return app.exec()


def open_at_launch(window, folder: str | None) -> None:
    """Open ``folder`` (None: the bundled sample) as the command line asked: shown, but no edit of the user's.

    The untitled project records the dataset without gaining unsaved changes,
    so ``make run`` starts with a window titled "untitled", not "untitled *".
    """
    from ui import settings as app_settings

    window.show_page("data")
    page = window.pages["data"]
    if folder is None:
        page.open_sample(by_app=True)
    else:
        app_settings.add_recent_folder(folder)
        page.open_folder(folder, by_app=True)


def _shutdown(worker_module) -> None:
    """Stop every background task and thumbnail job before Qt tears down."""
    from PySide6.QtCore import QThreadPool

    from ui.engine import engine

    worker_module.wait_all(30_000)
    engine().shutdown(30)
    QThreadPool.globalInstance().clear()
    QThreadPool.globalInstance().waitForDone(5_000)


def _version() -> str:
    from tlstudio import __version__

    return __version__
