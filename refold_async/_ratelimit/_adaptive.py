"""Neighbours the client cannot see: lower our own rate when 429s say someone else spends.

A key is often shared with callers no limiter of ours knows about: another host without
Redis, another team's program, another SDK. The client keeps inside the budget, so a
429 it draws means the bucket was also spent elsewhere. `AdaptiveRateLimiter` wraps any
limiter (every scope: process, host, Redis) and answers like TCP's congestion control
(AIMD): each 429 cuts this client's share of the budget multiplicatively (at most once
per `cooldown`, so one collision's burst of 429s counts once), down to a floor; each
`quiet` period without a 429 gives back one `step`, up to a ceiling below the whole
budget until no 429 has come for `forget` seconds. Clients that share a key without
coordinating settle near fair shares instead of one taking everything.

The share is applied in the wrapped limiter's own bucket, so it binds every process that
uses that bucket: at share f, each request takes 1/f slots (its own, then the others
booked right behind it and left unused; fractions carry over between requests). A share
of 1 costs nothing but a lookup.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import weakref
from collections.abc import Callable

from ._base import RateLimit, RateLimiter, SlotBlock, SlotReserver

__all__ = ["AdaptiveRateLimiter", "adaptive"]

logger = logging.getLogger("refold.ratelimit")


class _Share:
    """One key's share of the budget, and what the last 429s and quiet periods did to it."""

    __slots__ = ("debt", "factor", "last_decrease", "last_increase", "last_signal", "warned")

    def __init__(self) -> None:
        self.factor = 1.0
        self.debt = 0.0  # slots owed to the bucket, below one
        self.last_decrease = -math.inf
        self.last_increase = -math.inf
        self.last_signal = -math.inf
        self.warned = False


class AdaptiveRateLimiter:
    """Wraps a limiter; lowers this client's rate while 429s show the key is shared (AIMD).

    Example:
        ```python
        limiter = AdaptiveRateLimiter(HostRateLimiter(RateLimit()))
        await limiter.penalize(bucket, 0.5)  # a 429: this process now takes half a share
        ```

    Args:
        inner: The limiter that keeps the budget (any scope).
        decrease: Multiplies the share after a 429 (0 < decrease < 1).
        floor: The least share (of the budget) ever kept.
        step: Added to the share after each `quiet` period without a 429.
        quiet: Seconds without a 429 before the share grows by one `step`.
        cooldown: Seconds after one cut during which further 429s do not cut again.
        ceiling: The most share regained while the neighbour may still be there.
        forget: Seconds without a 429 after which the whole budget comes back.
        clock: Monotonic seconds (a test's controllable clock).
    """

    def __init__(
        self,
        inner: RateLimiter,
        *,
        decrease: float = 0.4,
        floor: float = 0.1,
        step: float = 0.1,
        quiet: float = 15.0,
        cooldown: float = 0.5,
        ceiling: float = 0.9,
        forget: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < decrease < 1:
            raise ValueError(f"decrease must be between 0 and 1, not {decrease!r}")
        if not 0 < floor <= 1:
            raise ValueError(f"floor must be in (0, 1], not {floor!r}")
        if not (step > 0 and quiet > 0 and cooldown >= 0 and forget >= 0):
            raise ValueError("step and quiet must be positive, cooldown and forget at least 0")
        if not floor <= ceiling <= 1:
            raise ValueError(f"ceiling must be between floor and 1, not {ceiling!r}")
        self._inner = inner
        self._decrease = decrease
        self._floor = floor
        self._step = step
        self._quiet = quiet
        self._cooldown = cooldown
        self._ceiling = ceiling
        self._forget = forget
        self._clock = clock
        self._shares: dict[str, _Share] = {}
        self._lock = threading.Lock()

    @property
    def inner(self) -> RateLimiter:
        """The limiter that keeps the budget."""
        return self._inner

    @property
    def rate(self) -> RateLimit | None:
        """The server budget the wrapped limiter keeps under."""
        return self._inner.rate

    def share(self, key: str) -> float:
        """This client's current share of bucket `key`'s budget (1.0: all of it)."""
        with self._lock:
            share = self._shares.get(key)
            return 1.0 if share is None else share.factor

    async def acquire(
        self,
        key: str,
        *,
        priority: bool = False,
        max_wait: float | None = None,
        max_pause: float | None = None,
    ) -> None:
        """Take this request's slot, then book the ones its share leaves unused.

        Args:
            key: The bucket: base URL plus credential fingerprint, never a secret.
            priority: Go ahead of waiters without priority (retries do).
            max_wait: Raise `SlotTooFar` rather than wait longer than this in all.
            max_pause: Raise `SlotTooFar` at once if a pause lasts longer than this.
        """
        await self._inner.acquire(key, priority=priority, max_wait=max_wait, max_pause=max_pause)
        extra = self._charge(key, 1)
        if not extra:
            return
        inner = self._inner
        if isinstance(inner, SlotReserver):
            # The slots this request costs beyond its own are booked right behind it
            # (before another waiter of this loop runs), so the bucket's next caller, in
            # whichever process, comes `extra` intervals later: sends stay evenly spaced.
            await inner.reserve(key, extra)
            return
        for _ in range(extra):  # a limiter that cannot book ahead: take them one by one
            await inner.acquire(key, priority=True)

    async def reserve(self, key: str, count: int, *, max_wait: float | None = None) -> SlotBlock:
        """Reserve `count` slots at the current share (each may cost more than one).

        Args:
            key: The bucket: base URL plus credential fingerprint, never a secret.
            count: How many slots (at least 1).
            max_wait: Raise `SlotTooFar` if the last slot is further away than this.
        """
        inner = self._inner
        if not isinstance(inner, SlotReserver):
            return SlotBlock([], self._clock)
        extra = self._charge(key, count)
        block = await inner.reserve(key, count + extra, max_wait=max_wait)
        return block.thinned(count) if extra else block

    async def penalize(self, key: str, retry_after: float) -> None:
        """Pause the bucket (the wrapped limiter), and cut this client's share.

        Args:
            key: The bucket the 429 came from.
            retry_after: Seconds to pause (negative means 0).

        Raises:
            ValueError: `retry_after` is NaN or infinite.
        """
        await self._inner.penalize(key, retry_after)
        if self._inner.rate is None:
            return  # nothing paced these requests: the 429 says nothing about neighbours
        now = self._clock()
        with self._lock:
            share = self._shares.setdefault(key, _Share())
            share.last_signal = now
            if now - share.last_decrease < self._cooldown:
                return
            share.factor = max(share.factor * self._decrease, self._floor)
            share.last_decrease = now
            warn, share.warned = not share.warned, True
            factor = share.factor
        if warn:
            logger.warning(
                "429s on rate-limit bucket %s although this client kept within its budget: "
                "something else spends this key (another host, or a program not using this "
                "client's limiter). This client now takes %.0f%% of the budget and takes "
                "more back after %gs without a 429. To share one budget across hosts, use "
                "RedisRateLimiter",
                key,
                factor * 100,
                self._quiet,
            )

    def _charge(self, key: str, count: int) -> int:
        """Slots beyond `count` that `count` requests cost at the current share."""
        with self._lock:
            share = self._shares.get(key)
            if share is None:
                return 0
            now = self._clock()
            if share.factor < 1 and now - max(share.last_signal, share.last_increase) >= (
                self._quiet
            ):
                # Once a neighbour was seen, grow back to `ceiling` only: a client at the
                # whole budget keeps the server's bucket exactly full and never draws a
                # 429 itself, so it would starve the neighbour without ever learning of it.
                top = 1.0 if now - share.last_signal >= self._forget else self._ceiling
                share.factor = min(share.factor + self._step, max(top, share.factor))
                share.last_increase = now
            if share.factor >= 1:
                return 0
            share.debt += count * (1 / share.factor - 1)
            extra = int(share.debt)
            share.debt -= extra
            return extra

    def __repr__(self) -> str:
        return f"AdaptiveRateLimiter({self._inner!r})"


_LAYERS: weakref.WeakKeyDictionary[object, AdaptiveRateLimiter] = weakref.WeakKeyDictionary()
_LAYERS_LOCK = threading.Lock()


def adaptive(inner: RateLimiter) -> RateLimiter:
    """The process's one `AdaptiveRateLimiter` over `inner` (itself if nothing is paced).

    Clients that share a limiter share its layer too, so they learn of neighbours together.
    """
    if inner.rate is None or isinstance(inner, AdaptiveRateLimiter):
        return inner
    with _LAYERS_LOCK:
        try:
            layer = _LAYERS.get(inner)
            if layer is None:
                layer = _LAYERS[inner] = AdaptiveRateLimiter(inner)
        except TypeError:  # a limiter that cannot be weakly referenced: a layer of its own
            layer = AdaptiveRateLimiter(inner)
    return layer
