"""The engine/GUI boundary, enforced by tests rather than by review.

* ``tlstudio`` never imports Qt (nor ``ui``), and imports with PySide6 absent.
* ``ui`` never imports TensorFlow or Keras itself.
* The light engine modules that the GUI imports at start-up do not load TensorFlow.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Modules the GUI may import on its start-up path: they must not pull in TensorFlow.
LIGHT_MODULES = [
    "tlstudio",
    "tlstudio.config",
    "tlstudio.events",
    "tlstudio.cancel",
    "tlstudio.errors",
    "tlstudio.imaging",
    "tlstudio.paths",
    "tlstudio.cli",
    "tlstudio.data",
    "tlstudio.backbones",
    "tlstudio.evaluation",
    "tlstudio.project",
    "tlstudio.procrun",
    "tlstudio.layout",
    "tlstudio.training.cluster",
    "tlstudio.project.audit_record",
    "tlstudio.project.sweeps",
    "tlstudio.compat",
    "tlstudio.io",
    "tlstudio.io.atomic",
    "tlstudio.io.model_files",
    "tlstudio.jobs",
    "tlstudio.model_cache",
    "tlstudio.jobs.device",
    "tlstudio.caches",
    "tlstudio.schemas",
    "tlstudio.analysis",
    "tlstudio.features.cuts",
    "tlstudio.features.pooled_cache",
    "tlstudio.analysis.kfold",
    "tlstudio.analysis.probe",
    "tlstudio.analysis.audit",
    "tlstudio.shapes.formulas",
    "tlstudio.shapes.calculator",
    *sorted("tlstudio.api." + p.stem for p in (ROOT / "tlstudio" / "api").glob("*.py") if p.stem != "__init__"),
    *sorted({target.split(":")[0] for target in __import__("tlstudio.jobs", fromlist=["JOBS"]).JOBS.values()}),
]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _py_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", _py_files("tlstudio"), ids=lambda p: str(p.relative_to(ROOT)))
def test_engine_never_imports_qt(path):
    bad = _imports(path) & {"PySide6", "PyQt5", "PyQt6", "shiboken6", "pyqtgraph", "ui"}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}; the engine must stay Qt-free"


@pytest.mark.parametrize("path", _py_files("ui"), ids=lambda p: str(p.relative_to(ROOT)))
def test_ui_never_imports_tensorflow_or_keras(path):
    bad = _imports(path) & {"tensorflow", "keras", "tf_keras"}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}; call tlstudio instead"


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_engine_imports_with_pyside6_absent():
    """Every tlstudio module imports when PySide6 cannot be imported at all."""
    proc = _run(
        """
        import sys, pkgutil, importlib
        for name in ("PySide6", "shiboken6", "pyqtgraph"):
            sys.modules[name] = None  # makes `import PySide6` raise ImportError
        import tlstudio
        failed = []
        for info in pkgutil.walk_packages(tlstudio.__path__, "tlstudio."):
            if info.name.endswith("__main__"):
                continue
            try:
                importlib.import_module(info.name)
            except Exception as exc:
                failed.append(f"{info.name}: {exc!r}")
        print("\\n".join(failed))
        sys.exit(1 if failed else 0)
        """
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# Each module is imported in its own child of one fresh interpreter (fork), which costs milliseconds
# where a new interpreter costs a second under load. The parent first imports the few modules every
# engine module imports (``COMMON``); that can only add modules to a child's ``sys.modules``, so a
# module that loads TensorFlow is still caught (and if ``COMMON`` loaded it, every check fails).
COMMON = ["tlstudio", "tlstudio.errors", "tlstudio.config", "tlstudio.events"]
_FORK_EACH = """
import importlib, json, os, sys
modules = json.loads(sys.argv[1])
for name in json.loads(sys.argv[2]):
    importlib.import_module(name)
report = {}
for name in modules:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            importlib.import_module(name)
            text = json.dumps(sorted(m for m in ("tensorflow", "keras") if m in sys.modules))
        except BaseException as exc:
            text = json.dumps(["import failed: " + repr(exc)])
        os.write(write, text.encode())
        os._exit(0)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.close(read)
    os.waitpid(pid, 0)
    report[name] = json.loads(b"".join(chunks) or b'["the child died"]')
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def light_imports() -> dict[str, list[str]]:
    """For each light module, the heavy modules (or the error) that importing it in a fresh interpreter left."""
    proc = subprocess.run(
        [sys.executable, "-c", _FORK_EACH, json.dumps(LIGHT_MODULES), json.dumps(COMMON)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", LIGHT_MODULES)
def test_light_modules_do_not_load_tensorflow(module, light_imports):
    heavy = light_imports[module]
    assert not heavy, f"importing {module} loaded {heavy}"


def test_importing_every_gui_module_loads_no_tensorflow():
    """Every page, widget and helper of the GUI, imported together, leaves TensorFlow and Keras out."""
    modules = sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__") for p in _py_files("ui")
    )
    proc = _run(
        f"""
        import sys, importlib
        for name in {modules!r}:
            importlib.import_module(name)
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
        print(heavy[:5])
        sys.exit(1 if heavy else 0)
        """
    )
    assert proc.returncode == 0, f"the GUI modules loaded {proc.stdout.strip()} {proc.stderr[-2000:]}"


def test_every_engine_job_is_a_tlstudio_function_taking_config_sink_and_cancel():
    import inspect

    from tlstudio.jobs import JOBS, resolve_job

    for name, target in JOBS.items():
        assert target.startswith("tlstudio."), f"job {name!r} points outside the engine: {target}"
        params = inspect.signature(resolve_job(name)).parameters
        assert list(params)[:1] and {"sink", "cancel"} <= set(params), f"job {name!r}: {list(params)}"
        assert params["sink"].kind is inspect.Parameter.KEYWORD_ONLY and params["cancel"].kind is inspect.Parameter.KEYWORD_ONLY

