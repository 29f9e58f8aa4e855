"""How many items run at once: sized from the rate budget, not guessed (docs/architecture.md §11).

Enough items must be in flight to keep the limiter busy, and no more: beyond that they
only queue at the limiter, every item's calls interleave with every other's, and items
finish all together at the end instead of in the order they arrived. By Little's law
the limiter stays busy with `per_second * service / requests` items in flight, where
`service` is an item's time *outside* the limiter's queue and `requests` its calls; the
sizer keeps running averages of both, adds a quarter of margin and the budget's burst,
and starts from `burst + per_second * 0.25 s` before the first item has finished.
"""

from __future__ import annotations

import math

from refold_async._ratelimit import RateLimit

__all__ = ["InFlightSizer"]

MAX_IN_FLIGHT = 256
"""The most items the sizer ever runs at once."""

UNLIMITED_IN_FLIGHT = 32
"""Items in flight when the client has no rate budget (`rate_limit=None`)."""

FIRST_GUESS_SECONDS = 0.25
MARGIN = 1.25
SMOOTHING = 0.2


class InFlightSizer:
    """The number of items to keep in flight.

    Args:
        rate: The client's rate budget, or `None` when it has none.
        fixed: A number chosen by the caller (`max_in_flight=`), which then never changes.
    """

    def __init__(self, rate: RateLimit | None, fixed: int | None = None) -> None:
        self.rate = rate
        self.fixed = fixed
        self._service: float | None = None
        self._requests: float | None = None
        if fixed is not None:
            self.limit = fixed
        elif rate is None:
            self.limit = UNLIMITED_IN_FLIGHT
        else:
            self.limit = _clamp(rate.burst + math.ceil(rate.per_second * FIRST_GUESS_SECONDS))

    def observe(self, seconds: float, queued: float, requests: int) -> None:
        """An item finished after `seconds`, `queued` of them waiting for the limiter."""
        if self.fixed is not None or self.rate is None or requests == 0:
            return
        service = max(seconds - queued, 1e-3)
        self._service = _mean(self._service, service)
        self._requests = _mean(self._requests, float(requests))
        busy = self.rate.per_second * self._service / self._requests
        self.limit = _clamp(math.ceil(busy * MARGIN) + self.rate.burst)


def _mean(previous: float | None, sample: float) -> float:
    return sample if previous is None else previous + SMOOTHING * (sample - previous)


def _clamp(value: int) -> int:
    return max(1, min(MAX_IN_FLIGHT, value))
