"""Import rules between layers, checked by walking every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HTTPX_ALLOWED = {
    "refold_async/_transport.py",
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
    if rel in HTTPX_ALLOWED or rel.startswith(("refold_async/testing/", "refold_sync/_client")):
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


ASYNCIO_MODULES = {
    "refold_async/_native.py",  # the running loop's identity and a way back onto it, per backend
    # Being made anyio-native: the connection pool and the limiters.
    "refold_async/_pool.py",
    "refold_async/_ratelimit/_base.py",
    "refold_async/_ratelimit/_host.py",
    "refold_async/_ratelimit/_process.py",
    "refold_async/_ratelimit/_redis.py",
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
