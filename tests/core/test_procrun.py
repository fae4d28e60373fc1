"""The engine server: named jobs in a persistent child process, events, cancel, errors, restart.

The child preloads nothing here and sets up no device (no TensorFlow): the
jobs are the small functions below, given to the server in a registry of
its own, as the app gives it :data:`tlstudio.jobs.JOBS`.
"""

from __future__ import annotations

import os
import time

import pytest

from tlstudio.cancel import CancelToken
from tlstudio.errors import DataError
from tlstudio.events import LogMessage, Progress
from tlstudio.procrun import EngineProcess, EngineProcessError, RemoteTraceback, resolve

HERE = __name__


def count_to(n, *, sink, cancel):
    """Sends n Progress events; stops early when cancelled; returns (done, pid)."""
    done = 0
    for i in range(n):
        if cancel.cancelled:
            break
        sink(Progress("count", i + 1, n))
        done += 1
        time.sleep(0.01)
    return done, os.getpid()


def wait_for_cancel(config, *, sink, cancel):
    sink(LogMessage("waiting"))
    while not cancel.cancelled:
        time.sleep(0.01)
    return "stopped"


def ignore_cancel(config, *, sink, cancel):
    sink(LogMessage("sleeping"))
    time.sleep(60)


def fail(path, *, sink, cancel):
    raise DataError(f"Cannot read {path}: broken.", path=path)


def die(config, *, sink, cancel):
    os._exit(3)


def read_env(name, *, sink, cancel):
    return os.environ.get(name)


def unpicklable_result(config, *, sink, cancel):
    return lambda: None


def unpicklable_event(config, *, sink, cancel):
    sink(lambda: None)  # dropped, and said so on the child's stderr
    sink(LogMessage("after"))
    return "went on"


def exclusive_span(config, *, sink, cancel):
    """Records when it ran: (start, end)."""
    start = time.monotonic()
    time.sleep(0.3)
    return start, time.monotonic()


def getpid(config, *, sink, cancel):
    return os.getpid()


REGISTRY = {
    name: f"{HERE}:{name}"
    for name in (
        "count_to",
        "wait_for_cancel",
        "ignore_cancel",
        "fail",
        "die",
        "read_env",
        "unpicklable_result",
        "unpicklable_event",
        "exclusive_span",
        "getpid",
    )
}
REGISTRY["missing_module"] = "tlstudio.no_such_module:fn"
REGISTRY["gui"] = "ui.pages.model_page:describe_backbone"


def make_server(**kwargs):
    options = dict(registry=REGISTRY, preload=(), setup_device=False, niceness=0, cancel_timeout=5.0, exclusive_jobs=frozenset({"exclusive_span"}))
    options.update(kwargs)
    return EngineProcess(**options)


@pytest.fixture
def server():
    server = make_server()
    yield server
    server.shutdown(10)


def test_jobs_run_in_one_reused_child_with_ordered_events(server):
    seen = []
    done, pid = server.call("count_to", 5, sink=seen.append)
    assert done == 5 and pid != os.getpid()
    assert [e.done for e in seen] == [1, 2, 3, 4, 5]
    assert server.wait_ready(30) and server.loaded == ()
    _, pid2 = server.call("count_to", 1, sink=seen.append)
    assert pid2 == pid and server.starts == 1  # the same process serves the next job


def test_a_preload_module_that_fails_to_import_is_reported_with_ready(caplog):
    server = make_server(preload=("json", "tlstudio.no_such_module"))
    server.start()
    try:
        with caplog.at_level("WARNING", logger="tlstudio.procrun"):
            assert server.wait_ready(30)
        assert server.loaded == ("json",)
        assert [m for m, _ in server.preload_errors] == ["tlstudio.no_such_module"]
        assert "ModuleNotFoundError" in server.preload_errors[0][1]
        assert "could not preload tlstudio.no_such_module" in caplog.text
    finally:
        server.shutdown(10)


def test_two_jobs_run_at_the_same_time(server):
    import threading

    results = {}
    token = CancelToken()
    waiter = threading.Thread(target=lambda: results.__setitem__("wait", server.call("wait_for_cancel", cancel=token)))
    waiter.start()
    # a second job completes while the first one is still running
    assert server.call("count_to", 3, sink=lambda e: None)[0] == 3
    assert waiter.is_alive()
    token.cancel()
    waiter.join(30)
    assert results["wait"] == "stopped"


def test_exclusive_jobs_run_one_at_a_time(server):
    import threading

    spans = []
    threads = [threading.Thread(target=lambda: spans.append(server.call("exclusive_span"))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    spans.sort()
    assert len(spans) == 3
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert start >= end  # no overlap


def test_cancel_reaches_the_job(server):
    token = CancelToken()
    seen = []

    def sink(event):
        seen.append(event)
        if len(seen) == 2:
            token.cancel()

    done, _ = server.call("count_to", 10_000, sink=sink, cancel=token)
    assert 2 <= done < 10_000


def test_errors_keep_their_type_message_and_child_traceback(server):
    with pytest.raises(DataError, match="Cannot read /x/y.jpg: broken") as info:
        server.call("fail", "/x/y.jpg")
    assert isinstance(info.value.__cause__, RemoteTraceback)
    assert "in fail" in info.value.__cause__.text
    with pytest.raises(EngineProcessError, match="cannot be sent back"):
        server.call("unpicklable_result")
    with pytest.raises(EngineProcessError, match="config"):
        server.call("count_to", lambda: 0)
    with pytest.raises(ModuleNotFoundError):
        server.call("missing_module")


def test_only_registered_jobs_run_and_never_gui_code(server):
    with pytest.raises(KeyError, match="Received: 'os:getpid'"):
        server.call("os:getpid")
    with pytest.raises(ValueError, match="never imports the GUI package"):
        server.call("gui")


def test_an_event_that_cannot_travel_is_dropped_and_the_job_goes_on(server):
    seen = []
    assert server.call("unpicklable_event", sink=seen.append) == "went on"
    assert seen == [LogMessage("after")]


def test_a_dead_child_fails_its_job_and_the_next_call_restarts_it(server):
    exits = []
    server.on_exit = exits.append
    with pytest.raises(EngineProcessError, match="exit code 3"):
        server.call("die")
    assert server.call("count_to", 1, sink=lambda e: None)[0] == 1
    assert server.starts == 2
    assert exits == [3]  # the client is told, so it can say so and restart


def test_a_job_that_ignores_cancel_is_stopped_as_a_last_resort():
    server = make_server(cancel_timeout=0.5)
    token = CancelToken()
    token.cancel()
    try:
        with pytest.raises(EngineProcessError, match="did not stop"):
            server.call("ignore_cancel", cancel=token)
        assert not server.is_alive()
    finally:
        server.shutdown(5)


def test_shutdown_is_clean_and_idempotent(server):
    exits = []
    server.on_exit = exits.append
    server.call("count_to", 1, sink=lambda e: None)
    process = server._process
    assert server.shutdown(10) is True
    assert process.exitcode == 0 and not server.is_alive()
    assert server.shutdown(1) is True
    assert exits == []  # a requested stop is not a crash


def test_resolve_names_a_function():
    assert resolve("os.path:join") is os.path.join
    with pytest.raises(ValueError, match="Received: 'os.path.join'"):
        resolve("os.path.join")
    with pytest.raises(ValueError, match="Received: 'ui.app:main'"):
        resolve("ui.app:main")


def test_jobs_see_the_callers_current_run_and_cache_settings(server, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_RUNS_DIR", "/first")
    assert server.call("read_env", "TLSTUDIO_RUNS_DIR") == "/first"
    monkeypatch.setenv("TLSTUDIO_RUNS_DIR", "/second")  # changed after the child started
    monkeypatch.setenv("TLSTUDIO_EXTRA", "x")
    assert server.call("read_env", "TLSTUDIO_RUNS_DIR") == "/second"
    assert server.call("read_env", "TLSTUDIO_EXTRA") == "x"
    monkeypatch.delenv("TLSTUDIO_EXTRA")
    assert server.call("read_env", "TLSTUDIO_EXTRA") is None


def test_the_default_registry_is_the_engine_jobs():
    from tlstudio.jobs import JOBS

    server = EngineProcess()
    assert server.registry == JOBS and "train" in server.exclusive_jobs and "prepare_data" in server.light_jobs


def test_a_script_without_a_main_guard_is_not_run_again_in_the_child(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "unguarded.py"
    script.write_text(
        "import os\n"
        "from tlstudio.procrun import EngineProcess\n"
        "print('top level', os.getpid(), flush=True)\n"
        "server = EngineProcess(registry={'getpid': 'tests.core.test_procrun:getpid'}, preload=(), setup_device=False, niceness=0)\n"
        "print('job', server.call('getpid'), flush=True)\n"
        "print('clean', server.shutdown(10), flush=True)\n",
        encoding="utf-8",
    )
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    lines = out.stdout.splitlines()
    assert out.returncode == 0, out.stderr
    assert [line.split()[0] for line in lines] == ["top", "job", "clean"]  # the top level ran once, in the parent
    assert lines[0].split()[1] != lines[1].split()[1] and lines[2] == "clean True"
