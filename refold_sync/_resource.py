"""The base class of every generated sync resource, and the blocking paginator.

A sync resource wraps its async twin and runs each call on the process's loop thread
(`_portal`); it holds no logic of its own (docs/architecture.md §8). The async method is looked up
and called on the loop thread too, so whatever the call creates lives there.
"""

from __future__ import annotations

from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterator,
)
from functools import partial
from typing import Generic, TypeVar

from typing_extensions import ParamSpec

from refold_async._pagination import AsyncPaginator, Page

from . import _portal

__all__ = ["SyncPaginator", "SyncResource"]

A = TypeVar("A")
T = TypeVar("T")
P = ParamSpec("P")


class SyncPaginator(Generic[T]):
    """A blocking list result: iterate it for every item, or walk it page by page.

    Nothing is fetched until asked: `first_page()` makes one request, iterating makes
    one request per page reached, never past the page the server marks as last. Each
    iteration starts again from the first requested page.

    Example:
        ```python
        for account in client.linked_accounts.list(limit=100):  # every item
            print(account.id)

        page = client.linked_accounts.list(limit=100).first_page()  # one request
        print(page.total_docs, page.has_next_page, len(page))

        for page in client.linked_accounts.list(limit=100).pages():  # page by page
            print(page.page, page.total_pages)
        ```
    """

    __slots__ = ("_make",)

    def __init__(self, make: Callable[[], AsyncPaginator[T]]) -> None:
        """Wrap `make`, which builds the async paginator; it is called on the loop thread."""
        self._make = make

    def first_page(self) -> Page[T]:
        """Fetch only the first requested page, with its pagination metadata."""
        return _portal.run(self._first_page)

    async def _first_page(self) -> Page[T]:
        return await self._make()

    def pages(self) -> Generator[Page[T], None, None]:
        """Yield every page in order, fetching each when it is reached.

        Breaking out of the loop, or calling `close()` on the generator, stops the walk:
        no further page is fetched.
        """
        walk = _PageWalk(self._make)
        try:
            while (page := _portal.run(walk.next)) is not None:
                yield page
        finally:
            walk.close()

    def __iter__(self) -> Iterator[T]:
        for page in self.pages():
            yield from page.items


class _PageWalk(Generic[T]):
    """One pass over an async paginator's pages, stepped from another thread."""

    __slots__ = ("_make", "_pages")

    def __init__(self, make: Callable[[], AsyncPaginator[T]]) -> None:
        self._make: Callable[[], AsyncPaginator[T]] | None = make
        self._pages: AsyncIterator[Page[T]] | None = None

    async def next(self) -> Page[T] | None:
        """The next page, or `None` after the last; runs on the loop thread."""
        if self._pages is None:
            if self._make is None:
                return None
            self._pages, self._make = self._make().pages(), None
        try:
            return await self._pages.__anext__()
        except StopAsyncIteration:
            self._pages = None
            return None

    def close(self) -> None:
        """Close an unfinished walk (the caller broke out) on the loop, without waiting."""
        pages, self._pages, self._make = self._pages, None, None
        if isinstance(pages, AsyncGenerator):
            _portal.spawn(pages.aclose)


class SyncResource(Generic[A]):
    """A namespace of blocking operations over its async twin `A`.

    Generated subclasses hold one-line methods; this base runs them on the loop thread.

    Example:
        ```python
        class Executions(SyncResource[AsyncExecutions]):
            def retrieve(self, execution_id: str) -> Execution:
                return self._call(self._async.retrieve, execution_id)
        ```
    """

    __slots__ = ("_async",)

    def __init__(self, async_resource: A) -> None:
        self._async = async_resource

    def _call(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run the async method `fn` with these arguments and block for its result."""
        return _portal.run(fn, *args, **kwargs)

    def _paginate(
        self, fn: Callable[P, AsyncPaginator[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> SyncPaginator[T]:
        """Wrap the async list method `fn` as a lazy blocking paginator."""
        return SyncPaginator(partial(fn, *args, **kwargs))
