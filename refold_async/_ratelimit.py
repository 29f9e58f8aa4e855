"""Client-side rate limiting: the `RateLimiter` protocol and its three implementations.

This module owns how the SDK stays inside the API's rate budget (DESIGN §4). The server
allows a bucket of `burst` requests that refills at `per_second`; every limiter here
keeps one slot of headroom below that, pauses a whole bucket when told about a 429, and
resumes after the pause at the steady rate, without a burst. The transport awaits
`acquire(key)` before every attempt and calls `penalize(key, retry_after)` after a 429;
`key` is opaque (base URL plus credential fingerprint, never a secret).

- `LocalRateLimiter`: aiolimiter buckets, one per (event loop, key), shared by every
  client on that loop through `shared_local_limiter()`.
- `RedisRateLimiter`: a GCRA reservation script on a Redis server, exact across loops,
  processes and machines (needs the `redis` extra, or any client with `evalsha`/`eval`).
- `UnlimitedRateLimiter`: no limit at all (`rate_limit=None`).

A little over STYLE's 600 lines: the limiters share the per-loop registry, and the Redis
scripts are kept beside the code that calls them.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import threading
import weakref
from collections.abc import Callable
from functools import partial
from typing import Any, Generic, Protocol, TypeVar

import attrs
from aiolimiter import AsyncLimiter

__all__ = [
    "LocalRateLimiter",
    "RateLimit",
    "RateLimiter",
    "RedisRateLimiter",
    "RedisScriptClient",
    "UnlimitedRateLimiter",
    "shared_local_limiter",
]

logger = logging.getLogger("refold.ratelimit")

_V = TypeVar("_V")


def _check_per_second(_instance: object, _attribute: object, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"per_second must be a number of requests per second, not {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"per_second must be a positive, finite number, not {value!r}")


def _check_burst(_instance: object, _attribute: object, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"burst must be a whole number of requests, not {value!r}")
    if value < 1:
        raise ValueError(f"burst must be at least 1, not {value!r}")


@attrs.frozen(kw_only=True)
class RateLimit:
    """The server's rate budget: a bucket of `burst` requests refilling at `per_second`.

    This describes the API's limit, not the client's: the limiters keep one slot of
    headroom below it (DESIGN §4), so the defaults let at most 4 requests out at one
    instant and 20 per second after that. Change it for another plan, or scale it up in
    tests and benchmarks.

    Example:
        ```python
        client = AsyncRefold(api_key=key, rate_limit=RateLimit(per_second=50, burst=10))
        ```

    Raises:
        ValueError: `per_second` is not positive and finite, or `burst` is below 1.
        TypeError: a value is not a number (or `burst` not an integer).
    """

    per_second: float = attrs.field(default=20.0, validator=_check_per_second)
    """Requests per second the server's bucket refills by."""

    burst: int = attrs.field(default=5, validator=_check_burst)
    """Requests the server's bucket holds: the most it accepts at one instant."""


DEFAULT_RATE_LIMIT = RateLimit()


def _client_capacity(rate: RateLimit) -> int:
    # DESIGN §4: one slot of headroom. Against nginx limit_req a client bucket of exactly
    # `burst` drew a 429 in every run (a request landing a millisecond "early" overflows
    # a full server bucket); `burst - 1` drew none. A burst of 1 leaves no room to spare.
    return max(rate.burst - 1, 1)


def _pause_length(retry_after: float) -> float:
    if not math.isfinite(retry_after):
        raise ValueError(f"retry_after must be a finite number of seconds, not {retry_after!r}")
    return max(retry_after, 0.0)


class RateLimiter(Protocol):
    """Paces requests to stay within the API's rate limit; the transport's only view of it.

    One bucket per `key`. Implementations must be cancellation-safe: a waiter cancelled in
    `acquire` neither holds up the waiters behind it nor uses up a slot.

    Example:
        ```python
        limiter: RateLimiter = shared_local_limiter(RateLimit())
        await limiter.acquire(bucket)  # before each attempt
        await limiter.penalize(bucket, retry_after=2.0)  # after a 429
        ```
    """

    async def acquire(self, key: str) -> None:
        """Wait until bucket `key` has a slot for one request, then take it.

        Args:
            key: The bucket: base URL plus credential fingerprint, never a secret.
        """
        ...

    async def penalize(self, key: str, retry_after: float) -> None:
        """Pause the whole of bucket `key` after a 429, then resume at the steady rate.

        Overlapping pauses extend each other and never shorten one under way.

        Args:
            key: The bucket the 429 came from.
            retry_after: Seconds to pause (negative means 0).

        Raises:
            ValueError: `retry_after` is NaN or infinite.
        """
        ...


class UnlimitedRateLimiter:
    """A limiter that never waits: what `rate_limit=None` gives.

    Example:
        ```python
        client = AsyncRefold(api_key=key, rate_limit=None)  # uses UnlimitedRateLimiter
        ```
    """

    async def acquire(self, key: str) -> None:
        """Return at once: there is no limit."""

    async def penalize(self, key: str, retry_after: float) -> None:
        """Ignore the 429: the transport still waits before retrying."""

    def __repr__(self) -> str:
        return "UnlimitedRateLimiter()"


# --- per-loop state -----------------------------------------------------------------

_PER_LOOP_REGISTRIES: weakref.WeakSet[_PerLoop[Any]] = weakref.WeakSet()
_PRUNE_FROM = 64  # start dropping idle buckets once a loop holds this many keys


class _PerLoop(Generic[_V]):
    """One value per (running event loop, key), thread-safe; closed loops are dropped.

    asyncio primitives and aiolimiter are bound to one loop and are not thread-safe, so
    every loop gets its own. Idle values are pruned as keys accumulate (one key per
    session token can mean many), so memory follows the keys in use, not all keys seen.
    """

    def __init__(self, factory: Callable[[], _V], is_idle: Callable[[_V], bool]) -> None:
        self._factory = factory
        self._is_idle = is_idle
        self.reset()
        _PER_LOOP_REGISTRIES.add(self)

    def reset(self) -> None:
        """Forget every loop's values (after `fork`)."""
        self._lock = threading.Lock()
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _V]]
        self._loops = weakref.WeakKeyDictionary()
        self._split_keys: set[str] = set()

    def get(self, key: str) -> tuple[_V, bool]:
        """The value for `key` on the running loop, and whether it just became split.

        "Split" means `key` is now in use on two live loops at once; it is reported once
        per key, the first time it happens.
        """
        loop = asyncio.get_running_loop()
        with self._lock:
            values = self._loops.get(loop)
            if values is None:
                values = self._adopt(loop)
            value = values.get(key)
            if value is not None:
                return value, False
            if len(values) >= _PRUNE_FROM and len(values) & (len(values) - 1) == 0:
                self._prune(values)  # at powers of two: amortised O(1) per new key
            value = values[key] = self._factory()
            return value, self._newly_split(loop, key)

    def _adopt(self, loop: asyncio.AbstractEventLoop) -> dict[str, _V]:
        # Values refer to their loop, so the weak key alone would never let go of it.
        for closed in [other for other in self._loops if other.is_closed()]:
            del self._loops[closed]
        values: dict[str, _V] = {}
        self._loops[loop] = values
        return values

    def _prune(self, values: dict[str, _V]) -> None:
        for key in [key for key, value in values.items() if self._is_idle(value)]:
            del values[key]

    def _newly_split(self, loop: asyncio.AbstractEventLoop, key: str) -> bool:
        if key in self._split_keys:
            return False
        for other, values in self._loops.items():
            if other is not loop and key in values and not other.is_closed():
                self._split_keys.add(key)
                return True
        return False


def _reset_after_fork() -> None:
    # DESIGN §8: the child inherits the parent's loops (dead there) and possibly a held
    # lock; it starts with empty buckets instead.
    for registry in list(_PER_LOOP_REGISTRIES):
        registry.reset()
    global _shared_lock
    _shared_lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_reset_after_fork)


# --- local limiter --------------------------------------------------------------------


class _PausableLimiter(AsyncLimiter):
    """An aiolimiter bucket that can be paused by filling it past its brim."""

    __slots__ = ()

    def pause(self, seconds: float) -> None:
        """Grant nothing for `seconds`, then resume at the steady rate, with no burst.

        Filling the bucket `seconds` worth of drain past full does all of it at once: it
        drains back to exactly full when the pause ends (DESIGN §4: after a pause, no
        burst), waiters keep their places in aiolimiter's queue, and a longer pause
        already under way is kept. Relies on aiolimiter >= 1.2 internals (`_level`,
        `_leak`, `_wake_next`), which cope with a level above `max_rate`.
        """
        self._leak()
        self._level = max(self._level, self.max_rate + seconds * self._rate_per_sec)
        self._wake_next()  # re-arm the waker for the new level now, not at its stale time


class _LocalBucket:
    """One key's budget on one event loop: a pausable aiolimiter bucket behind a FIFO gate."""

    __slots__ = ("_gate", "_limiter", "_users")

    def __init__(self, rate: RateLimit) -> None:
        capacity = _client_capacity(rate)
        # DESIGN §4: a bucket of `capacity` draining at `per_second`: AsyncLimiter(4, 0.2).
        self._limiter = _PausableLimiter(capacity, capacity / rate.per_second)
        # aiolimiter lets a task arriving just as a waiter is woken take that waiter's
        # slot and send it to the back of the queue. asyncio.Lock wakes in order and lets
        # no newcomer barge, so behind it the limiter only ever sees one waiter: FIFO.
        self._gate = asyncio.Lock()
        self._users = 0

    async def acquire(self) -> None:
        self._users += 1
        try:
            async with self._gate:
                await self._limiter.acquire()
        finally:
            self._users -= 1

    def pause(self, seconds: float) -> None:
        self._limiter.pause(seconds)

    def is_idle(self) -> bool:
        """Nobody waits and the bucket has drained: a fresh bucket would behave the same."""
        return self._users == 0 and self._limiter.has_capacity(self._limiter.max_rate)


class LocalRateLimiter:
    """Rate limits in this process, with one aiolimiter bucket per (event loop, key).

    Every client on a loop that uses the same key shares one bucket, as long as they
    share this limiter: `shared_local_limiter()` gives the one instance per `RateLimit`,
    which is what clients use by default. The sync facade runs every thread's calls on
    one loop, so its threads share one bucket too. The same key used from two live loops
    gets two budgets, which together can exceed the server's; that is logged once per key
    (logger `refold.ratelimit`). Use `RedisRateLimiter` to share a budget exactly across
    loops, processes and machines.

    Waiters are served in arrival order. A pause from `penalize()` applies to the bucket
    on the calling loop.

    Example:
        ```python
        limiter = LocalRateLimiter(RateLimit(per_second=20, burst=5))
        await limiter.acquire("https://app.refold.ai#fp:1a2b3c")  # at most 4 at once
        ```

    Args:
        rate: The server's budget; the bucket holds `burst - 1` (at least 1) and drains
            at `per_second`.
    """

    def __init__(self, rate: RateLimit = DEFAULT_RATE_LIMIT) -> None:
        self._rate = rate
        self._buckets = _PerLoop(partial(_LocalBucket, rate), _LocalBucket.is_idle)

    @property
    def rate(self) -> RateLimit:
        """The server budget this limiter keeps under."""
        return self._rate

    async def acquire(self, key: str) -> None:
        """Wait for a slot in bucket `key` on the running loop, in arrival order.

        Args:
            key: The bucket: base URL plus credential fingerprint, never a secret.
        """
        await self._bucket(key).acquire()

    async def penalize(self, key: str, retry_after: float) -> None:
        """Pause bucket `key` for `retry_after` seconds, then resume with no burst.

        Args:
            key: The bucket the 429 came from.
            retry_after: Seconds to pause (negative means 0); a longer pause under way
                is kept.

        Raises:
            ValueError: `retry_after` is NaN or infinite.
        """
        self._bucket(key).pause(_pause_length(retry_after))

    def _bucket(self, key: str) -> _LocalBucket:
        bucket, split = self._buckets.get(key)
        if split:
            logger.warning(
                "rate-limit bucket %s is in use on two event loops at once; each loop gets "
                "its own budget, so together they can exceed the server's limit. Use one "
                "event loop per process, or RedisRateLimiter to share one budget exactly",
                key,
            )
        return bucket

    def __repr__(self) -> str:
        return f"LocalRateLimiter({self._rate!r})"


_shared: dict[RateLimit, LocalRateLimiter] = {}
_shared_lock = threading.Lock()


def shared_local_limiter(rate: RateLimit = DEFAULT_RATE_LIMIT) -> LocalRateLimiter:
    """The process's one `LocalRateLimiter` for `rate`, which clients use by default.

    Clients built with equal `RateLimit` values get the same limiter, so on one event
    loop they share one bucket per key (DESIGN §4: one bucket per credential).

    Args:
        rate: The server's budget.

    Returns:
        The same instance for every equal `rate`, for the life of the process.
    """
    with _shared_lock:
        limiter = _shared.get(rate)
        if limiter is None:
            limiter = _shared[rate] = LocalRateLimiter(rate)
        return limiter


# --- Redis limiter --------------------------------------------------------------------


class RedisScriptClient(Protocol):
    """The part of an async Redis client `RedisRateLimiter` uses (`redis.asyncio.Redis` fits).

    Both methods return an awaitable of the script's reply.
    """

    def evalsha(self, sha: str, numkeys: int, /, *keys_and_args: str) -> Any:
        """Run the cached script `sha`; fails with a `NOSCRIPT` error if not cached."""
        ...

    def eval(self, script: str, numkeys: int, /, *keys_and_args: str) -> Any:
        """Run `script` (and cache it on the server)."""
        ...


class _Script:
    """A Lua script run by its SHA1, sent in full only when the server lacks it."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def run(self, client: RedisScriptClient, key: str, *args: str) -> Any:
        try:
            return await client.evalsha(self.sha, 1, key, *args)
        except Exception as exc:
            if "NOSCRIPT" not in str(exc) and type(exc).__name__ != "NoScriptError":
                raise
        return await client.eval(self.source, 1, key, *args)


# GCRA on the Redis server's clock, in microseconds (doubles are exact to 2^53 µs). The
# hash holds `tat`, the theoretical arrival time, and `seq`, bumped by every write so a
# cancelled waiter can hand back its reservation only if nothing came after it. Numbers
# written to Redis go through %.0f: Lua's tostring would round them to 14 digits.
_NOW_US = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
"""

# ARGV: emission interval, burst tolerance (µs). Reserves the next conformant time.
# Returns {delay, tat, seq, now}: sleep `delay` µs, then send.
_RESERVE = _Script(
    _NOW_US
    + """
local state = redis.call('HMGET', KEYS[1], 'tat', 'seq')
local tat = math.max(tonumber(state[1]) or now, now)
local seq = (tonumber(state[2]) or 0) + 1
local new_tat = math.ceil(tat + tonumber(ARGV[1]))
redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', new_tat), 'seq', seq)
redis.call('PEXPIRE', KEYS[1], math.ceil((new_tat - now) / 1000))
return {math.max(0, math.ceil(tat - tonumber(ARGV[2]) - now)), new_tat, seq, now}
"""
)

# ARGV: pause plus one full bucket's worth of drain (µs). Pushes the TAT to at least
# the end of the pause with the bucket full there; never pulls it back.
_PENALIZE = _Script(
    _NOW_US
    + """
local state = redis.call('HMGET', KEYS[1], 'tat', 'seq')
local tat = math.max(tonumber(state[1]) or now, math.ceil(now + tonumber(ARGV[1])))
redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', tat), 'seq', (tonumber(state[2]) or 0) + 1)
redis.call('PEXPIRE', KEYS[1], math.ceil((tat - now) / 1000))
return tat
"""
)

# ARGV: the tat and seq a reservation wrote, emission interval (µs). Undoes that
# reservation if it is still the last write to the bucket; otherwise does nothing.
_RELEASE = _Script(
    _NOW_US
    + """
local state = redis.call('HMGET', KEYS[1], 'tat', 'seq')
if tonumber(state[1]) ~= tonumber(ARGV[1]) or tonumber(state[2]) ~= tonumber(ARGV[2]) then
  return 0
end
local tat = math.ceil(tonumber(ARGV[1]) - tonumber(ARGV[3]))
if tat <= now then
  redis.call('DEL', KEYS[1])
else
  redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', tat), 'seq', tonumber(state[2]) + 1)
  redis.call('PEXPIRE', KEYS[1], math.ceil((tat - now) / 1000))
end
return 1
"""
)


@attrs.frozen
class _Reservation:
    delay: float  # seconds to sleep before sending
    tat: int  # what the reservation wrote: proof it is still the last write
    seq: int


class _RedisGate:
    """This process's queue for one key on one loop: one reservation outstanding at a time."""

    __slots__ = ("lock", "paused_until", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.paused_until = -math.inf  # loop time; a pause seen here re-checks sleepers
        self.users = 0

    def is_idle(self) -> bool:
        now = asyncio.get_running_loop().time()
        return self.users == 0 and self.paused_until <= now


class RedisRateLimiter:
    """Rate limits shared through Redis: exact across loops, processes and machines.

    Each grant is one call of a small GCRA script that runs on the Redis server's own
    clock (`TIME`) and reserves the next slot the bucket allows; the caller sleeps until
    that slot and sends. Reservations are served in the order they reach Redis, so all
    processes together queue first come, first served. Within a process, waiters for a
    key queue in arrival order and hold one reservation at a time, so a cancelled waiter
    rarely holds one, and hands it back unless another process has reserved since.
    Bucket keys expire once they have drained. Needs Redis 5 or later.

    Example:
        ```python
        import redis.asyncio as redis

        limiter = RedisRateLimiter(redis.from_url("redis://localhost:6379"))
        client = AsyncRefold(api_key=key, rate_limiter=limiter)
        ```

    Args:
        redis_client: An async Redis client (`pip install 'refold[redis]'`).
        rate: The server's budget; as with `LocalRateLimiter`, the bucket keeps one slot
            of headroom: `burst - 1` (at least 1) at one instant, `per_second` after.
        prefix: Prepended to every bucket key in Redis.
    """

    def __init__(
        self,
        redis_client: RedisScriptClient,
        rate: RateLimit = DEFAULT_RATE_LIMIT,
        prefix: str = "refold:rl:",
    ) -> None:
        self._client = redis_client
        self._rate = rate
        self._prefix = prefix
        capacity = _client_capacity(rate)
        self._interval_us = 1e6 / rate.per_second
        # GCRA: a tolerance of (capacity - 1) intervals admits `capacity` at one instant.
        self._tolerance_us = (capacity - 1) * self._interval_us
        self._full_us = capacity * self._interval_us
        self._gates = _PerLoop(_RedisGate, _RedisGate.is_idle)
        self._releases: set[asyncio.Future[Any]] = set()

    @property
    def rate(self) -> RateLimit:
        """The server budget this limiter keeps under."""
        return self._rate

    async def acquire(self, key: str) -> None:
        """Reserve the next slot of bucket `key` in Redis and sleep until it comes.

        Errors from the Redis client reach the caller: without Redis there is no shared
        budget to keep to.

        Args:
            key: The bucket: base URL plus credential fingerprint, never a secret.
        """
        gate, _ = self._gates.get(key)
        gate.users += 1
        try:
            async with gate.lock:
                while not await self._wait_for_slot(key, gate):
                    pass  # a 429 paused the bucket while we slept: reserve again
        finally:
            gate.users -= 1

    async def penalize(self, key: str, retry_after: float) -> None:
        """Pause bucket `key` for every process; when it ends, the bucket is full.

        Args:
            key: The bucket the 429 came from.
            retry_after: Seconds to pause (negative means 0); a longer pause under way
                is kept.

        Raises:
            ValueError: `retry_after` is NaN or infinite.
        """
        seconds = _pause_length(retry_after)
        gate, _ = self._gates.get(key)
        now = asyncio.get_running_loop().time()
        gate.paused_until = max(gate.paused_until, now + seconds)
        await _PENALIZE.run(self._client, self._redis_key(key), _us(seconds * 1e6 + self._full_us))

    async def _wait_for_slot(self, key: str, gate: _RedisGate) -> bool:
        """Reserve and sleep until the slot; False if this process saw a 429 meanwhile."""
        reserving = asyncio.ensure_future(self._reserve(key))
        try:
            # Shielded: a reservation made in Redis must come back to be handed back.
            reservation = await asyncio.shield(reserving)
            if reservation.delay > 0:
                await asyncio.sleep(reservation.delay)
        except asyncio.CancelledError:
            reserving.add_done_callback(partial(self._release_soon, key))
            raise
        return asyncio.get_running_loop().time() >= gate.paused_until

    async def _reserve(self, key: str) -> _Reservation:
        args = (_us(self._interval_us), _us(self._tolerance_us))
        delay_us, tat, seq, _now = await _RESERVE.run(self._client, self._redis_key(key), *args)
        return _Reservation(delay=int(delay_us) / 1e6, tat=int(tat), seq=int(seq))

    def _release_soon(self, key: str, reserving: asyncio.Future[_Reservation]) -> None:
        if reserving.cancelled() or reserving.exception() is not None:
            return  # nothing was reserved, or we cannot tell what
        reservation = reserving.result()
        args = (str(reservation.tat), str(reservation.seq), _us(self._interval_us))
        release = asyncio.ensure_future(_RELEASE.run(self._client, self._redis_key(key), *args))
        self._releases.add(release)  # keep a reference until it is done
        release.add_done_callback(self._release_done)

    def _release_done(self, release: asyncio.Future[Any]) -> None:
        self._releases.discard(release)
        if not release.cancelled() and (exc := release.exception()) is not None:
            logger.warning("could not hand back a cancelled rate-limit reservation: %r", exc)

    def _redis_key(self, key: str) -> str:
        return self._prefix + key

    def __repr__(self) -> str:
        return f"RedisRateLimiter({self._rate!r}, prefix={self._prefix!r})"


def _us(value: float) -> str:
    """A microsecond figure as script argument text, to a thousandth of a microsecond."""
    return f"{value:.3f}"
