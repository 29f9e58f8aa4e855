"""Every item ends in the right state under faults, and no POST or PATCH takes effect twice.

The matrix: faults (503, 500, 502 with an HTML body, a failed connect, a connection
dropped after the request was handled, a read timeout, a 429 storm) times methods (GET,
PUT, POST, PATCH), each fault armed for every request of the method under test. Then
the same job runs again on the same journal without faults: failed items are retried,
unknown ones left alone, succeeded ones skipped, and still nothing took effect twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from refold_async import AsyncRefold, ItemState

from .support import ACCOUNT, RecordingEmulator, last_states, make_client

pytestmark = pytest.mark.anyio  # the backend matrix: asyncio and trio (tests/conftest.py)

KEYS = [f"item-{i:02d}" for i in range(6)]

Job = Callable[[AsyncRefold, str], Awaitable[Any]]


async def _get(client: AsyncRefold, key: str) -> Any:
    return await client.linked_accounts.retrieve(key)


async def _put(client: AsyncRefold, key: str) -> Any:
    return await client.linked_accounts.upsert(linked_account_id=key, name=f"name of {key}")


async def _post(client: AsyncRefold, key: str) -> Any:
    return await client.linked_accounts.create(linked_account_id=key, name=f"name of {key}")


async def _patch(client: AsyncRefold, key: str) -> Any:
    table = client.table_id  # type: ignore[attr-defined]
    return await client.tables.add_records(table, data={"name": key}, linked_account_id=ACCOUNT)


METHODS: dict[str, Job] = {"GET": _get, "PUT": _put, "POST": _post, "PATCH": _patch}

# fault options, and the state an item ends in for (idempotent, non-idempotent) methods
FAULTS = {
    "503": ({"status": 503}, ("failed", "failed")),
    "500": ({"status": 500, "body": "empty"}, ("failed", "unknown")),
    "502-html": ({"status": 502, "body": "html"}, ("failed", "unknown")),
    "drop-before-send": ({"drop": "connect"}, ("failed", "failed")),
    "drop-after-send": ({"drop": "disconnect"}, ("failed", "unknown")),
    "timeout-after-send": ({"drop": "timeout"}, ("failed", "unknown")),
}


async def _arrange(emulator: RecordingEmulator, client: AsyncRefold, method: str) -> None:
    await client.linked_accounts.upsert(linked_account_id=ACCOUNT, name="Acme")
    for key in KEYS if method == "GET" else ():  # accounts to read
        await client.linked_accounts.upsert(linked_account_id=key, name=key)
    table = await client.tables.create(
        table_name="t", columns=[{"column_name": "name"}], linked_account_id=ACCOUNT
    )
    client.table_id = str(table.table_id)  # type: ignore[attr-defined]
    emulator.handled.clear()


def _effects(emulator: RecordingEmulator, method: str) -> dict[str, int]:
    if method == "PATCH":
        return dict(emulator.effects("PATCH", "item-"))
    return dict(emulator.effects(method, "name of item-"))


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("fault", list(FAULTS))
async def test_fault_ends_each_item_in_its_state_without_duplicates(
    fault: str, method: str, tmp_path: Path
) -> None:
    """Under the fault every item ends as expected; a clean rerun fixes what is safe to fix."""
    emulator = RecordingEmulator(rate_limit=None)
    options, (safe, unsafe) = FAULTS[fault]
    expected = safe if method in ("GET", "PUT") else unsafe
    journal = tmp_path / "job.jsonl"
    async with make_client(emulator) as client:
        await _arrange(emulator, client, method)
        emulator.faults.add(count=None, method=method, **options)
        job = METHODS[method]
        first = await client.batch(KEYS, job, journal=journal, progress=False)
        assert {r.key: r.state.value for r in first} == dict.fromkeys(KEYS, expected)
        assert all(r.error is not None and r.error_type for r in first)
        assert last_states(journal) == dict.fromkeys(KEYS, expected)
        effects_after_first = _effects(emulator, method)

        emulator.faults.clear()
        second = await client.batch(KEYS, job, journal=journal, progress=False)
    if expected == "failed":
        assert second.counts[ItemState.SUCCEEDED] == len(KEYS)
    else:  # unknown: never sent again without retry_unknown=True
        assert second.counts[ItemState.UNKNOWN] == len(KEYS)
        assert _effects(emulator, method) == effects_after_first
        assert second.requests == 0
    if method in ("POST", "PATCH"):
        assert all(count == 1 for count in _effects(emulator, method).values()), "a duplicate"


@pytest.mark.parametrize("method", list(METHODS))
async def test_a_429_storm_is_waited_out_and_counted(method: str, tmp_path: Path) -> None:
    """429s are retried (nothing was done), counted in the report, and never duplicate."""
    emulator = RecordingEmulator(rate_limit=None)
    async with make_client(emulator) as client:
        await _arrange(emulator, client, method)
        emulator.faults.add(status=429, retry_after="0", count=3, method=method)
        report = await client.batch(KEYS, METHODS[method], journal=tmp_path / "j", progress=False)
    assert report.counts[ItemState.SUCCEEDED] == len(KEYS)
    assert report.rate_limited == 3
    assert report.requests == len(KEYS) + 3
    if method in ("POST", "PATCH"):
        assert _effects(emulator, method) == dict.fromkeys(_effects(emulator, method), 1)
        assert len(_effects(emulator, method)) == len(KEYS)


async def test_retry_unknown_sends_them_again(tmp_path: Path) -> None:
    """With `retry_unknown=True` the user takes the risk: unknown items run again."""
    emulator = RecordingEmulator(rate_limit=None)
    journal = tmp_path / "job.jsonl"
    async with make_client(emulator) as client:
        emulator.faults.add(drop="disconnect", count=2, method="POST")
        first = await client.batch(KEYS, _post, journal=journal, progress=False)
        assert first.counts[ItemState.UNKNOWN] == 2
        again = await client.batch(KEYS, _post, journal=journal, retry_unknown=True)
    assert again.counts[ItemState.SKIPPED] == len(KEYS) - 2
    assert again.counts[ItemState.SUCCEEDED] + again.counts[ItemState.FAILED] == 2
    assert {r.attempt for r in again if r.state is not ItemState.SKIPPED} == {2}


async def test_first_unknown_call_decides_even_if_fn_goes_on(tmp_path: Path) -> None:
    """An item whose POST ended unknown is unknown, though `fn` caught it and returned."""
    emulator = RecordingEmulator(rate_limit=None)

    async def careless(client: AsyncRefold, key: str) -> str:
        with contextlib.suppress(Exception):  # the point of the test
            await _post(client, key)
        await _get(client, key)
        return "done"

    async with make_client(emulator) as client:
        emulator.faults.add(drop="disconnect", count=1, method="POST")
        report = await client.batch(["item-00"], careless, progress=False)
    (result,) = report.unknown
    assert result.operation == "createLinkedAccount"
    assert result.error is None


async def test_a_usage_error_before_sending_is_a_plain_failure() -> None:
    """A POST refused before anything left (bad arguments) is `failed`, not `unknown`."""
    emulator = RecordingEmulator(rate_limit=None)

    async def bad(client: AsyncRefold, key: str) -> None:
        await client.linked_accounts.create(linked_account_id=key, udf={"x": {1, 2}})  # type: ignore[dict-item]

    async with make_client(emulator) as client:
        report = await client.batch(["item-00"], bad, progress=False)
    assert report.counts[ItemState.FAILED] == 1
    assert report.requests == 0
