"""Overload is refused at once, and work is not left half done.

`max_queue_wait` is judged against the scope's shared state: the host's bucket file
(several "processes" are several `HostRateLimiter`s on one directory, each with its own
queue), Redis, or the process's own bucket and queue. `client.reserve(k)` reserves k
slots up front or refuses the work before its first call. Virtual clock throughout,
except for Redis, whose script reads the server's own clock.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest

from refold_async import (
    AsyncRefold,
    HostRateLimiter,
    RateLimit,
    RateLimitQueueTimeout,
)
from refold_async._ratelimit import LocalRateLimiter, RateLimiter, SlotTooFar
from refold_async._ratelimit._base import SlotBlock
from refold_async.testing import audit_send_times
from refold_sync import Refold

from . import ops
from .conftest import run_virtual

API_KEY = "tk_overload_test_key_0123456789"
BASE_URL = "https://api.refold.invalid"
RATE = RateLimit()  # 20/s, burst 5: the client lets 4 out at once, then one per 50 ms
Runner = Callable[[Callable[[], Coroutine[Any, Any, Any]]], Any]


def state_dir() -> str:
    return tempfile.mkdtemp(prefix="refold-overload-")


async def fill(
    limiter: RateLimiter, n: int, max_wait: float, key: str = "k"
) -> list[asyncio.Task[None]]:
    """`n` bounded waiters on `limiter`, started and given a turn to reserve."""
    tasks = [asyncio.ensure_future(limiter.acquire(key, max_wait=max_wait)) for _ in range(n)]
    for _ in range(5):
        await asyncio.sleep(0)
    return tasks


# --- the refusal reads the shared state ------------------------------------------------


def test_a_host_refusal_counts_the_queues_of_other_processes() -> None:
    """Process A has 60 callers waiting (bounded by 5 s); B's caller, bounded by 1 s, is
    refused at once, told how far the slot is. Before, B saw only its own empty queue
    and was let through ahead of A's 60."""
    directory = state_dir()

    async def main() -> tuple[float, float, int]:
        loop = asyncio.get_running_loop()
        a, b = (
            HostRateLimiter(RATE, directory=directory),
            HostRateLimiter(RATE, directory=directory),
        )
        waiting = await fill(a, 60, max_wait=5)
        began = loop.time()
        with pytest.raises(SlotTooFar) as refused:
            await b.acquire("k", max_wait=1)
        took = loop.time() - began
        await asyncio.gather(*waiting)
        return took, refused.value.wait, sum(t.done() for t in waiting)

    took, wait, served = run_virtual(main)
    assert took == 0.0  # no time passed on the virtual clock: refused from the file at once
    # 60 ahead: 4 at once, then 56 intervals of 50 ms; the 61st slot is 2.85 s away.
    assert wait == pytest.approx(57 * RATE.interval, abs=1e-6)
    assert served == 60


def test_a_process_scope_refusal_comes_at_once_not_after_the_bound() -> None:
    """Process scope: the process's queue and bucket are the whole scope; a caller whose
    slot is past its bound is refused before waiting, not when the bound runs out."""

    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        limiter = LocalRateLimiter(RATE)
        waiting = await fill(limiter, 60, max_wait=5)
        began = loop.time()
        with pytest.raises(SlotTooFar) as refused:
            await limiter.acquire("k", max_wait=1)
        took = loop.time() - began
        await asyncio.gather(*waiting)
        return took, refused.value.wait

    took, wait = run_virtual(main)
    assert took == 0.0
    assert wait > 1


def test_bounded_callers_of_several_processes_still_conform() -> None:
    """Reserving at once (no queue on the loop) keeps every grant inside the budget."""
    directory = state_dir()

    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        limiters = [HostRateLimiter(RATE, directory=directory) for _ in range(4)]
        times: list[float] = []

        async def one(limiter: HostRateLimiter) -> None:
            try:
                await limiter.acquire("k", max_wait=2)
            except SlotTooFar:
                return
            times.append(loop.time())

        await asyncio.gather(*(one(limiters[i % 4]) for i in range(200)))
        return times

    times = run_virtual(main)
    assert 40 <= len(times) <= 45  # 4 at once + 2 s / 50 ms
    assert audit_send_times(times, per_second=RATE.per_second, burst=RATE.burst).conforms


# --- through the client ---------------------------------------------------------------


class Server:
    """Answers 200 to everything on the virtual clock, recording arrivals."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.arrivals.append(asyncio.get_running_loop().time())
        return httpx.Response(200, json={})


def client_for(server: Server, limiter: RateLimiter, **options: Any) -> AsyncRefold:
    client = AsyncRefold(
        api_key=API_KEY,
        base_url=BASE_URL,
        rate_limiter=limiter,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(server.handler)),
        **options,
    )
    client._transport._clock = asyncio.get_running_loop().time
    client._transport._sleep = asyncio.sleep
    return client


async def call(client: AsyncRefold) -> Any:
    return await client._transport.send(ops.ORG)


def test_a_refused_call_says_when_its_slot_would_come() -> None:
    """`RateLimitQueueTimeout` carries the wait (`retry_after`) and the moment (`slot_at`)."""
    server = Server()

    async def main() -> list[Any]:
        client = client_for(
            server, HostRateLimiter(RATE, directory=state_dir()), max_queue_wait=0.5
        )
        return await asyncio.gather(*(call(client) for _ in range(40)), return_exceptions=True)

    before = time.time()
    results = run_virtual(main)
    refused = [r for r in results if isinstance(r, RateLimitQueueTimeout)]
    assert refused
    for error in refused:
        assert error.retry_after is not None
        assert error.retry_after > 0.5
        assert error.slot_at is not None
        assert error.slot_at - error.retry_after >= before - 1e-3
        assert error.slot_at - error.retry_after <= time.time() + 1e-3


@pytest.mark.parametrize("scope", ["host", "process"])
def test_reserved_work_is_done_whole_or_refused_before_its_first_call(scope: str) -> None:
    """100 handlers at 50 a second, 2 calls each, bounded by 1 s: with `reserve(2)` each handler
    makes both calls or none. Without it, handlers are shed between their calls."""

    def make() -> RateLimiter:
        if scope == "host":
            return HostRateLimiter(RATE, directory=state_dir())
        return LocalRateLimiter(RATE)

    async def handlers(reserve: bool) -> tuple[list[int], list[float]]:
        server = Server()
        client = client_for(server, make(), max_queue_wait=1)
        done: list[int] = []

        async def handler(arrival: float) -> None:
            await asyncio.sleep(arrival)
            made = 0
            try:
                if reserve:
                    async with client.reserve(2):
                        for _ in range(2):
                            await call(client)
                            made += 1
                            await asyncio.sleep(0.01)  # the handler's own work
                else:
                    for _ in range(2):
                        await call(client)
                        made += 1
                        await asyncio.sleep(0.01)
            except RateLimitQueueTimeout:
                pass
            done.append(made)

        await asyncio.gather(*(handler(n * 0.02) for n in range(100)))  # 50 a second
        return done, server.arrivals

    done, arrivals = run_virtual(lambda: handlers(reserve=True))
    assert set(done) == {0, 2}
    assert done.count(2) >= 10
    assert audit_send_times(arrivals, per_second=RATE.per_second, burst=RATE.burst).conforms
    shed, _ = run_virtual(lambda: handlers(reserve=False))
    assert 1 in shed  # the failure the reservation prevents


def test_unused_reserved_slots_are_handed_back() -> None:
    """Reserve 10, use 1: the next caller is not held up by the 9 left over."""
    directory = state_dir()

    async def main() -> float:
        loop = asyncio.get_running_loop()
        server = Server()
        limiter = HostRateLimiter(RATE, directory=directory)
        client = client_for(server, limiter)
        async with client.reserve(10) as reservation:
            assert reservation.remaining == 10
            await call(client)
            assert reservation.remaining == 9
        began = loop.time()
        await limiter.acquire(client._transport.bucket_of_client())
        return loop.time() - began

    assert run_virtual(main) == 0.0


def test_reserve_refuses_bad_counts() -> None:
    client = AsyncRefold(api_key=API_KEY, base_url=BASE_URL)
    with pytest.raises(ValueError, match="count"):
        client.reserve(0)
    with pytest.raises(TypeError, match="count"):
        client.reserve(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_queue_wait"):
        client.reserve(1, max_wait=-1)


class SteppedClockHostLimiter(HostRateLimiter):
    """The host limiter, whose reserved slots are read on a clock the test moves.

    A call inside `reserve()` skips a slot left unused for over half an interval (it
    would bunch with the slots after it), judged on the block's clock. On the wall
    clock, a loaded machine that took 25 ms from the reservation to the first call
    made every slot of a burst stale at once: `remaining` fell from 3 to 0 in one call.
    """

    now = 0.0

    def clock(self) -> float:
        return self.now

    async def reserve(self, key: str, count: int, *, max_wait: float | None = None) -> SlotBlock:
        block = await super().reserve(key, count, max_wait=max_wait)
        times = [block.take() for _ in range(block.remaining)]
        start = min(t for t in times if t is not None)
        self.now = 0.0
        return SlotBlock([t - start for t in times if t is not None], self.clock)


def test_the_sync_face_reserves_for_the_calls_made_in_its_block() -> None:
    """`with client.reserve(k)` delegates: the calls in the block take the slots, and a
    slot left unused too long is skipped, never sent late in a bunch."""
    from refold_async.testing import Emulator

    emulator = Emulator(rate_limit=None)
    limiter = SteppedClockHostLimiter(RATE, directory=state_dir())
    with Refold(
        api_key=emulator.api_key,
        base_url="https://api.refold.invalid",
        http_client=emulator.http_client(),
        rate_limiter=limiter,
    ) as client:
        with client.reserve(3, max_wait=5) as reservation:
            assert reservation.remaining == 3
            client.linked_accounts.list(limit=1).first_page()
            assert reservation.remaining == 2  # however long the call took in real time
            limiter.now = RATE.interval  # the other two (at 0) are now stale
            client.linked_accounts.list(limit=1).first_page()
            assert reservation.remaining == 0  # skipped: the call waited for a fresh slot
        assert reservation.remaining == 0
        # A far-off block is refused before anything is reserved.
        with pytest.raises(RateLimitQueueTimeout) as refused, client.reserve(500, max_wait=1):
            pytest.fail("entered")
        assert refused.value.retry_after is not None
        assert refused.value.retry_after > 1


# --- Redis: the script refuses from Redis's own state -----------------------------------


async def test_a_redis_refusal_counts_every_process_queue() -> None:
    """Two `RedisRateLimiter`s (two processes) on one key: once A's 60 bounded callers
    have reserved, B's caller bounded by 1 s is refused. Before, A's callers queued on
    A's loop, one reservation at a time, and B went ahead of them."""
    redis = pytest.importorskip("redis.asyncio")
    from refold_async import RedisRateLimiter

    prefix = f"refold-test-overload-{uuid.uuid4().hex}:"
    clients = [redis.Redis(host="127.0.0.1", port=6379) for _ in range(2)]
    try:
        await clients[0].ping()
    except Exception:
        pytest.skip("no Redis on 127.0.0.1:6379")
    # Slow enough that A's reservations stay in Redis while we look (30 s of them; the
    # waiters are cancelled at the end), and a generous script timeout: on a loaded
    # machine 60 first calls must not count as an outage and go to the fallback.
    rate = RateLimit(per_second=2, burst=2)
    a, b = (RedisRateLimiter(c, rate, prefix=prefix, timeout=10) for c in clients)
    try:
        await a.acquire("k")  # the script is cached from here on
        waiting = [asyncio.ensure_future(a.acquire("k", max_wait=60)) for _ in range(60)]
        deadline = time.monotonic() + 20
        while int(await clients[1].hget(prefix + "k", "seq") or 0) < 61:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        with pytest.raises(SlotTooFar) as refused:
            await b.acquire("k", max_wait=1)
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
    finally:
        await a.aclose()  # its hand-backs and membership records end before the clients do
        await b.aclose()
        await clients[1].delete(prefix + "k")
        for c in clients:
            await c.aclose()
    assert refused.value.wait > 1


def test_calls_past_the_reservation_are_not_shed() -> None:
    """A handler admitted with `reserve(1)` that makes a second call (as a retry would
    take a slot) waits for it without the queue bound: its work is under way."""
    directory = state_dir()

    async def main() -> list[Any]:
        server = Server()
        client = client_for(server, HostRateLimiter(RATE, directory=directory), max_queue_wait=0.1)
        other = HostRateLimiter(RATE, directory=directory)  # another process, busy
        bucket = client._transport.bucket_of_client()
        waiting = await fill(other, 20, max_wait=5, key=bucket)
        async with client.reserve(1, max_wait=5):
            waiting += await fill(other, 40, max_wait=5, key=bucket)  # busy behind us
            results = [await call(client), await call(client)]
        waiting += await fill(other, 20, max_wait=5, key=bucket)
        with pytest.raises(RateLimitQueueTimeout):
            await call(client)  # outside the block the bound holds again
        await asyncio.gather(*waiting)
        return results

    assert run_virtual(main) == [{}, {}]


def test_busy_for_says_how_far_ahead_the_host_has_reserved() -> None:
    """What `RedisRateLimiter` seeds Redis with on its return from an outage."""

    async def main() -> tuple[float, float]:
        limiter = HostRateLimiter(RATE, directory=state_dir())
        idle = await limiter.busy_for("k")
        await limiter.reserve("k", 10)
        return idle, await limiter.busy_for("k")

    idle, busy = run_virtual(main)
    assert idle == 0.0
    assert busy == pytest.approx(10 * RATE.interval, abs=1e-6)
