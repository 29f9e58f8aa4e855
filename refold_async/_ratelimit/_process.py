"""Process scope: one aiolimiter bucket per (event loop, key), behind a FIFO turnstile.

This is 0.1's limiter, kept for platforms without the host lock and for users who ask
for a budget of their own per process. aiolimiter does the leaky-bucket arithmetic and
the waking; the turnstile in front of it adds what aiolimiter lacks: strict arrival
order (aiolimiter lets a newcomer barge ahead of a woken waiter), retries first, and
bounded waits.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from aiolimiter import AsyncLimiter

from ._base import (
    DEFAULT_RATE_LIMIT,
    PerLoop,
    PerRate,
    RateLimit,
    SlotBlock,
    SlotTooFar,
    Turnstile,
    client_capacity,
    pause_length,
)

__all__ = ["LocalRateLimiter", "shared_local_limiter"]

logger = logging.getLogger("refold.ratelimit")


class _PausableLimiter(AsyncLimiter):
    """An aiolimiter bucket that can be paused by filling it past its brim."""

    __slots__ = ()

    def pause(self, seconds: float) -> None:
        """Grant nothing for `seconds`, then resume at the steady rate, with no burst.

        Filling the bucket `seconds` worth of drain past full does all of it at once: it
        drains back to exactly full when the pause ends (docs/architecture.md §4: after a pause, no
        burst), waiters keep their places in aiolimiter's queue, and a longer pause
        already under way is kept. Relies on aiolimiter >= 1.2 internals (`_level`,
        `_leak`, `_wake_next`), which cope with a level above `max_rate`.
        """
        self._leak()
        self._level = max(self._level, self.max_rate + seconds * self._rate_per_sec)
        self._wake_next()  # re-arm the waker for the new level now, not at its stale time

    def paused_for(self) -> float:
        """Seconds until the bucket is back down to full (0 when not paused)."""
        self._leak()
        return max(self._level - self.max_rate, 0.0) / self._rate_per_sec

    def wait_for_one(self, ahead: int = 0) -> float:
        """Seconds until the bucket has room for one more request after `ahead` others."""
        self._leak()
        return max(self._level + ahead + 1 - self.max_rate, 0.0) / self._rate_per_sec

    def book(self, count: int) -> list[float]:
        """Take the next `count` slots now; the seconds from now until each comes.

        Filling the bucket past its brim (as `pause` does) makes the waiters in
        aiolimiter's queue wait for the booked slots too.
        """
        waits = [self.wait_for_one(i) for i in range(count)]
        self._level += count
        self._wake_next()
        return waits


class _LocalBucket:
    """One key's budget on one event loop: a pausable aiolimiter bucket behind a turnstile."""

    __slots__ = ("_limiter", "_turnstile")

    def __init__(self, rate: RateLimit) -> None:
        capacity = client_capacity(rate)
        # docs/architecture.md §4: a bucket of `capacity` draining at `per_second`: AsyncLimiter(4, 0.2).
        self._limiter = _PausableLimiter(capacity, capacity / rate.per_second)
        self._turnstile = Turnstile()

    async def acquire(
        self, *, priority: bool, max_wait: float | None, max_pause: float | None
    ) -> None:
        turnstile = self._turnstile
        if max_pause is not None and (paused := self._limiter.paused_for()) > max_pause:
            raise SlotTooFar(paused, paused=True)
        if max_wait is not None and not priority:
            # The process is the whole scope: its queue and bucket say at once whether a
            # slot comes within the bound (the holder and each waiter ahead take one).
            ahead = turnstile.waiting() + (1 if turnstile.is_held() else 0)
            if (wait := self._limiter.wait_for_one(ahead)) > max_wait:
                raise SlotTooFar(wait, paused=False)
        loop = asyncio.get_running_loop()
        deadline = None if max_wait is None else loop.time() + max_wait
        turnstile.users += 1
        try:
            await turnstile.enter(priority=priority, timeout=max_wait)
            try:
                if deadline is not None:
                    wait = self._limiter.wait_for_one()
                    if loop.time() + wait > deadline:
                        raise SlotTooFar(wait, paused=False)
                await self._limiter.acquire()
            finally:
                turnstile.leave()
        finally:
            turnstile.users -= 1

    def pause(self, seconds: float) -> None:
        self._limiter.pause(seconds)

    def reserve(self, count: int, max_wait: float | None) -> SlotBlock:
        limiter = self._limiter
        ahead = self._turnstile.waiting() + (1 if self._turnstile.is_held() else 0)
        last = limiter.wait_for_one(ahead + count - 1)
        if max_wait is not None and last > max_wait:
            raise SlotTooFar(last, paused=False)
        loop = asyncio.get_running_loop()
        now = loop.time()
        # The reserved slots go ahead of this loop's queue; slots not taken lapse.
        return SlotBlock([now + wait for wait in limiter.book(count)], loop.time)

    def is_idle(self) -> bool:
        """Nobody waits and the bucket has drained: a fresh bucket would behave the same."""
        return self._turnstile.is_idle() and self._limiter.has_capacity(self._limiter.max_rate)


class LocalRateLimiter:
    """Rate limits in this process, with one aiolimiter bucket per (event loop, key).

    Every client on a loop that uses the same key shares one bucket, as long as they
    share this limiter: `shared_local_limiter()` gives the one instance per `RateLimit`.
    The sync facade runs every thread's calls on one loop, so its threads share one
    bucket too. The same key used from two live loops, or from two processes, gets two
    budgets, which together can exceed the server's; a split across loops is logged once
    per key (logger `refold.ratelimit`). The default, `HostRateLimiter`, shares one budget
    across every loop and process of the machine; `RedisRateLimiter` across machines.

    Waiters are served in arrival order, retries first. A pause from `penalize()`
    applies to the bucket on the calling loop.

    Example:
        ```python
        limiter = LocalRateLimiter(RateLimit(per_second=20, burst=5))
        client = AsyncRefold(api_key=key, rate_limiter=limiter)  # process scope
        ```

    Args:
        rate: The server's budget; the bucket holds `burst - 1` (at least 1) and drains
            at `per_second`.
    """

    def __init__(self, rate: RateLimit = DEFAULT_RATE_LIMIT) -> None:
        self._rate = rate
        self._buckets = PerLoop(partial(_LocalBucket, rate), _LocalBucket.is_idle)

    @property
    def rate(self) -> RateLimit:
        """The server budget this limiter keeps under."""
        return self._rate

    async def acquire(
        self,
        key: str,
        *,
        priority: bool = False,
        max_wait: float | None = None,
        max_pause: float | None = None,
    ) -> None:
        """Wait for a slot in bucket `key` on the running loop, in arrival order.

        Args:
            key: The bucket: base URL plus credential fingerprint, never a secret.
            priority: Go ahead of waiters without priority (retries do).
            max_wait: Raise `SlotTooFar` rather than wait longer than this, in seconds.
            max_pause: Raise `SlotTooFar` at once if a pause lasts longer than this.
        """
        await self._bucket(key).acquire(priority=priority, max_wait=max_wait, max_pause=max_pause)

    async def penalize(self, key: str, retry_after: float) -> None:
        """Pause bucket `key` for `retry_after` seconds, then resume with no burst.

        Args:
            key: The bucket the 429 came from.
            retry_after: Seconds to pause (negative means 0); a longer pause under way
                is kept.

        Raises:
            ValueError: `retry_after` is NaN or infinite.
        """
        self._bucket(key).pause(pause_length(retry_after))

    async def reserve(self, key: str, count: int, *, max_wait: float | None = None) -> SlotBlock:
        """Reserve the next `count` slots of bucket `key` on the running loop, or none.

        Args:
            key: The bucket: base URL plus credential fingerprint, never a secret.
            count: How many slots (at least 1).
            max_wait: Raise `SlotTooFar` if the last slot is further away than this.
        """
        return self._bucket(key).reserve(count, max_wait)

    def _bucket(self, key: str) -> _LocalBucket:
        bucket, split = self._buckets.get(key)
        if split:
            logger.warning(
                "rate-limit bucket %s is in use on two event loops at once; with a "
                "process-scope limiter each loop gets its own budget, so together they can "
                "exceed the server's limit. Use the default host-scope limiter, or "
                "RedisRateLimiter across machines",
                key,
            )
        return bucket

    def __repr__(self) -> str:
        return f"LocalRateLimiter({self._rate!r})"


_SHARED: PerRate[LocalRateLimiter] = PerRate(LocalRateLimiter)


def shared_local_limiter(rate: RateLimit = DEFAULT_RATE_LIMIT) -> LocalRateLimiter:
    """The process's one `LocalRateLimiter` for `rate`.

    Args:
        rate: The server's budget.

    Returns:
        The same instance for every equal `rate`, for the life of the process.
    """
    return _SHARED.get(rate)
