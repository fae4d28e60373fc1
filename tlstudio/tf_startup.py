"""TensorFlow's start-up lines go to a log file, so the terminal keeps what the user needs.

Importing TensorFlow prints C++ log lines straight to file descriptor 2
(oneDNN notices, "Could not find cuda drivers", absl's "All log messages
before absl::InitializeLog()", "failed call to cuInit"), whatever
``TF_CPP_MIN_LOG_LEVEL`` says about some of them. They tell a user nothing
they can act on. :func:`import_tensorflow_quietly` imports TensorFlow and looks
for its devices with descriptor 2 pointed at ``<cache>/logs/tensorflow.log``;
:func:`stderr_to_log` sends a background process's whole stderr (the engine's)
to a log file of its own. :func:`passive_openmp` makes OpenMP threads sleep
while they wait; :func:`exit_without_a_full_collection` lets a process that
imported TensorFlow end without walking its objects. Light: imports
TensorFlow only when asked.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Iterator

from tlstudio.paths import cache_dir

STARTUP_LOG = "tensorflow.log"
"""Where the start-up lines of a command's TensorFlow import go (under ``<cache>/logs``)."""


def log_path(name: str) -> Path:
    """``<cache>/logs/<name>`` (the folder is made)."""
    folder = cache_dir("logs")
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


@contextlib.contextmanager
def stderr_to_log(name: str = STARTUP_LOG) -> Iterator[Path]:
    """Point file descriptor 2 (C++ logs included) at ``<cache>/logs/<name>`` inside the block, then back."""
    path = log_path(name)
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    saved = os.dup(2)
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(target, 2)
        yield path
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(target)


def redirect_stderr_for_good(name: str) -> Path:
    """Point this process's descriptor 2 at ``<cache>/logs/<name>`` for the rest of its life (a background process)."""
    path = log_path(name)
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(target, 2)
    os.close(target)
    return path


def passive_openmp() -> None:
    """Make this process's OpenMP threads sleep while they wait, unless the user chose otherwise.

    By default libgomp's idle threads spin for a while before they sleep. The
    engine shares the machine with the GUI (and a laptop with everything
    else), so a spinning thread takes the core the thread it waits for needs:
    on 2 busy cores scikit-learn's t-SNE of the map took several times longer
    (``benchmarks/bench_map_threads.py``). Results do not change. libgomp reads
    the variable when it loads (with TensorFlow or scikit-learn), so this runs
    first in the engine process and in the CLI.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def import_tensorflow_quietly() -> Path:
    """Import TensorFlow and list its devices with the start-up lines going to the log; returns the log file."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with stderr_to_log() as path:
        import tensorflow as tf

        with contextlib.suppress(Exception):  # device discovery prints the cuInit lines
            tf.config.list_physical_devices()
    return path


def exit_without_a_full_collection() -> None:
    """Collect garbage once, then keep every object left out of the collections this process runs while it exits.

    For a process that ends once this returns (a command, the engine). A
    process that imported TensorFlow holds some 400,000 long-lived objects,
    and the interpreter's shutdown collections walked them: 1.7-1.9 s of every
    such command's exit on a busy 2-core machine. One collection here
    (0.3 s) still finalizes what is garbage now, as the exit did; the rest is
    frozen (:func:`gc.freeze`) and the exit takes 0.1 s. Exit handlers,
    finalizers and the final flush of the streams still run.
    """
    import gc

    gc.collect()
    gc.freeze()
