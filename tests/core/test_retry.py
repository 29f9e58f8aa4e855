"""The retry policy (pure) and Retry-After parsing."""

from __future__ import annotations

import email.utils

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refold_async._retry import Failure, FailureKind, RetryPolicy, parse_retry_after

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
    """What retries follows DESIGN §5's table."""
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
    """DESIGN §4: a 429 is retried while the deadline allows, whatever the attempt count."""
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
        pytest.param("-4", None, 0.0, id="negative"),
        pytest.param(email.utils.formatdate(NOW + 7, usegmt=True), None, 7.0, id="imf-fixdate"),
        pytest.param("Tuesday, 14-Nov-23 22:13:27 GMT", None, 7.0, id="rfc850"),
        pytest.param("Tue Nov 14 22:13:27 2023", None, 7.0, id="asctime"),
        pytest.param(
            email.utils.formatdate(NOW + 500 + 9, usegmt=True),
            email.utils.formatdate(NOW + 500, usegmt=True),
            9.0,
            id="against-date-header",
        ),
        pytest.param(email.utils.formatdate(NOW - 60, usegmt=True), None, 0.0, id="date-in-past"),
        pytest.param("soon", None, None, id="garbage"),
        pytest.param(None, None, None, id="absent"),
    ],
)
def test_parse_retry_after(value: str | None, date: str | None, expected: float | None) -> None:
    """Retry-After reads as seconds or any of the three HTTP date forms."""
    assert parse_retry_after(value, date=date, now=NOW) == expected
