"""The client's limiter against the emulator's enforcement of the server's budget.

Most tests run on a virtual-time loop (`tests.core.conftest.run_virtual`) with the
emulator reading the same loop clock, so limiter and server agree on time exactly and
nothing waits in real time. One test runs the real clock with the limits scaled up.
"""

from __future__ import annotations

from typing import Any

import anyio

from refold_async import AsyncRefold, RateLimit, RateLimitError, RetryPolicy
from refold_async.testing import Emulator
from tests.core.conftest import run_virtual

from .conftest import LIVE_KEY, TEST_KEY, LoopClock, make_client

CALLS = 200


async def _burst(client: AsyncRefold, calls: int) -> list[Any]:
    results: list[Any] = []

    async def one() -> None:
        results.append(await client.webhooks.list())

    async with anyio.create_task_group() as group:
        for _ in range(calls):
            group.start_soon(one)
    return results


def _virtual_run(rate: RateLimit, retry: RetryPolicy | None = None) -> tuple[Emulator, int, float]:
    emulator = Emulator(api_keys=[TEST_KEY], clock=LoopClock(), rate_limit=(20, 5))

    async def main() -> tuple[int, float]:
        clock = LoopClock()
        started = clock.now()
        async with make_client(emulator, rate_limit=rate, retry=retry or RetryPolicy()) as client:
            results = await _burst(client, CALLS)
        return len(results), clock.now() - started

    done, elapsed = run_virtual(main)
    return emulator, done, elapsed


def test_the_default_client_limit_draws_no_429() -> None:
    """200 concurrent calls with the default limit: no 429, never more than the bucket at once."""
    emulator, done, elapsed = _virtual_run(RateLimit(per_second=20, burst=5))
    stats = emulator.stats
    assert done == CALLS
    assert stats.requests == CALLS
    assert stats.rate_limited == 0
    assert stats.total.max_per_instant <= 5
    assert stats.total.max_per_second <= 5 + 20
    assert elapsed >= (CALLS - 5) / 20


def test_a_client_limit_above_the_server_draws_429s_that_are_retried() -> None:
    """A client told the budget is 100/s overshoots: 429s come back, and every call still succeeds."""
    patient = RetryPolicy(deadline=600)  # 429s retry until the deadline, not a count
    emulator, done, _ = _virtual_run(RateLimit(per_second=100, burst=20), patient)
    stats = emulator.stats
    assert done == CALLS
    assert stats.rate_limited > 0
    assert stats.requests == CALLS + stats.rate_limited


def test_without_retries_the_429_surfaces_with_retry_after() -> None:
    """With one attempt allowed, an overshooting call raises `RateLimitError` carrying `retry_after`."""
    emulator = Emulator(api_keys=[TEST_KEY], clock=LoopClock(), rate_limit=(20, 5))

    async def main() -> list[RateLimitError]:
        errors: list[RateLimitError] = []
        async with make_client(
            emulator, rate_limit=None, retry=RetryPolicy(max_attempts=1)
        ) as client:
            for _ in range(6):
                try:
                    await client.webhooks.list()
                except RateLimitError as error:
                    errors.append(error)
        return errors

    errors = run_virtual(main)
    assert len(errors) == 1
    assert errors[0].retry_after is not None
    assert 0 < errors[0].retry_after <= 0.05


def test_each_credential_has_its_own_bucket_and_stats() -> None:
    """Two keys draw on two buckets; stats are kept per credential fingerprint and in total."""
    emulator = Emulator(api_keys=[TEST_KEY, LIVE_KEY], clock=LoopClock(), rate_limit=(20, 5))

    async def main() -> None:
        async with make_client(emulator) as test, make_client(emulator, api_key=LIVE_KEY) as live:
            for _ in range(5):
                await test.webhooks.list()
                await live.webhooks.list()

    run_virtual(main)
    stats = emulator.stats
    assert stats.rate_limited == 0
    assert stats.total.max_per_instant == 10
    assert len(stats.by_credential) == 2
    for key in (TEST_KEY, LIVE_KEY):
        assert stats.of(key).requests == 5
        assert stats.of(key).max_per_instant == 5
        assert key not in repr(stats)


async def test_scaled_limits_on_the_real_clock_draw_no_429() -> None:
    """Emulator at 200/s burst 5 and a client told the same: 100 calls, no 429."""
    emulator = Emulator(api_keys=[TEST_KEY], rate_limit=(200, 5))
    async with make_client(emulator, rate_limit=RateLimit(per_second=200, burst=5)) as client:
        with anyio.fail_after(30):  # a hang guard only: the run takes about half a second
            results = await _burst(client, 100)
    assert len(results) == 100
    assert emulator.stats.rate_limited == 0
    assert emulator.stats.total.max_per_instant <= 5


def test_429s_without_retry_after_fall_back_to_backoff() -> None:
    """With `send_retry_after=False` the 429 carries no header and the client still recovers."""
    emulator = Emulator(
        api_keys=[TEST_KEY], clock=LoopClock(), rate_limit=(20, 5), send_retry_after=False
    )

    async def main() -> int:
        async with make_client(
            emulator, retry=RetryPolicy(max_attempts=10, deadline=None)
        ) as client:
            return len(await _burst(client, 10))

    assert run_virtual(main) == 10
    assert emulator.stats.rate_limited > 0
