"""One value per running event loop, closed when that loop ends, under asyncio or trio.

A connection belongs to the event loop that opened it, so a client made at module level
(used from several `asyncio.run()` calls, or from threads that each run a loop) keeps
one pool per loop. Loops are told apart by anyio's `current_token()`, on either backend.

Each loop's value is closed as that loop shuts down: it is guarded by a small async
generator, suspended for as long as the loop serves the value. Both asyncio
(`asyncio.run()`'s `shutdown_asyncgens()`) and trio (at the end of `trio.run()`)
finish the async generators still suspended when the loop ends; finishing this one
closes the value and forgets it. `aclose_all()` closes every loop's value: the current
loop's at once, another live loop's on that loop (without waiting for it).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Generic, Protocol, TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel

__all__ = ["Closable", "PerLoop"]


class Closable(Protocol):
    def aclose(self) -> Awaitable[None]: ...


T = TypeVar("T", bound=Closable)


class PerLoop(Generic[T]):
    """The running loop's own `T`, made by `make()` on the loop's first use."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._values: dict[anyio.lowlevel.EventLoopToken, _Entry[T]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._values)

    async def current(self) -> T:
        """The running loop's value, made (and set to close with the loop) on first use."""
        token = anyio.lowlevel.current_token()
        entry = self._values.get(token)
        if entry is None:
            entry = await self._open(token)
        return entry.value

    def peek(self) -> T | None:
        """The running loop's value if it has one (no new one is made)."""
        entry = self._values.get(anyio.lowlevel.current_token())
        return None if entry is None else entry.value

    async def _open(self, token: anyio.lowlevel.EventLoopToken) -> _Entry[T]:
        value = self._make()
        entry = _Entry(value, _close_with_loop(value, lambda: self._forget(token)))
        with self._lock:
            for stale in [other for other in self._values if _is_closed(other)]:
                del self._values[stale]  # closed without shutting down: nothing to await
            self._values[token] = entry
        await entry.watcher.asend(None)  # the loop now closes it when it shuts down
        return entry

    def _forget(self, token: anyio.lowlevel.EventLoopToken) -> None:
        with self._lock:
            self._values.pop(token, None)

    async def aclose_all(self) -> None:
        """Close every loop's value: this loop's now, a live other loop's on that loop."""
        with self._lock:
            entries = list(self._values.items())
            self._values.clear()
        running = anyio.lowlevel.current_token()
        for token, entry in entries:
            if token == running:
                await entry.watcher.aclose()
            elif not _is_closed(token):
                _close_elsewhere(token, entry)


class _Entry(Generic[T]):
    __slots__ = ("value", "watcher")

    def __init__(self, value: T, watcher: AsyncGenerator[None, None]) -> None:
        self.value = value
        self.watcher = watcher


async def _close_with_loop(
    value: Closable, forget: Callable[[], None]
) -> AsyncGenerator[None, None]:
    """Suspended while the value serves its loop; finishing it closes the value."""
    try:
        yield
    finally:
        forget()
        with anyio.CancelScope(shield=True):
            await value.aclose()


def _is_closed(token: anyio.lowlevel.EventLoopToken) -> bool:
    # asyncio's loop says whether it is closed; a trio run's token outlives nothing.
    is_closed = getattr(token.native_token, "is_closed", None)
    return bool(is_closed()) if callable(is_closed) else False


def _close_elsewhere(token: anyio.lowlevel.EventLoopToken, entry: _Entry[T]) -> None:
    """Close `entry` on its own loop (running in another thread), not waiting for it."""

    def close() -> None:
        with contextlib.suppress(Exception):  # that loop ended meanwhile
            anyio.from_thread.run(entry.watcher.aclose, token=token)

    threading.Thread(target=close, name="refold-close-pool", daemon=True).start()
