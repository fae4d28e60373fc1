"""A fake engine process for GUI tests: the real :class:`ui.engine.EngineClient` over it runs no TensorFlow.

The GUI reaches the engine through one client (:func:`ui.engine.engine`);
the client owns an engine process and calls ``server.call(job, config,
sink=..., cancel=...)`` from a worker thread. :class:`FakeEngineProcess`
stands in for :class:`tlstudio.procrun.EngineProcess`, so the client, its
tasks, their threads and signals are the application's own; only the answers
are the test's.

A test registers a typed result per config type (or per job name, for jobs
without a config), in the style of a fake executor::

    fake_engine.register(DefaultWeightsConfig, DefaultWeights(...))
    fake_engine.register("export_formats", {"keras": None})
    fake_engine.register(ModelConfig, lambda config: make_layout(config))
    fake_engine.register(EvaluateConfig, DataError("no images. Received: ..."))

A job with no registered answer fails loudly: the call raises
:class:`UnexpectedJob` (the page sees an error) and the ``fake_engine``
fixture fails the test at teardown, naming the job. A test whose assertions
need real results from TensorFlow is marked ``@pytest.mark.engine`` and gets
the real engine process instead.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable

from tlstudio import jobs
from tlstudio.cancel import CancelToken


class UnexpectedJob(RuntimeError):
    """A page started an engine job that the test registered no answer for."""


class _InProcess:
    """A registered answer that runs the engine's job function in the test process."""

    def __init__(self, function: Callable[..., Any]):
        self.function = function


class FakeEngineProcess:
    """The interface of :class:`tlstudio.procrun.EngineProcess` that the GUI uses, answering from a table.

    Args:
        registry: Job name -> target, as the real engine's (default: every engine job).
    """

    def __init__(self, registry: dict[str, str] | None = None):
        self.registry = dict(jobs.JOBS if registry is None else registry)
        self.light_jobs = jobs.LIGHT_JOBS
        self.exclusive_jobs = jobs.EXCLUSIVE_JOBS
        self.on_exit: Callable[[object], None] | None = None
        self.starts = 0
        self.calls: list[tuple[str, Any]] = []
        """Every ``(job, config)`` the GUI submitted, in order."""
        self.unexpected: list[str] = []
        """One line per job that had no registered answer."""
        self._answers: dict[object, Any] = {}
        self._alive = False
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._process = None

    # ----------------------------------------------------------- test side

    def register(self, key: type | str, answer: Any) -> None:
        """Answer jobs whose config is an instance of ``key`` (a type) or the job called ``key`` (a name).

        ``answer`` is the result itself, a callable ``answer(config)`` that
        returns it, or an exception instance that the job raises.

        Raises:
            KeyError: ``key`` is a name that is not one of the engine's jobs.
        """
        if isinstance(key, str) and key not in self.registry:
            raise KeyError(f"the engine has no job called {key!r}; its jobs are {', '.join(sorted(self.registry))}. Received: {key!r}")
        with self._lock:
            self._answers[key] = answer

    def run_in_process(self, name: str) -> None:
        """Answer job ``name`` by running the engine's own function in this process.

        Only for the engine's light jobs (:data:`tlstudio.jobs.LIGHT_JOBS`),
        which never touch TensorFlow: the answer is the real one, at no cost.

        Raises:
            ValueError: ``name`` is not a light job.
        """
        if name not in self.light_jobs:
            raise ValueError(f"only the engine's light jobs ({', '.join(sorted(self.light_jobs))}) run in the test process. Received: {name!r}")
        function = jobs.resolve_job(name)
        self.register(name, _InProcess(function))

    def jobs_called(self) -> list[str]:
        """The names of the jobs submitted so far, in order."""
        with self._lock:
            return [name for name, _ in self.calls]

    # ------------------------------------------------ EngineProcess interface

    def start(self) -> None:
        """"Start" the engine: it is ready at once (idempotent)."""
        with self._lock:
            if self._alive:
                return
            self._alive = True
            self.starts += 1
            self._ready.set()

    def is_alive(self) -> bool:
        return self._alive

    def is_ready(self) -> bool:
        return self._ready.is_set() and self._alive

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout) and self._alive

    @property
    def pid(self) -> int | None:
        return os.getpid() if self._alive else None

    def shutdown(self, timeout: float = 30.0) -> bool:
        with self._lock:
            self._alive = False
            self._ready.clear()
        return True

    def call(
        self,
        name: str,
        config: Any = None,
        *,
        sink: Callable[[object], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> Any:
        """Answer job ``name`` from the registered table.

        Raises:
            KeyError: ``name`` is not one of the engine's jobs (as the real engine).
            UnexpectedJob: no answer is registered for this job.
            Exception: the registered exception.
        """
        if name not in self.registry:
            raise KeyError(f"the engine has no job called {name!r}; its jobs are {', '.join(sorted(self.registry))}. Received: {name!r}")
        self.start()
        with self._lock:
            self.calls.append((name, config))
            answer, found = self._lookup(name, config)
            if not found:
                line = f"job {name!r} with config {type(config).__name__}: no answer registered in the fake engine"
                self.unexpected.append(line)
        if not found:
            raise UnexpectedJob(
                f"{line}. Register one with fake_engine.register(...), or mark the test @pytest.mark.engine "
                f"to run it on the real engine. Received: {config!r}"
            )
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, _InProcess):
            return answer.function(config, sink=sink or (lambda event: None), cancel=cancel or CancelToken())
        if callable(answer) and not isinstance(answer, type):
            return answer(config)
        return answer

    def _lookup(self, name: str, config: Any) -> tuple[Any, bool]:
        if name in self._answers:
            return self._answers[name], True
        for key, answer in self._answers.items():
            if isinstance(key, type) and isinstance(config, key):
                return answer, True
        return None, False
