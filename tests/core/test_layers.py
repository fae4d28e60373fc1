"""The engine's structure, counted: no import cycles, no two-way package pairs, and what the GUI may import.

``lint-imports`` keeps the layers of ``pyproject.toml``; these tests state the
counts the layers exist for, and the GUI's allow-list of engine modules.
They read the import graph with grimp (the library import-linter is built
on), which sees every import, also those inside functions.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]

UI_ALLOWED = frozenset({
    # the contract: every job's config, result and event dataclasses
    "tlstudio.api.audit",
    "tlstudio.api.data",
    "tlstudio.api.dataset",
    "tlstudio.api.device",
    "tlstudio.api.train",
    "tlstudio.api.embed",
    "tlstudio.api.evaluate",
    "tlstudio.api.export",
    "tlstudio.api.certificate",
    "tlstudio.api.inspect",
    "tlstudio.api.label",
    "tlstudio.api.metrics",
    "tlstudio.api.model_ref",
    "tlstudio.api.probe",
    "tlstudio.api.report",
    "tlstudio.api.sweep",
    "tlstudio.api.weights",
    # configs, options, events, errors and cancellation
    "tlstudio",
    "tlstudio.config",
    "tlstudio.options",
    "tlstudio.events",
    "tlstudio.errors",
    "tlstudio.cancel",
    # the engine process and the project the GUI edits
    "tlstudio.procrun",
    "tlstudio.project",
    "tlstudio.project.audit_record",
    "tlstudio.project.analysis_records",
    "tlstudio.project.autosave",
    "tlstudio.project.label_record",
    "tlstudio.project.sweeps",
    "tlstudio.run_folders",
    "tlstudio.training",
    "tlstudio.training.result",
    # plain-Python helpers: files, images, datasets, backbone facts, arithmetic
    "tlstudio.paths",
    "tlstudio.caches",
    "tlstudio.imaging",
    "tlstudio.io.atomic",
    "tlstudio.io.move_image",
    "tlstudio.data",
    "tlstudio.data.scan",
    "tlstudio.data.decisions",
    "tlstudio.data.labelling",
    "tlstudio.dataset_decisions",
    "tlstudio.backbones",
    "tlstudio.layout",
    "tlstudio.shapes.formulas",
    "tlstudio.shapes.calculator",
    "tlstudio.inspection.report",
    "tlstudio.export.formats",
    "tlstudio.analysis.promote",
})
"""The engine modules ``ui/`` may import. Each is light: it never loads TensorFlow or Keras
(:func:`test_the_modules_the_gui_may_import_load_no_tensorflow`). A module the GUI needs
that is not here is either added (when it is light) or reached through an engine job."""


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("tlstudio", "ui", cache_dir=None)


def _engine_edges(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    modules = {m for m in graph.modules if m == "tlstudio" or m.startswith("tlstudio.")}
    return {m: {i for i in graph.find_modules_directly_imported_by(m) if i in modules and i != m} for m in modules}


def import_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def _package(module: str) -> str:
    """``tlstudio.X`` of a module: the engine package (or top-level module) it belongs to."""
    return ".".join(module.split(".")[:2])


def two_way_pairs(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Pairs of engine packages that import each other, with the first import found each way."""
    between: dict[tuple[str, str], tuple[str, str]] = {}
    for source, targets in sorted(edges.items()):
        for target in sorted(targets):
            a, b = _package(source), _package(target)
            if a != b:
                between.setdefault((a, b), (source, target))
    return sorted((a, b) for a, b in between if a < b and (b, a) in between)


def test_engine_files_import_each_other_in_no_cycle(graph):
    cycles = import_cycles(_engine_edges(graph))
    assert len(cycles) == 0, "import cycles among engine files:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_two_engine_packages_import_each_other(graph):
    pairs = two_way_pairs(_engine_edges(graph))
    assert len(pairs) == 0, f"engine packages that import each other both ways: {pairs}"


def test_the_gui_imports_only_allowed_engine_modules(graph):
    imported: dict[str, set[str]] = {}
    for module in graph.modules:
        if module == "ui" or module.startswith("ui."):
            for target in graph.find_modules_directly_imported_by(module):
                if target == "tlstudio" or target.startswith("tlstudio."):
                    imported.setdefault(target, set()).add(module)
    outside = {target: sorted(by) for target, by in sorted(imported.items()) if target not in UI_ALLOWED}
    assert not outside, f"the GUI imports engine modules outside UI_ALLOWED (module: importers): {outside}"


def test_the_modules_the_gui_may_import_load_no_tensorflow():
    def here(name: str) -> bool:  # a listed module still to come is left out
        path = ROOT.joinpath(*name.split("."))
        return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()

    names = sorted(n for n in UI_ALLOWED if here(n))
    code = f"""
        import importlib, sys
        for name in {names!r}:
            importlib.import_module(name)
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
        print(heavy[:5])
        sys.exit(1 if heavy else 0)
        """
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"the allowed modules loaded {proc.stdout.strip()} {proc.stderr[-2000:]}"


def test_the_counts_see_a_cycle_and_a_two_way_pair():
    """The two counters find what they count (a made-up graph)."""
    edges = {"tlstudio.a.x": {"tlstudio.b.y"}, "tlstudio.b.y": {"tlstudio.a.x"}, "tlstudio.c": {"tlstudio.a.x"}}
    assert import_cycles(edges) == [["tlstudio.a.x", "tlstudio.b.y"]]
    assert two_way_pairs(edges) == [("tlstudio.a", "tlstudio.b")]


MAX_SOURCE_LINES = 700
"""No file of the engine, the GUI, main.py, the tools or the benchmarks is longer: a longer one holds more than one job."""


def test_no_source_file_is_longer_than_the_limit():
    sources = [ROOT / "main.py", *(p for folder in ("tlstudio", "ui", "tools", "benchmarks") for p in (ROOT / folder).rglob("*.py"))]
    long = {str(p.relative_to(ROOT)): n for p in sources if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_SOURCE_LINES}
    assert long == {}, f"split these files (each over {MAX_SOURCE_LINES} lines); received: {long}"
