"""The base class of every generated async resource: it holds the transport, nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["AsyncResource"]

if TYPE_CHECKING:
    from ._transport import Transport


class AsyncResource:
    """A namespace of operations on one API resource, bound to a client's transport."""

    __slots__ = ("_transport",)

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
