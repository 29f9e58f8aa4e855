"""The server's rate limit, as the emulator enforces it (docs/architecture.md §1 and §4).

One token bucket per credential: it holds `burst` tokens, refills at `per_second`, and
a request that finds it empty is refused with 429 and a `Retry-After` saying, in
seconds (with millisecond precision), when one token will be back. Refused requests
take no token, as with nginx `limit_req`. Time comes from the emulator's clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import attrs

__all__ = ["DEFAULT_RATE_LIMIT", "SendAudit", "ServerRateLimit", "audit_send_times", "most_within"]

_EPSILON = 1e-9

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
        # A token within float rounding of whole counts as whole: grants timed exactly at
        # the refill boundary must not be refused for a 1e-15 shortfall.
        if bucket.tokens >= 1.0 - _EPSILON:
            bucket.tokens = max(0.0, bucket.tokens - 1.0)
            return None
        return (1.0 - bucket.tokens) / self.per_second

    def reset(self) -> None:
        """Forget every bucket (all full again)."""
        self._buckets.clear()


def most_within(times: Iterable[float], window: float) -> int:
    """The most of `times` in any closed window of `window` seconds (0: one instant)."""
    ordered, best, start = sorted(times), 0, 0
    for end, t in enumerate(ordered):
        while t - ordered[start] > window + _EPSILON:
            start += 1
        best = max(best, end - start + 1)
    return best


@attrs.frozen(kw_only=True)
class SendAudit:
    """How a list of send times fares against a server budget (see `audit_send_times`).

    Attributes:
        requests: How many sends there were.
        refused: The send times the server would have answered with 429.
        most_in_one_second: The most sends in any one-second window.
        most_at_once: The most sends at one instant.
    """

    requests: int
    refused: tuple[float, ...]
    most_in_one_second: int
    most_at_once: int

    @property
    def conforms(self) -> bool:
        """Whether the server would have accepted every send."""
        return not self.refused


def audit_send_times(
    times: Iterable[float], *, per_second: float = 20.0, burst: int = 5
) -> SendAudit:
    """Replay send times (seconds, any origin) through the server's bucket.

    The same bucket the emulator enforces: it holds `burst`, refills at `per_second`,
    and a refused send takes no token. Useful to check a batch job's own send log.

    Example:
        ```python
        audit = audit_send_times(sent_at, per_second=20, burst=5)
        assert audit.conforms, audit.refused[:5]
        ```
    """
    ordered = sorted(times)
    bucket = ServerRateLimit(per_second, burst)
    refused = tuple(t for t in ordered if bucket.take("audit", now=t) is not None)
    return SendAudit(
        requests=len(ordered),
        refused=refused,
        most_in_one_second=most_within(ordered, 1.0),
        most_at_once=most_within(ordered, 0.0),
    )


def format_retry_after(seconds: float) -> str:
    """`Retry-After` text: whole seconds when whole, else milliseconds rounded up."""
    millis = math.ceil(seconds * 1000)
    if millis % 1000 == 0:
        return str(millis // 1000)
    return f"{millis / 1000:.3f}".rstrip("0")
