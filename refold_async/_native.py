"""The event loop under the running task, asyncio's or trio's: the one place that asks.

The async face is written against anyio and runs on either backend. Two needs have no
anyio API on every anyio version the SDK supports, so they are met here, per backend,
through each backend's public API (docs/architecture.md §14):

- `loop_identity()`: an object that stands for the running event loop, weakly
  referenceable, to key state that belongs to one loop (an `anyio.Lock` and its waiters).
- `soon_from_anywhere()`: a callable that queues a plain function on the running loop
  from any thread or from a signal handler, without blocking (`call_soon_threadsafe` on
  asyncio, `TrioToken.run_sync_soon` on trio).

trio is imported only when it already is (a trio run imported it): asyncio users never
load it.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

from ._errors import RefoldUsageError

__all__ = ["loop_identity", "running_loop_kind", "soon_from_anywhere"]

Soon = Callable[[Callable[[], object]], None]
"""Queue a function on the loop it was made on; a no-op once that loop has closed."""


def running_loop_kind() -> str | None:
    """`"asyncio"` or `"trio"` when the calling thread runs that event loop, else None."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return "asyncio"
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_trio_token()
        except RuntimeError:
            return None
        return "trio"
    return None


def _unsupported() -> RefoldUsageError:
    return RefoldUsageError(
        "refold_async needs a running asyncio or trio event loop (through anyio); "
        "call it from `async def` code run by asyncio.run(), trio.run() or anyio.run()"
    )


def loop_identity() -> object:
    """An object standing for the running loop (weakly referenceable), for per-loop state.

    Raises:
        RefoldUsageError: No asyncio or trio loop runs in this thread.
    """
    kind = running_loop_kind()
    if kind == "asyncio":
        return asyncio.get_running_loop()
    if kind == "trio":
        return sys.modules["trio"].lowlevel.current_trio_token()
    raise _unsupported()


def soon_from_anywhere() -> Soon:
    """A thread- and signal-safe way back onto the running loop (call it on that loop).

    Raises:
        RefoldUsageError: No asyncio or trio loop runs in this thread.
    """
    kind = running_loop_kind()
    if kind == "asyncio":
        loop = asyncio.get_running_loop()

        def asyncio_soon(fn: Callable[[], object]) -> None:
            if loop.is_closed():
                return
            try:
                loop.call_soon_threadsafe(fn)
            except RuntimeError:  # the loop closed meanwhile: nobody is left to tell
                return

        return asyncio_soon
    if kind == "trio":
        trio = sys.modules["trio"]
        token = trio.lowlevel.current_trio_token()

        def trio_soon(fn: Callable[[], object]) -> None:
            try:
                token.run_sync_soon(fn)
            except trio.RunFinishedError:  # the run ended meanwhile: nobody is left to tell
                return

        return trio_soon
    raise _unsupported()
