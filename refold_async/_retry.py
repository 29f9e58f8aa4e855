"""The retry policy: what is retried, how long to wait, when to give up (docs/architecture.md §5).

Pure: no I/O, no sleeping, no clock reads. The transport describes each failed attempt
as a `Failure`, asks `RetryPolicy.delay_for()` how long to wait, and does the waiting.

What retries:
- always (every method): 429, and connection failures before the request was sent;
- idempotent methods (GET, PUT, DELETE, HEAD) also: 408, 500, 502, 503, 504, timeouts
  and dropped connections; POST and PATCH only if the caller opts in.
"""

from __future__ import annotations

import calendar
import email.utils
import enum
import math
import random
import re
from collections.abc import Callable

import attrs

__all__ = ["Failure", "FailureKind", "RetryPolicy", "parse_retry_after"]

RETRYABLE_STATUSES = frozenset({408, 500, 502, 503, 504})
DEFAULT_INTERVAL = 1 / 20  # one interval of the default budget (20 requests per second)
# A Retry-After past a day reads as a day: no server means more, and every wait the
# policy and the limiter see stays finite (a date in year 10000 is past what `datetime`
# and `mktime` can hold).
LONGEST_RETRY_AFTER = 86_400.0
_SECONDS = re.compile(r"([0-9]+)(?:\.[0-9]*)?", re.ASCII)


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
        interval: float = DEFAULT_INTERVAL,
    ) -> float | None:
        """Seconds to wait before the next attempt, or `None` to give up now.

        Args:
            failure: What went wrong with attempt number `attempt` (counting from 1).
            attempt: How many attempts have been made so far.
            elapsed: Seconds since the first attempt started.
            idempotent: Whether the HTTP method is idempotent.
            rand: A source of uniform floats in [0, 1), for the jitter.
            interval: Seconds between two requests of the budget: a 429 waits at least
                this long before its retry (see `rate_limited_backoff`).
        """
        if not self.is_retryable(failure, idempotent=idempotent):
            return None
        # docs/architecture.md §4: a 429 is retried until the deadline, not until an attempt count.
        # max_attempts=1 still turns every retry off.
        by_deadline = (
            failure.kind is FailureKind.RATE_LIMITED
            and self.deadline is not None
            and self.max_attempts > 1
        )
        if attempt >= self.max_attempts and not by_deadline:
            return None
        hint = failure.retry_after
        if hint is not None and not math.isfinite(hint):
            hint = None  # only `parse_retry_after` should make these; read as no hint
        if hint is not None and hint > self.max_retry_after:
            return None
        delay = self.backoff(attempt, rand) if hint is None else max(hint, 0.0)
        if failure.kind is FailureKind.RATE_LIMITED:
            # A 429 never retries at once, whatever Retry-After said (0, a past date) and
            # whether or not a limiter paces the retry: against a server that answers
            # 429 forever, at most a few requests a second.
            delay = max(delay, self.rate_limited_backoff(attempt, interval, rand))
        if self.deadline is not None and elapsed + delay >= self.deadline:
            return None  # no retry starts that could not finish before the deadline
        return delay

    def rate_limited_backoff(
        self,
        retry_number: int,
        interval: float = DEFAULT_INTERVAL,
        rand: Callable[[], float] = random.random,
    ) -> float:
        """The least wait before retry `retry_number` after a 429, in seconds.

        Exponential from one budget interval up to `backoff_base` (or the interval, if
        longer), with jitter: between that floor and twice it.
        """
        ceiling = min(max(self.backoff_base, interval), interval * 2 ** min(retry_number - 1, 64))
        return float(ceiling * (1.0 + rand()))


def parse_retry_after(value: str | None, *, date: str | None, now: float) -> float | None:
    """Seconds to wait from a `Retry-After` header, or `None` for "no usable hint".

    Total: any text maps to `None` or to a finite number of seconds between 0 and
    `LONGEST_RETRY_AFTER`, never to an exception. Accepts whole or decimal seconds, or
    an HTTP date in any of its three forms. A date is measured against the response's
    own `Date` header when that reads as a date (so clock skew between us and the
    server does not count), else against `now` (epoch seconds). Negative, non-finite,
    signed, hexadecimal or otherwise malformed values, and dates not in the future, are
    no hint (`None`): the caller then backs off as it would without the header, rather
    than retrying at once. A date past year 9999 is as far as a wait goes.
    """
    if value is None:
        return None
    text = value.strip()
    seconds = _SECONDS.fullmatch(text)
    if seconds is not None:
        if len(seconds.group(1).lstrip("0")) > 9:  # past 30 years: no need to read further
            return LONGEST_RETRY_AFTER
        return min(float(text), LONGEST_RETRY_AFTER)
    target = _http_date(text)
    if target is None:
        return None
    reference = _http_date(date) if date else None
    if reference is None or not math.isfinite(reference):
        reference = now
    wait = target - reference
    if not wait > 0:  # a past date (or `now` itself unreadable)
        return None
    return min(wait, LONGEST_RETRY_AFTER)


def _http_date(text: str) -> float | None:
    """Epoch seconds of an HTTP date; `inf` past year 9999; `None` if it is not one."""
    # parsedate_tz + mktime_tz's arithmetic read all three HTTP date forms as UTC
    # (docs/architecture.md §5); every field is checked first, since parsedate_tz passes day 99 or
    # hour 99 through and years past 9999 overflow `datetime`.
    try:
        parts = email.utils.parsedate_tz(text)
    except (ValueError, TypeError, IndexError, OverflowError):  # pragma: no cover - defensive
        return None
    if parts is None:
        return None
    year, month, day, hour, minute, second = parts[:6]
    offset = parts[9] or 0  # asctime dates carry no zone; HTTP dates are always GMT
    if not (
        1 <= month <= 12
        and 1 <= day <= 31
        and 0 <= hour <= 23
        and 0 <= minute <= 59
        and 0 <= second <= 60
        and abs(offset) <= 86_400
        and year >= 1
    ):
        return None
    if year > 9999:
        return math.inf
    if day > calendar.monthrange(year, month)[1]:
        return None
    return float(calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) - offset)
