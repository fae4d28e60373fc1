"""The ``export`` and ``export_formats`` engine jobs, run in-process with a list as the sink."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from tlstudio.cancel import CancelToken
from tlstudio.config import EXPORT_FORMATS, ExportConfig
from tlstudio.errors import ConfigError, ExportError, ModelFileError
from tlstudio.events import Progress
from tlstudio.api.export import ExportResult
from tlstudio.jobs import run_job
from tlstudio.api.export import ExportJobConfig

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    from tests.support.tiny_model import make_run_dir

    return make_run_dir(tmp_path_factory.mktemp("jobs-export"))


def test_export_writes_verified_keras_file(run_dir, tmp_path):
    events: list[object] = []
    out = tmp_path / "out"
    result = run_job("export", ExportJobConfig(str(run_dir), ExportConfig(formats=("keras",), out_dir=str(out), name="ants")), events.append)
    assert type(result) is ExportResult and not result.cancelled
    assert result.files == {"keras": str(out / "ants.keras")} and (out / "ants.keras").is_file()
    assert result.verified and result.parity["keras"] <= result.tolerances["keras"] == 1e-5
    assert (out / "labels.txt").read_text().split() == ["ants", "bees", "wasps"]
    assert any(isinstance(e, Progress) and e.stage == "export" for e in events)


def test_export_result_reaches_a_process_without_tensorflow(run_dir, tmp_path):
    """The result unpickles in a process that has not imported TensorFlow (the GUI)."""
    result = run_job("export", ExportJobConfig(run_dir / "model.keras", ExportConfig(formats=("keras",), out_dir=str(tmp_path), verify=False)))
    dump = tmp_path / "result.pickle"
    dump.write_bytes(pickle.dumps(result))
    code = (
        "import pickle, sys\n"
        f"result = pickle.loads(open({str(dump)!r}, 'rb').read())\n"
        "print(type(result).__name__, result.verified, sorted({'tensorflow', 'keras'} & set(sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ExportResult False []"


def test_cancelled_export_writes_nothing(run_dir, tmp_path):
    token = CancelToken()
    token.cancel()
    out = tmp_path / "out"
    result = run_job("export", ExportJobConfig(str(run_dir), ExportConfig(formats=("keras",), out_dir=str(out))), cancel=token)
    assert result.cancelled and not result.files
    assert not out.exists() or list(out.iterdir()) == []


def test_existing_file_is_refused_without_overwrite(run_dir, tmp_path):
    (tmp_path / "model.keras").write_bytes(b"keep me")
    with pytest.raises(ExportError, match="model.keras"):
        run_job("export", ExportJobConfig(str(run_dir), ExportConfig(formats=("keras",), out_dir=str(tmp_path))))
    assert (tmp_path / "model.keras").read_bytes() == b"keep me"


def test_damaged_model_file_gives_a_model_file_error_naming_it(tmp_path):
    bad = tmp_path / "damaged.keras"
    bad.write_bytes(b"PK\x03\x04 this zip ends here")
    with pytest.raises(ModelFileError) as info:
        run_job("export", ExportJobConfig(str(bad), ExportConfig(formats=("keras",), out_dir=str(tmp_path / "out"))))
    assert str(bad) in str(info.value)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_export_formats_lists_every_format():
    reasons = run_job("export_formats")
    assert set(reasons) == set(EXPORT_FORMATS)
    assert reasons["keras"] is None and reasons["tflite"] is None
    assert reasons["onnx"] is None or "ONNX" in reasons["onnx"]


def test_config_refuses_a_missing_source():
    with pytest.raises(ConfigError, match="Received: source=''"):
        ExportJobConfig("", ExportConfig(formats=("keras",), out_dir="out"))
    with pytest.raises(ConfigError, match="Received: dict"):
        ExportJobConfig("run", {"formats": ("keras",)})
