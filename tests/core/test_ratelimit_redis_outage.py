"""The Redis limiter survives Redis (docs/architecture.md §4): a real server, stopped, frozen, restarted.

Each test starts a `redis-server` of its own on a free loopback port, so stopping it
harms nobody else. Skipped where no `redis-server` exists, unless `REFOLD_REQUIRE_REDIS`
is set (as `.ci/run` does), where a missing server fails the test instead.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from refold_async import HostRateLimiter, RateLimit, RedisRateLimiter
from refold_async.testing import audit_send_times
from refold_async.testing._redis_server import RedisServer

redis = pytest.importorskip("redis.asyncio")
SERVER = shutil.which("redis-server")
if SERVER is None and not os.environ.get("REFOLD_REQUIRE_REDIS"):
    pytest.skip("redis-server is not installed", allow_module_level=True)

RATE = RateLimit(per_second=200, burst=5)  # scaled up: each phase takes a fraction of a second


@pytest.fixture
def server() -> Iterator[RedisServer]:
    process = RedisServer(executable=SERVER)
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
async def limiter(server: RedisServer, tmp_path: Any) -> AsyncIterator[RedisRateLimiter]:
    client = redis.Redis(
        host="127.0.0.1", port=server.port, socket_timeout=1, socket_connect_timeout=0.5
    )
    fallback = HostRateLimiter(RATE, directory=tmp_path)
    limiter = RedisRateLimiter(client, RATE, timeout=0.2, probe_interval=0.1, fallback=fallback)
    yield limiter
    # Hand-backs and records still in flight finish (or fail) before the loop and the pool go.
    await limiter.aclose()
    await client.aclose()


async def grants(limiter: RedisRateLimiter, n: int, key: str = "k") -> list[float]:
    """`n` grants from concurrent waiters; their times, for the server-bucket audit."""
    times: list[float] = []

    async def one() -> None:
        await limiter.acquire(key)
        times.append(time.monotonic())

    await asyncio.wait_for(asyncio.gather(*(one() for _ in range(n))), 30)
    return times


def conforms(times: list[float]) -> bool:
    return audit_send_times(times, per_second=RATE.per_second, burst=RATE.burst).conforms


async def test_redis_killed_and_restarted_never_fails_a_grant(
    server: RedisServer, limiter: RedisRateLimiter, caplog: pytest.LogCaptureFixture
) -> None:
    """Down: grants come from the host budget, one warning. Back: grants come from Redis."""
    with caplog.at_level(logging.WARNING, logger="refold.ratelimit"):
        assert conforms(await grants(limiter, 30))
        assert limiter.redis_available
        server.stop()
        assert conforms(await grants(limiter, 60))  # not one exception
        assert not limiter.redis_available
        server.start()
        deadline = time.monotonic() + 10
        while not limiter.redis_available and time.monotonic() < deadline:
            await grants(limiter, 5)
        assert limiter.redis_available
        assert conforms(await grants(limiter, 30))
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "unavailable" in m]) == 1  # one per outage
    assert len([m for m in messages if "answers again" in m]) == 1


async def test_a_frozen_redis_costs_a_bounded_wait_then_falls_back(
    server: RedisServer, limiter: RedisRateLimiter
) -> None:
    """SIGSTOP: each grant waits at most the script timeout, then the fallback serves it."""
    await grants(limiter, 5)
    server.freeze()
    try:
        began = time.monotonic()
        times = await grants(limiter, 40)
        took = time.monotonic() - began
    finally:
        server.thaw()
    assert conforms(times)
    assert not limiter.redis_available
    # 40 grants at 200/s take ~0.2 s; the outage adds one 0.2 s timeout (and a probe
    # per 0.1 s, each at most 0.2 s): far from the 90 s the 0.1 limiter blocked for.
    assert took < 5


async def test_penalize_during_an_outage_pauses_the_fallback(
    server: RedisServer, limiter: RedisRateLimiter
) -> None:
    """A 429 seen while Redis is down still pauses the bucket (the fallback's)."""
    server.stop()
    await grants(limiter, 3)
    await limiter.penalize("k", 0.3)
    began = time.monotonic()
    await grants(limiter, 1)
    assert time.monotonic() - began >= 0.3 - 0.01


# --- a cluster that loses its coordinator keeps its share ------------------------------


async def hosts(server: RedisServer, tmp_path: Any, n: int) -> list[tuple[Any, RedisRateLimiter]]:
    """`n` hosts on one Redis: each a limiter with its own name and state directory."""
    made = []
    for i in range(n):
        client = redis.Redis(
            host="127.0.0.1", port=server.port, socket_timeout=1, socket_connect_timeout=0.5
        )
        directory = tmp_path / f"host-{i}"
        limiter = RedisRateLimiter(
            client,
            RATE,
            timeout=0.2,
            probe_interval=0.1,
            member=f"host-{i}",
            heartbeat=0.01,
            state_dir=directory,
        )
        made.append((client, limiter))
    return made


async def close(made: list[tuple[Any, RedisRateLimiter]]) -> None:
    for client, limiter in made:
        await limiter.aclose()
        await client.aclose()


async def learn_members(made: list[tuple[Any, RedisRateLimiter]], n: int) -> None:
    """Grants from every host until each has counted all `n` in Redis (bounded)."""
    deadline = time.monotonic() + 10
    while any(limiter._members.get("k", 1) < n for _, limiter in made):
        assert time.monotonic() < deadline
        await asyncio.gather(*(grants(limiter, 2) for _, limiter in made))
        await asyncio.gather(*(b for _, limiter in made for b in limiter._beats))


@pytest.mark.parametrize("outage", ["killed", "frozen"])
async def test_in_an_outage_each_host_takes_its_share_starting_empty(
    server: RedisServer, tmp_path: Any, outage: str
) -> None:
    """Two hosts counted in Redis; Redis goes away: together they stay inside the budget
    (each at half the rate, no burst at the start). Before, each took the whole host
    budget and two hosts sent twice the budget."""
    made = await hosts(server, tmp_path, 2)
    try:
        await learn_members(made, 2)
        if outage == "killed":
            server.stop()
        else:
            server.freeze()
        try:
            per_host = await asyncio.gather(*(grants(limiter, 40) for _, limiter in made))
        finally:
            if outage == "frozen":
                server.thaw()
        assert all(not limiter.redis_available for _, limiter in made)
    finally:
        await close(made)
    # The times are when each waiter resumed, not when its slot came: on a loaded machine
    # a few resume together, so two requests of slack. Each host at the whole budget
    # (the bug) sends twice the rate and fails by dozens.
    slack = 2
    together = sorted(t for times in per_host for t in times)
    audit = audit_send_times(together, per_second=RATE.per_second, burst=RATE.burst + slack)
    assert audit.conforms  # both hosts' grants, judged by the server's one bucket
    for times in per_host:  # each alone: half the rate
        alone = audit_send_times(times, per_second=RATE.per_second / 2, burst=3 + slack)
        assert alone.conforms


async def test_back_from_an_outage_redis_is_seeded_and_queued_callers_move_back(
    server: RedisServer, tmp_path: Any
) -> None:
    """Redis restarted empty: the bucket is marked in use before anyone reserves (no
    burst on top of the fallback's grants), and callers queued in the fallback move back
    on the prober's timer, with no new call made to probe."""
    made = await hosts(server, tmp_path, 2)
    (_, a), (_, _b) = made
    reserved_in_redis = [0]
    reserve = a._reserve

    async def counted(*args: Any) -> Any:
        if a.redis_available:
            reserved_in_redis[0] += 1
        return await reserve(*args)

    try:
        await learn_members(made, 2)
        server.stop()
        await grants(a, 3)  # down: a's fallback is in use
        assert not a.redis_available
        waiting = [asyncio.ensure_future(a.acquire("k")) for _ in range(200)]  # ~2 s at 100/s
        for _ in range(3):
            await asyncio.sleep(0)
        a._reserve = counted  # type: ignore[method-assign]
        server.start()
        deadline = time.monotonic() + 10
        while not a.redis_available:  # no new call: only the prober can find Redis back
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        still_queued = sum(not t.done() for t in waiting)
        client = redis.Redis(host="127.0.0.1", port=server.port)
        seeded = await client.hget("refold:rl:k", "tat")
        await client.aclose()
        await asyncio.wait_for(asyncio.gather(*waiting), 30)
    finally:
        await close(made)
    assert seeded is not None  # marked in use on the way back
    assert still_queued > 0
    # The callers still queued went back to Redis: one reservation each there.
    assert reserved_in_redis[0] >= still_queued
