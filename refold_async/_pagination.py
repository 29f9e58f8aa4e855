"""Pages of list results and the paginator that walks them.

Paginated operations answer an envelope: `docs` plus `totalDocs`, `limit`, `page`,
`totalPages`, `hasNextPage`, `hasPrevPage`, `nextPage`, `prevPage` (docs/architecture.md §1). `Page`
holds one such answer; `AsyncPaginator` is what a paginated method returns: `await` it
for the first page, or `async for` over it for every item of every page.
"""

from __future__ import annotations

import typing
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from typing import Any, Generic, TypeVar, cast, overload

import attrs
from typing_extensions import override

from ._api_response import ResponseInfo
from ._convert import (
    EXTRA_FIELD,
    LOCAL_FIELD,
    Codec,
    FastStructure,
    item_structure,
    misfit,
    models,
    object_fields,
    plain,
    register_codec,
)
from ._model import RefoldModel, refuse_hash

__all__ = ["LOCAL_FIELD", "AsyncPaginator", "Page"]


T = TypeVar("T")


@attrs.frozen(kw_only=True)
class Page(RefoldModel, Generic[T]):
    """One page of a list, with the server's pagination metadata.

    Attributes:
        items: The documents on this page (`docs` on the wire).
        total_docs: How many documents the whole list holds, if the server said.
        limit: The page size the server applied.
        page: This page's number, counting from 1.
        total_pages: How many pages the list has.
        has_next_page: Whether a page follows this one.
        has_prev_page: Whether a page precedes this one.
        next_page: The next page's number, if any.
        prev_page: The previous page's number, if any.
        response: The HTTP response that brought this page, and what its call cost
            (status, headers, request id, elapsed time, attempts, rate-limit wait).
            Set on every page a paginated method fetched; `None` on a page you made.

    Example:
        ```python
        page = await client.linked_accounts.list(limit=50)
        print(page.total_docs, [account.id for account in page])
        print(page.response.request_id, page.response.elapsed)
        ```
    """

    items: list[T] = attrs.field(factory=list[T])
    total_docs: int | None = None
    limit: int | None = None
    page: int | None = None
    total_pages: int | None = None
    has_next_page: bool | None = None
    has_prev_page: bool | None = None
    next_page: int | None = None
    prev_page: int | None = None
    extra_fields: dict[str, Any] = attrs.field(factory=dict[str, Any], repr=False)
    response: ResponseInfo | None = attrs.field(
        default=None, eq=False, repr=False, metadata={LOCAL_FIELD: True}
    )

    def __hash__(self) -> int:  # not the field hash attrs would write: a page has none
        return refuse_hash(self)

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @overload
    def __getitem__(self, key: int) -> T: ...
    @overload
    def __getitem__(self, key: slice) -> list[T]: ...
    @overload
    def __getitem__(self, key: str) -> Any: ...
    @override
    def __getitem__(self, key: int | slice | str) -> Any:
        """`page[0]`, `page[1:3]`: its items; `page["total_docs"]`: a `to_dict()` entry."""
        if isinstance(key, str):
            return super().__getitem__(key)
        return self.items[key]

    def next_page_number(self) -> int | None:
        """The number of the page after this one, or `None` on the last page."""
        if self.has_next_page is False or not self.items:
            return None
        if self.next_page is not None:
            return self.next_page
        if self.has_next_page and self.page is not None:
            return self.page + 1
        return None


PAGE_WIRE_NAMES: dict[str, str] = {
    "items": "docs",
    "total_docs": "totalDocs",
    "total_pages": "totalPages",
    "has_next_page": "hasNextPage",
    "has_prev_page": "hasPrevPage",
    "next_page": "nextPage",
    "prev_page": "prevPage",
}
"""Python attribute name to wire name, for the converter."""

_PAGE_KEYS = (
    ("total_docs", "totalDocs"),
    ("limit", "limit"),
    ("page", "page"),
    ("total_pages", "totalPages"),
    ("has_next_page", "hasNextPage"),
    ("has_prev_page", "hasPrevPage"),
    ("next_page", "nextPage"),
    ("prev_page", "prevPage"),
)
# Every key a page reads or never keeps: the rest of a body lands in `extra_fields`.
_KNOWN = frozenset({"docs", EXTRA_FIELD, "response", *(key for _, key in _PAGE_KEYS)})


def _count(value: Any) -> int | None:
    return value if value is None or type(value) is int else misfit()


def _flag(value: Any) -> bool | None:
    return value if value is None or type(value) is bool else misfit()


def _page_structure(tp: Any) -> FastStructure | None:
    """The fast structure function of `Page[X]`, when `X` has one (as a model's is)."""
    args = typing.get_args(tp)
    item = item_structure(args[0]) if len(args) == 1 else None
    if item is None:
        return None

    def structure_page(data: Any) -> Page[Any]:
        fields = object_fields(data)
        get = fields.get
        docs = get("docs")
        items: list[Any] = [] if docs is None and "docs" not in fields else models(item, docs)
        extras: dict[str, Any] = (
            {}
            if _KNOWN.issuperset(fields)
            else {k: v for k, v in fields.items() if k not in _KNOWN}
        )
        return Page(
            items=items,
            total_docs=_count(get("totalDocs")),
            limit=_count(get("limit")),
            page=_count(get("page")),
            total_pages=_count(get("totalPages")),
            has_next_page=_flag(get("hasNextPage")),
            has_prev_page=_flag(get("hasPrevPage")),
            next_page=_count(get("nextPage")),
            prev_page=_count(get("prevPage")),
            extra_fields=extras,
        )

    return structure_page


def _page_unstructure(page: Page[Any], wire: bool) -> dict[str, Any]:
    data: dict[str, Any] = {}
    items = cast("list[Any] | None", page.items)  # a page made by hand may hold `None`
    if items is not None:
        data["docs" if wire else "items"] = plain(items, wire)
    for name, key in _PAGE_KEYS:
        value = getattr(page, name)
        if value is not None:
            data[key if wire else name] = value
    for key, value in page.extra_fields.items():
        if key not in data:
            data[key] = plain(value, wire)
    return data


register_codec(Page, Codec(_page_structure, _page_unstructure, PAGE_WIRE_NAMES))


class AsyncPaginator(Generic[T]):
    """A lazy list result: awaitable for its first page, async-iterable for every item.

    Pages are fetched one at a time, only when iteration reaches them, and never past
    the page the server marks as last.

    Example:
        ```python
        first = await client.executions.list(limit=100)  # one request
        async for execution in client.executions.list(limit=100):  # as many as needed
            ...
        async for page in client.executions.list(limit=100).pages():
            ...
        ```
    """

    __slots__ = ("_fetch", "_first_page")

    def __init__(
        self, fetch: Callable[[int | None], Awaitable[Page[T]]], first_page: int | None
    ) -> None:
        self._fetch = fetch
        self._first_page = first_page

    def __await__(self) -> Generator[Any, None, Page[T]]:
        return self._fetch(self._first_page).__await__()

    async def pages(self) -> AsyncIterator[Page[T]]:
        """Yield every page in order, starting from the requested one."""
        number = self._first_page
        seen: set[int] = set()
        while True:
            page = await self._fetch(number)
            yield page
            seen.add(page.page or number or 1)
            following = page.next_page_number()
            # A server that repeats a page number would loop forever: stop instead.
            if following is None or following in seen:
                return
            seen.add(following)
            number = following

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.pages():
            for item in page.items:
                yield item
