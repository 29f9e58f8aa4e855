"""The process's one event-loop thread, on which every sync client's calls run (DESIGN §8).

PROVISIONAL: a minimal runner so the generated sync face works; issue #4 replaces the
internals (fork safety, cancellation on Ctrl-C, exit handling) behind the same `run()`.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

__all__ = ["run"]

T = TypeVar("T")

_lock = threading.Lock()
_portal: BlockingPortal | None = None
_cm: Any = None


def _get_portal() -> BlockingPortal:
    global _portal, _cm
    with _lock:
        if _portal is None:
            _cm = start_blocking_portal("asyncio")
            _portal = _cm.__enter__()
        return _portal


def run(fn: Callable[[], Awaitable[T]]) -> T:
    """Run `fn()` on the shared loop thread and return its result in the calling thread."""

    async def call() -> T:
        return await fn()

    return _get_portal().call(call)
