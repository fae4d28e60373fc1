"""The run-folder lock on its own: refused while held (in this process too), stale locks recovered, file removed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tlstudio.run_folders import RUN_LOCK
from tlstudio.run_folders.lock import RunFolderInUse, lock_run_folder
from tlstudio.training.safe_delete import deletable_run_folder
from tlstudio.training.run_folder import create_run_dir


def test_a_held_folder_is_refused_naming_the_owner_and_released_on_exit(tmp_path):
    folder = create_run_dir(tmp_path / "run")
    with lock_run_folder(folder) as held:
        assert json.loads((folder / RUN_LOCK).read_text())["pid"] == os.getpid()
        with pytest.raises(RunFolderInUse) as caught:
            lock_run_folder(tmp_path / "." / "run")  # the same folder, spelled differently
        assert f"process {os.getpid()}" in str(caught.value) and str(folder) in str(caught.value)
        assert held.held
    assert not (folder / RUN_LOCK).exists()
    lock_run_folder(folder).release()  # free again


def test_the_lock_of_a_dead_process_is_taken_over(tmp_path, caplog):
    folder = create_run_dir(tmp_path / "run")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    (folder / RUN_LOCK).write_text(json.dumps({"pid": int(dead.stdout), "host": None, "since": 0}))
    with lock_run_folder(folder):
        assert json.loads((folder / RUN_LOCK).read_text())["pid"] == os.getpid()
    assert "stale lock" in caplog.text


def test_a_run_folder_left_locked_by_a_killed_training_can_still_be_deleted(tmp_path):
    folder = create_run_dir(tmp_path / "run")
    (folder / RUN_LOCK).write_text(json.dumps({"pid": 999999999, "host": None, "since": 0}))
    assert deletable_run_folder(folder) is not None
