"""What every limiter shares: the budget, the protocol, and the per-loop queue.

- `RateLimit` describes the server's budget; `client_capacity()` keeps one slot of
  headroom below it (docs/architecture.md §4).
- `RateLimiter` is the transport's only view of a limiter.
- `SlotTooFar` is how a limiter says "not within the wait you allowed"; the transport
  turns it into a typed `RateLimitError`.
- `SlotReserver` and `SlotBlock`: limiters that can reserve several slots at once
  (`client.reserve(k)`), judged against their shared state.
- `Turnstile` is the per-loop, per-key queue in front of every bucket: one holder at a
  time, served in arrival order, retries ahead of first attempts, cancellation-safe.
- `PerLoop` keeps one value per (event loop, key): a loop's primitives belong to it.

Everything here runs on anyio, so every scope but Redis (whose client is asyncio's) works
under asyncio and trio alike; nothing in this package imports asyncio.
"""

from __future__ import annotations

import math
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import anyio
import attrs

from refold_async._native import loop_identity

__all__ = [
    "DEFAULT_RATE_LIMIT",
    "PerLoop",
    "PerRate",
    "RateLimit",
    "RateLimiter",
    "SlotBlock",
    "SlotReserver",
    "SlotTooFar",
    "Turnstile",
    "UnlimitedRateLimiter",
    "client_capacity",
    "current_loop",
    "loop_clock",
    "pause_length",
]

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
    headroom below it (docs/architecture.md §4), so the defaults let at most 4 requests out at one
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

    @property
    def interval(self) -> float:
        """Seconds between two requests at the steady rate."""
        return 1.0 / self.per_second

    def floor(self, requests: int) -> float:
        """The least time `requests` requests can take within this budget, in seconds.

        The first `burst` go at once; every further one needs an interval.
        """
        return max(requests - self.burst, 0) / self.per_second


DEFAULT_RATE_LIMIT = RateLimit()


def client_capacity(rate: RateLimit) -> int:
    """Requests the client lets out at one instant: one slot of headroom below `burst`."""
    # docs/architecture.md §4: against nginx limit_req a client bucket of exactly `burst` drew a 429
    # in every run (a request landing a millisecond "early" overflows a full server
    # bucket); `burst - 1` drew none. A burst of 1 leaves no room to spare.
    return max(rate.burst - 1, 1)


def pause_length(retry_after: float) -> float:
    """A 429's pause in seconds: negatives are 0; NaN and infinities are refused."""
    if not math.isfinite(retry_after):
        raise ValueError(f"retry_after must be a finite number of seconds, not {retry_after!r}")
    return max(retry_after, 0.0)


class SlotTooFar(Exception):
    """The next slot is further away than the caller allowed; nothing was reserved.

    Attributes:
        wait: Seconds until the slot (at least the caller's bound).
        paused: True when the refusal is `max_pause`'s (a 429's pause outlasts it),
            False when it is `max_wait`'s.
    """

    def __init__(self, wait: float, *, paused: bool) -> None:
        super().__init__(f"the next rate-limit slot is {wait:.2f}s away")
        self.wait = wait
        self.paused = paused


class RateLimiter(Protocol):
    """Paces requests to stay within the API's rate limit; the transport's only view of it.

    One bucket per `key`. Implementations must be cancellation-safe: a waiter cancelled in
    `acquire` neither holds up the waiters behind it nor uses up a slot for long.

    Example:
        ```python
        limiter: RateLimiter = HostRateLimiter(RateLimit())
        await limiter.acquire(bucket)  # before each attempt
        await limiter.acquire(bucket, priority=True)  # before a retry: ahead of the queue
        await limiter.penalize(bucket, retry_after=2.0)  # after a 429
        ```
    """

    @property
    def rate(self) -> RateLimit | None:
        """The server budget this limiter keeps under (`None`: no limit)."""
        ...

    async def acquire(
        self,
        key: str,
        *,
        priority: bool = False,
        max_wait: float | None = None,
        max_pause: float | None = None,
    ) -> None:
        """Wait until bucket `key` has a slot for one request, then take it.

        Args:
            key: The bucket: base URL plus credential fingerprint, never a secret.
            priority: Serve this waiter before those that are not (a retry, whose call
                already waited its turn once).
            max_wait: Raise `SlotTooFar` instead of waiting longer than this many
                seconds in all (queue and bucket).
            max_pause: Raise `SlotTooFar` at once if a 429's pause lasts longer than this.
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


class SlotBlock:
    """Slots reserved at once (`SlotReserver.reserve`): their times, taken in order.

    Times are on the clock the limiter read (`clock`: the loop's, or the host's
    monotonic clock, which agree on the standard loops). Slots not taken can be handed
    back with `hand_back()`; a limiter that cannot undo them lets them lapse.
    """

    __slots__ = ("_hand_back", "_times", "clock")

    def __init__(
        self,
        times: Sequence[float],
        clock: Callable[[], float],
        hand_back: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        self._times = deque(times)
        self.clock: Callable[[], float] = clock
        self._hand_back = hand_back

    @property
    def remaining(self) -> int:
        """Slots not taken yet."""
        return len(self._times)

    def take(self) -> float | None:
        """The next slot's time, or None when every slot has been taken."""
        return self._times.popleft() if self._times else None

    def last(self) -> float | None:
        """The time of the last slot not taken yet (None: none left)."""
        return self._times[-1] if self._times else None

    def thinned(self, keep: int) -> SlotBlock:
        """A block of `keep` of these slots, evenly spread, ending with the last.

        The others are left unused: what a request costing more than one slot pays.
        Handing back an unused kept slot hands back its share of the others too.
        """
        times = list(self._times)
        total = len(times)
        chosen = [times[(i + 1) * total // keep - 1] for i in range(keep)]
        back = self._hand_back
        if back is None:
            return SlotBlock(chosen, self.clock)

        async def hand_back(unused: int) -> None:
            await back(min(total, -(-unused * total // keep)))

        return SlotBlock(chosen, self.clock, hand_back)

    async def hand_back(self) -> None:
        """Give the slots not taken back to the bucket, if the limiter can; else they lapse."""
        unused = len(self._times)
        self._times.clear()
        if unused and self._hand_back is not None:
            await self._hand_back(unused)


@runtime_checkable
class SlotReserver(Protocol):
    """A limiter that can reserve several slots at once, judged against its shared state."""

    async def reserve(self, key: str, count: int, *, max_wait: float | None = None) -> SlotBlock:
        """Reserve the next `count` slots of bucket `key` at once, or none.

        Raises:
            SlotTooFar: the last of them is further away than `max_wait` seconds;
                nothing was reserved.
        """
        ...


class UnlimitedRateLimiter:
    """A limiter that never waits: what `rate_limit=None` gives.

    Example:
        ```python
        client = AsyncRefold(api_key=key, rate_limit=None)  # uses UnlimitedRateLimiter
        ```
    """

    @property
    def rate(self) -> RateLimit | None:
        """`None`: there is no budget."""
        return None

    async def acquire(
        self,
        key: str,
        *,
        priority: bool = False,
        max_wait: float | None = None,
        max_pause: float | None = None,
    ) -> None:
        """Return at once: there is no limit."""

    async def penalize(self, key: str, retry_after: float) -> None:
        """Ignore the 429: the transport still waits before retrying."""

    def __repr__(self) -> str:
        return "UnlimitedRateLimiter()"


def current_loop() -> object:
    """The running event loop's own object (asyncio's loop, trio's token): a dict key.

    The SDK's one way to tell loops apart (`_native.loop_identity()`), shared with the
    token locks and the blocking client.

    Raises:
        RefoldUsageError: no asyncio or trio loop runs in this thread.
    """
    return loop_identity()


def loop_clock() -> Callable[[], float]:
    """The clock the host scope reads on the running loop: the host's monotonic clock.

    A loop that keeps a clock of its own (a test's virtual-time loop) is read instead,
    so that sleeps and grants agree; uvloop and the standard asyncio loops read the same
    `time.monotonic()`, which on Linux is one clock for every process of the host, and
    so does trio's clock, up to an offset of its own: under trio (or any loop that is
    not asyncio's) the host's clock is read directly and sleeps are measured on it.
    """
    loop = current_loop()
    for base in type(loop).__mro__:
        if base.__name__ == "BaseEventLoop" and base.__module__ == "asyncio.base_events":
            if type(loop).time is not base.time:  # type: ignore[attr-defined]
                return loop.time  # type: ignore[attr-defined, no-any-return]
            break
    return time.monotonic


async def wake_at(when: float, clock: Callable[[], float]) -> None:
    """Sleep until `clock()` reads `when` or later: never return before, as one sleep may.

    asyncio runs a timer that is due within one tick of the monotonic clock (1 ns on
    Linux) at once, libuv's timers (uvloop) count whole milliseconds, and `clock` may
    not be the loop's own (the host's monotonic clock under trio), so `sleep(slot - now)`
    can end a hair before the slot. A grant released early is refused by a full server
    bucket: with `burst=1` there is no slot of headroom to absorb even a nanosecond. So
    what is left is slept again.

    Each sleep is exactly what is left, not rounded up: a grant a tick late would leave
    the next one (due one interval after the slot, not after the grant) a tick too close
    to it. A clock that stands still while its loop is busy would let a sub-tick sleep
    be due at once again and again; after many such turns a sleep lasts a whole tick,
    so that waiters woken a hair early cannot hand the loop to each other for ever.
    """
    turn = 0
    while (delay := when - clock()) > 0:
        await anyio.sleep(delay if turn < _EXACT_TURNS else max(delay, _CLOCK_TICK))
        turn += 1


# One tick of the monotonic clock: a timer due within it may run at once.
_CLOCK_TICK = time.get_clock_info("monotonic").resolution
# Sleeps of exactly what is left before one lasts a tick (`wake_at`). A real clock moves
# between two turns of a loop, so one or two are all it takes; the bound only ends a
# livelock where a loop's clock stands still while it is busy (a virtual clock).
_EXACT_TURNS = 1000


# --- the per-loop queue ---------------------------------------------------------------


class _Turn:
    """One waiter's place in a turnstile: an event, and whether the turn was given."""

    __slots__ = ("event", "given")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.given = False


class Turnstile:
    """One key's queue on one loop: one holder at a time, FIFO, retries first.

    Waiters are served in arrival order, except that `priority` waiters go ahead of the
    others (still in order among themselves). A waiter cancelled before its turn leaves
    the queue; one cancelled just as its turn came passes the turn on.
    """

    __slots__ = ("_held", "_normal", "_urgent", "users")

    def __init__(self) -> None:
        self._held = False
        self._normal: deque[_Turn] = deque()
        self._urgent: deque[_Turn] = deque()
        self.users = 0

    def waiting(self) -> int:
        """How many wait for their turn (the holder not counted)."""
        return len(self._normal) + len(self._urgent)

    def is_held(self) -> bool:
        """Someone holds the turn."""
        return self._held

    async def enter(self, *, priority: bool = False, max_wait: float | None = None) -> None:
        """Wait for this waiter's turn.

        Raises:
            SlotTooFar: the turn did not come within `max_wait` seconds.
        """
        if not self._held and not self._urgent and not self._normal:
            self._held = True
            return
        turn = _Turn()
        queue = self._urgent if priority else self._normal
        queue.append(turn)
        try:
            if max_wait is None:
                await turn.event.wait()
            else:
                with anyio.move_on_after(max(max_wait, 0.0)):
                    await turn.event.wait()
        except BaseException:
            self._abandon(turn, queue)
            raise
        if not turn.given:  # the bound passed first
            self._abandon(turn, queue)
            raise SlotTooFar(max_wait if max_wait is not None else 0.0, paused=False)

    def _abandon(self, turn: _Turn, queue: deque[_Turn]) -> None:
        if turn.given:
            self.leave()  # the turn came as we gave up: hand it on
        elif turn in queue:
            queue.remove(turn)

    def leave(self) -> None:
        """End the holder's turn and give it to the next waiter, if any."""
        for queue in (self._urgent, self._normal):
            if queue:
                turn = queue.popleft()
                turn.given = True
                turn.event.set()
                return
        self._held = False

    def is_idle(self) -> bool:
        """Nobody holds or waits for a turn."""
        return self.users == 0 and not self._held and self.waiting() == 0


# --- per-loop state -----------------------------------------------------------------

_PER_LOOP_REGISTRIES: weakref.WeakSet[PerLoop[Any]] = weakref.WeakSet()
_PRUNE_FROM = 64  # start dropping idle values once a loop holds this many keys


class PerLoop(Generic[_V]):
    """One value per (running event loop, key), thread-safe; closed loops are dropped.

    A loop's primitives (anyio's events, aiolimiter's buckets) are bound to it and are
    not thread-safe, so every loop gets its own. Loops are told apart by anyio's event
    loop token (the asyncio loop, or trio's run token), held weakly. Idle values are pruned as keys accumulate (one key per
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
        self._loops: weakref.WeakKeyDictionary[object, dict[str, _V]]
        self._loops = weakref.WeakKeyDictionary()
        self._split_keys: set[str] = set()

    def get(self, key: str) -> tuple[_V, bool]:
        """The value for `key` on the running loop, and whether it just became split.

        "Split" means `key` is now in use on two live loops at once; it is reported once
        per key, the first time it happens.
        """
        loop = current_loop()
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

    def _adopt(self, loop: object) -> dict[str, _V]:
        # Values may refer to their loop, so the weak key alone might never let go of it.
        for closed in [other for other in self._loops if _is_closed(other)]:
            del self._loops[closed]
        values: dict[str, _V] = {}
        self._loops[loop] = values
        return values

    def _prune(self, values: dict[str, _V]) -> None:
        for key in [key for key, value in values.items() if self._is_idle(value)]:
            del values[key]

    def _newly_split(self, loop: object, key: str) -> bool:
        if key in self._split_keys:
            return False
        for other, values in self._loops.items():
            if other is not loop and key in values and not _is_closed(other):
                self._split_keys.add(key)
                return True
        return False


def _is_closed(loop: object) -> bool:
    """Whether a loop has closed: asyncio's say so; trio's run is over once collected."""
    is_closed = getattr(loop, "is_closed", None)
    return bool(is_closed()) if callable(is_closed) else False


class PerRate(Generic[_V]):
    """One limiter per `RateLimit` for the life of the process, made on first use."""

    def __init__(self, factory: Callable[[RateLimit], _V]) -> None:
        self._factory = factory
        self._values: dict[RateLimit, _V] = {}
        self._lock = threading.Lock()
        after_fork(self._new_lock)

    def get(self, rate: RateLimit) -> _V:
        """The instance for `rate`: the same one for every equal `rate`."""
        with self._lock:
            value = self._values.get(rate)
            if value is None:
                value = self._values[rate] = self._factory(rate)
            return value

    def _new_lock(self) -> None:
        self._lock = threading.Lock()  # the parent's may have been held at the fork


_AFTER_FORK: list[Callable[[], None]] = []


def after_fork(hook: Callable[[], None]) -> None:
    """Run `hook` in the child after every `fork` (state the child must not inherit)."""
    _AFTER_FORK.append(hook)


def _reset_after_fork() -> None:
    # docs/architecture.md §8: the child inherits the parent's loops (dead there) and possibly a held
    # lock; it starts with empty queues and buckets instead.
    for registry in list(_PER_LOOP_REGISTRIES):
        registry.reset()
    for hook in _AFTER_FORK:
        hook()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_reset_after_fork)
