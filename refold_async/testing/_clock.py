"""The emulator's sense of time: the real monotonic clock, or a `FakeClock` tests drive.

Everything in the emulator that depends on time reads one `Clock`: the rate-limit
buckets, session-token expiry, executions progressing to `Completed`, latency faults and
the timestamps it writes into documents. A test that passes `FakeClock()` decides when
time moves, so nothing waits on luck.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

import anyio
import anyio.lowlevel
from typing_extensions import override

__all__ = ["Clock", "FakeClock", "MonotonicClock"]

FAKE_EPOCH = 1_767_225_600.0
"""Wall time at which a `FakeClock` starts: 2026-01-01T00:00:00Z."""


@runtime_checkable
class Clock(Protocol):
    """What the emulator needs to know about time."""

    def now(self) -> float:
        """Seconds on a monotonic scale (only differences mean anything)."""
        ...

    def wall(self) -> float:
        """Seconds since the Unix epoch, for timestamps written into documents."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Let `seconds` pass (latency faults)."""
        ...


class MonotonicClock:
    """The real clock: `time.monotonic()`, `time.time()` and `anyio.sleep()`."""

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)

    @override
    def __repr__(self) -> str:
        return "MonotonicClock()"


class FakeClock:
    """A clock that moves only when told to.

    `sleep()` advances the clock instead of waiting, so a latency fault costs no real
    time. Thread-safe enough for the emulator: reads and `advance()` are single stores.

    Example:
        ```python
        clock = FakeClock()
        emulator = Emulator(clock=clock, execution_delay=2.0)
        ...  # trigger an event: its execution is Running
        clock.advance(2.0)  # now it is Completed
        ```
    """

    def __init__(self, start: float = 0.0, *, wall_start: float = FAKE_EPOCH) -> None:
        self._now = start
        self._wall_offset = wall_start - start

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now + self._wall_offset

    def advance(self, seconds: float) -> None:
        """Move time forward by `seconds` (never backwards)."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))
        await anyio.lowlevel.checkpoint()

    @override
    def __repr__(self) -> str:
        return f"FakeClock(now={self._now!r})"
