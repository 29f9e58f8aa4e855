"""The base class of every generated sync resource, and the blocking paginator.

A sync resource wraps its async twin and runs each call on the process's loop thread;
it holds no logic of its own (DESIGN §8).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterator
from typing import Generic, TypeVar

from typing_extensions import ParamSpec

from refold_async._pagination import AsyncPaginator, Page

from . import _portal

__all__ = ["SyncPaginator", "SyncResource"]

A = TypeVar("A")
T = TypeVar("T")
P = ParamSpec("P")


class SyncPaginator(Generic[T]):
    """A blocking list result: `.first()` for the first page, iterate for every item.

    Example:
        ```python
        for account in client.linked_accounts.list(limit=100):
            print(account.id)
        ```
    """

    __slots__ = ("_paginator",)

    def __init__(self, paginator: AsyncPaginator[T]) -> None:
        self._paginator = paginator

    def first(self) -> Page[T]:
        """Fetch and return the first requested page."""

        async def fetch() -> Page[T]:
            return await self._paginator

        return _portal.run(fetch)

    def pages(self) -> Iterator[Page[T]]:
        """Yield every page in order, fetching each when reached."""
        iterator = self._paginator.pages()
        while True:
            try:
                yield _portal.run(iterator.__anext__)
            except StopAsyncIteration:
                return

    def __iter__(self) -> Iterator[T]:
        for page in self.pages():
            yield from page.items


class SyncResource(Generic[A]):
    """A namespace of blocking operations over its async twin `A`."""

    __slots__ = ("_async",)

    def __init__(self, async_resource: A) -> None:
        self._async = async_resource

    def _call(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        return _portal.run(functools.partial(fn, *args, **kwargs))

    def _paginate(
        self, fn: Callable[P, AsyncPaginator[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> SyncPaginator[T]:
        return SyncPaginator(fn(*args, **kwargs))
