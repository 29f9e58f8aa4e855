"""Fixtures for behaviour tests on the emulator: a fake clock, an emulator, clients.

Clients here send without a rate limit and retry without backoff unless a test says
otherwise, so nothing waits on real time. `LoopClock` lets the emulator share the
virtual time of `tests.core.conftest.run_virtual`'s loop with the client's limiter.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from refold_async import AsyncRefold, RetryPolicy
from refold_async.testing import Emulator, FakeClock
from refold_async.testing._clock import FAKE_EPOCH

TEST_KEY = "tk_test_emulator_suite_0001"
LIVE_KEY = "pk_live_emulator_suite_0001"
ACCOUNT = "acme"

NO_BACKOFF = RetryPolicy(backoff_base=0.0, backoff_cap=0.0, max_attempts=4)
"""Retries at once: faults are retried without real waiting."""


class LoopClock:
    """The running event loop's clock: with a virtual-time loop, time is exact.

    Outside a running loop (while the emulator is being built) it reads 0.
    """

    def now(self) -> float:
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:
            return 0.0

    def wall(self) -> float:
        return FAKE_EPOCH + self.now()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@pytest.fixture
def clock() -> FakeClock:
    """A clock that moves only when the test advances it."""
    return FakeClock()


@pytest.fixture
def emulator(clock: FakeClock) -> Emulator:
    """An emulator with a test and a live key, on the fake clock, without a rate limit."""
    return Emulator(
        api_keys=[TEST_KEY, LIVE_KEY], clock=clock, rate_limit=None, execution_delay=2.0
    )


def make_client(emulator: Emulator, **options: Any) -> AsyncRefold:
    """An in-process client: no rate limit and no backoff unless `options` say so."""
    options.setdefault("rate_limit", None)
    options.setdefault("retry", NO_BACKOFF)
    client: AsyncRefold = emulator.client(**options)
    return client


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[AsyncRefold]:
    """A key client with the linked account `acme` already upserted."""
    async with make_client(emulator) as client:
        await client.linked_accounts.upsert(linked_account_id=ACCOUNT, name="Acme")
        yield client
