"""Test-wide settings: no display, quiet TensorFlow, caches in temporary folders."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("PYTHONHASHSEED", "0")

import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _isolated_tlstudio_dirs(tmp_path_factory):
    """Keep every cache and run folder of the test session out of the user's home."""
    base = tmp_path_factory.mktemp("tlstudio-home")
    os.environ["TLSTUDIO_CACHE_DIR"] = str(base / "cache")
    os.environ["TLSTUDIO_RUNS_DIR"] = str(base / "runs")
    yield base
