"""Pace by departure, not by grant (docs/architecture.md §4).

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

if TYPE_CHECKING:
    from ._ratelimit import RateLimiter

__all__ = ["HEADERS_STARTED", "Departure"]

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
