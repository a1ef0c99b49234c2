"""The package's layers point one way: no import circle, and each layer imports only what it may.

Read from the source with ``ast`` (function-level imports included), so a
circle hidden inside a function fails here too. Run it alone with
``python -m pytest tests/test_architecture.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "walkthrough"
#: The parts of ``walkthrough.emulator`` a client needs (start it, address it, sign for it): no moto behind them.
# interpreters: finding the Python a runtime runs on (stdlib only); packaging byte-compiles layers with it.
EMULATOR_CLIENT_SIDE = {"walkthrough.emulator.lifecycle", "walkthrough.emulator.urls", "walkthrough.emulator.credentials",
                        "walkthrough.emulator.interpreters"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The package's modules that ``path`` imports, anywhere in the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = [f"{node.module}.{alias.name}" for alias in node.names if f"{node.module}.{alias.name}" in modules]
            names = submodules or [node.module]  # "from package import module" imports the module, not the package
        for name in names:
            if name in modules:
                found.add(name)
    found.discard(_module_name(path))
    return found


def _graph() -> dict[str, set[str]]:
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {_module_name(f) for f in files}
    return {_module_name(f): _imports(f, modules) - {"walkthrough"} for f in files}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle, as the list of modules around it, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module)):
            return found
    return None


GRAPH = _graph()


def test_the_package_has_no_import_circle():
    cycle = _cycle(GRAPH)
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_the_checker_finds_a_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if not m.startswith("walkthrough.emulator")))
def test_step_modules_use_only_the_client_side_of_the_emulator(module):
    emulator_side = {m for m in GRAPH[module] if m.startswith("walkthrough.emulator")} - EMULATOR_CLIENT_SIDE
    assert not emulator_side, f"{module} imports the emulator's server side: {sorted(emulator_side)}"


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if m.startswith("walkthrough.emulator.")))
def test_the_emulator_imports_no_step_module(module):
    allowed_outside = {"walkthrough.errors", "walkthrough.packaging", "walkthrough.lean_imports", "walkthrough.botocore_data"}
    outside = {m for m in GRAPH[module] if not m.startswith("walkthrough.emulator")} - allowed_outside
    assert not outside, f"{module} imports step or notebook modules: {sorted(outside)}"


def test_the_lambda_runtime_knows_nothing_of_moto():
    for name in ("runtime.py", "bootstrap.py"):
        tree = ast.parse((PACKAGE / "emulator" / name).read_text())
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not {m for m in imported if m.split(".")[0] == "moto"}, name


def test_only_moto_internals_imports_moto():
    for path in sorted((PACKAGE / "emulator").glob("*.py")):
        tree = ast.parse(path.read_text())
        modules = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        modules |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        moto_modules = {m for m in modules if m.split(".")[0] == "moto"}
        if path.name in ("moto_internals.py", "server.py"):  # the server starts moto's own WSGI app
            continue
        assert not moto_modules, f"{path.name} imports {sorted(moto_modules)}; moto's internals belong in moto_internals.py"


def test_the_deployed_function_imports_nothing_from_the_repository():
    tree = ast.parse((ROOT / "lambda_function" / "lambda_function.py").read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not imported & {"walkthrough", "tests"}
