"""`refold_sync` re-exports the async face's public objects, minus its async-only types."""

from __future__ import annotations

import refold_async
import refold_sync

ASYNC_ONLY = {"AsyncRefold", "AsyncPaginator"}
SYNC_ONLY = {"Refold", "SyncPaginator"}


def test_exports_mirror_refold_async() -> None:
    """Everything `refold_async` exports, except its async types, is exported here too."""
    expected = (set(refold_async.__all__) - ASYNC_ONLY) | SYNC_ONLY
    assert set(refold_sync.__all__) == expected
    assert len(refold_sync.__all__) == len(expected)


def test_reexports_are_the_same_objects() -> None:
    """Errors and options are `refold_async`'s own objects: one class per error."""
    for name in set(refold_sync.__all__) - SYNC_ONLY:
        assert getattr(refold_sync, name) is getattr(refold_async, name), name


def test_sync_types_read_as_public() -> None:
    """Tracebacks and reprs name `refold_sync.Refold`, not a private module."""
    assert refold_sync.Refold.__module__ == "refold_sync"
    assert refold_sync.SyncPaginator.__module__ == "refold_sync"
