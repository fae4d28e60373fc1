"""TaskRunner: events reach the GUI thread in order, cancel works, errors are readable."""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import QThread

from tlstudio.cancel import CancelToken
from tlstudio.errors import DataError
from tlstudio.events import BatchEnd, EpochEnd, LogMessage, Progress, RunFinished
from ui import worker
from ui.worker import TaskRunner, format_error


def _batch(step: int, epoch: int = 0, steps: int = 1000) -> BatchEnd:
    return BatchEnd(
        phase=1, epoch=epoch, batch=step % steps, steps=steps, global_step=step + 1,
        loss=1.0 / (step + 1), accuracy=0.5, learning_rate=1e-3, images_per_sec=100.0,
    )


class Recorder:
    """Collects what a runner emits, with the thread each signal arrived on."""

    def __init__(self, runner: TaskRunner):
        self.events: list[object] = []
        self.threads: set[object] = set()
        self.results: list[object] = []
        self.errors: list[tuple[str, str]] = []
        self.order: list[str] = []
        runner.event.connect(self._on_event)
        runner.result.connect(lambda v: (self.results.append(v), self.order.append("result")))
        runner.error.connect(lambda m, d: (self.errors.append((m, d)), self.order.append("error")))
        runner.cancelled.connect(lambda: self.order.append("cancelled"))
        runner.finished.connect(lambda: self.order.append("finished"))

    def _on_event(self, event):
        self.events.append(event)
        self.threads.add(QThread.currentThread())
        self.order.append("event")


def test_events_arrive_on_gui_thread_in_order_and_result_last(qtbot):
    def work(n, *, sink, cancel):
        worker_thread = threading.get_ident()
        for i in range(n):
            sink(LogMessage(f"line {i}"))
        return ("done", n, worker_thread)

    runner = TaskRunner()
    rec = Recorder(runner)
    with qtbot.waitSignal(runner.finished, timeout=10_000):
        runner.start(work, 25)
    assert [e.message for e in rec.events] == [f"line {i}" for i in range(25)]
    assert rec.threads == {QThread.currentThread()}  # delivered in the GUI thread
    assert rec.results[0][:2] == ("done", 25)
    assert rec.results[0][2] != threading.get_ident()  # but computed in another thread
    assert rec.order[-2:] == ["result", "finished"]
    assert not runner.is_running()


def test_the_function_always_gets_sink_and_cancel(qtbot):
    def plain(values):
        return sum(values)

    runner = TaskRunner()
    rec = Recorder(runner)
    with qtbot.waitSignal(runner.finished, timeout=10_000):
        runner.start(plain, [1, 2, 3])
    assert rec.results == [] and len(rec.errors) == 1
    assert "unexpected keyword argument 'sink'" in rec.errors[0][0]


def test_a_user_facing_error_becomes_a_message_with_words_as_details(qtbot):
    def broken(path, *, sink, cancel):
        sink(LogMessage("about to fail"))
        raise DataError("The folder has no class sub-folders.", path=path)

    runner = TaskRunner()
    rec = Recorder(runner)
    with qtbot.waitSignal(runner.finished, timeout=10_000):
        runner.start(broken, "/data/nowhere")
    assert rec.results == []
    message, details = rec.errors[0]
    assert message == "The folder has no class sub-folders. (/data/nowhere)"
    assert "Traceback" not in details and "DataError" in details and "File or folder: /data/nowhere" in details
    assert rec.order == ["event", "error", "finished"]


def test_a_bug_in_the_engine_shows_the_engine_traceback_not_the_relay():
    from tlstudio.procrun import RemoteTraceback
    from ui.worker import format_error

    exc = KeyError("layer")
    exc.__cause__ = RemoteTraceback('Traceback (most recent call last):\n  File "jobs/x.py", line 3\nKeyError: layer\n')
    message, details = format_error(exc)
    assert message == "KeyError: 'layer'"
    assert details.startswith("In the engine process:\nTraceback") and "RemoteTraceback" not in details


def test_unexpected_exception_message_names_the_type():
    try:
        {}["missing"]
    except KeyError as exc:
        message, details = format_error(exc)
    assert message == "KeyError: 'missing'"
    assert "Traceback" in details


def test_cancel_stops_work_at_next_safe_point(qtbot):
    started = threading.Event()

    def long_work(*, sink, cancel: CancelToken):
        started.set()
        for i in range(10_000):
            if cancel.cancelled:
                sink(RunFinished(cancelled=True, error=None, epochs_completed=i))
                return "stopped"
            time.sleep(0.005)
        return "ran to the end"

    runner = TaskRunner()
    rec = Recorder(runner)
    runner.start(long_work)
    assert runner.is_running()
    assert started.wait(10)
    with qtbot.waitSignal(runner.finished, timeout=10_000):
        runner.cancel()
        assert runner.is_cancelling()
    assert rec.results == ["stopped"]
    assert isinstance(rec.events[-1], RunFinished) and rec.events[-1].cancelled
    assert rec.order[-3:] == ["result", "cancelled", "finished"]
    assert runner.wait(5_000)
    assert not runner.is_running()


def test_batch_events_are_throttled_but_last_batch_precedes_epoch_end(qtbot):
    def train_like(*, sink, cancel):
        for epoch in range(2):
            for step in range(500):
                sink(_batch(epoch * 500 + step, epoch=epoch, steps=500))
            sink(EpochEnd(phase=1, epoch=epoch, metrics={"loss": 0.1}, learning_rate=1e-3, seconds=0.1))
        return None

    runner = TaskRunner(throttle_seconds=60.0)  # nothing but the first and last of each burst
    rec = Recorder(runner)
    with qtbot.waitSignal(runner.finished, timeout=10_000):
        runner.start(train_like)
    kinds = [type(e).__name__ for e in rec.events]
    batches = [e for e in rec.events if isinstance(e, BatchEnd)]
    assert len(batches) < 1000
    # The last batch of every epoch arrives, right before its EpochEnd.
    for i, e in enumerate(rec.events):
        if isinstance(e, EpochEnd):
            assert kinds[i - 1] == "BatchEnd"
            assert rec.events[i - 1].batch == 499 and rec.events[i - 1].epoch == e.epoch
    steps = [b.global_step for b in batches]
    assert steps == sorted(steps)  # never out of order
    assert steps[0] == 1 and steps[-1] == 1000


def test_pending_batch_is_flushed_before_result(qtbot):
    def burst(*, sink, cancel):
        for step in range(50):
            sink(_batch(step))
        return "ok"

    runner = TaskRunner(throttle_seconds=60.0)
    rec = Recorder(runner)
    with qtbot.waitSignal(runner.finished, timeout=10_000):
        runner.start(burst)
    assert [e.global_step for e in rec.events] == [1, 50]
    assert rec.order == ["event", "event", "result", "finished"]


def test_final_progress_is_never_dropped(qtbot):
    def scan(*, sink, cancel):
        for i in range(1, 201):
            sink(Progress("validate", i, 200))
        return 200

    runner = TaskRunner(throttle_seconds=60.0)
    got = []
    runner.progress.connect(got.append)
    with qtbot.waitSignal(runner.finished, timeout=10_000):
        runner.start(scan)
    assert got[0].done == 1 and got[-1].done == 200
    assert len(got) <= 3


def add(values, *, sink, cancel):
    return sum(values)


def test_start_while_running_is_refused_and_runner_is_reusable(qtbot):
    gate = threading.Event()

    def wait_for_gate(*, sink, cancel):
        gate.wait(10)
        return "first"

    runner = TaskRunner()
    rec = Recorder(runner)
    runner.start(wait_for_gate)
    with pytest.raises(RuntimeError, match="already running"):
        runner.start(add, [1])
    assert runner in worker.active_runners()
    with qtbot.waitSignal(runner.finished, timeout=10_000):
        gate.set()
    with qtbot.waitSignal(runner.finished, timeout=10_000):
        runner.start(add, [2, 3])
    assert rec.results == ["first", 5]
    assert runner not in worker.active_runners()


def test_wait_all_cancels_and_joins_every_runner(qtbot):
    def until_cancelled(*, sink, cancel):
        while not cancel.cancelled:
            time.sleep(0.005)
        return "cancelled"

    runners = [TaskRunner() for _ in range(2)]
    for r in runners:
        r.start(until_cancelled)
    assert worker.wait_all(10_000)
    for r in runners:
        qtbot.waitUntil(lambda r=r: not r.is_running(), timeout=5_000)


def test_garbage_is_collected_by_the_gui_thread_timer(qapp, qtbot):
    import gc
    import weakref

    collector = worker.install_gui_thread_gc()
    assert collector is worker.install_gui_thread_gc()  # one per application
    assert not gc.isenabled()  # worker threads never trigger a collection

    class Node:
        pass

    node = Node()
    node.cycle = node
    ref = weakref.ref(node)
    del node
    saved = collector.threshold
    collector.threshold = (0, 0, 0)
    try:
        qtbot.waitUntil(lambda: ref() is None, timeout=5_000)  # freed by the timer's check()
    finally:
        collector.threshold = saved


def test_a_runner_deleted_before_its_finished_signal_arrives_is_not_running_forever(qtbot):
    """A page closed right after its task ended never gets the queued ``finished``: it must not count as running."""
    import shiboken6
    from PySide6.QtWidgets import QWidget

    owner = QWidget()
    runner = TaskRunner(owner)
    runner.start(add, [1, 2])
    assert runner.wait(10_000)  # the thread ended; its "done" is still queued for the GUI thread
    assert runner in worker.active_runners()
    shiboken6.delete(owner)  # deletes the runner's C++ object with it, before the event loop runs
    assert not shiboken6.isValid(runner)
    assert runner not in worker.active_runners()
