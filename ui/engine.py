"""The one client of the engine process: every page's TensorFlow work goes through it.

The GUI process never imports TensorFlow or Keras. :class:`EngineClient`
owns the engine process (:class:`tlstudio.procrun.EngineProcess`): it starts
it, restarts it when it dies (the status bar and the page that was waiting
say what happened), submits jobs by name, forwards cancel and relays each
job's events as Qt signals. It also reports the compute device the engine
uses.

Pages ask it for an :class:`EngineTask` and start jobs on it::

    self.runner = engine().task(self)
    self.runner.result.connect(self._on_result)
    self.runner.start("evaluate", EvaluateConfig(...))

An :class:`EngineTask` has the signals of :class:`ui.worker.TaskRunner`
(``event``, ``progress``, ``result``, ``error``, ``cancelled``,
``finished``, ``running_changed``): a QThread of its own blocks on the
engine call, so the GUI thread never waits, and per-batch events are
throttled to about 20 Hz with the last one always delivered.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from PySide6.QtCore import QCoreApplication, QObject, Signal, Slot

from tlstudio.cancel import CancelToken
from tlstudio.procrun import EngineProcess
from ui.worker import TaskRunner

STARTING = "starting"
READY = "ready"
RESTARTING = "restarting"
FAILED = "failed"
STOPPED = "stopped"


class EngineTask(TaskRunner):
    """Runs one engine job at a time; the same signals as :class:`~ui.worker.TaskRunner`.

    Args:
        client: The engine client that submits the job.
        parent: Owning QObject (usually the page).
        background: Work the user did not ask for (closing the window does not ask about it).
    """

    def __init__(self, client: "EngineClient", parent: QObject | None = None, background: bool = False):
        super().__init__(parent, background=background)
        self.client = client
        self.job = ""

    def start(self, job: str, config: Any = None) -> CancelToken:  # type: ignore[override]
        """Run engine job ``job`` with ``config``; returns its cancel token.

        Raises:
            KeyError: ``job`` is not one of the engine's jobs.
            RuntimeError: a job is already running on this task.
        """
        if job not in self.client.server.registry:
            raise KeyError(f"the engine has no job called {job!r}. Received: {job!r}")
        self.job = job
        return super().start(self.client.call, job, config)


class EngineClient(QObject):
    """Owns the engine process and relays its state to the GUI.

    Signals:
        state_changed(str, str): ``(state, message)``; state is one of
            ``"starting"``, ``"ready"``, ``"restarting"``, ``"failed"``, ``"stopped"``.
        device_changed(object): the :class:`tlstudio.api.device.DeviceInfo` the engine computes on.
        crashed(str): the engine process died; a sentence for people.

    Args:
        server: The engine process to own (a new default one when None).
        parent: Owning QObject.
    """

    state_changed = Signal(str, str)
    device_changed = Signal(object)
    crashed = Signal(str)
    _died = Signal(object)

    def __init__(self, server: EngineProcess | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.server = server if server is not None else EngineProcess()
        self.state = STOPPED
        self.message = ""
        self.device: Any = None
        self.ready_seconds: float | None = None
        self._stopping = False
        self._warmup: TaskRunner | None = None
        self._died.connect(self._on_died)
        self.server.on_exit = lambda code: self._died.emit(code)

    # ------------------------------------------------------------------ API

    def task(self, parent: QObject | None = None, background: bool = False) -> EngineTask:
        """A new :class:`EngineTask` owned by ``parent``."""
        return EngineTask(self, parent, background=background)

    def submit(
        self,
        job: str,
        config: Any = None,
        *,
        parent: QObject | None = None,
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[str, str], None] | None = None,
        on_event: Callable[[object], None] | None = None,
        on_finished: Callable[[], None] | None = None,
        background: bool = False,
    ) -> EngineTask:
        """Start ``job`` on a new task with callbacks; keep the returned task alive (``parent`` does)."""
        task = self.task(parent, background=background)
        if on_event is not None:
            task.event.connect(on_event)
        if on_result is not None:
            task.result.connect(on_result)
        if on_error is not None:
            task.error.connect(on_error)
        if on_finished is not None:
            task.finished.connect(on_finished)
        task.start(job, config)
        return task

    def call(self, job: str, config: Any = None, *, sink: Callable[[object], None], cancel: CancelToken) -> Any:
        """Run ``job`` in the engine process and wait (in a worker thread, never the GUI thread)."""
        return self.server.call(job, config, sink=sink, cancel=cancel)

    def start(self) -> None:
        """Start the engine process and learn its device in the background (idempotent)."""
        if self._warmup is not None and self._warmup.is_running():
            return
        self._stopping = False
        self._set_state(STARTING if self.server.starts == 0 else RESTARTING, self.message if self.state == RESTARTING else "Starting the engine…")
        runner = TaskRunner(self, background=True)
        runner.result.connect(self._on_ready)
        runner.error.connect(lambda message, _details: self._set_state(FAILED, message))
        runner.start(self._warm_up)
        self._warmup = runner

    def wait_ready(self, timeout: float = 600.0) -> bool:
        """Block until the engine has loaded TensorFlow (tests and benchmarks; not on the GUI thread in the app)."""
        return self.server.wait_ready(timeout)

    def shutdown(self, timeout: float = 30.0) -> bool:
        """Stop the engine process (cancels its jobs first); True when it exited by itself."""
        self._stopping = True
        clean = self.server.shutdown(timeout)
        self._set_state(STOPPED, "The engine stopped.")
        return clean

    # ------------------------------------------------------------ internals

    def _warm_up(self, *, sink: Callable[[object], None], cancel: CancelToken) -> tuple[Any, float]:
        began = time.perf_counter()
        self.server.start()
        deadline = time.monotonic() + 600.0
        while not self.server.wait_ready(0.2):  # a cancelled warm-up (closing, a test's teardown) stops waiting
            if cancel.cancelled:
                raise RuntimeError("The engine start-up was cancelled.")
            if time.monotonic() > deadline or (self.server.starts and not self.server.is_alive()):
                raise RuntimeError(f"The engine process did not start (exit code {getattr(self.server._process, 'exitcode', None)}).")
        device = self.server.call("device", None, sink=sink, cancel=cancel)
        return device, time.perf_counter() - began

    @Slot(object)
    def _on_ready(self, value: tuple[Any, float]) -> None:
        device, seconds = value
        self.device = device
        self.ready_seconds = seconds
        self.device_changed.emit(device)
        self._set_state(READY, f"Engine ready: TensorFlow {device.tensorflow} on {device.summary()} ({seconds:.1f} s)")

    @Slot(object)
    def _on_died(self, exit_code: object) -> None:
        if self._stopping:
            return
        message = (
            f"The engine process stopped unexpectedly (exit code {exit_code}); the job it was running failed. "
            "It is being restarted."
        )
        self.message = message
        self.crashed.emit(message)
        self._set_state(RESTARTING, message)
        self.start()

    def _set_state(self, state: str, message: str) -> None:
        self.state, self.message = state, message
        self.state_changed.emit(state, message)


_CLIENT: EngineClient | None = None
_LOCK = threading.Lock()


def engine() -> EngineClient:
    """The application's engine client (created on first use, owned by the QApplication)."""
    global _CLIENT
    with _LOCK:
        if _CLIENT is None:
            _CLIENT = EngineClient(parent=QCoreApplication.instance())
        return _CLIENT


def set_engine(client: EngineClient | None) -> EngineClient | None:
    """Replace the application's engine client (tests); returns the previous one."""
    global _CLIENT
    with _LOCK:
        previous, _CLIENT = _CLIENT, client
        return previous
