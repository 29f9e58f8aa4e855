"""The sync face end to end: generated resources over the emulator, from many threads."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from refold_async import NotFoundError, Page, RateLimit
from refold_async.testing import BASE_URL, Emulator
from refold_sync import Refold, SyncPaginator


def sync_client(emulator: Emulator, **options: Any) -> Refold:
    """A `Refold` wired to `emulator` in-process, with its first key."""
    return Refold(
        api_key=emulator.api_key, base_url=BASE_URL, http_client=emulator.http_client(), **options
    )


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(rate_limit=None)


@pytest.fixture
def client(emulator: Emulator) -> Iterator[Refold]:
    with sync_client(emulator, rate_limit=None) as client:
        for n in range(5):
            client.linked_accounts.upsert(linked_account_id=f"acct-{n}", name=f"Acme {n}")
        yield client


def test_a_generated_list_iterates_every_item_across_pages(client: Refold) -> None:
    """`for item in client.<resource>.list(...)` walks every page as plain iteration."""
    accounts = client.linked_accounts.list(limit=2)
    assert isinstance(accounts, SyncPaginator)
    assert [account.account_id for account in accounts] == [f"acct-{n}" for n in range(5)]


def test_a_generated_list_pages_and_first_page_carry_metadata(client: Refold) -> None:
    """`.pages()` yields `Page` objects; `.first_page()` fetches just the first."""
    pages = list(client.linked_accounts.list(limit=2).pages())
    assert [(page.page, len(page), page.has_next_page) for page in pages] == [
        (1, 2, True),
        (2, 2, True),
        (3, 1, False),
    ]
    first = client.linked_accounts.list(limit=2).first_page()
    assert isinstance(first, Page)
    assert (first.total_docs, first.total_pages) == (5, 3)


def test_a_generated_method_raises_the_async_error_class(client: Refold) -> None:
    """API errors reach the sync caller as the same classes as on the async face."""
    with pytest.raises(NotFoundError) as info:
        client.linked_accounts.retrieve("no-such-account")
    assert info.value.status == 404


def test_threads_stay_within_the_emulators_enforced_limit() -> None:
    """32 threads on one client draw no 429 from an emulator enforcing the same budget."""
    emulator = Emulator(rate_limit=(200.0, 5))
    with sync_client(emulator, rate_limit=RateLimit(per_second=200, burst=5)) as client:

        def work(n: int) -> list[Page[Any]]:
            return [client.linked_accounts.list(limit=1).first_page() for _ in range(4)]

        with ThreadPoolExecutor(32) as pool:
            pages = [page for batch in pool.map(work, range(32)) for page in batch]
        assert len(pages) == 128
    assert emulator.stats.requests == 128
    assert emulator.stats.rate_limited == 0
