"""Run a plain-Python call on a thread while the GUI's event loop keeps turning, and return its value.

For the few calls whose caller needs the value at once but that take longer
than one short turn: opening a project parses and checks its configs and run
folders (``Project.load``, 12-14 ms of CPU, 20-30 ms on a busy machine), and
right after launch that was most of the window's longest freeze
(``benchmarks/bench_gui_stalls.py``). Meanwhile the window paints, the
background builders take their turns and the engine's events arrive; input
(clicks, keys) waits until the call returns, so nothing the user does can
start another call in the middle of this one.
"""

from __future__ import annotations

import threading
from typing import Callable, TypeVar

from PySide6.QtCore import QEventLoop, QObject, Qt, Signal

T = TypeVar("T")


class _Done(QObject):
    done = Signal()


def call_beside_the_loop(fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` on a thread, the event loop turning (without input) until it returns; its exception is raised here.

    ``fn`` must not touch Qt widgets: it is plain Python (the engine's file readers).
    """
    box: dict[str, object] = {}
    finished = _Done()
    loop = QEventLoop()
    finished.done.connect(loop.quit, Qt.ConnectionType.QueuedConnection)

    def run() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - raised again in the calling thread
            box["error"] = exc
        finally:
            finished.done.emit()

    thread = threading.Thread(target=run, name=f"beside-the-loop {getattr(fn, '__qualname__', fn)}", daemon=True)
    thread.start()
    loop.exec(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)  # the queued quit ends it, however early it came
    thread.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]
