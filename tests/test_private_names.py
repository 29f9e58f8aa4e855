"""The SDK touches its dependencies only through their public names.

A private name (one leading underscore, not a dunder) of httpx, httpcore, h11,
aiolimiter, attrs, cattrs or anyio may change in any release. This test walks the
syntax tree of every module of `refold_async`, `refold_sync` and the pytest plugin and
fails on each way of reaching one:

- `from dep import _x`, `from dep._mod import x`, `import dep._mod`;
- `dep._x` (and `alias._x`, `dep.sub._x`) on a name bound to a dependency's module;
- `thing._x` on any object, when `_x` is a name the dependencies define and the SDK
  never defines itself (`response._content`, `url._uri_reference`);
- `getattr` / `setattr` / `hasattr` / `delattr` with a literal private name the SDK never
  defines itself (so it can only be a dependency's);
- `self._x` (or `cls._x`) in a class that subclasses a dependency's class, when that
  class (or the SDK's own code) does not assign or define `_x` itself.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEPENDENCIES = frozenset({"httpx", "httpcore", "h11", "aiolimiter", "attrs", "cattrs", "anyio"})
ACCESSORS = frozenset({"getattr", "setattr", "hasattr", "delattr"})

# Offenders tolerated while other work removes them (none today): each `file: name`
# here must still be found (the list only ever shrinks), and everything else is clean.
KNOWN_ELSEWHERE: frozenset[str] = frozenset()


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _sources() -> list[Path]:
    files = sorted((ROOT / "refold_async").rglob("*.py"))
    files += sorted((ROOT / "refold_sync").rglob("*.py"))
    plugin = ROOT / "_refold_pytest_plugin.py"
    if plugin.exists():
        files.append(plugin)
    return files


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _defined_names(trees: list[ast.Module]) -> frozenset[str]:
    """Private names these modules define: functions, classes, module and class variables,
    attributes set on `self` / `cls`, and `__slots__` entries."""
    names: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Store)
                and isinstance(node.value, ast.Name)
                and node.value.id in ("self", "cls")
            ):
                names.add(node.attr)
            elif isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == "__slots__" for target in node.targets
            ):
                names.update(
                    item.value
                    for item in ast.walk(node.value)
                    if isinstance(item, ast.Constant) and isinstance(item.value, str)
                )
    return frozenset(name for name in names if _private(name))


@functools.cache
def _sdk_names() -> frozenset[str]:
    """Private names the SDK defines itself (outside its subclasses of dependency classes)."""
    return _defined_names([_own_tree(path) for path in _sources()])


def _own_tree(path: Path) -> ast.Module:
    """`path`'s tree less its subclasses of a dependency's class (their names are checked
    on their own: setting `self._x` there may write the dependency's state)."""
    tree = ast.parse(path.read_text())
    modules, things = _dependency_bindings(tree)
    bindings = {**modules, **things}
    tree.body = [
        node
        for node in tree.body
        if not (
            isinstance(node, ast.ClassDef)
            and any(_dotted_root(base) in bindings for base in node.bases)
        )
    ]
    return tree


@functools.cache
def _dependency_names() -> frozenset[str]:
    """Private names the dependencies define (what `thing._x` may reach into)."""
    trees: list[ast.Module] = []
    for name in sorted(DEPENDENCIES):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        for file in module.__spec__.submodule_search_locations or [] if module.__spec__ else []:
            for path in Path(file).rglob("*.py"):
                trees.append(ast.parse(path.read_text(encoding="utf-8")))
        if module.__file__ and not module.__file__.endswith("__init__.py"):
            trees.append(ast.parse(Path(module.__file__).read_text(encoding="utf-8")))
    return _defined_names(trees)


def _root(module: str) -> str:
    return module.split(".", 1)[0]


def _dependency_bindings(tree: ast.Module) -> tuple[dict[str, str], dict[str, str]]:
    """Names bound to a dependency's module, and to things imported from one (each with
    the dotted path it names)."""
    modules: dict[str, str] = {}
    things: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _root(alias.name) in DEPENDENCIES:
                    bound = alias.asname or _root(alias.name)
                    modules[bound] = alias.name if alias.asname else bound
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and not node.level
            and _root(node.module) in DEPENDENCIES
        ):
            for alias in node.names:
                things[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return modules, things


def _resolve(node: ast.expr, bindings: dict[str, str]) -> object:
    """The object a base-class expression names (`httpx.AsyncClient`, `AsyncLimiter`)."""
    attrs: list[str] = []
    while isinstance(node, ast.Attribute):
        attrs.insert(0, node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in bindings:
        return None
    module, _, name = bindings[node.id].rpartition(".")
    try:
        found: object = importlib.import_module(bindings[node.id])
    except ImportError:
        found = getattr(importlib.import_module(module), name, None)
    for attr in attrs:
        found = getattr(found, attr, None)
    return found


@functools.cache
def _defined_by_dependency(cls: type) -> frozenset[str]:
    """Private names the dependency classes in `cls`'s MRO define or assign."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if _root(klass.__module__) not in DEPENDENCIES:
            continue
        names.update(name for name in vars(klass) if _private(name))
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        for node in ast.walk(ast.parse(source)):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Store)
                and _private(node.attr)
            ):
                names.add(node.attr)
    return frozenset(names)


def _dotted_root(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _offences(
    rel: str, source: str, sdk_names: frozenset[str], dependency_names: frozenset[str]
) -> Iterator[str]:
    tree = ast.parse(source)
    modules, things = _dependency_bindings(tree)
    local = _defined_names([tree])  # a write to one of these is to this module's own objects
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] in DEPENDENCIES and any(_private(part) for part in parts[1:]):
                    yield f"{rel}:{node.lineno}: import {alias.name}"
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            parts = node.module.split(".")
            if parts[0] in DEPENDENCIES:
                if any(_private(part) for part in parts[1:]):
                    yield f"{rel}:{node.lineno}: from {node.module} import ..."
                for alias in node.names:
                    if _private(alias.name):
                        yield f"{rel}:{node.lineno}: from {node.module} import {alias.name}"
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            root = _dotted_root(node.value)
            if root is not None and (root in modules or root in things):
                yield f"{rel}:{node.lineno}: {root}...{node.attr}"
            elif node.attr in dependency_names and (
                node.attr not in sdk_names or (_writes_foreign(node) and node.attr not in local)
            ):
                yield f"{rel}:{node.lineno}: <object>.{node.attr}"
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ACCESSORS
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _private(node.args[1].value)
            and node.args[1].value not in sdk_names
        ):
            yield f"{rel}:{node.lineno}: {node.func.id}(..., {node.args[1].value!r})"
        elif isinstance(node, ast.ClassDef):
            yield from _subclass_offences(rel, node, modules, things)


def _subclass_offences(
    rel: str, cls: ast.ClassDef, modules: dict[str, str], things: dict[str, str]
) -> Iterator[str]:
    """`self._x` in a subclass of a dependency's class: `_x` not the class's own, or the
    dependency's (a write to it patches the dependency's state)."""
    bindings = {**modules, **things}
    if not any(_dotted_root(base) in bindings for base in cls.bases):
        return
    theirs: set[str] = set()
    for base in cls.bases:
        resolved = _resolve(base, bindings)
        if isinstance(resolved, type):
            theirs |= _defined_by_dependency(resolved)
    own: set[str] = set()
    for node in ast.walk(cls):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            own.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            own.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            own.add(node.id)  # class-level assignments
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            own.add(node.value)  # __slots__
    for node in ast.walk(cls):
        if (
            isinstance(node, ast.Attribute)
            and _private(node.attr)
            and isinstance(node.value, ast.Name)
            and node.value.id in ("self", "cls")
            and (node.attr not in own or node.attr in theirs)
        ):
            yield f"{rel}:{node.lineno}: {node.value.id}.{node.attr} in {cls.name}"


def _writes_foreign(node: ast.Attribute) -> bool:
    """`thing._x = ...` on a plain name that is not `self` / `cls` (a response, a URL):
    unless the module defines `_x` for its own objects, that patches someone else's."""
    return (
        isinstance(node.ctx, ast.Store)
        and isinstance(node.value, ast.Name)
        and node.value.id not in ("self", "cls")
    )


def _all_offences() -> list[str]:
    sdk_names, dependency_names = _sdk_names(), _dependency_names()
    return [
        offence
        for path in _sources()
        for offence in _offences(_rel(path), path.read_text(), sdk_names, dependency_names)
    ]


def _key(offence: str) -> str:
    """`file: name` of an offence, as `KNOWN_ELSEWHERE` lists them."""
    file, _, rest = offence.partition(":")
    name = rest.partition(": ")[2]
    for token in name.replace("(", " ").replace(")", " ").replace(",", " ").split():
        bare = token.strip("'.").rpartition(".")[2].rpartition("...")[2]
        if _private(bare):
            return f"{file}: {bare}"
    return f"{file}: {name}"


def test_no_private_name_of_a_dependency_is_touched() -> None:
    """Every reach into a dependency's private names, outside `KNOWN_ELSEWHERE`, fails."""
    found = [offence for offence in _all_offences() if _key(offence) not in KNOWN_ELSEWHERE]
    assert found == []


def test_known_elsewhere_lists_only_live_offenders() -> None:
    """An entry whose offence is gone must leave the list (it only ever shrinks)."""
    keys = {_key(offence) for offence in _all_offences()}
    assert sorted(KNOWN_ELSEWHERE - keys) == []


@pytest.mark.parametrize(
    ("source", "caught"),
    [
        ("from httpx import _client", True),
        ("from httpx._models import Response", True),
        ("import httpcore._async", True),
        ("import httpx\nhttpx.URL._uri_reference", True),
        ("import httpx as h\nh.AsyncClient._transport_for_url", True),
        ("from httpx import Response\nResponse._content", True),
        ("x = getattr(jar, '_cookies', None)", True),
        ("import httpx\nclass C(httpx.AsyncClient):\n    def f(self):\n        self._mounts", True),
        (
            "import httpx\nclass C(httpx.AsyncClient):\n"
            "    def __init__(self):\n        self._mine = 1\n    def f(self):\n        self._mine",
            False,
        ),
        (
            "from aiolimiter import AsyncLimiter\nclass L(AsyncLimiter):\n"
            "    def f(self):\n        self._level = 0",
            True,
        ),
        ("import httpx\nhttpx.AsyncClient.send", False),
        ("import httpx\nhttpx.URL.__init__", False),
        ("class C:\n    def f(self):\n        self._anything", False),
        ("def f(response):\n    response._content = b''", True),
        ("def f(url):\n    return url._uri_reference", True),
    ],
)
def test_the_checker_catches_each_form(source: str, caught: bool) -> None:
    """Each form the checker looks for is found in a sample; public names pass."""
    found = list(_offences("sample.py", source, frozenset(), _dependency_names()))
    assert bool(found) is caught, found
