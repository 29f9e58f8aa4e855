"""The documentation site's shape: every guide is in the navigation, the API reference
covers every public name, and the strict build is part of the gate (`nox -s docs`)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PUBLIC_MODULES = (
    "refold_async",
    "refold_async.batch",
    "refold_async.testing",
    "refold_async.webhooks",
    "refold_async.models",
    "refold_sync",
    "refold_sync.testing",
)


def _targets() -> set[str]:
    """What the reference pages render: `::: dotted.name` directives."""
    found: set[str] = set()
    for page in (DOCS / "reference").glob("*.md"):
        found.update(re.findall(r"^::: ([\w.]+)\s*$", page.read_text(), flags=re.M))
    return found


def _covered(module: str, name: str, targets: set[str]) -> bool:
    if module in targets or f"{module}.{name}" in targets:
        return True
    # refold_sync re-exports refold_async's errors, models and constants: documented there.
    return module == "refold_sync" and name in _public("refold_async")


def _public(module: str) -> list[str]:
    return list(getattr(importlib.import_module(module), "__all__", []))


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_the_reference_renders_every_public_name(module: str) -> None:
    """Each name in a public module's `__all__` has a mkdocstrings directive (or its module has)."""
    targets = _targets()
    missing = [name for name in _public(module) if not _covered(module, name, targets)]
    assert missing == []


def test_every_page_is_in_the_navigation() -> None:
    """mkdocs.yml lists every page of docs/ (plus the generated api.md)."""
    config = (ROOT / "mkdocs.yml").read_text()
    pages = [p.relative_to(DOCS).as_posix() for p in DOCS.glob("**/*.md")]
    assert pages
    assert [page for page in pages if page not in config] == []
    assert "api.md" in config


def test_the_strict_build_is_in_the_gate() -> None:
    """`nox` alone runs the `docs` session, which builds with --strict; the extra installs mkdocs."""
    noxfile = (ROOT / "noxfile.py").read_text()
    sessions = re.search(r"nox\.options\.sessions = \[(.*?)\]", noxfile, re.S)
    assert sessions is not None
    assert '"docs"' in sessions.group(1)
    assert '"mkdocs", "build", "--strict"' in noxfile
    assert "mkdocstrings" in (ROOT / "pyproject.toml").read_text()
