"""`with_raw_response` on the blocking face: the generated methods, answering `APIResponse`s.

The blocking twin of `refold_async._raw_resource`. A sync resource wraps its async twin; its raw
copy wraps the async twin's `with_raw_response` instead, so each generated blocking
method, unchanged, runs the async raw method on the loop thread and returns what it
answered. A list method's paginator is asked for its first requested page only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

from typing_extensions import ParamSpec, override

from refold_async._api_response import APIResponse
from refold_async._pagination import Page

from ._resource import SyncPaginator, SyncResource

__all__ = ["SyncRawResource"]

S = TypeVar("S", bound=SyncResource[Any])
T = TypeVar("T")
P = ParamSpec("P")


class SyncRawResource(Generic[S]):
    """The methods of a blocking resource, each answering an `APIResponse`."""

    __slots__ = ("_resource",)

    def __init__(self, resource: S) -> None:
        twin: Any = resource._async  # pyright: ignore[reportPrivateUsage]
        self._resource: S = type(resource)(twin.with_raw_response)

    def _call(self, method: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> APIResponse[T]:
        """Call `method` of the raw copy: what it returns is the call's `APIResponse`."""
        return cast("APIResponse[T]", method(*args, **kwargs))

    def _first_page(
        self, method: Callable[P, SyncPaginator[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> APIResponse[Page[T]]:
        """Fetch the first requested page of the raw copy's list method `method`."""
        first: Any = method(*args, **kwargs).first_page()
        return cast("APIResponse[Page[T]]", first)

    @override
    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"
