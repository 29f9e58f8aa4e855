"""The retry policy: what is retried, how long to wait, when to give up (DESIGN §5).

Pure: no I/O, no sleeping, no clock reads. The transport describes each failed attempt
as a `Failure`, asks `RetryPolicy.delay_for()` how long to wait, and does the waiting.

What retries:
- always (every method): 429, and connection failures before the request was sent;
- idempotent methods (GET, PUT, DELETE, HEAD) also: 408, 500, 502, 503, 504, timeouts
  and dropped connections; POST and PATCH only if the caller opts in.
"""

from __future__ import annotations

import email.utils
import enum
import random
from collections.abc import Callable

import attrs

__all__ = ["Failure", "FailureKind", "RetryPolicy", "parse_retry_after"]

RETRYABLE_STATUSES = frozenset({408, 500, 502, 503, 504})


class FailureKind(str, enum.Enum):
    """What went wrong with one attempt."""

    RATE_LIMITED = "rate_limited"
    """The server answered 429."""

    STATUS = "status"
    """The server answered another error status."""

    NOT_SENT = "not_sent"
    """The connection failed before the request left: always safe to retry."""

    MAYBE_SENT = "maybe_sent"
    """A timeout or dropped connection after the request may have reached the server."""

    INVALID = "invalid"
    """The request could not be sent as built (a protocol error on our side): never retried."""


@attrs.frozen(kw_only=True)
class Failure:
    """One failed attempt, as the policy needs to see it.

    Attributes:
        kind: What went wrong.
        status: The HTTP status, for `RATE_LIMITED` and `STATUS`.
        retry_after: Seconds the server asked to wait, already parsed.
    """

    kind: FailureKind
    status: int | None = None
    retry_after: float | None = None


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How the client retries failed requests.

    Attributes:
        max_attempts: Tries per call, the first included (1 turns retries off). 429s are
            not counted against it while there is a deadline: they retry until it
            (unless `max_attempts` is 1).
        deadline: Seconds from the first attempt's start that bound the whole call: no
            retry starts past it, and each retry's timeout is cut to what is left. Time
            spent queued for the first rate-limit slot is not counted (None: no bound).
        backoff_base: Seconds of the first backoff ceiling; it doubles per retry.
        backoff_cap: The largest backoff ceiling, in seconds.
        max_retry_after: A `Retry-After` longer than this is not waited for: the error is
            raised at once, carrying `retry_after`.
        retry_non_idempotent: Retry POST and PATCH on timeouts, dropped connections and
            5xx too (only if the operation is safe to repeat for you).

    Example:
        ```python
        client = AsyncRefold(retry=RetryPolicy(max_attempts=6, deadline=120))
        ```
    """

    max_attempts: int = attrs.field(default=4, validator=attrs.validators.ge(1))
    deadline: float | None = 60.0
    backoff_base: float = attrs.field(default=0.5, validator=attrs.validators.ge(0))
    backoff_cap: float = attrs.field(default=8.0, validator=attrs.validators.ge(0))
    max_retry_after: float = 60.0
    retry_non_idempotent: bool = False

    def is_retryable(self, failure: Failure, *, idempotent: bool) -> bool:
        """Whether this kind of failure may be retried for this kind of method."""
        if failure.kind is FailureKind.INVALID:
            return False
        if failure.kind in (FailureKind.RATE_LIMITED, FailureKind.NOT_SENT):
            return True
        if not (idempotent or self.retry_non_idempotent):
            return False
        if failure.kind is FailureKind.MAYBE_SENT:
            return True
        return failure.status in RETRYABLE_STATUSES

    def backoff(self, retry_number: int, rand: Callable[[], float] = random.random) -> float:
        """Full-jitter backoff before retry `retry_number` (1 for the first retry)."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (retry_number - 1))
        return float(rand() * ceiling)

    def delay_for(
        self,
        failure: Failure,
        *,
        attempt: int,
        elapsed: float,
        idempotent: bool,
        rand: Callable[[], float] = random.random,
    ) -> float | None:
        """Seconds to wait before the next attempt, or `None` to give up now.

        Args:
            failure: What went wrong with attempt number `attempt` (counting from 1).
            attempt: How many attempts have been made so far.
            elapsed: Seconds since the first attempt started.
            idempotent: Whether the HTTP method is idempotent.
            rand: A source of uniform floats in [0, 1), for the jitter.
        """
        if not self.is_retryable(failure, idempotent=idempotent):
            return None
        # DESIGN §4: a 429 is retried until the deadline, not until an attempt count.
        # max_attempts=1 still turns every retry off.
        by_deadline = (
            failure.kind is FailureKind.RATE_LIMITED
            and self.deadline is not None
            and self.max_attempts > 1
        )
        if attempt >= self.max_attempts and not by_deadline:
            return None
        if failure.retry_after is not None:
            if failure.retry_after > self.max_retry_after:
                return None
            delay = failure.retry_after
        else:
            delay = self.backoff(attempt, rand)
        if self.deadline is not None and elapsed + delay >= self.deadline:
            return None  # no retry starts that could not finish before the deadline
        return delay


def parse_retry_after(value: str | None, *, date: str | None, now: float) -> float | None:
    """Seconds to wait from a `Retry-After` header, or `None` if absent or unreadable.

    Accepts integer or decimal seconds, or an HTTP date in any of its three forms. A date
    is measured against the response's own `Date` header when present (so clock skew
    between us and the server does not count), else against `now` (epoch seconds).
    Negative waits become 0.
    """
    if value is None:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    target = _http_date(text)
    if target is None:
        return None
    reference = _http_date(date) if date else None
    return max(0.0, target - (reference if reference is not None else now))


def _http_date(text: str) -> float | None:
    # parsedate_tz + mktime_tz read all three HTTP date forms as UTC (DESIGN §5).
    parts = email.utils.parsedate_tz(text)
    if parts is None:
        return None
    if parts[9] is None:
        # asctime dates carry no zone; HTTP dates are always GMT, never local time.
        parts = (*parts[:9], 0)
    return float(email.utils.mktime_tz(parts))
