"""TensorFlow's start-up lines (oneDNN, cudart, absl, cuInit) go to the log file, not the user's terminal (issue 24)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOISE = ("cudart", "oneDNN", "cpu_feature_guard", "absl::InitializeLog", "cuInit", "cuda drivers")


def _run(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TLSTUDIO_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as a user's shell has it: unset
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          timeout=300, cwd=tmp_path)


@pytest.mark.slow
def test_the_cli_imports_tensorflow_without_its_start_up_lines(tmp_path):
    out = _run("""
        from tlstudio.tf_startup import exit_without_a_full_collection, import_tensorflow_quietly
        log = import_tensorflow_quietly()
        import sys
        print("log:", log)
        print("the user's line", file=sys.stderr)
        exit_without_a_full_collection()  # as the CLI ends
    """, tmp_path)
    assert out.returncode == 0, out.stderr
    assert not [line for line in out.stderr.splitlines() if any(n in line for n in NOISE)], out.stderr
    assert "the user's line" in out.stderr  # the terminal is back for what the user needs
    log = Path(out.stdout.split("log:", 1)[1].strip())
    assert log.parent == tmp_path / "cache" / "logs"


@pytest.mark.slow
def test_the_engine_process_keeps_the_terminal_quiet(tmp_path):
    out = _run("""
        from tlstudio.procrun import EngineProcess
        engine = EngineProcess(niceness=0)
        engine.start()
        assert engine.wait_ready(240)
        engine.shutdown(60)
        print("done")
    """, tmp_path)
    assert out.returncode == 0 and "done" in out.stdout, out.stderr
    assert not [line for line in out.stderr.splitlines() if any(n in line for n in NOISE)], out.stderr
    assert (tmp_path / "cache" / "logs" / "engine.log").is_file()


@pytest.mark.parametrize("user_value", [None, "ACTIVE"])
def test_the_cli_lets_openmp_threads_sleep_unless_the_user_chose(tmp_path, user_value):
    """A spinning OpenMP thread takes the core the GUI or its sibling thread needs (benchmarks/bench_map_threads.py)."""
    code = """
        import os
        from tlstudio.cli import main
        assert main(["--version"]) == 0
        print("policy:", os.environ.get("OMP_WAIT_POLICY"))
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TLSTUDIO_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("OMP_WAIT_POLICY", None)
    if user_value:
        env["OMP_WAIT_POLICY"] = user_value
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                         timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert f"policy: {user_value or 'PASSIVE'}" in out.stdout


def test_a_command_ends_without_walking_its_objects_but_an_embedded_call_does_not_freeze_them(tmp_path):
    """``main()`` (the process's own command line) freezes what is left for the exit; ``main([...])`` leaves the caller's collector alone."""
    code = """
        import gc, sys
        from tlstudio.cli import main
        garbage = [[]]
        garbage[0].append(garbage)  # a cycle, garbage once dropped: collected before the freeze, as the exit did
        import weakref
        class Box: pass
        box = Box(); box.cycle = box; seen = weakref.ref(box); del box, garbage
        assert main(["--version"]) == 0 and gc.get_freeze_count() == 0
        sys.argv = ["tlstudio-cli", "--version"]
        assert main() == 0
        print("frozen:", gc.get_freeze_count() > 0, "collected:", seen() is None)
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TLSTUDIO_CACHE_DIR": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                         timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "frozen: True collected: True" in out.stdout
