"""The retry policy (pure), Retry-After parsing, and what the transport makes of them."""

from __future__ import annotations

import email.utils
import math

import httpx
import pytest
import respx
from hypothesis import given
from hypothesis import strategies as st

from refold_async import (
    APIStatusError,
    NotFoundError,
    RateLimitError,
    ServerError,
)
from refold_async._retry import (
    LONGEST_RETRY_AFTER,
    Failure,
    FailureKind,
    RetryPolicy,
    parse_retry_after,
)
from tests.core import ops
from tests.helpers import RecordingSleep, mock_client

pytestmark = pytest.mark.anyio  # the backend matrix: asyncio and trio (tests/conftest.py)

RATE_LIMITED = Failure(kind=FailureKind.RATE_LIMITED, status=429)
NOT_SENT = Failure(kind=FailureKind.NOT_SENT)
MAYBE_SENT = Failure(kind=FailureKind.MAYBE_SENT)


def status(code: int) -> Failure:
    return Failure(kind=FailureKind.STATUS, status=code)


@pytest.mark.parametrize(
    ("failure", "idempotent", "expected"),
    [
        pytest.param(RATE_LIMITED, False, True, id="429-post"),
        pytest.param(RATE_LIMITED, True, True, id="429-get"),
        pytest.param(NOT_SENT, False, True, id="connect-error-post"),
        pytest.param(MAYBE_SENT, True, True, id="timeout-get"),
        pytest.param(MAYBE_SENT, False, False, id="timeout-post"),
        pytest.param(Failure(kind=FailureKind.INVALID), True, False, id="invalid-request-get"),
        *[pytest.param(status(c), True, True, id=f"{c}-get") for c in (408, 500, 502, 503, 504)],
        *[pytest.param(status(c), False, False, id=f"{c}-post") for c in (408, 500, 502, 503, 504)],
        *[
            pytest.param(status(c), True, False, id=f"{c}-get")
            for c in (400, 401, 403, 404, 409, 422, 501)
        ],
    ],
)
def test_policy_table(failure: Failure, idempotent: bool, expected: bool) -> None:
    """What retries follows docs/architecture.md §5's table."""
    assert RetryPolicy().is_retryable(failure, idempotent=idempotent) is expected


def test_post_opt_in_retries_5xx_and_timeouts() -> None:
    """`retry_non_idempotent=True` lets POST retry what GET retries."""
    policy = RetryPolicy(retry_non_idempotent=True)
    assert policy.is_retryable(status(503), idempotent=False)
    assert policy.is_retryable(MAYBE_SENT, idempotent=False)
    assert not policy.is_retryable(status(400), idempotent=False)


@given(retry=st.integers(min_value=1, max_value=30), r=st.floats(min_value=0, max_value=0.999999))
def test_full_jitter_backoff_is_bounded(retry: int, r: float) -> None:
    """Backoff is uniform in [0, min(cap, base * 2^(n-1)))."""
    policy = RetryPolicy()
    delay = policy.backoff(retry, lambda: r)
    assert 0 <= delay <= min(8.0, 0.5 * 2 ** (retry - 1))


def test_backoff_ceiling_doubles_then_caps() -> None:
    """The ceiling is 0.5, 1, 2, 4, 8, 8 seconds for retries 1..6."""
    policy = RetryPolicy()
    assert [policy.backoff(n, lambda: 1.0) for n in range(1, 7)] == [0.5, 1, 2, 4, 8, 8]


def test_max_attempts_stops_retries() -> None:
    """No delay is offered once `max_attempts` attempts have been made."""
    policy = RetryPolicy(max_attempts=3)
    unavailable = Failure(kind=FailureKind.STATUS, status=503)
    assert policy.delay_for(unavailable, attempt=2, elapsed=0, idempotent=True) is not None
    assert policy.delay_for(unavailable, attempt=3, elapsed=0, idempotent=True) is None


def test_429s_retry_until_the_deadline_not_max_attempts() -> None:
    """docs/architecture.md §4: a 429 is retried while the deadline allows, whatever the attempt count."""
    policy = RetryPolicy(max_attempts=3, deadline=60)
    half = lambda: 0.5  # noqa: E731 - fixed jitter: a backoff of 4 s at this attempt
    assert policy.delay_for(RATE_LIMITED, attempt=30, elapsed=10, idempotent=True, rand=half) == 4
    assert (
        policy.delay_for(RATE_LIMITED, attempt=30, elapsed=59.9, idempotent=True, rand=half) is None
    )
    no_deadline = RetryPolicy(max_attempts=3, deadline=None)
    assert no_deadline.delay_for(RATE_LIMITED, attempt=3, elapsed=0, idempotent=True) is None
    never = RetryPolicy(max_attempts=1)
    assert never.delay_for(RATE_LIMITED, attempt=1, elapsed=0, idempotent=True) is None


def test_deadline_stops_retries() -> None:
    """A retry that would start past the deadline is not offered."""
    policy = RetryPolicy(deadline=10)
    failure = Failure(kind=FailureKind.RATE_LIMITED, status=429, retry_after=3)
    assert policy.delay_for(failure, attempt=1, elapsed=6, idempotent=True) == 3
    assert policy.delay_for(failure, attempt=1, elapsed=7.5, idempotent=True) is None


def test_retry_after_wins_and_is_capped() -> None:
    """Retry-After replaces the backoff; past `max_retry_after` the policy gives up."""
    policy = RetryPolicy(max_retry_after=30)
    assert (
        policy.delay_for(
            Failure(kind=FailureKind.RATE_LIMITED, retry_after=12),
            attempt=1,
            elapsed=0,
            idempotent=False,
        )
        == 12
    )
    assert (
        policy.delay_for(
            Failure(kind=FailureKind.RATE_LIMITED, retry_after=31),
            attempt=1,
            elapsed=0,
            idempotent=False,
        )
        is None
    )


NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("value", "date", "expected"),
    [
        pytest.param("3", None, 3.0, id="integer"),
        pytest.param("1.5", None, 1.5, id="float"),
        pytest.param("0", None, 0.0, id="zero"),
        pytest.param(" 12 ", None, 12.0, id="spaces"),
        pytest.param("0000000000002", None, 2.0, id="leading-zeros"),
        pytest.param(email.utils.formatdate(NOW + 7, usegmt=True), None, 7.0, id="imf-fixdate"),
        pytest.param("Tuesday, 14-Nov-23 22:13:27 GMT", None, 7.0, id="rfc850"),
        pytest.param("Tue Nov 14 22:13:27 2023", None, 7.0, id="asctime"),
        pytest.param(
            email.utils.formatdate(NOW + 500 + 9, usegmt=True),
            email.utils.formatdate(NOW + 500, usegmt=True),
            9.0,
            id="against-date-header",
        ),
        pytest.param(None, None, None, id="absent"),
        # No usable hint: the caller backs off as without the header (never "now").
        pytest.param(email.utils.formatdate(NOW - 60, usegmt=True), None, None, id="date-in-past"),
        pytest.param("soon", None, None, id="garbage"),
        pytest.param("-4", None, None, id="negative"),
        pytest.param("-0.5", None, None, id="negative-float"),
        pytest.param("nan", None, None, id="nan"),
        pytest.param("NaN", None, None, id="nan-upper"),
        pytest.param("inf", None, None, id="inf"),
        pytest.param("-inf", None, None, id="minus-inf"),
        pytest.param("1e3", None, None, id="exponent"),
        pytest.param("0x10", None, None, id="hex"),
        pytest.param("+5", None, None, id="plus-sign"),
        pytest.param("1_000", None, None, id="underscores"),
        pytest.param("\u0663", None, None, id="arabic-indic-digit"),
        pytest.param("", None, None, id="empty"),
        pytest.param("Tue, 31 Feb 2099 00:00:00 GMT", None, None, id="no-such-day"),
        pytest.param("Tue, 99 Nov 2099 99:99:99 GMT", None, None, id="fields-out-of-range"),
        # Far-future waits are as long as a wait goes: the policy then refuses them.
        pytest.param("Fri, 31 Dec 10000 23:59:59 GMT", None, LONGEST_RETRY_AFTER, id="year-10000"),
        pytest.param(
            "Fri, 31 Dec 99999999999 23:59:59 GMT", None, LONGEST_RETRY_AFTER, id="year-huge"
        ),
        pytest.param("9" * 5000, None, LONGEST_RETRY_AFTER, id="5000-digits"),
        pytest.param("100000", None, 86_400.0, id="over-a-day"),
        # A Date header that does not read as a date is ignored, not trusted.
        pytest.param(
            email.utils.formatdate(NOW + 7, usegmt=True),
            "Fri, 31 Dec 10000 23:59:59 GMT",
            7.0,
            id="date-header-far-future",
        ),
        pytest.param(
            email.utils.formatdate(NOW + 7, usegmt=True), "garbage", 7.0, id="date-header-garbage"
        ),
    ],
)
def test_parse_retry_after(value: str | None, date: str | None, expected: float | None) -> None:
    """Retry-After reads as seconds or any of the three HTTP date forms."""
    assert parse_retry_after(value, date=date, now=NOW) == expected


@given(
    value=st.one_of(
        st.text(),
        st.from_regex(r"\A[ -~]{0,6}[0-9]{1,40}(\.[0-9]*)?[ -~]{0,6}\Z"),
        st.builds(
            "{}, {:02d} {} {} {:02d}:{:02d}:{:02d} {}".format,
            st.sampled_from(["Mon", "Tue", "Fri"]),
            st.integers(-5, 120),
            st.sampled_from(["Jan", "Feb", "Dec", "Xyz"]),
            st.integers(-10, 10**15),
            st.integers(-5, 120),
            st.integers(-5, 120),
            st.integers(-5, 120),
            st.sampled_from(["GMT", "+9999", "-2400", "UT", "EST", ""]),
        ),
    ),
    date=st.one_of(st.none(), st.text(max_size=40)),
)
def test_any_retry_after_maps_to_none_or_a_bounded_wait(value: str, date: str | None) -> None:
    """Parsing is total: any text is no hint or a finite wait in [0, a day]."""
    result = parse_retry_after(value, date=date, now=NOW)
    assert result is None or (math.isfinite(result) and 0 <= result <= LONGEST_RETRY_AFTER)


@pytest.mark.parametrize("hint", [None, 0.0])
def test_a_429_never_retries_at_once(hint: float | None) -> None:
    """Whatever Retry-After said, a 429 waits at least one budget interval, growing."""
    policy = RetryPolicy(deadline=None, max_attempts=100)
    failure = Failure(kind=FailureKind.RATE_LIMITED, status=429, retry_after=hint)
    zero = lambda: 0.0  # noqa: E731 - the least jitter: the floor itself
    delays = [
        policy.delay_for(failure, attempt=n, elapsed=0, idempotent=True, rand=zero)
        for n in range(1, 7)
    ]
    assert delays == [0.05, 0.1, 0.2, 0.4, 0.5, 0.5]
    slow = policy.delay_for(failure, attempt=1, elapsed=0, idempotent=True, rand=zero, interval=1)
    assert slow == 1.0  # a budget of one request a second: at least a second
    # Jitter spreads retries over [floor, 2 * floor).
    assert policy.rate_limited_backoff(1, 0.05, lambda: 0.999) == pytest.approx(0.09995)


def test_other_statuses_keep_a_zero_retry_after() -> None:
    """Only a 429 gets the floor: a 503 saying Retry-After: 0 retries at once."""
    failure = Failure(kind=FailureKind.STATUS, status=503, retry_after=0.0)
    assert RetryPolicy().delay_for(failure, attempt=1, elapsed=0, idempotent=True) == 0.0


@pytest.mark.parametrize("hint", [math.nan, math.inf, -math.inf])
def test_a_non_finite_hint_reads_as_no_hint(hint: float) -> None:
    """A hint that is not a number of seconds is ignored: the normal backoff applies."""
    failure = Failure(kind=FailureKind.STATUS, status=503, retry_after=hint)
    half = lambda: 0.5  # noqa: E731
    assert (
        RetryPolicy().delay_for(failure, attempt=1, elapsed=0, idempotent=True, rand=half) == 0.25
    )


# --- end to end: the transport never sees a built-in error, nor storms -----------------

FAR_FUTURE = "Fri, 31 Dec 10000 23:59:59 GMT"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        pytest.param(429, RateLimitError, id="429"),
        pytest.param(404, NotFoundError, id="404"),
        pytest.param(503, ServerError, id="503"),
    ],
)
async def test_a_far_future_retry_after_is_a_typed_error(
    router: respx.Router, status: int, error: type[APIStatusError]
) -> None:
    """Retry-After in year 10000 raises the status's own error, at once, never ValueError."""
    router.route().mock(return_value=httpx.Response(status, headers={"retry-after": FAR_FUTURE}))
    sleep = RecordingSleep()
    client = mock_client(router, sleep=sleep)
    with pytest.raises(error) as info:
        await client._transport.send(ops.ORG)
    assert sleep.calls == []
    assert router.calls.call_count == 1
    if status == 429:
        assert isinstance(info.value, RateLimitError)
        assert info.value.retry_after == LONGEST_RETRY_AFTER


@pytest.mark.parametrize(
    "retry_after",
    [
        pytest.param("0", id="zero"),
        pytest.param("-1", id="negative"),
        pytest.param("NaN", id="nan"),
        pytest.param("Mon, 01 Jan 2001 00:00:00 GMT", id="past-date"),
        pytest.param("0x1", id="hex"),
        pytest.param(None, id="absent"),
    ],
)
async def test_no_retry_storm_against_a_server_answering_429_forever(
    router: respx.Router, retry_after: str | None
) -> None:
    """rate_limit=None, 429 forever: a few requests a second on the call's clock, no more."""
    answered: list[float] = []
    sleep = RecordingSleep()

    def forever(request: httpx.Request) -> httpx.Response:
        answered.append(sleep.now)
        if len(answered) > 500:  # the old storm: stop it, and fail below
            return httpx.Response(404)
        headers = {} if retry_after is None else {"retry-after": retry_after}
        return httpx.Response(429, headers=headers)

    router.route().mock(side_effect=forever)
    client = mock_client(router, sleep=sleep, retry=RetryPolicy(deadline=5))
    client._transport._rand = lambda: 0.0  # the least jitter: the shortest waits
    with pytest.raises(RateLimitError):
        await client._transport.send(ops.ORG)
    assert answered[-1] < 5  # the deadline (on the call's clock) ended it
    assert len(answered) <= 15  # 5 s: at most 3 a second on average
    assert len([t for t in answered if t < 1]) <= 6  # and no burst at the start
