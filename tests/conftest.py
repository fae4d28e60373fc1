"""Test-wide settings: no display, quiet TensorFlow, caches in temporary folders."""

import gc
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("PYTHONHASHSEED", "0")
# OpenMP threads (scikit-learn's t-SNE and k-means, through libgomp) that wait for work sleep instead of
# spinning: the suite runs 2 workers and their engine and CLI processes on 2 cores, where spinning threads
# took the CPU from the thread they waited for (a 90-point t-SNE: 3-5 s spinning, 0.3-0.8 s passive).
# The number of threads and the work each does are unchanged; inherited by every child process.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _isolated_tlstudio_dirs(tmp_path_factory):
    """Keep every cache and run folder of the test session out of the user's home."""
    base = tmp_path_factory.mktemp("tlstudio-home")
    os.environ["TLSTUDIO_CACHE_DIR"] = str(base / "cache")
    os.environ["TLSTUDIO_RUNS_DIR"] = str(base / "runs")
    yield base


_FROZEN = []


@pytest.fixture(autouse=True)
def _freeze_tensorflow_objects():
    """After the first test that imported TensorFlow, keep its objects out of every later collection.

    TensorFlow and Keras leave ~400,000 long-lived objects; each full
    collection walked them all, about half a second, and the GUI tests collect
    after every test (``tests/ui/conftest.py``) in a worker that may have run
    engine tests before. Garbage is collected first, then everything still
    alive moves to the permanent generation (:func:`gc.freeze`), once.
    """
    yield
    if not _FROZEN and "tensorflow" in sys.modules:
        gc.collect()
        gc.freeze()
        _FROZEN.append(True)


_TIMING = {"began": 0.0, "summed": 0.0, "tests": 0}


def pytest_sessionstart(session):
    """Start the clock for the suite's test time (see :func:`pytest_terminal_summary`)."""
    _TIMING["began"] = time.perf_counter()


def pytest_runtest_logreport(report):
    """Add up each test's setup, call and teardown time (on the controller when tests run on xdist workers)."""
    _TIMING["summed"] += report.duration
    if report.when == "call":
        _TIMING["tests"] += 1


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Print the suite's test time: the wall-clock time of the session, the workers, and the summed per-test time."""
    if hasattr(config, "workerinput"):  # an xdist worker: the controller prints the total
        return
    workers = config.getoption("numprocesses", None) if config.pluginmanager.hasplugin("xdist") else None
    workers = workers if isinstance(workers, int) and workers > 0 else 1
    wall = time.perf_counter() - _TIMING["began"]
    terminalreporter.write_sep("=", "test time")
    terminalreporter.write_line(
        f"test time: {wall:.0f} s on {workers} worker{'s' if workers != 1 else ''} "
        f"({_TIMING['tests']} tests; {_TIMING['summed']:.0f} s summed over tests, setup and teardown included)"
    )
