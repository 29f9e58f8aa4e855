"""The replay guard: refuse a verified webhook event seen before, or too old to judge.

What the signature proves, and what it does not: `x-cobalt-signature` is an HMAC of the
body alone. It proves the body came from someone holding the API key and was not
changed. It says nothing about *when* it was sent (Refold sends no signed timestamp),
so a delivery captured on the way (a log, a proxy, a leaked request dump) verifies again
every time it is re-sent. Only the event's own fields can tell a replay apart:

- `ReplayGuard` remembers each event's `dedup_key` for `window` seconds and refuses it
  if it comes back; an event whose `createdAt` (`occurred_at`) is older than `window`
  is refused outright, since it can no longer be checked against what was remembered.
- Workflow events carry no time: they are remembered for `window` seconds after first
  sight, and a replay after that is not caught. Make their handlers idempotent
  (`instance_id` identifies the run).

Where the keys live is a `ReplayStore`: `MemoryReplayStore` (the default: one process,
bounded, thread-safe) or anything with the same two methods, e.g. Redis `SET NX PX`.
"""

from __future__ import annotations

import heapq
import math
import threading
import time
from collections.abc import Callable
from typing import Final, Protocol, runtime_checkable

from refold_async._errors import InvalidArgumentError, WebhookReplayError
from refold_async._webhooks._events import WebhookEvent

__all__ = ["DEFAULT_REPLAY_WINDOW", "MemoryReplayStore", "ReplayGuard", "ReplayStore"]

DEFAULT_REPLAY_WINDOW: Final = 600.0
"""Seconds: how old an event may be, and how long its key is remembered (10 minutes)."""

_MIN_TTL: Final = 1.0  # stores with whole-second or millisecond expiry need a positive TTL
_CLOCK_MARGIN: Final = 1.0


@runtime_checkable
class ReplayStore(Protocol):
    """Where a `ReplayGuard` remembers the events it has seen.

    Both methods may be called from several threads at once. `add` must be atomic:
    of two concurrent calls with one key, exactly one returns `True`.

    Example:
        ```python
        import math

        import redis


        class RedisReplayStore:
            def __init__(self, client: redis.Redis, prefix: str = "refold:webhook:") -> None:
                self._redis, self._prefix = client, prefix

            def add(self, key: str, ttl: float) -> bool:
                ms = max(1, math.ceil(ttl * 1000))
                return bool(self._redis.set(self._prefix + key, b"1", nx=True, px=ms))

            def discard(self, key: str) -> None:
                self._redis.delete(self._prefix + key)
        ```
    """

    def add(self, key: str, ttl: float) -> bool:
        """Remember `key` for `ttl` seconds; `False` if it was already remembered."""
        ...

    def discard(self, key: str) -> None:
        """Forget `key`, if remembered."""
        ...


class MemoryReplayStore:
    """A `ReplayStore` in this process's memory: bounded, thread-safe.

    Keys expire after their TTL. When `max_entries` keys are live, adding one forgets the
    key closest to expiry, so a flood can shorten how long events are remembered but
    never grow memory without bound. Each process has its own: behind several workers
    or machines, use a shared store.

    Args:
        max_entries: The most keys held at once.
        clock: Seconds on a monotonic clock (tests pass a fake one).
    """

    def __init__(
        self, *, max_entries: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max_entries = _positive_int("max_entries", max_entries)
        self._clock = clock
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []  # (expiry, key); stale entries skipped

    def __len__(self) -> int:
        """How many keys are remembered now."""
        with self._lock:
            self._purge(self._clock())
            return len(self._expiry)

    def add(self, key: str, ttl: float) -> bool:
        """Remember `key` for `ttl` seconds; `False` if it is already remembered."""
        with self._lock:
            now = self._clock()
            self._purge(now)
            if key in self._expiry:
                return False
            while len(self._expiry) >= self._max_entries:
                self._pop_soonest()
            expiry = now + max(ttl, 0.0)
            self._expiry[key] = expiry
            heapq.heappush(self._heap, (expiry, key))
            return True

    def discard(self, key: str) -> None:
        """Forget `key`, if remembered."""
        with self._lock:
            self._expiry.pop(key, None)
            if len(self._heap) > 2 * len(self._expiry) + 64:  # drop forgotten heap entries
                self._heap = [(expiry, k) for k, expiry in self._expiry.items()]
                heapq.heapify(self._heap)

    def _purge(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            self._pop_soonest()

    def _pop_soonest(self) -> None:
        while self._heap:
            expiry, key = heapq.heappop(self._heap)
            if self._expiry.get(key) == expiry:
                del self._expiry[key]
                return


class ReplayGuard:
    """Refuses webhook events already seen, or dated outside a time window.

    Pass one to `parse_event(..., replay_guard=guard)` and keep it for the life of the
    process (it is thread-safe). A refusal is a `WebhookReplayError` whose `reason` is
    `"duplicate"`, `"stale"` or `"future"`. Refold re-delivers an event when a delivery
    was not answered with a 2xx, so a duplicate is usually that: answer it with 200.
    An exception from the store (its server is down, say) is not caught: the event is
    then neither accepted nor remembered, and Refold's retry can try again.

    Example:
        ```python
        guard = ReplayGuard(window=600)  # in memory; ReplayGuard(store=...) to share it

        try:
            event = parse_event(body, signature, api_key=KEY, replay_guard=guard)
        except WebhookReplayError as exc:
            return Response(status_code=200 if exc.reason == "duplicate" else 400)
        try:
            handle(event)
        except Exception:
            guard.release(event)  # let Refold's retry of this event through
            raise
        ```

    Args:
        window: Seconds. Events whose `occurred_at` is further than this from now
            (either way) are refused; every event's key is remembered at least this long.
        store: Where keys are remembered; a new `MemoryReplayStore` by default.
        clock: Wall-clock seconds since the epoch (tests pass a fake one).
    """

    def __init__(
        self,
        *,
        window: float = DEFAULT_REPLAY_WINDOW,
        store: ReplayStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._window = _positive_seconds("window", window)
        self._store = MemoryReplayStore() if store is None else _store(store)
        self._clock = clock

    @property
    def window(self) -> float:
        """Seconds: the time window."""
        return self._window

    def check(self, event: WebhookEvent) -> None:
        """Remember `event`, or raise `WebhookReplayError` if it must be refused."""
        key = event.dedup_key
        ttl = self._window
        if event.occurred_at is not None:
            age = self._clock() - event.occurred_at.timestamp()
            if age > self._window:
                raise WebhookReplayError(
                    f"webhook event {key} happened {age:.0f} s ago, more than the replay "
                    f"window of {self._window:g} s: refused as a possible replay",
                    reason="stale",
                    dedup_key=key,
                )
            if age < -self._window:
                raise WebhookReplayError(
                    f"webhook event {key} is dated {-age:.0f} s ahead, more than the replay "
                    f"window of {self._window:g} s (is a clock wrong?)",
                    reason="future",
                    dedup_key=key,
                )
            # Remembered until it turns stale, plus a margin: the store's clock may not
            # tick exactly with this one, and no instant may accept it twice.
            ttl = self._window - age + _CLOCK_MARGIN
        if not self._store.add(key, max(ttl, _MIN_TTL)):
            raise WebhookReplayError(
                f"webhook event {key} was already received: a redelivery or a replay",
                reason="duplicate",
                dedup_key=key,
            )

    def release(self, event: WebhookEvent) -> None:
        """Forget `event`, so that a redelivery of it is accepted (its handling failed)."""
        self._store.discard(event.dedup_key)


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a whole number, not {value!r}")
    if value < 1:
        raise InvalidArgumentError(f"{name} must be at least 1, not {value!r}")
    return value


def _positive_seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, not {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise InvalidArgumentError(f"{name} must be a positive, finite number, not {value!r}")
    return float(value)


def _store(value: object) -> ReplayStore:
    if not isinstance(value, ReplayStore):
        raise TypeError(
            f"store must have add(key, ttl) and discard(key) methods; "
            f"{type(value).__name__} does not"
        )
    return value
