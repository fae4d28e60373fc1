"""The one engine client: jobs by name, events as signals, cancel, and a restart after the engine dies.

These tests give the client an engine process of their own whose registry
holds the small jobs below (no TensorFlow), so they run in a second or two.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from tlstudio.events import LogMessage, Progress
from tlstudio.procrun import EngineProcess
from ui.engine import READY, RESTARTING, EngineClient


def count(n, *, sink, cancel):
    for i in range(n):
        if cancel.cancelled:
            return i
        sink(Progress("count", i + 1, n))
        time.sleep(0.005)
    return n


def block(config, *, sink, cancel):
    sink(LogMessage(f"blocking in {os.getpid()}"))
    while not cancel.cancelled:
        time.sleep(0.01)
    return "stopped"


def device(config, *, sink, cancel):
    from tlstudio.api.device import DeviceInfo

    return DeviceInfo("CPU", "test CPU", 0, 0, 2, False, "test", "test")


REGISTRY = {name: f"{__name__}:{name}" for name in ("count", "block", "device")}


@pytest.fixture
def client(qapp):
    client = EngineClient(EngineProcess(registry=REGISTRY, preload=(), setup_device=False, niceness=0, cancel_timeout=5.0))
    yield client
    client.shutdown(10)


def test_a_task_relays_events_in_order_throttled_and_its_result(client, qtbot):
    task = client.task()
    events, results = [], []
    task.event.connect(events.append)
    task.result.connect(results.append)
    with qtbot.waitSignal(task.finished, timeout=30_000):
        task.start("count", 200)
    assert results == [200]
    dones = [e.done for e in events]
    assert dones == sorted(dones) and dones[-1] == 200  # the last one always arrives
    assert len(dones) < 200  # about 20 Hz, not every event


def test_cancel_stops_the_job_in_the_engine(client, qtbot):
    task = client.task()
    started, results = [], []
    task.event.connect(started.append)
    task.result.connect(results.append)
    task.start("block")
    qtbot.waitUntil(lambda: bool(started), timeout=30_000)
    with qtbot.waitSignal(task.cancelled, timeout=30_000):
        task.cancel()
    qtbot.waitUntil(lambda: not task.is_running(), timeout=10_000)
    assert results == ["stopped"]


def test_an_unknown_job_is_refused_at_once(client):
    with pytest.raises(KeyError, match="Received: 'rm_rf'"):
        client.task().start("rm_rf")


def test_a_killed_engine_fails_the_job_readably_then_comes_back(client, qtbot):
    states, crashes = [], []
    client.state_changed.connect(lambda state, message: states.append(state))
    client.crashed.connect(crashes.append)
    with qtbot.waitSignal(client.device_changed, timeout=30_000):
        client.start()
    assert client.state == READY and client.device.summary() == "CPU: 2 cores"
    first_pid = client.server.pid

    task = client.task()
    errors, started = [], []
    task.event.connect(started.append)
    task.error.connect(lambda message, details: errors.append(message))
    task.start("block")
    qtbot.waitUntil(lambda: bool(started), timeout=30_000)
    os.kill(first_pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: bool(errors), timeout=30_000)
    assert "engine process ended unexpectedly" in errors[0] and "exit code -9" in errors[0]
    qtbot.waitUntil(lambda: client.state == READY and client.server.pid != first_pid, timeout=30_000)
    assert crashes and "stopped unexpectedly" in crashes[0]
    assert RESTARTING in states
    # the restarted engine serves the next job
    again = client.task()
    with qtbot.waitSignal(again.result, timeout=30_000) as result:
        again.start("count", 3)
    assert result.args == [3]
