"""`SyncPaginator`: lists as plain iterators, page by page, or just the first page."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator

from refold_async import Page
from refold_async._pagination import AsyncPaginator
from refold_sync import SyncPaginator, _portal


class FakeList:
    """Three pages of two items each; counts fetches, tells whether a walk was closed."""

    def __init__(self) -> None:
        self.fetched: list[int | None] = []
        self.closed = threading.Event()

    async def fetch(self, number: int | None) -> Page[str]:
        self.fetched.append(number)
        page = number or 1
        return Page(
            items=[f"item-{page}a", f"item-{page}b"],
            total_docs=6,
            limit=2,
            page=page,
            total_pages=3,
            has_next_page=page < 3,
            has_prev_page=page > 1,
            next_page=page + 1 if page < 3 else None,
        )

    def paginator(self) -> AsyncPaginator[str]:
        return _ClosingPaginator(self, self.fetch, None)


class _ClosingPaginator(AsyncPaginator[str]):
    __slots__ = ("_owner",)

    def __init__(self, owner: FakeList, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self._owner = owner

    async def pages(self) -> AsyncIterator[Page[str]]:
        try:
            async for page in super().pages():
                yield page
        finally:
            self._owner.closed.set()


def test_iterating_yields_every_item_of_every_page() -> None:
    """`for item in paginator` walks all pages, one request each, in order."""
    api = FakeList()
    items = list(SyncPaginator(api.paginator))
    assert items == [f"item-{n}{x}" for n in (1, 2, 3) for x in "ab"]
    assert api.fetched == [None, 2, 3]


def test_nothing_is_fetched_until_asked() -> None:
    """Making the paginator sends nothing."""
    api = FakeList()
    SyncPaginator(api.paginator)
    assert api.fetched == []


def test_first_page_fetches_once_and_carries_metadata() -> None:
    """`first_page()` makes one request and returns the page with its metadata."""
    api = FakeList()
    page = SyncPaginator(api.paginator).first_page()
    assert isinstance(page, Page)
    assert (page.total_docs, page.page, page.total_pages, page.has_next_page) == (6, 1, 3, True)
    assert list(page) == ["item-1a", "item-1b"]
    assert api.fetched == [None]


def test_pages_yields_page_objects_in_order() -> None:
    """`.pages()` is an iterator of `Page` objects."""
    api = FakeList()
    pages = list(SyncPaginator(api.paginator).pages())
    assert [page.page for page in pages] == [1, 2, 3]
    assert [page.has_next_page for page in pages] == [True, True, False]


def test_each_iteration_starts_again() -> None:
    """Iterating twice walks the list twice."""
    api = FakeList()
    paginator = SyncPaginator(api.paginator)
    assert list(paginator) == list(paginator)
    assert api.fetched == [None, 2, 3, None, 2, 3]


def test_breaking_out_stops_fetching_and_closes_the_async_walk() -> None:
    """Leaving a loop early fetches no further page and closes the async generator."""
    api = FakeList()
    walk = SyncPaginator(api.paginator).pages()
    assert next(walk).page == 1
    walk.close()

    async def flush() -> None:
        return None

    # The close was queued on the loop before this call, and runs first (FIFO).
    _portal.run(flush)
    assert api.closed.wait(10)
    assert api.fetched == [None]


def test_items_can_be_consumed_across_threads() -> None:
    """Independent iterations from several threads each see the whole list."""
    api = FakeList()
    paginator = SyncPaginator(api.paginator)
    results: list[list[str]] = []

    def consume() -> None:
        results.append(list(paginator))

    threads = [threading.Thread(target=consume) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 4
    assert all(len(result) == 6 for result in results)
