"""Process scope: one bucket per (event loop, key), behind a FIFO turnstile.

This is 0.1's limiter, kept for platforms without the host lock and for users who ask
for a budget of their own per process. The SDK keeps the bucket's books itself (GCRA:
a theoretical arrival time, on the loop's clock), which is what pauses and reserved
slots need; aiolimiter, through its public API only, then paces the grants on asyncio
loops as a second, independent check of the same budget (it is asyncio-only, so under
trio the books alone do it). The turnstile in front adds strict arrival order, retries
first, and bounded waits.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from functools import partial

import anyio
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
    current_loop,
    pause_length,
    wake_at,
)

__all__ = ["LocalRateLimiter", "shared_local_limiter"]

logger = logging.getLogger("refold.ratelimit")


class _Books:
    """One bucket's books: GCRA on the loop's clock, with pauses and booked slots.

    A bucket of `capacity` draining at `per_second` is the same as a theoretical arrival
    time (TAT) advanced one interval per grant, a grant conforming once `TAT - (capacity
    - 1) intervals` has come. A pause moves the TAT to its end plus a full bucket, so
    that the bucket is full when the pause ends (no burst after a pause) and a longer
    pause under way is kept.
    """

    __slots__ = ("full", "interval", "paused_until", "seq", "tat", "tolerance")

    def __init__(self, rate: RateLimit) -> None:
        capacity = client_capacity(rate)
        self.interval = rate.interval
        self.tolerance = (capacity - 1) * self.interval
        self.full = capacity * self.interval
        self.tat = -math.inf
        self.paused_until = -math.inf
        self.seq = 0  # bumped by every booking, so a hand-back undoes only the last

    def slot(self, now: float, ahead: int = 0) -> float:
        """When one more grant conforms after `ahead` others granted as early as allowed."""
        return max(now, max(self.tat, now) + ahead * self.interval - self.tolerance)

    def book(self, now: float) -> float:
        """Take the next slot (which may be in the future); its time."""
        slot = max(now, self.tat - self.tolerance)
        self.tat = max(self.tat, now) + self.interval
        self.seq += 1
        return slot

    def pause(self, now: float, seconds: float) -> None:
        end = now + seconds
        self.paused_until = max(self.paused_until, end)
        self.tat = max(self.tat, end + self.full)
        self.seq += 1


class _LocalBucket:
    """One key's budget on one event loop: the books, a turnstile, aiolimiter's pacing."""

    __slots__ = ("_books", "_clock", "_pacer", "_turnstile")

    def __init__(self, rate: RateLimit) -> None:
        capacity = client_capacity(rate)
        self._books = _Books(rate)
        self._turnstile = Turnstile()
        self._clock: Callable[[], float] = anyio.current_time
        # aiolimiter's bucket of the same size (docs/architecture.md §4: AsyncLimiter(4,
        # 0.2) for the default budget) sees every grant after the books allowed it: it
        # never waits unless the books were wrong. It runs on asyncio loops only.
        loop = current_loop()
        on_asyncio = callable(getattr(loop, "create_future", None))
        self._pacer = AsyncLimiter(capacity, capacity / rate.per_second) if on_asyncio else None

    async def acquire(
        self, *, priority: bool, max_wait: float | None, max_pause: float | None
    ) -> None:
        books, clock, turnstile = self._books, self._clock, self._turnstile
        now = clock()
        if max_pause is not None and (paused := books.paused_until - now) > max_pause:
            raise SlotTooFar(paused, paused=True)
        if max_wait is not None and not priority:
            # The process is the whole scope: its queue and bucket say at once whether a
            # slot comes within the bound (the holder and each waiter ahead take one).
            ahead = turnstile.waiting() + (1 if turnstile.is_held() else 0)
            if (wait := books.slot(now, ahead) - now) > max_wait:
                raise SlotTooFar(wait, paused=False)
        deadline = None if max_wait is None else now + max_wait
        turnstile.users += 1
        try:
            await turnstile.enter(priority=priority, max_wait=max_wait)
            try:
                # Sleep until the slot, then look again: a pause or a booking made
                # meanwhile moves the slot, and nothing is taken before it is due, so a
                # waiter cancelled while it sleeps has used nothing up.
                while (slot := books.slot(now := clock())) > now:
                    if deadline is not None and slot > deadline:
                        raise SlotTooFar(slot - now, paused=False)
                    await wake_at(slot, clock)
                books.book(now)
            finally:
                turnstile.leave()
            if self._pacer is not None:
                await self._pacer.acquire()
        finally:
            turnstile.users -= 1

    def pause(self, seconds: float) -> None:
        self._books.pause(self._clock(), seconds)

    def reserve(self, count: int, max_wait: float | None) -> SlotBlock:
        books, clock = self._books, self._clock
        now = clock()
        ahead = self._turnstile.waiting() + (1 if self._turnstile.is_held() else 0)
        last = books.slot(now, ahead + count - 1) - now
        if max_wait is not None and last > max_wait:
            raise SlotTooFar(last, paused=False)
        # The reserved slots go ahead of this loop's queue.
        times = [books.book(now) for _ in range(count)]
        booked_tat, booked_seq = books.tat, books.seq

        async def hand_back(unused: int) -> None:
            if books.tat == booked_tat and books.seq == booked_seq:  # nothing booked since
                books.tat -= unused * books.interval
                books.seq += 1

        return SlotBlock(times, clock, hand_back)

    def is_idle(self) -> bool:
        """Nobody waits and the bucket has drained: a fresh bucket would behave the same."""
        now = self._clock()
        pacer = self._pacer
        return (
            self._turnstile.is_idle()
            and self._books.tat <= now
            and self._books.paused_until <= now
            and (pacer is None or pacer.has_capacity(pacer.max_rate))
        )


class LocalRateLimiter:
    """Rate limits in this process, with one bucket per (event loop, key).

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
