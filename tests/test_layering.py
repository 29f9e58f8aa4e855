"""Import rules between layers, checked by walking every module's imports.

The runtime import graph of `refold_async` and `refold_sync` (docs/architecture.md §3):

- a node is a module (a package is its `__init__`); an arrow is an import that runs:
  at module level, or inside a function or method. Function-level imports count like
  any other: a lazy import of an SDK module only moves its cost, not the dependency.
  (Lazy imports of optional third-party packages, such as OpenTelemetry, are not SDK
  modules and so not nodes.) Imports under `if TYPE_CHECKING:` do not run and do not
  count; the `else:` branch of such a block does;
- `import a.b.c` and `from a.b import c` (a submodule) are arrows to `a.b.c` only: the
  parent packages Python loads first are not arrows (every module would otherwise sit in
  a circle with its own package's `__init__`). `from a.b import name` (not a submodule)
  is an arrow to `a.b`.

The graph must have no circle, and every arrow must point down `LAYERS` (or stay within
a layer). Every module must be in a layer: a new module is placed deliberately.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HTTPX_ALLOWED = {
    "refold_async/_transport.py",
    "refold_async/_assemble.py",
    "refold_async/_outcome.py",
    "refold_async/_exchange.py",
    "refold_async/_client.py",
    "refold_async/_pool.py",
    "refold_async/_url.py",
}


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    """Every absolute module name `path` imports, relative imports resolved."""
    tree = ast.parse(path.read_text())
    parts = path.relative_to(ROOT).with_suffix("").parts
    package = parts[:-1]  # a module and a package __init__ both resolve against their folder
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                names.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                names.add(node.module)
    return names


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("path", _modules("refold_async"), ids=_rel)
def test_async_package_never_imports_sync_face(path: Path) -> None:
    """`refold_sync` imports `refold_async`, never the other way."""
    assert not any(name.startswith("refold_sync") for name in _imports(path))


@pytest.mark.parametrize("path", [*_modules("refold_async"), *_modules("refold_sync")], ids=_rel)
def test_httpx_only_where_requests_are_made(path: Path) -> None:
    """Only the transport, the client and the emulator import httpx."""
    rel = _rel(path)
    if rel in HTTPX_ALLOWED or rel.startswith(
        ("refold_async/testing/", "refold_async/_wire/", "refold_sync/_client")
    ):
        return
    assert "httpx" not in _imports(path)


@pytest.mark.parametrize(
    "path",
    [
        p
        for p in _modules("refold_async")
        if p.parent.name == "refold_async" and p.name.startswith("_")
    ],
    ids=_rel,
)
def test_core_does_not_import_generated_code(path: Path) -> None:
    """Hand-written core modules never import generated resources or models (the client excepted)."""
    if path.name in {"_client.py", "__init__.py", "_cli.py"}:
        return
    imported = _imports(path)
    assert not any(
        n.startswith(("refold_async.resources", "refold_async.models")) for n in imported
    )


@pytest.mark.parametrize("path", _modules("codegen"), ids=_rel)
def test_generator_imports_neither_package(path: Path) -> None:
    """The generator is a dev tool: it reads the spec, not the SDK."""
    assert not any(name.startswith(("refold_async", "refold_sync")) for name in _imports(path))


# -- the runtime import graph ------------------------------------------------------------

PACKAGES = ("refold_async", "refold_sync")

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    # Bottom first. An entry holds the module of its name and the modules of its package
    # (`refold_async` and `refold_sync` themselves: their `__init__` only). Arrows may stay
    # within a layer or point to a lower one.
    (
        "types, errors and plain helpers",
        (
            "refold_async._errors",
            "refold_async._types",
            "refold_async._operation",
            "refold_async._lazy",
            "refold_async._logs",
            "refold_async._redact",
            "refold_async._context",
            "refold_async._record",
            "refold_async._retry",
            "refold_async._useragent",
            "refold_async._uploads",
            "refold_async._arguments",
            "refold_async._api_response",
            "refold_async._resource",
            "refold_async._structure",
            "refold_async._unions",
            "refold_async._url",
            "refold_async._pool",
            "refold_async._decoding",
            "refold_async._wire",
            "refold_async._native",
        ),
    ),
    (
        "credentials, limiter and exchange",
        (
            "refold_async._auth",
            "refold_async._mint",
            "refold_async._ratelimit",
            "refold_async._reservation",
            "refold_async._pacing",
            "refold_async._exchange",
            "refold_async._webhooks",
        ),
    ),
    (
        "models and their conversion",
        (
            "refold_async._model",
            "refold_async._pagination",
            "refold_async._convert",
            "refold_async.models",
        ),
    ),
    (
        "request, outcome and credentials of a call",
        (
            "refold_async._request",
            "refold_async._payload",
            "refold_async._credentials",
            "refold_async._assemble",
            "refold_async._outcome",
            "refold_async._custom_request",
            "refold_async._options",
            "refold_async._tracing",
        ),
    ),
    ("the send loop", ("refold_async._transport",)),
    (
        "resources and batch jobs",
        (
            "refold_async._raw_resource",
            "refold_async.resources",
            "refold_async.operations",
            "refold_async.batch",
        ),
    ),
    ("the client", ("refold_async._client",)),
    ("the async package", ("refold_async", "refold_async.webhooks")),
    ("the emulator", ("refold_async.testing",)),
    ("the command line", ("refold_async._cli",)),
    (
        "the blocking plumbing",
        (
            "refold_sync._portal",
            "refold_sync._resource",
            "refold_sync._raw_resource",
            "refold_sync._reservation",
            "refold_sync._batch",
        ),
    ),
    ("the blocking resources", ("refold_sync.resources",)),
    ("the blocking client", ("refold_sync._client",)),
    ("the blocking package", ("refold_sync",)),
    ("the blocking emulator", ("refold_sync.testing",)),
]

OWNED_ELSEWHERE: set[tuple[str, str]] = {
    # Arrows that may close a circle while a change is under way (none today): each is
    # named here with the reason, and the test below fails once the arrow is gone.
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(source: str, module: str, *, is_package: bool) -> list[tuple[str, int]]:
    """Every (candidate module name, line) `source` imports when it runs: TYPE_CHECKING
    blocks excluded, imports inside functions included, relative imports resolved.

    `from a import b` gives both `a.b` and `a`: the graph keeps `a.b` if it is a module,
    and `a` only if some name imported from it is not a submodule (`is_module` decides).
    """
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[str, int]] = []

    def walk(nodes: Iterable[ast.AST]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and _is_type_checking(node.test):
                walk(node.orelse)  # the body only runs for type checkers
            elif isinstance(node, ast.Import):
                found.extend((alias.name, node.lineno) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    origin = ".".join([*base, node.module] if node.module else base)
                else:
                    origin = node.module or ""
                found.extend((f"{origin}:{alias.name}", node.lineno) for alias in node.names)
            else:
                walk(ast.iter_child_nodes(node))

    walk(ast.parse(source).body)
    return found


def resolve(imported: str, modules: Iterable[str]) -> str:
    """The module an entry of `runtime_imports` lands on: `a:b` is `a.b` if that is a
    module, else `a`; `import a.b` is `a.b` (or its nearest known package)."""
    known = set(modules)
    origin, _, name = imported.partition(":")
    if name and f"{origin}.{name}" in known:
        return f"{origin}.{name}"
    while origin not in known and "." in origin:
        origin = origin.rpartition(".")[0]
    return origin


def import_graph() -> dict[str, dict[str, int]]:
    """Module -> {imported SDK module: first line}, for both packages."""
    paths = {_module_name(p): p for package in PACKAGES for p in _modules(package)}
    graph: dict[str, dict[str, int]] = {}
    for name, path in paths.items():
        arrows: dict[str, int] = {}
        imported = runtime_imports(path.read_text(), name, is_package=path.name == "__init__.py")
        for entry, line in imported:
            target = resolve(entry, paths)
            if target in paths and target != name:
                arrows.setdefault(target, line)
        graph[name] = arrows
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def layer_of(module: str) -> int | None:
    """The rank of `module`'s layer: the longest entry equal to its name or naming a package
    above it. The top-level packages stand for their `__init__` only."""
    best: tuple[int, int] | None = None  # (length of the entry, rank)
    for rank, (_, members) in enumerate(LAYERS):
        for member in members:
            inside = module.startswith(member + ".") and member not in PACKAGES
            if (module == member or inside) and (best is None or len(member) > best[0]):
                best = (len(member), rank)
    return None if best is None else best[1]


def _without_owned(graph: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    return {
        source: {t: line for t, line in arrows.items() if (source, t) not in OWNED_ELSEWHERE}
        for source, arrows in graph.items()
    }


GRAPH = import_graph()


def test_every_module_has_a_layer() -> None:
    """A new module is placed in `LAYERS` on purpose, never by default."""
    assert [m for m in sorted(GRAPH) if layer_of(m) is None] == []


def test_the_import_graph_has_no_cycle() -> None:
    """No circle of imports, arrows owned by other changes aside (the failure lists each circle)."""
    graph = _without_owned(GRAPH)
    found = cycles(graph)
    shown = [
        " | ".join(
            f"{m} -> {', '.join(sorted(t for t in graph[m] if t in set(component)))}"
            for m in component
        )
        for component in found
    ]
    assert not found, "import cycles:\n" + "\n".join(shown)


def test_every_import_points_down() -> None:
    """No arrow goes from a layer to one above it (the failure lists each such arrow)."""
    upward = [
        f"{source}:{line} imports {target} ({LAYERS[layer_of(source) or 0][0]} -> "
        f"{LAYERS[layer_of(target) or 0][0]})"
        for source, arrows in sorted(_without_owned(GRAPH).items())
        for target, line in sorted(arrows.items())
        if layer_of(source) is not None  # an unplaced module fails the test above
        and layer_of(target) is not None
        and (layer_of(target) or 0) > (layer_of(source) or 0)
    ]
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_arrows_owned_elsewhere_still_exist() -> None:
    """An entry of `OWNED_ELSEWHERE` whose arrow is gone is removed, not kept as a pass."""
    assert sorted(a for a in OWNED_ELSEWHERE if a[1] not in GRAPH.get(a[0], {})) == []


def test_the_graph_reader_sees_what_runs() -> None:
    """TYPE_CHECKING blocks are skipped (their `else:` is not), function bodies are read."""
    source = """
from typing import TYPE_CHECKING
from . import _sibling
if TYPE_CHECKING:
    from ._typing_only import T
else:
    from ._runtime_twin import T
def later():
    from ._lazy_one import x
"""
    modules = ["pkg", "pkg.mod", "pkg._sibling", "pkg._runtime_twin", "pkg._lazy_one", "typing"]
    names = {resolve(n, modules) for n, _ in runtime_imports(source, "pkg.mod", is_package=False)}
    # `from . import _sibling` is an arrow to the submodule, not to the package.
    assert names == {"typing", "pkg._sibling", "pkg._runtime_twin", "pkg._lazy_one"}
    graph = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}
    assert cycles(graph) == [["a", "b", "c"]]


# -- the send loop's shape -------------------------------------------------------------------

SEND_LOOP = ROOT / "refold_async" / "_transport.py"
MAX_SEND_LOOP_LINES = 600
MAX_STEPS_TO_THE_WIRE = 5


def _steps_to_the_wire() -> list[str]:
    """The shortest chain of `Transport` methods from `send` to the one calling `exchange()`.

    A method leads to another when its body names `self.<other>` (a call, or a `partial`
    handed to the tracer).
    """
    tree = ast.parse(SEND_LOOP.read_text())
    (transport,) = (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Transport")
    methods = {
        n.name: n for n in transport.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    leads = {
        name: {
            node.attr
            for node in ast.walk(method)
            if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
            and node.attr in methods
        }
        for name, method in methods.items()
    }
    sends = {
        name
        for name, method in methods.items()
        if any(
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "exchange"
            for node in ast.walk(method)
        )
    }
    paths = [["send"]]
    seen = {"send"}
    while paths:
        path = paths.pop(0)
        if path[-1] in sends:
            return path
        for step in sorted(leads[path[-1]] - seen):
            seen.add(step)
            paths.append([*path, step])
    raise AssertionError("no path from Transport.send to exchange()")


def test_the_send_loop_reads_in_one_sitting() -> None:
    """The send loop is a few hundred lines, and `send` reaches the wire in a few named steps
    (the module's docstring names them)."""
    lines = len(SEND_LOOP.read_text().splitlines())
    assert lines <= MAX_SEND_LOOP_LINES, f"_transport.py has {lines} lines"
    steps = _steps_to_the_wire()
    assert len(steps) <= MAX_STEPS_TO_THE_WIRE, " -> ".join(steps)
    docstring = ast.get_docstring(ast.parse(SEND_LOOP.read_text())) or ""
    for step in steps:
        assert f"`{step}()`" in docstring, f"the module docstring does not name {step}()"


ASYNCIO_MODULES = {
    "refold_async/_native.py",  # the running loop's identity and a way back onto it, per backend
}
"""The only modules that import asyncio by name (docs/architecture.md §14): the rest is
anyio, so it runs on asyncio and on trio alike."""


@pytest.mark.parametrize(
    "path",
    [*_modules("refold_async"), *_modules("refold_sync"), ROOT / "_refold_pytest_plugin.py"],
    ids=_rel,
)
def test_asyncio_only_in_the_named_modules(path: Path) -> None:
    """Code outside `ASYNCIO_MODULES` uses anyio, never asyncio itself."""
    if _rel(path) in ASYNCIO_MODULES:
        return
    assert not any(name == "asyncio" or name.startswith("asyncio.") for name in _imports(path))
