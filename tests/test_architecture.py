"""The shape of the code: no import cycles between our modules, the engine never imports a front end, and every
module opens with a line on its job."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "core", "ingest", "eval", "prompts")


def our_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """Our modules that `path` imports, at module level or inside a function (a lazy import is still a dependency)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            candidates = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        for name in candidates:
            if name in modules:
                found.add(name)
                break
    return found


def graph() -> dict[str, set[str]]:
    modules = our_modules()
    return {name: imports_of(path, modules) - {name} for name, path in modules.items()}


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_between_our_modules():
    edges = graph()
    # Package __init__ modules only name their package; an edge through one is not a cycle between modules.
    edges = {name: {m for m in deps if (REPO / m.replace(".", "/")).is_dir() is False} for name, deps in edges.items()}
    assert _cycle(edges) is None, " -> ".join(_cycle(edges) or [])


@pytest.mark.parametrize("engine", ["app.engine", "app.quiz", "core", "ingest"])
def test_the_engine_and_the_core_never_import_a_front_end(engine):
    front_ends = ("app.web", "app.cli")
    offenders = {name: sorted(d for d in deps if d.startswith(front_ends))
                 for name, deps in graph().items() if name.startswith(engine)}
    assert {name: deps for name, deps in offenders.items() if deps} == {}


def test_core_depends_on_nothing_above_it():
    above = ("app", "ingest", "eval")
    offenders = {name: sorted(d for d in deps if d.startswith(above)) for name, deps in graph().items() if name.startswith("core")}
    assert {name: deps for name, deps in offenders.items() if deps} == {}


def test_every_module_opens_with_a_line_on_its_job():
    missing = [str(path.relative_to(REPO)) for path in our_modules().values() if not ast.get_docstring(ast.parse(path.read_text()))]
    assert missing == []
