"""Traffic statistics the emulator keeps, per credential and in total, for tests to read.

For every request that arrives (admitted or refused) it counts: requests seen, 429s
sent, the most requests that arrived within any 1 s window, the most within any
"instant" (a 1 ms window: a burst beyond the server's bucket shows here), and the most
in flight at once. Credentials are named by fingerprint, never by their value.
Windows slide over arrival times on the emulator's clock, kept in bounded deques.
"""

from __future__ import annotations

from collections import deque

import attrs

from ._state import fingerprint

__all__ = ["CredentialStats", "EmulatorStats", "StatsRecorder"]

SECOND = 1.0
INSTANT = 0.001


@attrs.frozen(kw_only=True)
class CredentialStats:
    """Traffic of one credential (or of all of them).

    Attributes:
        requests: Requests that arrived.
        rate_limited: 429 answers sent by the rate limiter.
        max_per_second: Most arrivals within any window of one second.
        max_per_instant: Most arrivals within any window of one millisecond.
        max_in_flight: Most requests being handled at once (latency faults make this grow).
    """

    requests: int = 0
    rate_limited: int = 0
    max_per_second: int = 0
    max_per_instant: int = 0
    max_in_flight: int = 0


@attrs.frozen(kw_only=True)
class EmulatorStats:
    """A snapshot of `Emulator.stats`.

    Attributes:
        total: Every credential's traffic together.
        by_credential: Each credential's traffic, by fingerprint (`"anonymous"` without one).
    """

    total: CredentialStats
    by_credential: dict[str, CredentialStats]

    @property
    def requests(self) -> int:
        """Requests that arrived in total."""
        return self.total.requests

    @property
    def rate_limited(self) -> int:
        """429s sent in total."""
        return self.total.rate_limited

    def of(self, secret: str) -> CredentialStats:
        """The traffic of one key or token (empty if it was never seen)."""
        return self.by_credential.get(fingerprint(secret), CredentialStats())


class _Counter:
    """Running counts for one credential (or the total)."""

    def __init__(self) -> None:
        self.requests = 0
        self.rate_limited = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._second: deque[float] = deque()
        self._instant: deque[float] = deque()
        self.max_per_second = 0
        self.max_per_instant = 0

    def arrive(self, now: float) -> None:
        self.requests += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.max_per_second = max(self.max_per_second, _slide(self._second, now, SECOND))
        self.max_per_instant = max(self.max_per_instant, _slide(self._instant, now, INSTANT))

    def snapshot(self) -> CredentialStats:
        return CredentialStats(
            requests=self.requests,
            rate_limited=self.rate_limited,
            max_per_second=self.max_per_second,
            max_per_instant=self.max_per_instant,
            max_in_flight=self.max_in_flight,
        )


def _slide(window: deque[float], now: float, width: float) -> int:
    window.append(now)
    # Half-open window (now - width, now]: arrivals exactly `width` apart are not together.
    while window and window[0] <= now - width:
        window.popleft()
    return len(window)


class StatsRecorder:
    """Records arrivals, departures and 429s; `snapshot()` freezes them."""

    def __init__(self) -> None:
        self._total = _Counter()
        self._by: dict[str, _Counter] = {}

    def _counters(self, credential: str) -> tuple[_Counter, _Counter]:
        counter = self._by.get(credential)
        if counter is None:
            counter = self._by[credential] = _Counter()
        return self._total, counter

    def arrive(self, credential: str, now: float) -> None:
        for counter in self._counters(credential):
            counter.arrive(now)

    def depart(self, credential: str) -> None:
        for counter in self._counters(credential):
            counter.in_flight -= 1

    def rate_limited(self, credential: str) -> None:
        for counter in self._counters(credential):
            counter.rate_limited += 1

    def snapshot(self) -> EmulatorStats:
        return EmulatorStats(
            total=self._total.snapshot(),
            by_credential={name: c.snapshot() for name, c in self._by.items()},
        )

    def reset(self) -> None:
        self._total = _Counter()
        self._by = {}
