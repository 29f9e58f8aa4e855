"""Pagination end to end: the emulator's envelope walked by the SDK's paginator."""

from __future__ import annotations

import pytest

from refold_async import AsyncRefold, InvalidArgumentError
from refold_async.testing import EmulatedRequest, Emulator

from .conftest import TEST_KEY

ACCOUNTS = 23


@pytest.fixture
async def many(client: AsyncRefold) -> AsyncRefold:
    """`client`, with 23 linked accounts in its world (acme among them)."""
    for n in range(1, ACCOUNTS):
        await client.linked_accounts.upsert(linked_account_id=f"acct-{n:02d}")
    return client


async def test_the_first_page_carries_the_metadata(many: AsyncRefold) -> None:
    """`await list(limit=10)` is page 1 of 3 with the envelope's numbers."""
    page = await many.linked_accounts.list(limit=10)
    assert len(page) == 10
    assert (page.page, page.limit, page.total_docs, page.total_pages) == (1, 10, ACCOUNTS, 3)
    assert (page.has_prev_page, page.has_next_page, page.prev_page, page.next_page) == (
        False,
        True,
        None,
        2,
    )


async def test_iterating_walks_every_page_once(emulator: Emulator, many: AsyncRefold) -> None:
    """`async for` yields every account exactly once, fetching three pages."""
    before = emulator.stats.requests
    ids = [account.account_id async for account in many.linked_accounts.list(limit=10)]
    assert len(ids) == len(set(ids)) == ACCOUNTS
    assert emulator.stats.requests - before == 3


async def test_pages_yields_the_last_partial_page(many: AsyncRefold) -> None:
    """The last page holds the remainder and says there is nothing after it."""
    pages = [page async for page in many.linked_accounts.list(limit=10).pages()]
    assert [len(p) for p in pages] == [10, 10, 3]
    last = pages[-1]
    assert (last.page, last.has_next_page, last.next_page, last.prev_page) == (3, False, None, 2)


async def test_a_page_past_the_end_is_empty(many: AsyncRefold) -> None:
    """Asking for page 9 of 3 answers no documents and no next page."""
    page = await many.linked_accounts.list(limit=10, page=9)
    assert len(page) == 0
    assert page.has_next_page is False


async def test_the_default_page_size_is_ten(many: AsyncRefold) -> None:
    """Without `limit` the API's default of 10 applies."""
    assert (await many.linked_accounts.list()).limit == 10


async def test_a_bad_limit_is_a_400(many: AsyncRefold, emulator: Emulator) -> None:
    """`limit=0` and a non-numeric page answer 400 (the SDK refuses them before sending)."""
    with pytest.raises(InvalidArgumentError):
        await many.linked_accounts.list(limit=0)
    for query in ((("limit", "0"),), (("page", "two"),)):
        request = EmulatedRequest(
            method="GET",
            path="/api/v2/public/linked-account",
            query=query,
            headers={"x-api-key": TEST_KEY},
        )
        assert emulator.dispatch(request).status == 400


async def test_filtered_lists_paginate_after_filtering(
    emulator: Emulator, client: AsyncRefold
) -> None:
    """Execution filters apply before paging: 12 events, 5 per page, newest first."""
    await client.events.create(name="tick", response="ok")
    for _ in range(12):
        await client.events.trigger(event="tick", linked_account_id="acme")
    pages = [
        p
        async for p in client.executions.list(
            linked_account_id="acme", limit=5, status="Running"
        ).pages()
    ]
    assert [len(p) for p in pages] == [5, 5, 2]
    created = [str(e.created_at) for p in pages for e in p]
    assert created == sorted(created, reverse=True)
