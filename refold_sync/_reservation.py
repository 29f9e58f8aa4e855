"""`Refold.reserve()`: the async client's reservation, entered and left from a thread.

The slots are reserved on the loop thread (`_portal`); the reservation is then made
current in the calling thread's context, which the portal copies into every call's
task, so the calls this thread makes inside the block take the reserved slots.
"""

from __future__ import annotations

from types import TracebackType

from typing_extensions import Self

from refold_async._reservation import Reservation

from . import _portal

__all__ = ["SyncReservation"]


class SyncReservation:
    """`count` rate-limit slots held for the calls made inside a `with` block."""

    __slots__ = ("_reservation",)

    def __init__(self, reservation: Reservation) -> None:
        self._reservation = reservation

    @property
    def count(self) -> int:
        """Slots asked for."""
        return self._reservation.count

    @property
    def remaining(self) -> int:
        """Slots reserved and not yet taken by a call."""
        return self._reservation.remaining

    def __enter__(self) -> Self:
        self._reservation.enter_context(_portal.run(self._reservation.take_slots))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        block = self._reservation.exit_context()
        if block is not None:
            _portal.run(block.hand_back)

    def __repr__(self) -> str:
        return f"<SyncReservation of {self.count} slots, {self.remaining} left>"
