"""Fixtures for core tests: an event loop on a virtual clock.

`VirtualClockLoop` is a real asyncio selector loop whose `time()` is a number it moves
itself: whenever the loop would block waiting for its next timer, the clock jumps to
that timer instead. Sleeps, timeouts and aiolimiter's wakers all run in zero wall time
and land exactly when scheduled, so timing can be asserted exactly, never flakily.
(`looptime` on PyPI does the same as a pytest plugin; these 40 lines need no new
dependency and also fail fast, instead of hanging, when every task waits forever.) When only
already-due timers are left, the clock moves one nanosecond, as a real clock would.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

T = TypeVar("T")
_TICK = 1e-9


class _JumpingSelector(selectors.SelectSelector):
    """Polls without waiting; where it would wait, it moves its loop's clock instead."""

    def __init__(self, loop: VirtualClockLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if timeout is not None and timeout <= 0:
            if not ready and not self._loop._ready:  # type: ignore[attr-defined]
                # Only timers that are already due: let a nanosecond pass, as a real clock
                # would. (aiolimiter re-arms a waker at "now" when float rounding leaves
                # it a hair short of capacity; on a frozen clock that would spin forever.)
                self._loop.now += _TICK
            return ready
        if ready:
            return ready
        if timeout is None:
            raise RuntimeError(
                "virtual clock: every task is waiting and no timer is set (deadlock)"
            )
        self._loop.now += timeout
        return ready


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock jumps to the next timer instead of waiting for it."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        super().__init__(_JumpingSelector(self))

    def time(self) -> float:
        return self.now


def run_virtual(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run `main()` to completion on a fresh `VirtualClockLoop`, then close the loop."""
    loop = VirtualClockLoop()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


@pytest.fixture(scope="session")
def virtual_time() -> Callable[[Callable[[], Coroutine[Any, Any, Any]]], Any]:
    """`run_virtual`: runs a coroutine function on a virtual-clock loop (hypothesis-safe)."""
    return run_virtual
