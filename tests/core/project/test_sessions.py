"""Two instances (issue 24): a live session's autosave is never offered as a crash, and its project is named as open."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tlstudio.project import Project, autosave_path, recover
from tlstudio.project.autosave import claim_session, release_session, session_alive, sessions_with_project


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


def _autosave(path: Path, session: str) -> Path:
    project = Project.load(path)
    project.session = session
    project.name = "changed"
    return project.autosave()


def test_a_live_sessions_autosave_is_not_offered_and_a_dead_ones_is(tmp_path):
    path = Project.new("p").save(tmp_path / "p.tlsproj")
    time.sleep(0.01)
    other = "999-livesess"
    claim_session(other, str(path))
    side = _autosave(path, other)
    assert session_alive(other)
    assert recover(path, own_session="me") is None  # the other window is still open: not a crash
    assert sessions_with_project(path, own_session="me") == [other]
    release_session(other)  # that instance closed, or crashed: the lock is gone with it
    assert not session_alive(other)
    assert recover(path, own_session="me") == side
    assert sessions_with_project(path, own_session="me") == []


def test_a_lock_held_by_another_process_counts_until_it_dies(tmp_path):
    path = Project.new("p").save(tmp_path / "p.tlsproj")
    code = textwrap.dedent(f"""
        import sys, time
        from tlstudio.project.autosave import claim_session
        claim_session("4242-child", {str(path)!r})
        print("ready", flush=True)
        time.sleep(60)
    """)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                             env={**__import__("os").environ})
    try:
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.01)
        side = _autosave(path, "4242-child")
        assert session_alive("4242-child") and recover(path, own_session="me") is None
    finally:
        child.kill()
        child.wait()
    assert not session_alive("4242-child")  # killed: its lock went with it, its autosave is a crash to recover
    assert recover(path, own_session="me") == side
