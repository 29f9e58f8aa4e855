"""`Refold.batch()`: plain functions on worker threads, whose calls the batch still sees."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from refold_async import ItemState, RateLimit
from refold_async.testing import BASE_URL
from refold_sync import Refold, _portal

from .support import NO_BACKOFF, RecordingEmulator, journal_records


@pytest.fixture
def emulator() -> RecordingEmulator:
    return RecordingEmulator(rate_limit=None)


@pytest.fixture
def client(emulator: RecordingEmulator) -> Iterator[Refold]:
    with Refold(
        api_key=emulator.api_key, base_url=BASE_URL, http_client=emulator.http_client(),
        rate_limit=RateLimit(per_second=1000, burst=20), retry=NO_BACKOFF,
    ) as client:  # fmt: skip
        yield client


def test_sync_items_run_on_worker_threads_and_their_calls_are_seen(
    client: Refold, emulator: RecordingEmulator, tmp_path: Path
) -> None:
    """The call hooks reach calls made from worker threads: requests are counted and the
    write-ahead record precedes each POST."""
    threads: set[str] = set()

    def create(client: Refold, key: str) -> str:
        threads.add(threading.current_thread().name)
        assert not _portal.is_loop_thread()
        client.linked_accounts.create(linked_account_id=key, name=f"name of {key}")
        client.linked_accounts.retrieve(key)
        return key.upper()

    journal = tmp_path / "job.jsonl"
    keys = [f"k{i}" for i in range(20)]
    report = client.batch(keys, create, journal=journal)
    assert report.counts[ItemState.SUCCEEDED] == 20
    assert sorted(str(r.value) for r in report.succeeded) == sorted(k.upper() for k in keys)
    assert report.requests == 40 == emulator.stats.requests
    assert "refold-sync-loop" not in threads
    states = [(r["key"], r["state"]) for r in journal_records(journal) if r["type"] == "item"]
    for key in keys:
        assert states.index((key, "in_flight")) < states.index((key, "succeeded"))


def test_sync_unknown_from_a_dropped_post(client: Refold, emulator: RecordingEmulator) -> None:
    """A POST whose connection dropped after it was handled is `unknown` on this face too."""
    emulator.faults.add(drop="disconnect", count=1, method="POST")

    def create(client: Refold, key: str) -> None:
        client.linked_accounts.create(linked_account_id=key, name=f"name of {key}")

    report = client.batch(["a"], create)
    assert [r.state for r in report] == [ItemState.UNKNOWN]
    assert report.unknown[0].error_type == "APIConnectionError"


def test_items_may_come_from_the_client_itself(client: Refold) -> None:
    """The iterator is pulled on a worker thread, so it may page through the client."""
    for i in range(5):
        client.linked_accounts.upsert(linked_account_id=f"acct-{i}", name=f"n{i}")

    def touch(client: Refold, account_id: str) -> None:
        client.linked_accounts.retrieve(account_id)

    accounts = (a.account_id or "" for a in client.linked_accounts.list(limit=2))
    report = client.batch(accounts, touch)
    assert report.counts[ItemState.SUCCEEDED] == 5


def test_sync_face_refuses_async_iterables(client: Refold) -> None:
    """An async iterable is the async face's: a TypeError, not a hang."""

    async def agen() -> object:
        yield "a"

    with pytest.raises(TypeError, match="AsyncRefold"):
        client.batch(agen(), lambda c, k: None)  # type: ignore[arg-type]
