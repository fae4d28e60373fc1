"""The test suite's own rules: test modules stand alone, and ``tests/core`` mirrors the engine's packages.

What tests share lives in a ``conftest.py`` (fixtures) or in the plain
package :mod:`tests.support`; a test module that imports another test module
(or a ``conftest.py``) runs that module's tests' imports and fixtures in the
wrong place and breaks when the other module moves.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ENGINE = TESTS.parent / "tlstudio"
TEST_MODULE = re.compile(r"(^|\.)(test_\w+|conftest)$")
IMPORT_IN_TEXT = re.compile(r"(?:from|import)\s+(tests(?:\.\w+)*\.(?:test_\w+|conftest))\b")


def _test_modules() -> list[Path]:
    return sorted(p for p in TESTS.rglob("test_*.py") if "__pycache__" not in p.parts)


def _package_of(path: Path, root: Path) -> list[str]:
    return list(path.relative_to(root).with_suffix("").parts[:-1])


def imported_test_modules(path: Path, root: Path = TESTS.parent) -> list[str]:
    """The test modules and conftest files that the module at ``path`` imports, also in code it runs as text.

    Args:
        path: A Python file under ``root``.
        root: The folder that holds the ``tests`` package (relative imports resolve against it).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if TEST_MODULE.search(alias.name)]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                package = _package_of(path, root)
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if TEST_MODULE.search(module):
                found.append(module)
            else:  # "from . import test_x" or "from tests.ui import conftest"
                found += [f"{module}.{alias.name}" for alias in node.names if TEST_MODULE.search(alias.name)]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found += IMPORT_IN_TEXT.findall(node.value)  # code run in a subprocess
    return found


def test_the_rule_sees_every_kind_of_import(tmp_path):
    probe = tmp_path / "tests" / "ui" / "test_probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text(
        "import tests.core.test_export\n"
        "from tests.core.test_export import make_run_dir\n"
        "from .test_plots import scene_rect\n"
        "from . import test_plots\n"
        "from tests.ui.conftest import _write_images\n"
        "from tests.support.fake_engine import FakeEngineProcess\n"
        "import os\n"
        "CODE = 'import sys; from tests.core.test_export import make_run_dir; print(1)'\n",
        encoding="utf-8",
    )
    assert imported_test_modules(probe, tmp_path) == [
        "tests.core.test_export",
        "tests.core.test_export",
        "tests.ui.test_plots",
        "tests.ui.test_plots",
        "tests.ui.conftest",
        "tests.core.test_export",
    ]


def test_no_test_module_imports_another_test_module():
    offenders = {
        str(path.relative_to(TESTS.parent)): imported
        for path in _test_modules()
        if path.name != Path(__file__).name and (imported := imported_test_modules(path))
    }
    assert offenders == {}, f"test modules that import other test modules (move what they share to tests/support or a conftest.py): {offenders}"


def test_tests_core_mirrors_the_engine_packages():
    engine_packages = {p.parent.name for p in ENGINE.glob("*/__init__.py")}
    test_folders = {p.name for p in (TESTS / "core").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert test_folders <= engine_packages, f"folders of tests/core that are no engine package: {sorted(test_folders - engine_packages)}"
    for folder in test_folders:
        assert (TESTS / "core" / folder / "__init__.py").is_file(), f"tests/core/{folder} needs an __init__.py (test basenames repeat across folders)"
