"""The architecture, checked: which folder may import which, read from the source with ``ast``.

The rules are DESIGN.md's and each folder's ``__init__`` docstring: the
sans-io core never imports trio, sockets or threads; ``store/``,
``websocket/`` and ``web/`` never import ``actors``; no two folders import
each other in a circle; the load driver is imported by the CLI alone, and
only inside the command that runs it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

ROOT = Path(__file__).resolve().parents[1]

# folder -> the folders of ours it may import. Anything not listed is forbidden.
ALLOWED: dict[str, frozenset[str]] = {
    "messages": frozenset(),
    "courses": frozenset(),
    "analytics": frozenset({"messages", "courses"}),
    "websocket": frozenset(),
    "config": frozenset(),
    "access": frozenset(),
    "telemetry": frozenset({"messages"}),
    "store": frozenset({"messages"}),
    "legacy": frozenset({"messages", "analytics", "courses", "store", "config"}),
    "exports": frozenset({"messages", "courses", "store"}),
    "web": frozenset(
        {"messages", "analytics", "courses", "store", "config", "telemetry", "access"}
    ),
    "actors": frozenset(
        {"messages", "analytics", "courses", "websocket", "store", "legacy", "config"}
        | {"telemetry", "web", "access"}
    ),
    "loadtest": frozenset(
        {"messages", "analytics", "courses", "websocket", "store", "config", "actors"}
    ),
    "cli": frozenset(
        {"messages", "analytics", "courses", "websocket", "store", "legacy", "config"}
        | {"telemetry", "web", "actors", "loadtest", "exports", "access"}
    ),
}
OURS = frozenset(ALLOWED)

# No I/O in the core: these modules import nothing that runs tasks, sockets or threads.
SANS_IO = (
    "messages",
    "analytics",
    "courses",
    "access",
    "websocket/frames.py",
    "websocket/handshake.py",
)
IO_MODULES = frozenset(
    {"trio", "trio_websocket", "anyio", "asyncio", "socket", "selectors", "ssl", "sqlite3"}
    | {"threading", "subprocess", "multiprocessing", "hypercorn", "starlette"}
)
# The serving process never pays for pandas (DESIGN.md: 32 MB of RSS).
SERVING_NEVER = frozenset({"pandas"})
SERVING = ("actors", "web", "store", "websocket", "telemetry", "config", *SANS_IO[:3])

# Two modules of one folder may import each other only when they are one concept.
CYCLES_WITHIN_FOLDERS_ALLOWED: frozenset[frozenset[str]] = frozenset()


@attrs.frozen
class Import:
    module: str  # the importing module, e.g. "actors.router"
    target: str  # what it imports, e.g. "store.rows"
    line: int
    lazy: bool  # inside a function: runs only when that function does


def modules() -> Iterator[Path]:
    for folder in sorted(OURS):
        yield from sorted((ROOT / folder).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, name: str | None = None) -> list[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    name = name or module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = lazy or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                found.extend(Import(name, alias.name, child.lineno, lazy) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [base] if base else []
                # "from store import rows" imports the module store.rows
                targets += [f"{base}.{alias.name}" for alias in child.names if base in OURS]
                found.extend(Import(name, target, child.lineno, lazy) for target in targets)
            visit(child, inner)

    visit(tree, lazy=False)
    return found


ALL_IMPORTS = [(path, imp) for path in modules() for imp in imports_of(path)]


def folder(dotted: str) -> str:
    return dotted.split(".", maxsplit=1)[0]


def where(path: Path, imp: Import) -> str:
    return f"{path.relative_to(ROOT)}:{imp.line} imports {imp.target}"


def test_the_rules_cover_every_folder_with_python_in_it():
    folders = {p.relative_to(ROOT).parts[0] for p in ROOT.glob("*/__init__.py")}
    assert folders - {"tests"} == OURS


def test_folders_import_only_what_they_may():
    crossings = [
        where(path, imp)
        for path, imp in ALL_IMPORTS
        if folder(imp.target) in OURS
        and folder(imp.target) != folder(imp.module)
        and folder(imp.target) not in ALLOWED[folder(imp.module)]
    ]
    assert crossings == []


def test_the_allowed_imports_have_no_cycle():
    order: list[str] = []
    visiting: set[str] = set()

    def walk(node: str, trail: tuple[str, ...]) -> None:
        assert node not in visiting, f"cycle: {' -> '.join((*trail, node))}"
        if node in order:
            return
        visiting.add(node)
        for target in sorted(ALLOWED[node]):
            walk(target, (*trail, node))
        visiting.discard(node)
        order.append(node)

    for node in sorted(ALLOWED):
        walk(node, ())
    assert len(order) == len(OURS)


@pytest.mark.parametrize("where_", SANS_IO)
def test_the_core_does_no_io(where_):
    paths = [ROOT / where_] if where_.endswith(".py") else list((ROOT / where_).rglob("*.py"))
    found = [
        where(path, imp)
        for path, imp in ALL_IMPORTS
        if path in paths and folder(imp.target) in IO_MODULES | {"actors"}
    ]
    assert found == []


def test_the_serving_process_never_imports_pandas():
    serving = [ROOT / s for s in SERVING]
    found = [
        where(path, imp)
        for path, imp in ALL_IMPORTS
        if any(path.is_relative_to(s) for s in serving) and folder(imp.target) in SERVING_NEVER
    ]
    assert found == []


def test_the_serving_process_never_loads_pandas():
    """What it imports, run: ``legacy`` (imported by the service) uses pandas only lazily."""
    code = "import sys, actors.service, cli.main; print('pandas' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"


def test_only_the_cli_imports_the_load_driver_and_only_lazily():
    found = [
        where(path, imp)
        for path, imp in ALL_IMPORTS
        if folder(imp.target) == "loadtest"
        and folder(imp.module) != "loadtest"
        and (folder(imp.module) != "cli" or not imp.lazy)
    ]
    assert found == []


def test_no_cycle_between_modules_of_one_folder():
    graph: dict[str, set[str]] = {}
    known = {module_name(path) for path in modules()}
    for _, imp in ALL_IMPORTS:
        target = imp.target
        while target and target not in known:
            target = target.rpartition(".")[0]
        package_init = target == folder(target)  # re-exports of a folder's __init__
        if target and folder(target) == folder(imp.module) and not package_init:
            graph.setdefault(imp.module, set()).add(target)
    cycles = set()

    def walk(node: str, trail: tuple[str, ...]) -> None:
        if node in trail:
            cycle = frozenset(trail[trail.index(node) :])
            if cycle not in CYCLES_WITHIN_FOLDERS_ALLOWED:
                cycles.add(" -> ".join((*trail[trail.index(node) :], node)))
            return
        for target in sorted(graph.get(node, ())):
            walk(target, (*trail, node))

    for node in sorted(graph):
        walk(node, ())
    assert sorted(cycles) == []


def test_a_crossing_is_caught(tmp_path):
    """The checker itself can fail: a module that imports across a line is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("import trio\nfrom actors.router import Router\n\ndef f():\n    import os\n")
    found = [(imp.target, imp.lazy) for imp in imports_of(bad, "messages.bad")]
    assert ("trio", False) in found
    assert ("actors.router", False) in found
    assert ("os", True) in found
