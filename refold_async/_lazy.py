"""Lazy exports: names a package lists but imports only when first used.

A package's `__getattr__` (PEP 562) built by `attribute_loader()` imports the submodule
that defines a name on first access; the submodule, once loaded, binds all its exports
in the package with `publish()`, so later look-ups are plain attribute reads. The
generated `refold_async.models` uses both, so a call of one resource loads only the
model modules it needs.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["attribute_loader", "publish"]


def attribute_loader(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package`: `homes` maps each name to its submodule."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home, package), name)
        setattr(sys.modules[package], name, value)  # later look-ups: a plain attribute
        return value

    return __getattr__


def publish(module: str) -> None:
    """Bind the exports (`__all__`) of the loaded `module` in its parent package."""
    loaded = sys.modules[module]
    package = sys.modules[module.rpartition(".")[0]]
    names: list[str] = getattr(loaded, "__all__", [])
    for name in names:
        setattr(package, name, getattr(loaded, name))
