"""The public face: `__all__` sorted and complete, public names read as public modules."""

from __future__ import annotations

import types

import pytest

import refold_async
import refold_sync


@pytest.mark.parametrize("module", [refold_async, refold_sync], ids=lambda m: m.__name__)
def test_all_is_sorted_and_resolves(module: types.ModuleType) -> None:
    """Every name in `__all__` exists, and the list is sorted."""
    names = list(module.__all__)
    assert names == sorted(names, key=lambda n: (not n.isupper(), n))
    for name in names:
        assert hasattr(module, name), name


def test_sync_face_reexports_errors_and_helpers() -> None:
    """Errors are the same classes on both faces."""
    for name in ("RefoldError", "NotFoundError", "RateLimitError", "RetryPolicy", "RateLimit"):
        assert getattr(refold_sync, name) is getattr(refold_async, name)


def test_public_exceptions_name_the_public_module() -> None:
    """Tracebacks read `refold_async.NotFoundError`."""
    for name in refold_async.__all__:
        obj = getattr(refold_async, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            assert obj.__module__ == "refold_async", name
