"""Faults on demand: every kind against a GET and a POST ends in success after retries,
or in exactly one typed error; none hangs (`fail_after` guards only against a hang).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from refold_async import (
    APIConnectionError,
    APIDecodeError,
    APIStatusError,
    APITimeoutError,
    AsyncRefold,
    BadRequestError,
    ServerError,
)
from refold_async.testing import Emulator, FakeClock

from .conftest import make_client

OK = None
GET_OP = "listWebhooks"
POST_OP = "registerWebhook"

# (id, fault, outcome of a GET, outcome of a POST): OK means success after one retry.
MATRIX: list[tuple[str, dict[str, Any], type[Exception] | None, type[Exception] | None]] = [
    ("503", {"status": 503}, OK, ServerError),
    ("500-empty-body", {"status": 500, "body": "empty"}, OK, ServerError),
    ("502-html-body", {"status": 502, "body": "html"}, OK, ServerError),
    ("504-malformed-body", {"status": 504, "body": "malformed"}, OK, ServerError),
    ("408", {"status": 408}, OK, APIStatusError),
    ("429", {"status": 429, "retry_after": 0}, OK, OK),
    ("connect-error", {"drop": "connect"}, OK, OK),
    ("dropped-connection", {"drop": "disconnect"}, OK, APIConnectionError),
    ("read-timeout", {"drop": "timeout"}, OK, APITimeoutError),
    ("latency", {"delay": 30.0}, OK, OK),
    ("200-malformed-json", {"body": "malformed"}, APIDecodeError, APIDecodeError),
    ("200-html", {"body": "html"}, APIDecodeError, APIDecodeError),
    ("200-empty", {"body": "empty"}, APIDecodeError, APIDecodeError),
    ("400", {"status": 400}, BadRequestError, BadRequestError),
]

CASES = [
    pytest.param(fault, op, outcome, id=f"{name}-{method}")
    for name, fault, get_outcome, post_outcome in MATRIX
    for method, op, outcome in (("GET", GET_OP, get_outcome), ("POST", POST_OP, post_outcome))
]


def _call(client: AsyncRefold, operation: str) -> Callable[[], Awaitable[Any]]:
    if operation == GET_OP:
        return lambda: client.webhooks.list()
    return lambda: client.webhooks.create(
        webhook_url="https://example.invalid/h", webhook_events=["Connection Created"]
    )


@pytest.mark.parametrize(("fault", "operation", "outcome"), CASES)
async def test_fault_is_retried_or_raises_one_typed_error(
    emulator: Emulator,
    client: AsyncRefold,
    fault: dict[str, Any],
    operation: str,
    outcome: type[Exception] | None,
) -> None:
    """One injected fault: success on the retry, or exactly one error of the expected class."""
    emulator.faults.add(operation=operation, **fault)
    before = emulator.stats.requests
    with anyio.fail_after(10):
        if outcome is None:
            await _call(client, operation)()
        else:
            with pytest.raises(outcome) as caught:
                await _call(client, operation)()
            assert getattr(caught.value, "attempts", 1) == 1
    retried = outcome is None and set(fault) != {"delay"}
    assert emulator.stats.requests - before == (2 if retried else 1)
    assert emulator.faults.pending == 0


async def test_latency_moves_the_fake_clock(
    emulator: Emulator, client: AsyncRefold, clock: FakeClock
) -> None:
    """A latency fault advances the emulator's fake clock instead of waiting."""
    emulator.faults.add(delay=12.5, operation=GET_OP)
    await client.webhooks.list()
    assert clock.now() == 12.5


async def test_faults_until_the_last_attempt_still_succeed(
    emulator: Emulator, client: AsyncRefold
) -> None:
    """Three 503s and a fourth attempt: the call succeeds on attempt 4."""
    emulator.faults.add(status=503, count=3)
    await client.webhooks.list()
    assert emulator.stats.requests == 1 + 4  # the fixture's upsert, then four attempts


async def test_faults_past_the_last_attempt_raise_with_the_attempt_count(
    emulator: Emulator, client: AsyncRefold
) -> None:
    """A fault that never clears ends in `ServerError` after `max_attempts` tries."""
    emulator.faults.add(status=503, count=None, operation=GET_OP)
    with pytest.raises(ServerError) as caught:
        await client.webhooks.list()
    assert caught.value.attempts == 4
    emulator.faults.clear()
    assert await client.webhooks.list() == []


async def test_faults_match_by_path_and_method(emulator: Emulator, client: AsyncRefold) -> None:
    """A fault scoped to a path prefix and a method leaves other requests alone."""
    emulator.faults.add(status=400, path="/api/v2/public/webhook", method="POST")
    assert await client.webhooks.list() == []
    with pytest.raises(BadRequestError):
        await _call(client, POST_OP)()
    assert emulator.faults.injected == [(POST_OP, "400")]


def _injected_sequence(seed: int) -> list[tuple[str, str]]:
    emulator = Emulator(clock=FakeClock(), rate_limit=None)
    emulator.faults.random(rate=0.3, seed=seed)
    return _drive(emulator)


def _drive(emulator: Emulator) -> list[tuple[str, str]]:
    async def main() -> None:
        async with make_client(emulator, retry=_patient()) as client:
            for _ in range(40):
                assert await client.webhooks.list() == []

    anyio.run(main)
    return emulator.faults.injected


def _patient() -> Any:
    from refold_async import RetryPolicy

    return RetryPolicy(backoff_base=0.0, backoff_cap=0.0, max_attempts=20, deadline=None)


def test_random_faults_are_seeded_and_retried_away() -> None:
    """Random mode at 30%: every GET still succeeds, and a seed replays the same faults."""
    first = _injected_sequence(seed=7)
    assert len(first) > 5
    assert _injected_sequence(seed=7) == first
    assert _injected_sequence(seed=8) != first


def test_a_fault_needs_something_to_do(emulator: Emulator) -> None:
    """`add()` with nothing to inject is refused."""
    with pytest.raises(ValueError, match="needs"):
        emulator.faults.add()
