"""Fixtures for the GUI tests: isolated QSettings, a main window, tiny datasets.

No GUI test touches the user's home: QSettings writes INI files into a
temporary folder with a per-test organisation name, and the engine's caches
are redirected by ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.support.images import write_images



@pytest.fixture(scope="session", autouse=True)
def _qsettings_in_tmp(tmp_path_factory):
    """Point every QSettings scope and format at a temporary folder for the session."""
    from PySide6.QtCore import QSettings

    base = tmp_path_factory.mktemp("qsettings")
    os.environ["XDG_CONFIG_HOME"] = str(base / "xdg")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    for fmt in (QSettings.Format.IniFormat, QSettings.Format.NativeFormat):
        for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
            QSettings.setPath(fmt, scope, str(base / "ini"))
    yield base


@pytest.fixture(autouse=True)
def _no_untitled_autosave_from_an_earlier_test():
    """Start each GUI test without another test's autosave of an untitled project.

    Untitled projects autosave into the session's cache folder, shared by every
    test of a worker and by the GUI processes some tests start. A file left by a
    test whose window "crashed", or by such a process, would be offered as crash
    recovery to a later test's window, which then waits on a modal question.
    """
    from tlstudio.paths import cache_dir

    folder = cache_dir("autosave")
    assert Path(os.environ["TLSTUDIO_CACHE_DIR"]) in folder.parents, folder  # never the user's cache
    for side in folder.glob("untitled*.autosave"):
        side.unlink()
    yield


@pytest.fixture(scope="session", autouse=True)
def _gc_in_gui_thread(qapp):
    """Collect garbage in the GUI thread only, as the app does (see ui.worker)."""
    import gc

    from ui.worker import install_gui_thread_gc

    collector = install_gui_thread_gc()
    yield collector
    gc.collect()


@pytest.fixture(scope="session")
def real_engine(qapp, _gc_in_gui_thread):
    """One real engine process per worker, started for the first test marked ``engine``.

    It is the application's client (:class:`ui.engine.EngineClient`) over a
    real :class:`tlstudio.procrun.EngineProcess`; TensorFlow loads in that
    child process only.
    """
    from tlstudio.procrun import EngineProcess
    from ui.engine import EngineClient

    client = EngineClient(EngineProcess(niceness=0, cancel_timeout=60.0), parent=qapp)
    client.server.start()
    yield client
    client.shutdown(30)


@pytest.fixture(autouse=True)
def engine_client(request, qapp, _gc_in_gui_thread):
    """The engine client the test's pages submit their jobs to (:func:`ui.engine.engine`).

    A test marked ``@pytest.mark.engine`` gets the session's real engine
    process (:func:`real_engine`); every other test gets the application's
    client over a :class:`~tests.support.fake_engine.FakeEngineProcess`,
    which runs no TensorFlow and answers only what the test registered
    (fixture ``fake_engine``). A job without an answer fails the test.
    """
    from ui.engine import EngineClient, set_engine

    if request.node.get_closest_marker("engine") is not None:
        client = request.getfixturevalue("real_engine")
        previous = set_engine(client)
        yield client
        set_engine(previous)
        return
    from pytestqt.qtbot import QtBot
    from pytestqt.wait_signal import _AbstractSignalBlocker

    from tests.support.fake_engine import FakeEngineProcess

    server = FakeEngineProcess()
    for job in sorted(server.light_jobs):  # no TensorFlow: the real answer at no cost
        server.run_in_process(job)
    client = EngineClient(server, parent=qapp)
    saved = _engine_result_caches()
    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setattr(QtBot, "waitUntil", _fail_fast_on_unexpected_jobs(QtBot.waitUntil, client.server))
    monkeypatch.setattr(_AbstractSignalBlocker, "wait", _stop_waiting_on_unexpected_jobs(_AbstractSignalBlocker.wait, client.server))
    previous = set_engine(client)
    client.server.start()
    for cache, _content in saved.values():  # a real answer cached by an earlier test must not stand in for a registration
        cache.clear()
    yield client
    client.shutdown(30)
    set_engine(previous)
    client.deleteLater()
    for key, (cache, _content) in _engine_result_caches().items():  # no fake answer outlives its test
        cache.clear()
        cache.update(saved[key][1] if key in saved else {})  # a module first loaded in the test started empty
    if client.server.unexpected:
        pytest.fail(
            "the test started engine jobs the fake engine has no answer for (register them with "
            "fake_engine.register, or mark the test @pytest.mark.engine):\n  " + "\n  ".join(client.server.unexpected),
            pytrace=False,
        )


ENGINE_RESULT_CACHES = ("_LAYOUTS", "_DEFAULT_CHOICES")
"""Names of the GUI's module-level caches of engine answers (:mod:`ui.jobs.model_jobs`)."""


def _engine_result_caches() -> dict[int, tuple[dict, dict]]:
    """Each loaded ``ui`` module's cache of engine answers: ``id -> (cache, a copy of its content)``.

    A test on the fake engine starts with these caches empty and leaves them
    as it found them, so fake answers never reach a test on the real engine
    and a test never passes on an answer an earlier test left behind.
    """
    import sys

    found = {}
    for name, module in list(sys.modules.items()):
        if name == "ui" or name.startswith("ui."):
            for attr in ENGINE_RESULT_CACHES:
                cache = getattr(module, attr, None)
                if isinstance(cache, dict):
                    found[id(cache)] = cache
    return {key: (cache, dict(cache)) for key, cache in found.items()}


def _fail_fast_on_unexpected_jobs(wait_until, server):
    """``qtbot.waitUntil`` that stops waiting as soon as the fake engine got a job it has no answer for."""
    from tests.support.fake_engine import UnexpectedJob

    def waitUntil(self, callback, *args, **kwargs):
        def check():
            if server.unexpected:
                raise UnexpectedJob("; ".join(server.unexpected))
            return callback()

        return wait_until(self, check, *args, **kwargs)

    return waitUntil


def _stop_waiting_on_unexpected_jobs(wait, server):
    """``qtbot.waitSignal(...).wait`` that stops as soon as the fake engine got a job it has no answer for."""
    from PySide6.QtCore import QTimer

    from tests.support.fake_engine import UnexpectedJob

    def blocker_wait(self):
        watch = QTimer()
        watch.setInterval(50)
        watch.timeout.connect(lambda: server.unexpected and self._quit_loop_by_timeout())
        watch.start()
        try:
            wait(self)
        except TimeoutError:
            if server.unexpected:
                raise UnexpectedJob("; ".join(server.unexpected)) from None
            raise
        finally:
            watch.stop()
        if server.unexpected:
            raise UnexpectedJob("; ".join(server.unexpected))

    return blocker_wait


@pytest.fixture
def fake_engine(request, engine_client):
    """The :class:`~tests.support.fake_engine.FakeEngineProcess` under this test's engine client, to register answers."""
    if request.node.get_closest_marker("engine") is not None:
        pytest.fail("a test marked 'engine' runs on the real engine; it cannot use fake_engine", pytrace=False)
    return engine_client.server


@pytest.fixture(autouse=True)
def _collect_after_test(_gc_in_gui_thread):
    """Free each test's Qt objects in the GUI thread before the next test starts.

    Then everything still alive moves to the permanent generation
    (:func:`gc.freeze`), so the next test's collections walk only what that
    test made. What survives a test is mostly held from C++: a lambda
    connected to a signal keeps its closure, and so its page or window, for
    as long as the sender's C++ object lives, and collection cannot see those
    references. Walked again by every later collection, those objects made
    each collection slower as the session went on (10,000 more objects a
    test; 200 ms a collection by the 25th test of a file), and TensorFlow's
    400,000 objects, in a worker that ran engine tests, added half a second.
    Nothing frozen is garbage at that moment. An object freed by its
    reference count is freed as before; a cycle that becomes garbage after
    its test stays in memory until the worker ends, which only ever happens
    in tests (the app collects without freezing).
    """
    import gc

    yield
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def isolated_settings(qapp, _qsettings_in_tmp):
    """A fresh, empty settings scope for each test (unique organisation name)."""
    from PySide6.QtCore import QSettings

    from ui.settings import APPLICATION

    old_org, old_app = qapp.organizationName(), qapp.applicationName()
    qapp.setOrganizationName(f"tlstudio-test-{uuid.uuid4().hex[:8]}")
    qapp.setApplicationName(APPLICATION)
    store = QSettings()
    assert str(_qsettings_in_tmp) in store.fileName(), store.fileName()
    yield store
    store.clear()
    qapp.setOrganizationName(old_org)
    qapp.setApplicationName(old_app)


@pytest.fixture(autouse=True)
def _never_block_on_close(monkeypatch):
    """Closing a window with work still running answers "stop and quit" instead of
    opening a modal question that no one would click (pytest-qt closes widgets
    at teardown). Tests about that question patch the window's method themselves."""
    from ui.main_window import MainWindow

    monkeypatch.setattr(MainWindow, "confirm_close_during_run", lambda self: True)


@pytest.fixture
def app_state():
    from ui.state import AppState

    return AppState()


@pytest.fixture
def main_window(qtbot, isolated_settings):
    """A shown MainWindow with settings restored from the isolated scope.

    At teardown every task is cancelled and joined before the window closes,
    so closing never stops on the "work is still running" question.
    """
    from PySide6.QtWidgets import QWidget

    from ui import worker
    from ui.main_window import MainWindow

    window = MainWindow()
    window.show()
    qtbot.waitExposed(window)
    yield window
    worker.wait_all(120_000)  # pages may run background work (format probes, model builds)

    def own_runners():  # the window's pages' tasks: the window must not be deleted under them
        return [r for r in worker.active_runners() if isinstance(r.parent(), QWidget) and (r.parent() is window or window.isAncestorOf(r.parent()))]

    qtbot.waitUntil(lambda: not own_runners(), timeout=120_000)
    window.confirm_close_during_run = lambda: True
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=30_000)
    window.deleteLater()
    qtbot.wait(10)


@pytest.fixture
def tiny_dataset(tmp_path) -> Path:
    """A generated 3-class folder, 8 small images per class."""
    from tlstudio.data import generate_sample_dataset

    return Path(generate_sample_dataset(tmp_path / "tiny", per_class=8, size=40))


@pytest.fixture
def broken_file_dataset(tmp_path) -> Path:
    """Two classes of 6 good images each, plus one unreadable .jpg file."""
    root = tmp_path / "with_broken"
    write_images(root / "cats", 6, (180, 120, 60), seed=1)
    write_images(root / "dogs", 6, (60, 120, 180), seed=2)
    (root / "cats" / "broken.jpg").write_bytes(b"this is not an image")
    return root


@pytest.fixture
def no_class_folder(tmp_path) -> Path:
    """A folder with loose files and no class sub-folders: unusable as a dataset."""
    root = tmp_path / "no_classes"
    root.mkdir()
    (root / "readme.txt").write_text("no images here")
    return root


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item):
    """Stop and join every background task before pytest-qt closes the test's widgets.

    pytest-qt closes widgets registered with ``qtbot.addWidget`` before fixture
    teardown runs; a page may still be building a model in a worker then (pages
    are built lazily after the window shows), and deleting a window under a
    running worker crashes the process.
    """
    from ui import worker

    if worker.active_runners():
        worker.wait_all(120_000)  # cancels, then joins
    return (yield)
