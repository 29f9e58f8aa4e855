"""Neighbours the client cannot see: the AIMD layer over every scope.

The layer's clock is controllable (a number the test moves, or the virtual loop's), so
every decision is exact. The last test plays two hosts without coordination (a host
scope each, on a directory of their own) against a model of the server's bucket.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from typing import Any

import pytest

from refold_async import AsyncRefold, HostRateLimiter, RateLimit
from refold_async._ratelimit import LocalRateLimiter, SlotTooFar
from refold_async._ratelimit._adaptive import AdaptiveRateLimiter, adaptive
from refold_async.testing import audit_send_times

from .conftest import run_virtual

RATE = RateLimit()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def layer(clock: Clock, **options: Any) -> AdaptiveRateLimiter:
    return AdaptiveRateLimiter(LocalRateLimiter(RATE), clock=clock, **options)


def test_a_429_halves_the_share_once_per_cooldown_down_to_the_floor() -> None:
    clock = Clock()
    limiter = layer(clock, cooldown=1.0, floor=0.1, decrease=0.5)

    async def main() -> list[float]:
        shares = [limiter.share("k")]
        await limiter.penalize("k", 0)
        shares.append(limiter.share("k"))
        await limiter.penalize("k", 0)  # the same collision: not cut again
        shares.append(limiter.share("k"))
        for _ in range(6):
            clock.now += 1.0
            await limiter.penalize("k", 0)
            shares.append(limiter.share("k"))
        return shares

    shares = run_virtual(main)
    assert shares == [1.0, 0.5, 0.5, 0.25, 0.125, 0.1, 0.1, 0.1, 0.1]
    assert limiter.share("other") == 1.0


def test_the_share_grows_back_one_step_per_quiet_period() -> None:
    clock = Clock()
    limiter = layer(clock, quiet=5.0, step=0.1, decrease=0.5)

    async def main() -> list[float]:
        await limiter.penalize("k", 0)
        shares = []
        for _ in range(8):
            clock.now += 2.5  # one step per 5 s without a 429, checked as calls come
            await limiter.acquire("k")
            shares.append(limiter.share("k"))
        return shares

    assert run_virtual(main) == pytest.approx([0.5, 0.6, 0.6, 0.7, 0.7, 0.8, 0.8, 0.9])


def test_after_a_neighbour_the_share_stops_below_the_whole_budget_for_a_while() -> None:
    """Grown back to the ceiling (0.9) only: at the whole budget a client keeps the
    server's bucket exactly full, never draws a 429 and starves the neighbour. After
    `forget` seconds without a 429 the whole budget comes back."""
    clock = Clock()
    limiter = layer(clock, quiet=5.0, step=0.1, decrease=0.5, ceiling=0.9, forget=300)

    async def main() -> list[float]:
        await limiter.penalize("k", 0)
        shares = []
        for _ in range(20):
            clock.now += 5
            await limiter.acquire("k")
        shares.append(limiter.share("k"))
        clock.now = 301
        await limiter.acquire("k")
        shares.append(limiter.share("k"))
        return shares

    assert run_virtual(main) == pytest.approx([0.9, 1.0])


def test_the_warning_names_redis_and_comes_once(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    limiter = layer(clock)

    async def main() -> None:
        for _ in range(5):
            clock.now += 2
            await limiter.penalize("k", 0)

    with caplog.at_level(logging.WARNING, logger="refold.ratelimit"):
        run_virtual(main)
    warnings = [r.getMessage() for r in caplog.records if "something else spends" in r.getMessage()]
    assert len(warnings) == 1
    assert "RedisRateLimiter" in warnings[0]


def test_a_lower_share_lowers_the_rate_in_the_shared_bucket() -> None:
    """At half a share, two processes on one host file get half the budget together."""
    directory = tempfile.mkdtemp(prefix="refold-neigh-")

    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        layers = [
            AdaptiveRateLimiter(
                HostRateLimiter(RATE, directory=directory), clock=loop.time, decrease=0.5
            )
            for _ in range(2)
        ]
        for one in layers:
            await one.penalize("k", 0)  # both learned of a neighbour: half a share each
        times: list[float] = []

        async def call(one: AdaptiveRateLimiter) -> None:
            await one.acquire("k")
            times.append(loop.time())

        await asyncio.gather(*(call(layers[i % 2]) for i in range(60)))
        return times

    times = run_virtual(main)
    assert audit_send_times(times, per_second=10, burst=5).conforms
    assert not audit_send_times(times, per_second=8, burst=5).conforms  # not slower than that


def test_a_bounded_call_is_bounded_in_all_its_slots() -> None:
    clock = Clock()
    limiter = layer(clock)

    async def main() -> None:
        await limiter.penalize("k", 30)  # a long pause, and half a share
        with pytest.raises(SlotTooFar):
            await limiter.acquire("k", max_wait=1)

    run_virtual(main)


def test_reserve_at_a_lower_share_spreads_the_slots() -> None:
    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        limiter = AdaptiveRateLimiter(
            HostRateLimiter(RATE, directory=tempfile.mkdtemp(prefix="refold-neigh-")),
            clock=loop.time,
        )
        await limiter.penalize("k", 0)
        block = await limiter.reserve("k", 4)
        return list(iter(block.take, None))

    times = run_virtual(main)
    assert len(times) == 4
    assert audit_send_times(times, per_second=10, burst=2).conforms


def test_clients_get_the_layer_and_share_it() -> None:
    a = AsyncRefold(api_key="tk_neigh_test_key_0123456789")
    b = AsyncRefold(api_key="tk_neigh_test_key_9876543210")
    assert isinstance(a._transport.config.limiter, AdaptiveRateLimiter)
    assert a._transport.config.limiter is b._transport.config.limiter
    assert (
        AsyncRefold(api_key="tk_x_0123456789", rate_limit=None)._transport.config.limiter.rate
        is None
    )
    inner = LocalRateLimiter(RATE)
    assert adaptive(inner) is adaptive(inner)
    assert adaptive(adaptive(inner)) is adaptive(inner)


# --- two hosts without coordination, against the server's bucket -----------------------


class ServerModel:
    """The API's bucket (burst 5, 20/s): accepts a request iff it conforms."""

    def __init__(self, rate: RateLimit) -> None:
        self.capacity = rate.burst
        self.per_second = rate.per_second
        self.level = 0.0
        self.last = 0.0

    def admit(self, now: float) -> bool:
        self.level = max(0.0, self.level - (now - self.last) * self.per_second)
        self.last = now
        if self.level + 1 > self.capacity + 1e-9:
            return False
        self.level += 1
        return True


def play_two_hosts(adapt: bool, seconds: float) -> tuple[list[int], int]:
    """Two hosts x two processes, each process 8 callers in a loop; 429 -> 50 ms pause."""
    dirs = [tempfile.mkdtemp(prefix="refold-neigh-host-") for _ in range(2)]

    async def main() -> tuple[list[int], int]:
        loop = asyncio.get_running_loop()
        server = ServerModel(RATE)
        served = [0, 0]
        refused = 0
        processes = []
        for host in range(2):
            for _ in range(2):
                inner = HostRateLimiter(RATE, directory=dirs[host])
                processes.append(
                    (host, AdaptiveRateLimiter(inner, clock=loop.time) if adapt else inner)
                )

        async def caller(host: int, limiter: Any) -> None:
            nonlocal refused
            while loop.time() < seconds:
                await limiter.acquire("k")
                if server.admit(loop.time()):
                    served[host] += 1
                else:
                    refused += 1
                    await limiter.penalize("k", 0.05)

        await asyncio.gather(*(caller(h, lim) for h, lim in processes for _ in range(8)))
        return served, refused

    result: tuple[list[int], int] = run_virtual(main)
    return result


def test_two_uncoordinated_hosts_settle_near_fair_shares() -> None:
    """75 s: with the layer, neither host falls below 30 % and 429s stay rare; without
    it (the limiter alone), the hosts fight: many more 429s."""
    served, refused = play_two_hosts(adapt=True, seconds=75)
    total = sum(served)
    assert min(served) / total >= 0.3
    assert total >= 0.6 * 75 * RATE.per_second  # the budget is still mostly used
    _, refused_without = play_two_hosts(adapt=False, seconds=75)
    assert refused * 3 < refused_without
