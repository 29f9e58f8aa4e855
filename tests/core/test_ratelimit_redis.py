"""`RedisRateLimiter` against a real Redis server (docs/architecture.md §4).

Skipped unless the `redis` package imports and a server answers at `REDIS_URL` (default
`redis://127.0.0.1:6379/0`); with `REFOLD_REQUIRE_REDIS` set (CI), a missing server fails. Redis runs the script on its own clock, so these tests check
the times the server *reserved* (`now + delay` in each script reply) against the model of
the server's bucket: exact, whatever the test machine's scheduling. Real sleeps are short
(scaled-up rates) and no assertion depends on how long anything took.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest

from refold_async._ratelimit import RateLimit, RedisRateLimiter
from refold_async._ratelimit import _redis as _ratelimit

from .test_ratelimit import ServerBucket, assert_server_accepts

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
PREFIX = f"refold-test:{uuid.uuid4().hex[:8]}:rl:"  # per run: parallel runs never collide


@pytest.fixture
async def redis_client(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    """A client of the Redis server at REDIS_URL, or a skip saying why there is none.

    Each `RedisRateLimiter` made during the test is closed (`aclose()`: its background
    calls end) before the client is, as an application would.
    """
    made: list[RedisRateLimiter] = []
    init = RedisRateLimiter.__init__

    def recording_init(self: RedisRateLimiter, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(RedisRateLimiter, "__init__", recording_init)
    redis_asyncio = pytest.importorskip(
        "redis.asyncio", reason="the `redis` extra is not installed"
    )
    client = redis_asyncio.from_url(REDIS_URL, socket_connect_timeout=0.5)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        if os.environ.get(
            "REFOLD_REQUIRE_REDIS"
        ):  # CI starts a server: a skip would hide a failure
            pytest.fail(
                f"REFOLD_REQUIRE_REDIS is set but no Redis server answers at {REDIS_URL}: {exc!r}"
            )
        pytest.skip(f"no Redis server answers at {REDIS_URL}: {exc!r}")
    yield client
    for limiter in made:
        await limiter.aclose()
    keys = [key async for key in client.scan_iter(match=PREFIX + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def key() -> str:
    return f"https://api.refold.invalid#fp:{uuid.uuid4().hex[:12]}"


@attrs.frozen
class Reserved:
    """One reservation as the server made it, in seconds on the server's clock."""

    now: float
    at: float


class RecordingRedis:
    """Passes script calls to a real client and keeps every reservation's reply."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.reserved: list[Reserved] = []
        self._recorded = asyncio.Event()

    async def evalsha(self, sha: str, numkeys: int, /, *keys_and_args: str) -> Any:
        return self._record(sha, await self.client.evalsha(sha, numkeys, *keys_and_args))

    async def eval(self, script: str, numkeys: int, /, *keys_and_args: str) -> Any:
        return self._record(
            _ratelimit._Script(script).sha, await self.client.eval(script, numkeys, *keys_and_args)
        )

    def _record(self, sha: str, reply: Any) -> Any:
        if sha == _ratelimit._RESERVE.sha:
            delay, _tat, _seq, now, _refused = (int(x) for x in reply)
            self.reserved.append(Reserved(now=now / 1e6, at=(now + delay) / 1e6))
            self._recorded.set()
        return reply

    async def wait_for(self, count: int) -> None:
        """Return once `count` reservations have been made."""
        while len(self.reserved) < count:
            self._recorded.clear()
            await self._recorded.wait()

    def times(self) -> list[float]:
        return [r.at for r in self.reserved]


async def reserve(limiter: RedisRateLimiter, key: str, n: int) -> None:
    """Make `n` reservations back to back, without sleeping on them."""
    for _ in range(n):
        await limiter._reserve(key, None, None)


async def server_now(client: Any) -> float:
    seconds, micros = await client.time()
    return float(seconds) + float(micros) / 1e6


async def test_reservations_conform_and_are_tight(redis_client: Any, key: str) -> None:
    """200 reservations at once: 4 at the first instant, then exactly one per interval."""
    recorder = RecordingRedis(redis_client)
    await reserve(RedisRateLimiter(recorder, prefix=PREFIX), key, 200)
    times = recorder.times()
    assert times == sorted(times)  # served in the order they reached Redis
    assert_server_accepts(times)
    assert times[:4] == [r.now for r in recorder.reserved[:4]]
    assert times[-1] - times[0] <= 196 * 0.05 + 200e-6  # the floor, give or take µs rounding


async def test_acquire_is_fifo_and_conforms_end_to_end(redis_client: Any, key: str) -> None:
    """Concurrent acquire() calls finish in call order; the server sees a conforming stream."""
    rate = RateLimit(per_second=400, burst=5)
    recorder = RecordingRedis(redis_client)
    limiter = RedisRateLimiter(recorder, rate, prefix=PREFIX)
    finished: list[int] = []

    async def call(i: int) -> None:
        await limiter.acquire(key)
        finished.append(i)

    await asyncio.gather(*(call(i) for i in range(40)))
    assert finished == list(range(40))
    assert_server_accepts(recorder.times(), rate)


async def test_processes_share_one_budget(redis_client: Any, key: str) -> None:
    """Two limiters (as two processes would) on one key draw on one conforming budget."""
    rate = RateLimit(per_second=400, burst=5)
    recorder = RecordingRedis(redis_client)
    first, second = (RedisRateLimiter(recorder, rate, prefix=PREFIX) for _ in range(2))
    await asyncio.gather(*(limiter.acquire(key) for _ in range(20) for limiter in (first, second)))
    assert len(recorder.reserved) == 40
    assert_server_accepts(recorder.times(), rate)
    assert recorder.times()[-1] - recorder.times()[0] >= (40 - 4) / 400 - 1e-6


async def test_penalty_pauses_then_resumes_without_burst(redis_client: Any, key: str) -> None:
    """After penalize(key, 0.3), the next slots start 0.3 s + one interval later, spaced."""
    recorder = RecordingRedis(redis_client)
    limiter = RedisRateLimiter(recorder, prefix=PREFIX)
    await reserve(limiter, key, 2)
    paused_at = await server_now(redis_client)
    await limiter.penalize(key, 0.3)
    await limiter.penalize(key, 0.1)  # shorter: changes nothing
    await reserve(limiter, key, 5)
    after = recorder.times()[2:]
    for k, t in enumerate(after, start=1):
        assert t >= paused_at + 0.3 + k * 0.05 - 1e-6
    assert ServerBucket.of(RateLimit()).refusals(recorder.times()) == []


async def test_penalty_reaches_a_waiter_already_sleeping(redis_client: Any, key: str) -> None:
    """A waiter whose slot falls inside a pause seen in this process reserves again after it."""
    rate = RateLimit(per_second=10, burst=2)  # one at a time, 100 ms apart
    recorder = RecordingRedis(redis_client)
    limiter = RedisRateLimiter(recorder, rate, prefix=PREFIX)
    await limiter.acquire(key)
    waiting = asyncio.ensure_future(limiter.acquire(key))
    await recorder.wait_for(2)
    paused_at = await server_now(redis_client)
    await limiter.penalize(key, 0.2)
    await waiting
    assert len(recorder.reserved) == 3
    assert recorder.reserved[-1].at >= paused_at + 0.2 + 0.1 - 1e-6


async def test_cancelled_waiter_hands_its_reservation_back(redis_client: Any, key: str) -> None:
    """Cancelling the last reservation's waiter frees its slot for the next caller."""
    rate = RateLimit(per_second=2, burst=2)  # one at a time, 500 ms apart
    recorder = RecordingRedis(redis_client)
    limiter = RedisRateLimiter(recorder, rate, prefix=PREFIX)
    await limiter.acquire(key)
    waiting = asyncio.ensure_future(limiter.acquire(key))
    await recorder.wait_for(2)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await asyncio.gather(*limiter._releases)
    await reserve(limiter, key, 1)
    assert recorder.reserved[2].at == pytest.approx(recorder.reserved[1].at, abs=2e-6)


async def test_release_leaves_later_reservations_alone(redis_client: Any, key: str) -> None:
    """A reservation someone else reserved after cannot be handed back: no slot is doubled."""
    rate = RateLimit(per_second=2, burst=2)
    recorder = RecordingRedis(redis_client)
    limiter = RedisRateLimiter(recorder, rate, prefix=PREFIX)
    await reserve(limiter, key, 1)
    mine = await limiter._reserve(key, None, None)
    await reserve(limiter, key, 1)  # another process, after mine
    released = await _ratelimit._RELEASE.run(
        recorder, PREFIX + key, str(mine.tat), str(mine.seq), _ratelimit._us(500_000)
    )
    assert released == 0
    await reserve(limiter, key, 1)
    assert recorder.times()[3] == pytest.approx(recorder.times()[2] + 0.5, abs=2e-6)


async def test_script_cache_flush_is_survived(redis_client: Any, key: str) -> None:
    """After SCRIPT FLUSH the limiter sends the script again and carries on."""
    limiter = RedisRateLimiter(redis_client, prefix=PREFIX)
    await limiter.acquire(key)
    await redis_client.script_flush()
    await limiter.acquire(key)


async def test_bucket_keys_expire_once_drained(redis_client: Any, key: str) -> None:
    """A bucket's key lives only until it has drained: Redis does not fill with old keys."""
    limiter = RedisRateLimiter(redis_client, prefix=PREFIX)
    await reserve(limiter, key, 3)
    ttl_ms = await redis_client.pttl(PREFIX + key)
    assert 0 < ttl_ms <= 3 * 50 + 1
