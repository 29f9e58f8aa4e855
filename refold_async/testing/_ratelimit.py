"""The server's rate limit, as the emulator enforces it (DESIGN §1 and §4).

One token bucket per credential: it holds `burst` tokens, refills at `per_second`, and
a request that finds it empty is refused with 429 and a `Retry-After` saying, in
seconds (with millisecond precision), when one token will be back. Refused requests
take no token, as with nginx `limit_req`. Time comes from the emulator's clock.
"""

from __future__ import annotations

import math

import attrs

__all__ = ["DEFAULT_RATE_LIMIT", "ServerRateLimit"]

DEFAULT_RATE_LIMIT = (20.0, 5)
"""The API's budget: 20 requests per second, at most 5 at one instant."""


@attrs.define
class _Bucket:
    tokens: float
    updated: float


class ServerRateLimit:
    """Per-credential token buckets.

    Args:
        per_second: The refill rate.
        burst: The bucket's size: how many requests may arrive at one instant.

    Example:
        ```python
        limit = ServerRateLimit(20, 5)
        wait = limit.take("fingerprint", now=clock.now())  # None: admitted
        ```
    """

    def __init__(self, per_second: float, burst: int) -> None:
        if per_second <= 0 or burst < 1:
            raise ValueError("rate_limit needs per_second > 0 and burst >= 1")
        self.per_second = float(per_second)
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}

    def take(self, credential: str, *, now: float) -> float | None:
        """Admit one request (`None`), or return the seconds until one would be admitted."""
        bucket = self._buckets.get(credential)
        if bucket is None:
            bucket = self._buckets[credential] = _Bucket(float(self.burst), now)
        elapsed = max(0.0, now - bucket.updated)
        bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.per_second)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / self.per_second

    def reset(self) -> None:
        """Forget every bucket (all full again)."""
        self._buckets.clear()


def format_retry_after(seconds: float) -> str:
    """`Retry-After` text: whole seconds when whole, else milliseconds rounded up."""
    millis = math.ceil(seconds * 1000)
    if millis % 1000 == 0:
        return str(millis // 1000)
    return f"{millis / 1000:.3f}".rstrip("0")
