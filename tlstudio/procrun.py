"""Run engine functions in one persistent child process: the engine server.

A desktop front end that trains in a thread of its own process shares
Python's GIL with TensorFlow: graph tracing, h5py checkpoint writes and
array-to-tensor conversions hold it for 100-300 ms, and the window freezes
meanwhile. :class:`EngineProcess` moves that work to a separate Python
process, started once and reused, so TensorFlow is imported once per
session, not once per run::

    server = engine_server()          # the shared instance (not started yet)
    server.start()                    # spawns the child; returns at once
    result = server.call("train", run_config, sink=sink, cancel=token)

Jobs are called by name: the child runs only the jobs of its registry
(:data:`tlstudio.jobs.JOBS`), each as ``f(config, sink=, cancel=)``.

:meth:`EngineProcess.call` blocks its calling thread (a GUI worker thread)
until the job ends, and meanwhile hands every event the job sends to
``sink`` in that calling thread. Several calls may run at once (a training
and a model build): the child runs each job in a thread of its own.

Protocol (all payloads are pickled in the sending process, so an object that
cannot be pickled fails the job with a readable error instead of vanishing
in a queue's feeder thread):

* parent -> child, on the request queue: ``("run", job, payload)``,
  ``("cancel", job)``, ``("stop",)``.
* child -> parent, on the response queue: ``("ready", 0, (modules, errors))``
  once the device is set up and the preload modules are imported (jobs that
  do not need TensorFlow run before that); ``errors`` holds
  ``(module, reason)`` of every preload module that failed to import,
  ``("event", job, payload)``, ``("result", job, payload)``,
  ``("error", job, payload)``.

Cancellation: :meth:`EngineProcess.call` sends ``("cancel", job)`` when the
caller's :class:`~tlstudio.cancel.CancelToken` is set; the child sets the
job's own token, which the engine function checks at its next safe point
(a training stops after the current batch and still returns its result).
Stopping: :meth:`EngineProcess.shutdown` cancels every job, asks the child to
exit and waits. Only a child that has not exited after that wait is
terminated, and killed if it still lingers: the last resort, the same one
:meth:`call` takes when a cancelled job does not end within
``cancel_timeout`` seconds. The server is also stopped at interpreter exit.

The child dies with its parent: a watchdog thread in the child checks every
:data:`PARENT_CHECK_SECONDS` that the parent still lives (it sees a SIGKILL
too); when it has gone, the child cancels its jobs, lets them reach their
next safe point and save (at most :data:`PARENT_DEATH_GRACE_SECONDS`), and
exits.

The module is pure Python (multiprocessing, threading, pickle): it imports
neither Qt nor TensorFlow; the child imports what its jobs need.
"""

from __future__ import annotations

import importlib
import itertools
import logging
import multiprocessing
import os
import pickle
import queue
import threading
import time
import traceback
from typing import Any, Callable

from tlstudio.cancel import CancelToken

_log = logging.getLogger(__name__)

PRELOAD = ("tensorflow", "keras", "tlstudio.backbones", "tlstudio.model", "tlstudio.training.run")
"""Modules the child imports as soon as it starts, so the first job finds them loaded."""

SHARED_ENV_PREFIXES = ("TLSTUDIO_", "KERAS_HOME")
"""Environment variables each job takes from the parent at call time (run and cache folders):
the child lives long, and the parent may change them after it started."""

CHILD_NICENESS = 10
"""How much lower than the parent the OS schedules the child (POSIX): the GUI gets a core first."""

PARENT_CHECK_SECONDS = 0.5
"""How often the child checks that its parent still lives."""

PARENT_DEATH_GRACE_SECONDS = 60.0
"""How long the child lets its cancelled jobs wind down (a training saves its model) after the parent died."""


class RemoteTraceback(Exception):
    """The traceback text of an exception raised in the child; set as the ``__cause__``."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text}"""'


class EngineProcessError(RuntimeError):
    """The engine process died, or a job's payload could not cross the process boundary."""


def resolve(target: str) -> Callable:
    """``"package.module:function"`` -> the function.

    Raises:
        ValueError: when ``target`` is not of that form, or names a module of
            the GUI package ``ui`` (the engine never imports the GUI).
    """
    module_name, sep, qualname = str(target).partition(":")
    if not sep or not module_name or not qualname:
        raise ValueError(f"target must be 'package.module:function'. Received: {target!r}")
    if module_name.split(".")[0] == "ui":
        raise ValueError(f"the engine process never imports the GUI package 'ui'. Received: {target!r}")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


# ------------------------------------------------------------------ child side


def _dump_error(exc: BaseException) -> bytes:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        exc_bytes: bytes | None = pickle.dumps(exc)
        pickle.loads(exc_bytes)  # some exceptions pickle but do not unpickle
    except Exception:  # noqa: BLE001 - fall back to the text
        exc_bytes = None
    return pickle.dumps((exc_bytes, f"{type(exc).__name__}: {exc}", text))


class _Child:
    """State of the child process: the job table, the device set-up, the exclusive lock."""

    def __init__(self, responses: Any, registry: dict[str, str], light: frozenset, exclusive: frozenset):
        self.responses = responses
        self.registry = registry
        self.light = light
        self.exclusive = exclusive
        self.device_ready = threading.Event()
        self.exclusive_lock = threading.Lock()
        self.tokens: dict[int, CancelToken] = {}
        self.threads: dict[int, threading.Thread] = {}
        self.dropped_events = 0

    def run_job(self, job: int, payload: bytes, token: CancelToken) -> None:
        responses = self.responses

        def send_event(event: object) -> None:
            try:
                data = pickle.dumps(event)
            except Exception as exc:  # noqa: BLE001 - an event that cannot travel is dropped, the job goes on
                self.dropped_events += 1
                import sys

                print(f"tlstudio engine: dropped an event of job {job} that cannot be pickled: {type(event).__name__} ({exc})", file=sys.stderr)
                return
            responses.put(("event", job, data))

        try:
            name, config, env = pickle.loads(payload)
            for var in [n for n in os.environ if n.startswith(SHARED_ENV_PREFIXES) and n not in env]:
                os.environ.pop(var, None)
            os.environ.update(env)
            if name not in self.registry:
                raise KeyError(f"the engine has no job called {name!r}; its jobs are {', '.join(sorted(self.registry))}. Received: {name!r}")
            fn = resolve(self.registry[name])
            if name not in self.light:
                self.device_ready.wait()
            if name in self.exclusive:
                with self.exclusive_lock:
                    value = fn(config, sink=send_event, cancel=token)
            else:
                value = fn(config, sink=send_event, cancel=token)
            try:
                data = pickle.dumps(value)
            except Exception as exc:  # noqa: BLE001
                raise EngineProcessError(
                    f"the result of the job {name!r} cannot be sent back to the application. Received: {type(value).__name__} ({exc})"
                ) from exc
            responses.put(("result", job, data))
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the caller
            responses.put(("error", job, _dump_error(exc)))

    def prepare(self, preload: tuple[str, ...], setup_device: bool) -> None:
        """Set up the device, then import the preload modules; then tell the parent."""
        try:
            if setup_device:
                from tlstudio.jobs.device import setup_device as setup

                setup()
        finally:
            self.device_ready.set()
        loaded = []
        errors = []
        for name in preload:
            try:
                importlib.import_module(name)
                loaded.append(name)
            except Exception as exc:  # noqa: BLE001 - reported to the parent with the ready message
                errors.append((name, f"{type(exc).__name__}: {exc}"))
        self.responses.put(("ready", 0, pickle.dumps((tuple(loaded), tuple(errors)))))

    def cancel_all(self) -> None:
        for token in list(self.tokens.values()):
            token.cancel()

    def join_all(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in list(self.threads.values()):
            thread.join(max(0.0, deadline - time.monotonic()))

    def watch_parent(self, interval: float, grace: float) -> None:
        """Exit when the parent dies (even by SIGKILL): cancel, let jobs save, then go."""
        parent = multiprocessing.parent_process()
        if parent is None:
            return
        while parent.is_alive():
            time.sleep(interval)
        import sys

        print("tlstudio engine: the application process has gone; stopping the running jobs.", file=sys.stderr)
        self.cancel_all()
        self.join_all(grace)
        os._exit(0)


def _serve(
    requests: Any,
    responses: Any,
    registry: dict[str, str],
    light: frozenset,
    exclusive: frozenset,
    preload: tuple[str, ...],
    niceness: int,
    setup_device: bool,
    parent_check: float,
    parent_grace: float,
) -> None:
    """The child's main loop: start a thread per job, route cancels, stop on request."""
    from tlstudio.tf_startup import passive_openmp

    passive_openmp()  # before the preload loads TensorFlow and scikit-learn
    if os.environ.get("TLSTUDIO_ENGINE_STDERR") != "keep":  # TensorFlow's start-up lines are not the user's
        from tlstudio.tf_startup import redirect_stderr_for_good

        try:
            redirect_stderr_for_good("engine.log")
        except OSError:
            pass  # an unwritable cache: the lines go where they always went
    if niceness and hasattr(os, "nice"):
        try:
            os.nice(niceness)
        except OSError:
            pass
    child = _Child(responses, registry, light, exclusive)
    threading.Thread(target=child.watch_parent, args=(parent_check, parent_grace), name="engine-parent-watch", daemon=True).start()
    threading.Thread(target=child.prepare, args=(preload, setup_device), name="engine-prepare", daemon=True).start()
    while True:
        try:
            message = requests.get()
        except (EOFError, OSError):  # the parent went away
            message = ("stop",)
        kind = message[0]
        for done in [j for j, t in child.threads.items() if not t.is_alive()]:
            child.threads.pop(done)
            child.tokens.pop(done, None)
        if kind == "run":
            job, payload = message[1], message[2]
            token = child.tokens[job] = CancelToken()
            thread = threading.Thread(target=child.run_job, args=(job, payload, token), name=f"engine-job-{job}", daemon=True)
            child.threads[job] = thread
            thread.start()
        elif kind == "cancel":
            token = child.tokens.get(message[1])
            if token is not None:
                token.cancel()
        elif kind == "stop":
            child.cancel_all()
            child.join_all(30)
            break
    responses.close()
    responses.join_thread()  # every queued response reaches the pipe before exit
    from tlstudio.tf_startup import exit_without_a_full_collection

    exit_without_a_full_collection()  # the process ends now: its exit does not walk TensorFlow's objects


# ----------------------------------------------------------------- parent side


class _main_module_hidden:
    """Start the child without re-running this process's ``__main__`` in it.

    A spawned child normally imports the parent's main script as
    ``__mp_main__``; a script without an ``if __name__ == "__main__":`` guard
    would then open a second window, or train, in the engine process instead
    of serving it. The child only needs :func:`_serve`, which lives here, so
    a bare ``__main__`` module stands in while the process starts.
    """

    _lock = threading.Lock()

    def __enter__(self) -> None:
        import sys
        import types

        self._lock.acquire()
        self._saved = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__main__")

    def __exit__(self, *exc: object) -> None:
        import sys

        if self._saved is not None:
            sys.modules["__main__"] = self._saved
        self._lock.release()


class EngineProcess:
    """A persistent child process that runs engine jobs for this process.

    Args:
        registry: Job name -> ``"module:function"``; the child runs only
            these (default: :data:`tlstudio.jobs.JOBS`).
        light_jobs: Names that start before the device is set up (no TensorFlow).
        exclusive_jobs: Names that change process-wide state; the child runs
            them one at a time.
        preload: Modules the child imports when it starts (TensorFlow and the
            heavy tlstudio modules by default).
        setup_device: Set up the GPUs (memory growth, optional limit) before
            any job that uses TensorFlow (:func:`tlstudio.jobs.device.setup_device`).
        niceness: How much lower the child's scheduling priority is (POSIX).
        cancel_timeout: Seconds a cancelled job may take to end before the
            child is killed as a last resort (and restarted by the next call).
        start_method: ``multiprocessing`` start method. ``"spawn"`` (default)
            gives a clean interpreter: forking a process that runs Qt threads
            is unsafe.
        parent_check: Seconds between the child's checks that this process lives.
        parent_grace: Seconds the child lets cancelled jobs finish after this process died.
    """

    def __init__(
        self,
        registry: dict[str, str] | None = None,
        light_jobs: frozenset[str] | None = None,
        exclusive_jobs: frozenset[str] | None = None,
        preload: tuple[str, ...] = PRELOAD,
        setup_device: bool = True,
        niceness: int = CHILD_NICENESS,
        cancel_timeout: float = 120.0,
        start_method: str = "spawn",
        parent_check: float = PARENT_CHECK_SECONDS,
        parent_grace: float = PARENT_DEATH_GRACE_SECONDS,
    ):
        from tlstudio import jobs

        self.registry = dict(jobs.JOBS if registry is None else registry)
        self.light_jobs = frozenset(jobs.LIGHT_JOBS if light_jobs is None else light_jobs)
        self.exclusive_jobs = frozenset(jobs.EXCLUSIVE_JOBS if exclusive_jobs is None else exclusive_jobs)
        self.preload = tuple(preload)
        self.setup_device = bool(setup_device)
        self.niceness = int(niceness)
        self.cancel_timeout = float(cancel_timeout)
        self.parent_check = float(parent_check)
        self.parent_grace = float(parent_grace)
        self._ctx = multiprocessing.get_context(start_method)
        self._lock = threading.RLock()
        self._process: Any = None
        self._requests: Any = None
        self._responses: Any = None
        self._reader: threading.Thread | None = None
        self._jobs: dict[int, queue.Queue] = {}
        self._jobs_lock = threading.Lock()  # never held while waiting: the reader must keep reading
        self._ids = itertools.count(1)
        self._ready = threading.Event()
        self.loaded: tuple[str, ...] = ()
        self.preload_errors: tuple[tuple[str, str], ...] = ()
        """``(module, reason)`` of each preload module the child could not import (also logged)."""
        self.starts = 0
        """How many child processes were started (a restart after a crash counts)."""
        self.on_exit: Callable[[int | None], None] | None = None
        """Called (in a reader thread) with the exit code when the child ends without :meth:`shutdown`."""

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the child when it is not running (returns at once; idempotent)."""
        with self._lock:
            if self.is_alive():
                return
            self._close_queues()
            self._ready.clear()
            self._requests = self._ctx.Queue()
            self._responses = self._ctx.Queue()
            self._process = self._ctx.Process(
                target=_serve,
                args=(
                    self._requests,
                    self._responses,
                    self.registry,
                    self.light_jobs,
                    self.exclusive_jobs,
                    self.preload,
                    self.niceness,
                    self.setup_device,
                    self.parent_check,
                    self.parent_grace,
                ),
                name="tlstudio-engine",
                daemon=True,
            )
            with _main_module_hidden():
                self._process.start()
            self.starts += 1
            self._reader = threading.Thread(
                target=self._read, args=(self._process, self._responses), name="tlstudio-engine-reader", daemon=True
            )
            self._reader.start()

    def is_alive(self) -> bool:
        """True while the child process runs."""
        process = self._process
        return process is not None and process.is_alive()

    def is_ready(self) -> bool:
        """True once the running child has imported its preload modules."""
        return self._ready.is_set() and self.is_alive()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the child has imported its preload modules; True when it has."""
        return self._ready.wait(timeout) and self.is_alive()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def shutdown(self, timeout: float = 30.0) -> bool:
        """Cancel every job, ask the child to exit and wait for it.

        A child still alive after ``timeout`` seconds is terminated, then
        killed: the last resort. Returns True when it exited by itself.
        """
        with self._lock:
            process = self._process
            if process is None:
                return True
            clean = True
            if process.is_alive():
                try:
                    with self._jobs_lock:
                        jobs = list(self._jobs)
                    for job in jobs:
                        self._requests.put(("cancel", job))
                    self._requests.put(("stop",))
                except (OSError, ValueError):
                    pass
                process.join(timeout)
                if process.is_alive():
                    clean = False
                    process.terminate()
                    process.join(5)
                    if process.is_alive():
                        process.kill()
                        process.join(5)
            self._process = None
            if self._reader is not None:
                self._reader.join(5)
            self._fail_all(f"the engine process stopped (exit code {process.exitcode})")
            self._close_queues()
            return clean

    def _close_queues(self) -> None:
        for q in (self._requests, self._responses):
            if q is not None:
                try:
                    q.close()
                    q.cancel_join_thread()
                except (OSError, ValueError):
                    pass
        self._requests = self._responses = None

    # ----------------------------------------------------------------- jobs

    def call(
        self,
        name: str,
        config: Any = None,
        *,
        sink: Callable[[object], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> Any:
        """Run job ``name`` with ``config`` in the child and return its result.

        Blocks the calling thread. Events the job sends to its sink are given
        to ``sink`` here, in the calling thread, in order. Starts the child
        when it is not running. The job sees this process's current
        ``TLSTUDIO_*`` and ``KERAS_HOME`` environment variables.

        Args:
            name: A job of :attr:`registry`, e.g. ``"evaluate"``.
            config: The job's config; it must pickle.
            sink: Receives the job's events.
            cancel: Setting it asks the job to stop at its next safe point.

        Raises:
            KeyError: ``name`` is not a job of the registry.
            Exception: what the job raised (its child traceback as ``__cause__``).
            EngineProcessError: the config or the result could not be
                pickled, or the child died during the job.
        """
        target = name
        if name not in self.registry:
            raise KeyError(f"the engine has no job called {name!r}; its jobs are {', '.join(sorted(self.registry))}. Received: {name!r}")
        try:
            env = {var: value for var, value in os.environ.items() if var.startswith(SHARED_ENV_PREFIXES)}
            payload = pickle.dumps((name, config, env))
        except Exception as exc:  # noqa: BLE001
            raise EngineProcessError(f"the config of the job {name!r} cannot be sent to the engine process: {exc}") from exc
        inbox: queue.Queue = queue.Queue()
        with self._lock:
            self.start()
            job = next(self._ids)
            with self._jobs_lock:
                self._jobs[job] = inbox
            requests, process = self._requests, self._process
            requests.put(("run", job, payload))
        cancel_sent_at: float | None = None
        try:
            while True:
                if cancel is not None and cancel.cancelled and cancel_sent_at is None:
                    cancel_sent_at = time.monotonic()
                    try:
                        requests.put(("cancel", job))
                    except (OSError, ValueError):
                        pass
                try:
                    kind, data = inbox.get(timeout=0.1)
                except queue.Empty:
                    if cancel_sent_at is not None and time.monotonic() - cancel_sent_at > self.cancel_timeout:
                        if self._process is process:
                            self.shutdown(timeout=1.0)  # last resort: the job ignores its cancel token
                        raise EngineProcessError(
                            f"the job {target!r} did not stop within {self.cancel_timeout:g} s of being cancelled; "
                            "the engine process was stopped"
                        )
                    continue
                if kind == "event":
                    if sink is not None:
                        sink(pickle.loads(data))
                elif kind == "result":
                    return pickle.loads(data)
                elif kind == "error":
                    raise self._rebuild_error(data)
                else:  # "died"
                    raise EngineProcessError(data)
        finally:
            with self._jobs_lock:
                self._jobs.pop(job, None)

    @staticmethod
    def _rebuild_error(data: bytes) -> BaseException:
        exc_bytes, summary, text = pickle.loads(data)
        exc: BaseException | None = None
        if exc_bytes is not None:
            try:
                exc = pickle.loads(exc_bytes)
            except Exception:  # noqa: BLE001
                exc = None
        if exc is None:
            exc = EngineProcessError(summary)
        exc.__cause__ = RemoteTraceback(text)
        return exc

    # ------------------------------------------------------------- internals

    def _read(self, process: Any, responses: Any) -> None:
        """Reader thread: route each response to the job waiting for it."""
        while True:
            try:
                kind, job, data = responses.get(timeout=0.2)
            except queue.Empty:
                if not process.is_alive():
                    break
                continue
            except (EOFError, OSError, ValueError):
                break
            if kind == "ready":
                self.loaded, self.preload_errors = pickle.loads(data)
                for module, reason in self.preload_errors:
                    _log.warning("the engine process could not preload %s: %s", module, reason)
                self._ready.set()
                continue
            with self._jobs_lock:
                inbox = self._jobs.get(job)
            if inbox is not None:
                inbox.put((kind, data))
        if self._process is process:
            process.join(1.0)
            self._fail_all(f"the engine process ended unexpectedly (exit code {process.exitcode})")
            callback = self.on_exit
            if callback is not None:
                try:
                    callback(process.exitcode)
                except Exception:  # noqa: BLE001 - a failing listener must not kill the reader
                    traceback.print_exc()

    def _fail_all(self, message: str) -> None:
        with self._jobs_lock:
            inboxes = list(self._jobs.values())
        for inbox in inboxes:
            inbox.put(("died", message))
