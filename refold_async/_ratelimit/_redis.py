"""Cluster scope: one budget per key across machines, through Redis, surviving Redis.

Each grant is one call of a small GCRA script that runs on the Redis server's own clock
(`TIME`) and reserves the next slot; the caller sleeps until it and sends. When Redis is
down, unreachable or slower than `timeout`, the limiter falls back to this host's share
of the budget (`HostRateLimiter` at 1/N, N the hosts last counted in Redis), warns once
per outage, tries Redis again every `probe_interval`, and returns to it when it answers.
No Redis exception ever reaches a caller.

`redis.asyncio` runs on asyncio only, so this scope does too: under another loop (trio)
the first call raises `RefoldUsageError` naming the scopes that work there. The module
still imports no asyncio: the few asyncio-loop calls it needs (starting a background
task, waking a waiter from another thread) go through the running loop object.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import socket
from collections.abc import Callable, Coroutine, Generator
from functools import partial
from typing import Any, Protocol

import anyio
import anyio.lowlevel
import attrs

from refold_async._errors import RefoldUsageError

from ._base import (
    DEFAULT_RATE_LIMIT,
    PerLoop,
    RateLimit,
    RateLimiter,
    SlotBlock,
    SlotReserver,
    SlotTooFar,
    Turnstile,
    client_capacity,
    current_loop,
    pause_length,
)
from ._host import HostRateLimiter, default_state_dir, shared_host_limiter

__all__ = ["RedisRateLimiter", "RedisScriptClient"]

logger = logging.getLogger("refold.ratelimit")

_FIRST_ANSWER = 2.0  # seconds the first script call of a process may take


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
# hash holds `tat`, the theoretical arrival time, `pause`, the end of the latest 429's
# pause, and `seq`, bumped by every write so a cancelled waiter can hand back its
# reservation only if nothing came after it. Numbers written to Redis go through %.0f:
# Lua's tostring would round them to 14 digits.
_NOW_US = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
"""

# ARGV: emission interval, burst tolerance, max wait, max pause (µs; negative: none).
# Returns {delay, tat, seq, now, refused}: sleep `delay` µs, then send; with refused = 1
# nothing was reserved and `delay` is the wait that was too long (2: a pause).
_RESERVE = _Script(
    _NOW_US
    + """
local state = redis.call('HMGET', KEYS[1], 'tat', 'seq', 'pause')
local tat = math.max(tonumber(state[1]) or now, now)
local seq = (tonumber(state[2]) or 0) + 1
local pause = tonumber(state[3]) or 0
local max_wait = tonumber(ARGV[3])
local max_pause = tonumber(ARGV[4])
if max_pause >= 0 and pause - now > max_pause then
  return {math.ceil(pause - now), 0, 0, now, 2}
end
local delay = math.max(0, math.ceil(tat - tonumber(ARGV[2]) - now))
if max_wait >= 0 and delay > max_wait then
  return {delay, 0, 0, now, 1}
end
local new_tat = math.ceil(tat + tonumber(ARGV[1]))
redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', new_tat), 'seq', seq)
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((math.max(new_tat, pause) - now) / 1000)))
return {delay, new_tat, seq, now, 0}
"""
)

# ARGV: emission interval, burst tolerance, max wait (µs; negative: none), count.
# Reserves `count` slots at once, or none. Returns {first delay, last delay, tat before,
# new tat, seq, refused, now}: slot i (from 0) comes max(0, tat before + i * interval -
# tolerance - now) µs from now.
_RESERVE_MANY = _Script(
    _NOW_US
    + """
local state = redis.call('HMGET', KEYS[1], 'tat', 'seq', 'pause')
local tat = math.max(tonumber(state[1]) or now, now)
local seq = (tonumber(state[2]) or 0) + 1
local pause = tonumber(state[3]) or 0
local interval = tonumber(ARGV[1])
local count = tonumber(ARGV[4])
local first = math.max(0, math.ceil(tat - tonumber(ARGV[2]) - now))
local last = math.max(0, math.ceil(tat + (count - 1) * interval - tonumber(ARGV[2]) - now))
local max_wait = tonumber(ARGV[3])
if max_wait >= 0 and last > max_wait then
  return {first, last, 0, 0, 0, 1, now}
end
local new_tat = math.ceil(tat + count * interval)
redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', new_tat), 'seq', seq)
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((math.max(new_tat, pause) - now) / 1000)))
return {first, last, string.format('%.0f', tat), string.format('%.0f', new_tat), seq, 0, now}
"""
)

# ARGV: pause, pause plus one full bucket's worth of drain (µs). Pushes the TAT to at
# least the end of the pause with the bucket full there; never pulls it back.
_PENALIZE = _Script(
    _NOW_US
    + """
local state = redis.call('HMGET', KEYS[1], 'tat', 'seq', 'pause')
local tat = math.max(tonumber(state[1]) or now, math.ceil(now + tonumber(ARGV[2])))
local pause = math.max(tonumber(state[3]) or 0, math.ceil(now + tonumber(ARGV[1])))
redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', tat), 'seq', (tonumber(state[2]) or 0) + 1,
  'pause', string.format('%.0f', pause))
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((tat - now) / 1000)))
return tat
"""
)

# ARGV: member id, time to live (µs). Records that `member` (a host) uses the bucket now,
# forgets members silent for longer than the TTL, returns how many are left.
_HEARTBEAT = _Script(
    _NOW_US
    + """
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil(ttl / 1000)))
return redis.call('ZCARD', KEYS[1])
"""
)

# ARGV: how far ahead of now the bucket is in use (µs). After an outage: a missing key
# (a restarted Redis) or an old TAT (a frozen one) would grant a full burst to every
# host at once, though each spent its share meanwhile; the TAT is moved to at least now
# plus that much, never pulled back.
_SEED = _Script(
    _NOW_US
    + """
local state = redis.call('HMGET', KEYS[1], 'tat', 'seq', 'pause')
local tat = math.max(tonumber(state[1]) or 0, math.ceil(now + tonumber(ARGV[1])))
local pause = tonumber(state[3]) or 0
redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', tat), 'seq', (tonumber(state[2]) or 0) + 1)
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((math.max(tat, pause) - now) / 1000)))
return 1
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
  redis.call('HDEL', KEYS[1], 'tat')
  redis.call('HSET', KEYS[1], 'seq', tonumber(state[2]) + 1)
else
  redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', tat), 'seq', tonumber(state[2]) + 1)
  redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((tat - now) / 1000)))
end
return 1
"""
)


@attrs.frozen
class _Reservation:
    delay: float  # seconds to sleep before sending
    tat: int  # what the reservation wrote: proof it is still the last write
    seq: int
    server_now: int  # Redis's clock when it reserved (µs)


class _RedisDown(Exception):
    """Redis failed or did not answer in time; the message names the failure."""


class _Gate:
    """This process's queue for one key on one loop, and the latest pause it saw."""

    __slots__ = ("paused_until", "turnstile")

    def __init__(self) -> None:
        self.turnstile = Turnstile()
        self.paused_until = float("-inf")  # loop time; a pause seen here re-checks sleepers

    def is_idle(self) -> bool:
        return self.turnstile.is_idle() and self.paused_until <= anyio.current_time()


class RedisRateLimiter:
    """Rate limits shared through Redis: exact across loops, processes and machines.

    Reservations are served in the order they reach Redis, so all processes together
    queue first come, first served; within a process, waiters for a key queue in arrival
    order (retries first) and hold one reservation at a time, so a cancelled waiter
    hands its reservation back unless another process has reserved since. Bucket keys
    expire once they have drained. Needs Redis 5 or later.

    Redis failing never fails a call: when a script call raises or takes longer than
    `timeout`, the grant comes from `fallback`, one warning is logged per outage, and
    Redis is tried again every `probe_interval` seconds (by a timer while callers wait in
    the fallback, so they move back as soon as it answers). By default the fallback is
    this host's share of the budget: each host records itself in Redis (a heartbeat
    with a TTL), and in an outage takes 1/N of the rate and of the burst, N being the
    hosts Redis last counted, starting with an empty bucket, so that together they stay
    inside the budget. When Redis answers again, each bucket is first marked in use (a
    missing or stale key would grant every host a burst at once).

    Example:
        ```python
        import redis.asyncio as redis

        limiter = RedisRateLimiter(redis.from_url("redis://localhost:6379"))
        client = AsyncRefold(api_key=key, rate_limiter=limiter)
        ```

    Args:
        redis_client: An async Redis client (`pip install 'refold[redis]'`).
        rate: The server's budget; as with every limiter, the bucket keeps one slot of
            headroom: `burst - 1` (at least 1) at one instant, `per_second` after.
        prefix: Prepended to every bucket key in Redis.
        timeout: Seconds one script call may take before Redis counts as down.
        probe_interval: Seconds between two tries of Redis during an outage.
        fallback: The limiter used while Redis is out, as it is (default: this host's
            share of the budget, host-wide).
        member: This host's name in the membership record (default: host name and
            state directory, so groups of processes with their own directories count
            as hosts).
        heartbeat: Seconds between two membership records of one key.
        member_ttl: Seconds after which a silent host no longer counts.
        state_dir: Where the host-wide share keeps its bucket files (default:
            `default_state_dir()`).
    """

    __module__ = "refold_async"  # reprs and tracebacks name the public module

    def __init__(
        self,
        redis_client: RedisScriptClient,
        rate: RateLimit = DEFAULT_RATE_LIMIT,
        prefix: str = "refold:rl:",
        *,
        timeout: float = 0.5,
        probe_interval: float = 1.0,
        fallback: RateLimiter | None = None,
        member: str | None = None,
        heartbeat: float = 1.0,
        member_ttl: float = 5.0,
        state_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        if not probe_interval >= 0:
            raise ValueError(f"probe_interval must be >= 0 seconds, not {probe_interval!r}")
        self._client = redis_client
        self._rate = rate
        self._prefix = prefix
        self._timeout = timeout
        self._answered = False  # no script call has answered yet in this process
        self._probe_interval = probe_interval
        self._fallback = fallback
        capacity = client_capacity(rate)
        self._interval_us = 1e6 / rate.per_second
        # GCRA: a tolerance of (capacity - 1) intervals admits `capacity` at one instant.
        self._tolerance_us = (capacity - 1) * self._interval_us
        self._full_us = capacity * self._interval_us
        self._gates = PerLoop(_Gate, _Gate.is_idle)
        self._releases: set[_Task] = set()
        self._down_since: float | None = None  # loop time of the outage's start
        self._next_probe = float("-inf")
        self._state_dir = state_dir
        self._member = member or f"{socket.gethostname()}|{state_dir or default_state_dir()}"
        self._heartbeat = heartbeat
        self._member_ttl_us = member_ttl * 1e6
        self._members: dict[str, int] = {}  # key -> hosts seen by the latest heartbeat
        self._next_beat: dict[str, float] = {}
        self._beats: set[_Task] = set()
        self._shares: dict[RateLimit, RateLimiter] = {}
        self._emptied: set[tuple[RateLimit, str]] = set()  # share buckets started empty
        self._outage_keys: set[str] = set()
        self._returners: set[tuple[Any, anyio.Event]] = set()  # (its loop, its wake-up)
        self._prober: _Task | None = None
        self._booked_until: dict[str, float] = {}  # key -> loop time Redis was booked to
        self._fewer_since: dict[str, float] = {}  # key -> since when beats count fewer hosts

    @property
    def rate(self) -> RateLimit:
        """The server budget this limiter keeps under."""
        return self._rate

    @property
    def redis_available(self) -> bool:
        """False during an outage, while grants come from the fallback."""
        return self._down_since is None

    async def acquire(
        self,
        key: str,
        *,
        priority: bool = False,
        max_wait: float | None = None,
        max_pause: float | None = None,
    ) -> None:
        """Reserve the next slot of bucket `key` in Redis and sleep until it comes.

        Args:
            key: The bucket: base URL plus credential fingerprint, never a secret.
            priority: Go ahead of this loop's waiters without priority (retries do).
            max_wait: Raise `SlotTooFar` rather than wait longer than this, in seconds.
            max_pause: Raise `SlotTooFar` at once if a pause lasts longer than this.
        """
        _asyncio_loop()
        probe = self._down_since is not None  # past the next line: this grant probes Redis
        if self._skip_redis():
            if not await self._fallback_acquire(key, priority, max_wait, max_pause):
                await self.acquire(key, priority=priority, max_wait=max_wait, max_pause=max_pause)
            return
        gate, _ = self._gates.get(key)
        now = anyio.current_time()
        deadline = None if max_wait is None else now + max_wait
        if max_pause is not None and gate.paused_until - now > max_pause:
            raise SlotTooFar(gate.paused_until - now, paused=True)
        turnstile = gate.turnstile
        # A caller with a bound on its wait reserves in Redis at once, without queueing
        # on this loop: Redis's TAT then counts every bounded caller of every process and
        # host, so a slot past the bound is refused by the script, in one round trip.
        queued = deadline is None or priority
        turnstile.users += 1
        try:
            if queued:
                await turnstile.enter(priority=priority, max_wait=max_wait)
            try:
                if probe:
                    await self._seed(key)
                if key not in self._members:
                    await self._count_hosts(key)  # before the first grant, not after it
                while True:
                    if self._down_since is not None and not probe:
                        raise _RedisDown("down")  # it went down while this waiter queued
                    remaining = None if deadline is None else deadline - anyio.current_time()
                    if await self._wait_for_slot(key, gate, remaining, max_pause):
                        break  # else a 429 paused the bucket while we slept: reserve again
            finally:
                if queued:
                    turnstile.leave()
        except _RedisDown as exc:
            self._went_down(str(exc), key)
            if not await self._fallback_acquire(key, priority, max_wait, max_pause):
                await self.acquire(key, priority=priority, max_wait=max_wait, max_pause=max_pause)
            return
        finally:
            turnstile.users -= 1
        self._came_back()
        self._beat(key)

    async def aclose(self) -> None:
        """Let this limiter's calls in the background end: membership records and
        hand-backs are awaited (each bounded by `timeout`), the probe for Redis's return
        is stopped. Await it before closing the Redis client, so no call of the limiter
        is left in flight on a closed client (or opens a connection again after it)."""
        if self._prober is not None:
            self._prober.cancel()  # it only waits to wake queued callers: none are left
        running = current_loop()
        for task in [*self._beats, *self._releases]:
            if task.get_loop() is not running:
                continue  # another loop's: it ends there
            with contextlib.suppress(Exception):  # a failed record or hand-back is moot now
                await task

    async def penalize(self, key: str, retry_after: float) -> None:
        """Pause bucket `key` for every process; when it ends, the bucket is full.

        Args:
            key: The bucket the 429 came from.
            retry_after: Seconds to pause (negative means 0); a longer pause under way
                is kept.

        Raises:
            ValueError: `retry_after` is NaN or infinite.
        """
        seconds = pause_length(retry_after)
        _asyncio_loop()
        logger.debug("a 429 on %s: pause %.3fs", key, seconds)
        gate, _ = self._gates.get(key)
        gate.paused_until = max(gate.paused_until, anyio.current_time() + seconds)
        if self._down_since is not None:
            await (await self._backup(key)).penalize(key, seconds)
            return
        args = (_us(seconds * 1e6), _us(seconds * 1e6 + self._full_us))
        try:
            await self._call(_PENALIZE, key, *args)
        except _RedisDown as exc:
            self._went_down(str(exc), key)
            await (await self._backup(key)).penalize(key, seconds)

    async def reserve(self, key: str, count: int, *, max_wait: float | None = None) -> SlotBlock:
        """Reserve the next `count` slots of bucket `key` in Redis at once, or none.

        During an outage the fallback reserves them.

        Args:
            key: The bucket: base URL plus credential fingerprint, never a secret.
            count: How many slots (at least 1).
            max_wait: Raise `SlotTooFar` if the last slot is further away than this.
        """
        _asyncio_loop()
        if not self._skip_redis():
            args = (
                _us(self._interval_us),
                _us(self._tolerance_us),
                _us(-1 if max_wait is None else max(max_wait, 0) * 1e6),
                str(count),
            )
            try:
                if key not in self._members:
                    await self._count_hosts(key)
                reply = await self._call(_RESERVE_MANY, key, *args)
            except _RedisDown as exc:
                self._went_down(str(exc), key)
            else:
                self._came_back()
                _first, last, tat, new_tat, seq, refused, server_now = (int(v) for v in reply)
                if refused:
                    raise SlotTooFar(last / 1e6, paused=False)
                now = anyio.current_time()
                self._note_booked(key, now, new_tat, server_now)
                base = tat - self._tolerance_us - server_now
                times = [now + max(0.0, base + i * self._interval_us) / 1e6 for i in range(count)]
                clock = anyio.current_time
                return SlotBlock(times, clock, partial(self._hand_back, key, new_tat, seq))
        backup = await self._backup(key)
        if isinstance(backup, SlotReserver):
            return await backup.reserve(key, count, max_wait=max_wait)
        return SlotBlock([], anyio.current_time)  # a fallback that cannot reserve: calls acquire

    async def _hand_back(self, key: str, tat: int, seq: int, unused: int) -> None:
        args = (str(tat), str(seq), _us(unused * self._interval_us))
        try:
            await self._call(_RELEASE, key, *args)
        except _RedisDown:
            logger.info("could not hand back reserved rate-limit slots")

    async def _wait_for_slot(
        self, key: str, gate: _Gate, max_wait: float | None, max_pause: float | None
    ) -> bool:
        """Reserve and sleep until the slot; False if this process saw a 429 meanwhile."""
        loop = _asyncio_loop()
        reserving = _spawn(self._reserve(key, max_wait, max_pause))
        try:
            # Waited for, never cancelled on a timeout: the reservation must come back
            # to be handed back; our own cancellation is not swallowed.
            await _settle(reserving, self._time_allowed())
        except BaseException:
            reserving.add_done_callback(partial(self._release_soon, key, loop))
            raise
        if not reserving.done():
            reserving.add_done_callback(partial(self._release_soon, key, loop))
            raise _RedisDown(f"no answer within {self._time_allowed()}s")
        try:
            reservation = reserving.result()
        except SlotTooFar:
            raise
        except Exception as exc:
            raise _RedisDown(type(exc).__name__) from None
        self._answered = True
        self._note_booked(key, anyio.current_time(), reservation.tat, reservation.server_now)
        try:
            if reservation.delay > 0:
                await anyio.sleep(reservation.delay)
        except anyio.get_cancelled_exc_class():
            self._release_soon(key, loop, reserving)
            raise
        return anyio.current_time() >= gate.paused_until

    async def _reserve(
        self, key: str, max_wait: float | None, max_pause: float | None
    ) -> _Reservation:
        args = (
            _us(self._interval_us),
            _us(self._tolerance_us),
            _us(-1 if max_wait is None else max(max_wait, 0) * 1e6),
            _us(-1 if max_pause is None else max(max_pause, 0) * 1e6),
        )
        delay_us, tat, seq, server_now, refused = await _RESERVE.run(
            self._client, self._redis_key(key), *args
        )
        if int(refused):
            raise SlotTooFar(int(delay_us) / 1e6, paused=int(refused) == 2)
        return _Reservation(
            delay=int(delay_us) / 1e6, tat=int(tat), seq=int(seq), server_now=int(server_now)
        )

    def _note_booked(self, key: str, now: float, tat: float, server_now: float) -> None:
        """Remember how far ahead Redis has booked bucket `key` (its TAT, on our clock):
        requests granted by Redis may leave until then, so a fallback must not add its
        own grants to theirs before it."""
        until = now + max(tat - server_now, 0.0) / 1e6
        self._booked_until[key] = max(self._booked_until.get(key, -math.inf), until)

    async def _call(self, script: _Script, key: str, *args: str) -> Any:
        call = _spawn(script.run(self._client, self._redis_key(key), *args))
        try:
            await _settle(call, self._time_allowed())
        finally:
            if not call.done():
                call.cancel()
        if call.cancelled():
            raise _RedisDown(f"no answer within {self._time_allowed()}s")
        try:
            result = call.result()
        except Exception as exc:
            raise _RedisDown(type(exc).__name__) from None
        self._answered = True
        return result

    def _release_soon(self, key: str, loop: Any, reserving: _Task) -> None:
        if not reserving.done() or reserving.cancelled() or reserving.exception() is not None:
            return  # nothing was reserved, or we cannot tell what
        reservation = reserving.result()
        args = (str(reservation.tat), str(reservation.seq), _us(self._interval_us))
        release = _spawn(self._call(_RELEASE, key, *args), loop)  # maybe from a callback
        self._releases.add(release)  # keep a reference until it is done
        release.add_done_callback(self._release_done)

    def _release_done(self, release: _Task) -> None:
        self._releases.discard(release)
        if not release.cancelled() and release.exception() is not None:
            logger.info("could not hand back a cancelled rate-limit reservation")

    def _time_allowed(self) -> float:
        """The script timeout; until Redis first answers, at least 2 s: the first calls
        also connect and load the script, and a process that counts them as an outage
        before its first heartbeat would fall back to the whole budget (one host)."""
        return self._timeout if self._answered else max(self._timeout, _FIRST_ANSWER)

    def _skip_redis(self) -> bool:
        """During an outage, use the fallback until the next probe is due."""
        if self._down_since is None:
            return False
        now = anyio.current_time()
        if now >= self._next_probe:
            self._next_probe = now + self._probe_interval
            return False  # probe Redis with this grant
        return True

    def _went_down(self, reason: str, key: str) -> None:
        now = anyio.current_time()
        self._next_probe = now + self._probe_interval
        self._outage_keys.add(key)
        if self._down_since is None:
            self._down_since = now
            hosts = max(self._members.values(), default=1)
            logger.warning(
                "Redis rate limiter unavailable (%s); using this host's share of the budget "
                "(1/%d: the hosts seen in Redis last) until Redis is back",
                reason,
                hosts,
            )

    def _came_back(self) -> None:
        if self._down_since is None:
            return
        self._down_since = None
        self._emptied.clear()
        self._outage_keys.clear()
        logger.warning("Redis rate limiter answers again; grants come from Redis")
        for loop, returned in list(self._returners):
            # Callers queued in the fallback move back to Redis (from any loop's thread).
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(returned.set)

    async def _fallback_acquire(
        self, key: str, priority: bool, max_wait: float | None, max_pause: float | None
    ) -> bool:
        """A slot from the fallback; False if Redis came back first (ask Redis instead)."""
        backup = await self._backup(key)
        returned = anyio.Event()  # set by the fallback's grant, or by Redis coming back
        entry = (_asyncio_loop(), returned)
        self._returners.add(entry)
        self._start_prober()
        waiting = _spawn(
            backup.acquire(key, priority=priority, max_wait=max_wait, max_pause=max_pause)
        )
        waiting.add_done_callback(lambda _task: returned.set())
        try:
            await returned.wait()
        except BaseException:
            waiting.cancel()
            raise
        finally:
            self._returners.discard(entry)
            if not self._returners and self._prober is not None:
                self._prober.cancel()  # nobody left to move back: new calls probe
        if waiting.done():
            waiting.result()  # SlotTooFar passes through
            return True
        waiting.cancel()  # the fallback hands its reservation back
        await _settle(waiting, None)
        return False

    def _start_prober(self) -> None:
        if self._prober is None or self._prober.done():
            self._prober = _spawn(self._probe_while_queued())

    async def _probe_while_queued(self) -> None:
        """During an outage, try Redis every `probe_interval` while callers wait in the
        fallback, so they move back when it answers, not only when a new call probes."""
        while self._down_since is not None and self._returners:
            await anyio.sleep(max(self._probe_interval, 0.01))
            try:
                for key in list(self._outage_keys):
                    await self._seed(key)
            except _RedisDown:
                continue
            self._came_back()

    async def _seed(self, key: str) -> None:
        """Mark bucket `key` in use in Redis before the first grant after an outage: for
        a full bucket at least, and for as long as this host's fallback has reserved
        ahead (the later of Redis's state and the local one); then for the other hosts'
        shares of one probe: each finds Redis back on its own timer, up to a probe
        interval (and a timeout) later, and sends at its share until then."""
        ahead = self._full_us
        busy_for = getattr(await self._backup(key), "busy_for", None)
        if busy_for is not None:
            ahead = max(ahead, float(await busy_for(key)) * 1e6)
        hosts = self._members.get(key, 1)
        if self._fallback is None and hosts > 1:
            ahead += (hosts - 1) / hosts * (self._probe_interval + self._timeout) * 1e6
        logger.debug("seeding %s in Redis as in use for %.3fs", key, ahead / 1e6)
        await self._call(_SEED, key, _us(ahead))

    async def _backup(self, key: str) -> RateLimiter:
        """The limiter for `key` during an outage: the given fallback, else this host's
        share of the budget (1/N of the hosts Redis last counted), started empty."""
        if self._fallback is not None:
            return self._fallback
        hosts = self._members.get(key, 1)
        share = _share_of(self._rate, hosts)
        limiter = self._shares.get(share)
        if limiter is None:
            if self._state_dir is None:
                limiter = shared_host_limiter(share)
            else:
                limiter = HostRateLimiter(share, directory=self._state_dir)
            self._shares[share] = limiter
        if (share, key) not in self._emptied:
            # Every host falls back at about the same moment, while requests that Redis
            # granted may still be waiting to leave (a killed Redis is noticed at once,
            # not after `timeout`): none may start with a burst, nor before Redis's
            # bookings have gone out, or together they overrun the server's bucket.
            self._emptied.add((share, key))
            settle = max(self._booked_until.get(key, -math.inf) - anyio.current_time(), 0.0)
            logger.debug(
                "falling back to %s (1/%d of the budget) on %s, its first grant after "
                "the %.3fs Redis has booked ahead",
                share,
                hosts,
                key,
                settle,
            )
            await limiter.penalize(key, settle)
        return limiter

    def _beat(self, key: str) -> None:
        """Record this host as a user of `key` in Redis, at most once per `heartbeat`."""
        now = anyio.current_time()
        if now < self._next_beat.get(key, float("-inf")):
            return
        self._next_beat[key] = now + self._heartbeat
        beat = _spawn(self._send_beat(key))
        self._beats.add(beat)
        beat.add_done_callback(self._beats.discard)

    async def _send_beat(self, key: str) -> None:
        with contextlib.suppress(_RedisDown):  # the next grant finds out whether it is down
            await self._count_hosts(key)

    async def _count_hosts(self, key: str) -> None:
        """Record this host in Redis as a user of `key`, and learn how many hosts are.

        The first grant of a key waits for this: a process that had grants from Redis
        but had not counted the hosts yet would, in an outage, take the whole budget.

        Raises:
            _RedisDown: Redis did not answer.
        """
        self._next_beat[key] = anyio.current_time() + self._heartbeat
        hosts = await self._call(
            _HEARTBEAT, key + ":members", self._member, _us(self._member_ttl_us)
        )
        counted = max(int(hosts), 1)
        known = self._members.get(key)
        if known is not None and counted < known:
            # Fewer hosts count only once they have for a whole TTL: a Redis restarted
            # empty, or thawed after the members' records expired, counts one host at
            # first, and an outage then would give this host the whole budget.
            now = anyio.current_time()
            if now - self._fewer_since.setdefault(key, now) < self._member_ttl_us / 1e6:
                return
        self._fewer_since.pop(key, None)
        if counted != known:
            logger.debug("%d hosts use %s", counted, key)
        self._members[key] = counted

    def _redis_key(self, key: str) -> str:
        return self._prefix + key

    def __repr__(self) -> str:
        return f"RedisRateLimiter({self._rate!r}, prefix={self._prefix!r})"


def _share_of(rate: RateLimit, hosts: int) -> RateLimit:
    """One host's share of `rate` among `hosts`: the rate and the burst divided.

    The burst is rounded up to 2 (a bucket of 1 plus the headroom every limiter keeps),
    so each host may send one request at an instant.
    """
    if hosts <= 1:
        return rate
    return RateLimit(
        per_second=rate.per_second / hosts, burst=max(2, math.ceil(rate.burst / hosts))
    )


class _Task(Protocol):
    """What the limiter uses of an asyncio task (typed here without importing asyncio)."""

    def done(self) -> bool: ...
    def cancelled(self) -> bool: ...
    def cancel(self) -> bool: ...
    def result(self) -> Any: ...
    def exception(self) -> BaseException | None: ...
    def add_done_callback(self, fn: Callable[[Any], object], /) -> None: ...
    def get_loop(self) -> Any: ...
    def __await__(self) -> Generator[Any, None, Any]: ...


def _asyncio_loop() -> Any:
    """The running asyncio loop; under any other loop, a usage error that says what works.

    Raises:
        RefoldUsageError: the running loop is not asyncio's (trio, say).
    """
    loop = current_loop()
    if not callable(getattr(loop, "create_task", None)):
        raise RefoldUsageError(
            "RedisRateLimiter needs asyncio: redis.asyncio, its client, runs on asyncio "
            "only. Under this event loop use the default host-scope limiter (one budget "
            "for every process of the machine) or LocalRateLimiter, or run on asyncio"
        )
    return loop


def _spawn(coroutine: Coroutine[Any, Any, Any], loop: Any = None) -> _Task:
    """Run `coroutine` as a task of its own on `loop` (default: the running asyncio loop)."""
    task: _Task = (loop or _asyncio_loop()).create_task(coroutine)
    return task


# After a wait for Redis runs out, turns of the loop still given to the call: a reply
# that reached the socket while this process was not running (a loaded machine) is
# read in a turn or two, where a timer due at the same moment would otherwise win.
_GRACE_TURNS = 5


async def _settle(task: _Task, within: float | None) -> bool:
    """Wait until `task` is done, for at most `within` seconds; never cancel it.

    A process that was not scheduled for a while (a loaded machine) finds its timer due
    and Redis's answer waiting at once; the answer gets a few turns of the loop, and if
    the timer went off late by over half the wait, once more as long: a slow process is
    not a slow Redis. Returns whether the task is done.
    """
    if not task.done():
        finished = anyio.Event()
        task.add_done_callback(lambda _task: finished.set())
        started = anyio.current_time()
        with anyio.move_on_after(within):
            await finished.wait()
        if within is not None and not task.done():
            for _ in range(_GRACE_TURNS):
                await anyio.lowlevel.checkpoint()
                if task.done():
                    break
            late = anyio.current_time() - started - within
            if not task.done() and late > within / 2:
                with anyio.move_on_after(within):
                    await finished.wait()
    return task.done()


def _us(value: float) -> str:
    """A microsecond figure as script argument text, to a thousandth of a microsecond."""
    return f"{value:.3f}"
