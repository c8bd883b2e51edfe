"""The layers of the tree, read from every module's imports: no import runs back up a layer or sideways
to a peer, the contract stays standard-library only, and no modules import each other in a circle.
ARCHITECTURE.md draws the same layers."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import PROJECT_ROOT

# Lowest first. A package may import the packages of the floors below its own, never its own floor's
# peers, never a floor above. `worker` is the Worker shell (edge/worker.py), over `workerports`
# (edge/workerports.py: the runtime's objects behind bwedge's ports).
LAYERS: list[tuple[str, ...]] = [
    ("bwcontract",),  # the wire contract: keys, signing, offsets, txids, filters, error codes
    ("bwservice",),  # what service processes share: serving, logging, pinned Postgres sessions
    ("hosts", "bwedge"),  # the host agent; the edge's stdlib core
    ("workerports",),  # the Workers runtime behind the edge core's ports
    ("edge_local", "worker", "origin"),  # the edge's two runtimes; the origin
    ("breakwater",),  # the Python client
    ("bwdev",),  # dev tooling: the CLI and the stack runner
]
# Narrower than the floors allow: what runs in the Worker; the origin, which reaches the edge and the
# host agent over HTTP only (what they share is the contract); and the client, which installs
# without the server's packages.
ONLY: dict[str, set[str]] = {
    "bwedge": {"bwcontract"},
    "workerports": {"bwedge", "bwcontract"},
    "worker": {"workerports", "bwedge", "bwcontract"},
    "origin": {"bwcontract", "bwservice"},
    "breakwater": {"bwcontract"},
}
FLOOR = {package: floor for floor, peers in enumerate(LAYERS) for package in peers}
# The Workers runtime's own modules, which the shell alone may import.
WORKER_RUNTIME = {"js", "pyodide", "workers"}


def _module_files() -> Iterator[tuple[str, Path]]:
    """(dotted module name, path) of every module of every layer."""
    for package in FLOOR:
        if package in ("worker", "workerports"):
            yield package, PROJECT_ROOT / f"edge/{package}.py"
            continue
        root = PROJECT_ROOT / package
        if not root.is_dir():
            root = PROJECT_ROOT / "edge" / package
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root.parent).with_suffix("").parts
            yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


MODULES = dict(_module_files())


def _imports(name: str, path: Path) -> Iterator[tuple[str, int]]:
    """Every module `name` imports (ours resolved to the module, others as written), with its line;
    imports inside functions and under TYPE_CHECKING count as much as any."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield (sub if sub in MODULES else base), node.lineno


def _ours(imported: str) -> str | None:
    """The module of ours that `imported` names (itself, or the nearest package holding it)."""
    candidate = imported
    while candidate and candidate not in MODULES:
        candidate = candidate.rpartition(".")[0]
    return candidate or None


def test_no_import_runs_back_up_or_sideways() -> None:
    wrong = []
    for name, path in MODULES.items():
        own = name.partition(".")[0]
        for imported, line in _imports(name, path):
            target = _ours(imported)
            other = target.partition(".")[0] if target else imported.partition(".")[0]
            if target is None or other == own:
                continue
            allowed = FLOOR[other] < FLOOR[own] and other in ONLY.get(own, {other})
            if not allowed:
                wrong.append(f"{path.relative_to(PROJECT_ROOT)}:{line}: {own} imports {imported}")
    assert wrong == []


def test_the_contract_and_the_edge_core_import_the_standard_library_alone() -> None:
    # They run in the Worker (Pyodide), where only the standard library is bundled.
    wrong = []
    for name, path in MODULES.items():
        own = name.partition(".")[0]
        if own not in ("bwcontract", "bwedge", "workerports", "worker"):
            continue
        for imported, line in _imports(name, path):
            top = imported.partition(".")[0]
            if top in sys.stdlib_module_names or top == "__future__" or _ours(imported) is not None:
                continue
            if own in ("worker", "workerports") and top in WORKER_RUNTIME:
                continue
            wrong.append(f"{path.relative_to(PROJECT_ROOT)}:{line}: {imported}")
    assert wrong == []


def test_no_modules_import_each_other_in_a_circle() -> None:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for imported, _line in _imports(name, path):
            target = _ours(imported)
            if target is not None and target != name:
                graph[name].add(target)
    assert _circles(graph) == []


# Inside the origin each sub-package and each top-level module is a room. On top, what serves HTTP:
# the composition root (`app`, `__main__`, `state`: every service, built once), who is calling
# (`auth`), the HTTP layer (`http`, `routes`) and the handlers (`fronts/`, `api/`, `console/`). Below,
# the services (`control/`, `metering/`, `insights/`, `capture/`, `tenants`, `pool/`, `engine/`, ...),
# which never reach up to them: a service takes what it needs as arguments, never the app's state.
ORIGIN_HTTP_ROOMS = {"app", "__main__", "state", "auth", "http", "routes", "fronts", "api", "console"}


def _origin_room(module: str) -> str | None:
    """The origin's room that holds `module` (`origin` itself for the package's __init__)."""
    parts = module.split(".")
    if parts[0] != "origin":
        return None
    return parts[1] if len(parts) > 1 else "origin"


def _origin_room_imports() -> Iterator[tuple[str, str, str]]:
    """(room, room it imports, where) for every import from one room of the origin to another."""
    for name, path in MODULES.items():
        room = _origin_room(name)
        if room is None:
            continue
        for imported, line in _imports(name, path):
            target = _ours(imported)
            other = _origin_room(target) if target else None
            if other is not None and other != room:
                yield room, other, f"{path.relative_to(PROJECT_ROOT)}:{line}: {imported}"


def test_no_rooms_of_the_origin_import_each_other_in_a_circle() -> None:
    graph: dict[str, set[str]] = {}
    for room, other, _where in _origin_room_imports():
        graph.setdefault(room, set()).add(other)
        graph.setdefault(other, set())
    assert _circles(graph) == []


def test_the_origin_services_never_import_what_serves_http() -> None:
    wrong = [
        where
        for room, other, where in _origin_room_imports()
        if room not in ORIGIN_HTTP_ROOMS and other in ORIGIN_HTTP_ROOMS
    ]
    assert wrong == []


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for succ in edges:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph[succ]))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found
