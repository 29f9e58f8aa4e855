"""`with_raw_response`: every generated method, answering an `APIResponse` instead.

Generated code declares, per resource, an `Async...WithRawResponse` class (a subclass of
`AsyncRawResource`) with one method per operation, same parameters, and a
`with_raw_response` property returning it. Each of those methods calls the resource's own
generated method, unchanged, on a copy of the resource bound to the transport's raw view
(`Transport.raw()`: the same send loop, told to answer with `raw=True`), whose calls
answer `APIResponse`s. A list method's paginator is
awaited for the first requested page: `APIResponse[Page[Item]]`.

Nothing here runs on the usual path: the resource's own methods are unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar, cast

from typing_extensions import ParamSpec, override

from ._api_response import APIResponse
from ._resource import AsyncResource

__all__ = ["AsyncRawResource"]

R = TypeVar("R", bound=AsyncResource)
T = TypeVar("T")
P = ParamSpec("P")


class AsyncRawResource(Generic[R]):
    """The methods of a resource, each answering an `APIResponse` (base of generated classes)."""

    __slots__ = ("_resource",)

    def __init__(self, resource: R) -> None:
        self._resource: R = type(resource)(resource._transport.raw())  # pyright: ignore[reportPrivateUsage]

    async def _call(
        self, method: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> APIResponse[T]:
        """Await `method` of the raw copy: what it answers is the call's `APIResponse`."""
        return cast("APIResponse[T]", await method(*args, **kwargs))

    @override
    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"
