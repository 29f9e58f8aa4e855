"""Wait for a slot of the rate budget, and pace by departure, not by grant (docs/architecture.md §4).

`take_slot()` waits for an attempt's slot: a slot reserved by `client.reserve()` when one
is held, else the limiter's, retries ahead of first attempts.

The limiter grants a slot; the request leaves when httpx writes its headers, which on
a cold start (a new connection, a TLS handshake, a busy loop) can be well after the
slot. Late departures bunch with the on-time ones behind them, and the server's bucket
sees them closer together than the limiter spaced them. One slot of headroom absorbs a
lateness of up to one interval; past half of it (leaving the other half for the
network), the request takes a fresh slot, ahead of the queue, before its headers go.

httpcore reports "about to write the request headers" through the `trace` request
extension, awaited on the connection's task: the check runs right there. Transports
that never call `trace` (in-process ones, such as the emulator's) send at the grant.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._reservation import in_reservation, reserved_block

if TYPE_CHECKING:
    from ._ratelimit import RateLimiter

__all__ = ["HEADERS_STARTED", "Departure", "take_slot"]

HEADERS_STARTED = frozenset(
    {"http11.send_request_headers.started", "http2.send_request_headers.started"}
)
_MAX_RETAKES = 3  # a request that is late again and again goes after this many slots


class Departure:
    """One attempt's departure check: call `granted()` at the slot, pass `extensions()`."""

    __slots__ = ("_bucket", "_clock", "_granted", "_limiter", "_slack", "retakes")

    def __init__(self, limiter: RateLimiter, bucket: str, clock: Callable[[], float]) -> None:
        self._limiter = limiter
        self._bucket = bucket
        self._clock = clock
        rate = limiter.rate
        self._slack = None if rate is None else rate.interval / 2
        self._granted = clock()
        self.retakes = 0

    def extensions(self) -> dict[str, Any]:
        """The httpx request extensions that run the check (none without a limit)."""
        if self._slack is None:
            return {}
        return {"trace": self._trace}

    def listeners(self) -> list[Callable[[str, Mapping[str, Any]], Awaitable[None]]]:
        """The trace listeners that run the check (none without a limit), for `_exchange`."""
        return [] if self._slack is None else [self._trace]

    async def _trace(self, event: str, _info: Mapping[str, Any]) -> None:
        if event in HEADERS_STARTED:
            await self.before_headers()

    async def before_headers(self) -> None:
        """Take a fresh slot if the request is leaving too long after its grant."""
        slack = self._slack
        if slack is None:
            return
        while self._clock() - self._granted > slack and self.retakes < _MAX_RETAKES:
            self.retakes += 1
            await self._limiter.acquire(self._bucket, priority=True)
            self._granted = self._clock()


async def take_slot(
    limiter: RateLimiter,
    bucket: str,
    *,
    priority: bool,
    max_wait: float | None,
    max_pause: float | None,
    sleep: Callable[[float], Awaitable[None]],
    clock: Callable[[], float],
) -> float:
    """Wait for the bucket's slot and return the seconds waited.

    Retries (`priority`) go first; the wait is bounded by the queue (`max_wait`) and the
    call's deadline (`max_pause`); the limiter raises `SlotTooFar` past either.
    """
    asked = clock()
    if in_reservation(limiter, bucket):
        # Work admitted by `client.reserve()`: take its next reserved slot that is not
        # stale (a slot left unused for more than half an interval would bunch with
        # the slots after it), else wait for a fresh one without the queue bound: the
        # work is under way and must not be shed between its calls.
        slack = limiter.rate.interval / 2 if limiter.rate is not None else 0.0
        block = reserved_block(limiter, bucket)
        while block is not None and (slot := block.take()) is not None:
            if (delay := slot - block.clock()) >= -slack:
                if delay > 0:
                    await sleep(delay)
                return clock() - asked
        max_wait = None
    await limiter.acquire(bucket, priority=priority, max_wait=max_wait, max_pause=max_pause)
    return clock() - asked
