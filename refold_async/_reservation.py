"""Slots reserved up front for a unit of work: `client.reserve(k)`.

A handler that needs k calls asks for k slots at once. Either all k are reserved in the
limiter's shared state (the host's bucket file, Redis, or the process's bucket) within
`max_wait`, or none is and `RateLimitQueueTimeout` is raised before the first call: no
work is left half done for want of a slot. Inside the block, calls on the same bucket
take the reserved slots in order (one `ContextVar`, so tasks started inside the block
share them, and the sync face carries it to its loop thread); calls past k (a retry
took a slot) wait for the limiter without the queue bound, since the work is under way;
calls on another bucket wait as usual. Slots not taken are handed back on exit
where the limiter can tell they are still the last reserved; otherwise they lapse.
"""

from __future__ import annotations

import time
from contextvars import ContextVar, Token
from types import TracebackType

from typing_extensions import Self

from ._errors import RateLimitQueueTimeout
from ._ratelimit import RateLimiter, SlotTooFar
from ._ratelimit._base import SlotBlock, SlotReserver

__all__ = ["Reservation", "in_reservation", "reserved_block"]

_held: ContextVar[tuple[tuple[RateLimiter, str, SlotBlock], ...]] = ContextVar(
    "refold_reserved_slots", default=()
)


def in_reservation(limiter: RateLimiter, key: str) -> bool:
    """A reservation on (`limiter`, `key`) is current, with slots left or not."""
    return any(
        held_limiter is limiter and held_key == key for held_limiter, held_key, _ in _held.get()
    )


def reserved_block(limiter: RateLimiter, key: str) -> SlotBlock | None:
    """The innermost reservation on (`limiter`, `key`) with slots left, if any."""
    for held_limiter, held_key, block in reversed(_held.get()):
        if held_limiter is limiter and held_key == key and block.remaining:
            return block
    return None


def _check_count(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"count must be a whole number of calls, not {value!r}")
    if value < 1:
        raise ValueError(f"count must be at least 1, not {value!r}")


class Reservation:
    """`count` rate-limit slots held for the calls made inside an `async with` block.

    Made by `AsyncRefold.reserve()`; see there.

    Attributes:
        count: Slots asked for.
    """

    __slots__ = ("_block", "_key", "_limiter", "_max_wait", "_token", "count")

    def __init__(self, limiter: RateLimiter, key: str, count: int, max_wait: float | None) -> None:
        self._block: SlotBlock | None = None
        self.count: int = 0  # until checked: the repr of a half-made instance still works
        _check_count(count)
        self._limiter = limiter
        self._key = key
        self._max_wait = max_wait
        self._token: Token[tuple[tuple[RateLimiter, str, SlotBlock], ...]] | None = None
        self.count = count

    @property
    def remaining(self) -> int:
        """Slots reserved and not yet taken by a call."""
        return 0 if self._block is None else self._block.remaining

    async def take_slots(self) -> SlotBlock:
        """Reserve the slots in the limiter's shared state, or raise before any call.

        This and the two methods below are the steps of `async with`, apart for the sync
        face, which runs this one on its loop thread and the others in the caller's.
        """
        limiter = self._limiter
        if not isinstance(limiter, SlotReserver):  # no limit, or a limiter of the user's
            return SlotBlock([], time.monotonic)
        try:
            return await limiter.reserve(self._key, self.count, max_wait=self._max_wait)
        except SlotTooFar as exc:
            raise RateLimitQueueTimeout(
                f"{self.count} rate-limit slots are not free within max_wait="
                f"{self._max_wait}s (the last is {exc.wait:.2f}s away); nothing reserved",
                status=429,
                retry_after=exc.wait,
                slot_at=time.time() + exc.wait,
            ) from None

    def enter_context(self, block: SlotBlock) -> None:
        """Make `block` the current context's reservation."""
        self._block = block
        self._token = _held.set((*_held.get(), (self._limiter, self._key, block)))

    def exit_context(self) -> SlotBlock | None:
        """Stop using the reservation in this context; its block, to hand back."""
        if self._token is not None:
            _held.reset(self._token)
            self._token = None
        return self._block

    async def __aenter__(self) -> Self:
        self.enter_context(await self.take_slots())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        block = self.exit_context()
        if block is not None:
            await block.hand_back()

    def __repr__(self) -> str:
        return f"<Reservation of {self.count} slots, {self.remaining} left>"
