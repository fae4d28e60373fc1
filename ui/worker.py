"""The QThread machinery under :mod:`ui.engine`: run a function off the GUI thread, hear about it as Qt signals.

Pages do not use this module directly: they submit engine jobs through
:mod:`ui.engine`, whose :class:`~ui.engine.EngineTask` is a
:class:`TaskRunner` whose function blocks on the engine process while the
job runs there. A :class:`TaskRunner` lives in the GUI thread. Each call to
:meth:`TaskRunner.start` creates a worker object, moves it to a fresh
``QThread`` and calls the function there as ``fn(*args, sink=..., cancel=...)``:
``sink`` forwards every event to the GUI thread (queued signals), ``cancel``
is a :class:`tlstudio.cancel.CancelToken` that :meth:`TaskRunner.cancel`
sets. Work is never interrupted by force: no ``QThread.terminate()``, the
function stops at its next safe point.

Per-batch events (:class:`tlstudio.events.BatchEnd`) and generic
:class:`tlstudio.events.Progress` events are throttled to about 20 per second.
The newest throttled event is kept and always delivered before any other event
and before the result, so a plot never misses the last batch of an epoch.

The design follows napari's ``thread_worker`` and Orange's
``ConcurrentWidgetMixin``: the engine function knows nothing about Qt.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
import traceback
import weakref
from typing import Any, Callable

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, QTimer, Signal, Slot

from tlstudio.cancel import CancelToken
from tlstudio.errors import TlStudioError
from tlstudio.events import BatchEnd, Progress

logger = logging.getLogger(__name__)

THROTTLE_SECONDS = 0.05
"""Minimum time between two delivered throttled events (about 20 Hz)."""

THROTTLED_TYPES: tuple[type, ...] = (BatchEnd, Progress)
"""Event types that are rate-limited; the newest one always survives."""

_RUNNERS: "weakref.WeakSet[TaskRunner]" = weakref.WeakSet()


def active_runners(include_background: bool = True) -> list["TaskRunner"]:
    """Every :class:`TaskRunner` that is running a task right now.

    Args:
        include_background: Also list runners created with ``background=True``
            (work the user did not start, such as the TensorFlow warm-up).
    """
    return [r for r in list(_RUNNERS) if r.is_running() and (include_background or not r.background)]


def cancel_all() -> None:
    """Ask every running task to stop at its next safe point."""
    for runner in active_runners():
        runner.cancel()


def wait_all(timeout_ms: int = 30_000) -> bool:
    """Cancel every running task and wait for its thread; True when all stopped."""
    cancel_all()
    deadline = time.monotonic() + timeout_ms / 1000.0
    ok = True
    for runner in active_runners():
        left = max(0, int((deadline - time.monotonic()) * 1000))
        ok = runner.wait(left) and ok
    return ok


class GuiThreadGarbageCollector(QObject):
    """Runs Python's cyclic garbage collector in the GUI thread only.

    Automatic collection runs in whichever thread happens to allocate, so a
    worker thread may free a cycle that holds Qt objects (a closed page, a
    pixmap) and Qt then destroys them outside the GUI thread: a segmentation
    fault. This object switches automatic collection off and collects from a
    GUI-thread timer instead, with the same generation thresholds (the
    approach of pyqtgraph's ``GarbageCollector``). Collections hold the GIL
    either way, so the GUI waits no longer than with automatic collection.

    Args:
        interval_ms: Timer interval.
        parent: Owning QObject (the application).
    """

    def __init__(self, interval_ms: int = 500, parent: QObject | None = None):
        super().__init__(parent)
        self.threshold = gc.get_threshold()
        gc.disable()
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.check)
        self.timer.start()

    @Slot()
    def check(self) -> None:
        """Collect the generations whose allocation counts passed their thresholds."""
        counts = gc.get_count()
        if counts[0] > self.threshold[0]:
            generation = 0
            if counts[1] > self.threshold[1]:
                generation = 2 if counts[2] > self.threshold[2] else 1
            gc.collect(generation)

    def stop(self) -> None:
        """Hand collection back to Python."""
        self.timer.stop()
        gc.enable()


def install_gui_thread_gc(interval_ms: int = 500) -> GuiThreadGarbageCollector | None:
    """Install one :class:`GuiThreadGarbageCollector` on the running QApplication (idempotent)."""
    app = QCoreApplication.instance()
    if app is None:
        return None
    existing = getattr(app, "_tlstudio_gc", None)
    if existing is not None:
        return existing
    collector = GuiThreadGarbageCollector(interval_ms, parent=app)
    app._tlstudio_gc = collector
    return collector


def format_error(exc: BaseException) -> tuple[str, str]:
    """Turn an exception into ``(readable message, details)``.

    A :class:`tlstudio.errors.TlStudioError` is already written for people, so
    its message is used as it is (with the path appended when the message does
    not mention it), and its details are words too: the kind of problem and
    the file, never a traceback (that goes to the log). Anything else is a bug:
    ``"<Type>: <message>"``, with the traceback where it was raised as details
    (the engine's own, for an error in the engine process).
    """
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if isinstance(exc, TlStudioError):
        message = exc.message or type(exc).__name__
        path = getattr(exc, "path", None)
        if path and str(path) not in message:
            message = f"{message} ({path})"
        logger.info("%s", details)
        lines = [message, "", f"Kind: {type(exc).__name__} (a problem with the input or the settings, not a bug in tlstudio)"]
        if path:
            lines.append(f"File or folder: {path}")
        return message, "\n".join(lines)
    text = str(exc).strip()
    message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    remote = getattr(exc.__cause__, "text", None)
    if isinstance(remote, str) and remote:  # raised in the engine process: its traceback, not the relay's
        details = f"In the engine process:\n{remote}"
    return message, details


class _Throttle:
    """Rate-limits some event types, keeping the newest one pending.

    Runs entirely in the worker thread; ``emit`` is the signal emit that queues
    the event to the GUI thread.
    """

    def __init__(self, emit: Callable[[object], None], interval: float, types: tuple[type, ...]):
        self._emit = emit
        self._interval = interval
        self._types = types
        self._pending: object | None = None
        self._last: dict[type, float] = {}

    def __call__(self, event: object) -> None:
        kind = type(event)
        if isinstance(event, self._types):
            if self._pending is not None and type(self._pending) is not kind:
                self.flush()
            now = time.monotonic()
            last = self._last.get(kind)
            final = isinstance(event, Progress) and event.total and event.done >= event.total
            if last is None or now - last >= self._interval or final:
                self._pending = None
                self._last[kind] = now
                self._emit(event)
            else:
                self._pending = event
            return
        self.flush()
        self._emit(event)

    def flush(self) -> None:
        if self._pending is not None:
            event, self._pending = self._pending, None
            self._last[type(event)] = time.monotonic()
            self._emit(event)


class _Worker(QObject):
    """Lives in the task's QThread and calls the engine function once."""

    event = Signal(object)
    result = Signal(object)
    error = Signal(str, str)
    done = Signal()

    def __init__(self, fn: Callable, args: tuple, kwargs: dict, token: CancelToken, interval: float):
        super().__init__()
        self._fn = fn
        self._args = args
        self._kwargs = kwargs
        self._token = token
        self._interval = interval

    @Slot()
    def run(self) -> None:
        throttle = _Throttle(self.event.emit, self._interval, THROTTLED_TYPES)
        kwargs = dict(self._kwargs, sink=throttle, cancel=self._token)
        try:
            value = self._fn(*self._args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the GUI
            throttle.flush()
            message, details = format_error(exc)
            self.error.emit(message, details)
        else:
            throttle.flush()
            self.result.emit(value)
        finally:
            self.done.emit()


class TaskRunner(QObject):
    """Runs one engine function at a time in its own ``QThread``.

    Signals (all delivered in the GUI thread, in the order the work produced them):
        started(): the task began.
        event(object): every event the function sent to its sink (throttled, see module doc).
        progress(object): the :class:`~tlstudio.events.Progress` events only.
        result(object): the function's return value (not sent on error).
        error(str, str): readable message and traceback text when the function raised.
        cancelled(): the task ended after :meth:`cancel` was called.
        finished(): always sent last, after result or error.
        running_changed(bool): True when a task starts, False after ``finished``.

    Args:
        parent: Owning QObject (usually the page).
        throttle_seconds: Minimum gap between two delivered batch/progress events.
        background: Work the user did not ask for (e.g. the TensorFlow warm-up):
            closing the window does not ask about it, it only waits for it.
    """

    started = Signal()
    event = Signal(object)
    progress = Signal(object)
    result = Signal(object)
    error = Signal(str, str)
    cancelled = Signal()
    finished = Signal()
    running_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None, throttle_seconds: float = THROTTLE_SECONDS, background: bool = False):
        super().__init__(parent)
        self.background = background
        self._throttle_seconds = throttle_seconds
        self._thread: QThread | None = None
        self._worker: _Worker | None = None
        self._token: CancelToken | None = None
        self._running = False
        self._lock = threading.Lock()
        _RUNNERS.add(self)

    # ------------------------------------------------------------------ API

    def start(self, fn: Callable, *args: Any, **kwargs: Any) -> CancelToken:
        """Run ``fn(*args, **kwargs)`` in a new thread and return its cancel token.

        ``fn`` is called as ``fn(*args, **kwargs, sink=..., cancel=...)``: every
        task takes the sink its events go to and the token that cancels it.

        Raises:
            RuntimeError: if a task is already running on this runner.
        """
        if self.is_running():
            raise RuntimeError(f"a task is already running. Received: start({getattr(fn, '__name__', fn)!r})")
        self._cleanup_thread()
        token = kwargs.pop("cancel", None) or CancelToken()
        self._token = token
        thread = QThread()
        thread.setObjectName(f"tlstudio-{getattr(fn, '__name__', 'task')}")
        worker = _Worker(fn, args, kwargs, token, self._throttle_seconds)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.event.connect(self._on_event)
        worker.result.connect(self.result)
        worker.error.connect(self.error)
        worker.done.connect(self._on_done)
        # Direct: quit the thread's loop from the worker thread itself, so that
        # wait() from the GUI thread returns without the GUI loop running.
        worker.done.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        self._thread, self._worker = thread, worker
        self._running = True
        self.running_changed.emit(True)
        self.started.emit()
        thread.start()
        return token

    def cancel(self) -> None:
        """Ask the running task to stop at its next safe point (no-op when idle)."""
        if self._token is not None and self._running:
            self._token.cancel()

    def is_running(self) -> bool:
        """True from :meth:`start` until ``finished`` has been emitted.

        A runner whose owner was deleted before its queued ``finished``
        arrived (a page closed right after its task ended) never receives it:
        it counts as running only while its thread still runs.
        """
        if not self._running:
            return False
        if shiboken6.isValid(self):
            return True
        thread = self._thread
        try:
            return thread is not None and thread.isRunning()
        except RuntimeError:  # the thread object is gone too
            return False

    def is_cancelling(self) -> bool:
        """True while a cancelled task is still winding down."""
        return self._running and self._token is not None and self._token.cancelled

    def wait(self, timeout_ms: int = 30_000) -> bool:
        """Block until the worker thread has ended; True if it did within the timeout.

        The queued ``result``/``finished`` signals are delivered the next time
        the GUI event loop runs.
        """
        thread = self._thread
        if thread is None:
            return True
        try:
            return thread.wait(max(0, int(timeout_ms)))
        except RuntimeError:  # the C++ thread object is already gone
            return True

    @property
    def token(self) -> CancelToken | None:
        """The cancel token of the current (or last) task."""
        return self._token

    # ------------------------------------------------------------ internals

    @Slot(object)
    def _on_event(self, event: object) -> None:
        self.event.emit(event)
        if isinstance(event, Progress):
            self.progress.emit(event)

    @Slot()
    def _on_done(self) -> None:
        was_cancelled = self._token is not None and self._token.cancelled
        self._running = False
        if was_cancelled:
            self.cancelled.emit()
        self.finished.emit()
        self.running_changed.emit(False)

    def _cleanup_thread(self) -> None:
        thread, self._thread = self._thread, None
        worker, self._worker = self._worker, None
        if thread is not None:
            thread.wait()
            thread.deleteLater()
        if worker is not None:
            worker.deleteLater()
