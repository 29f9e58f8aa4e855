"""The loopback HTTP server and the sync facade, on the same emulator."""

from __future__ import annotations

import anyio
import httpx
import pytest

from refold_async import APIConnectionError, AsyncRefold, RetryPolicy
from refold_async.testing import BASE_URL, Emulator
from refold_sync import Refold

from .conftest import ACCOUNT, NO_BACKOFF, TEST_KEY

pytestmark = pytest.mark.anyio  # the backend matrix: asyncio and trio (tests/conftest.py)


async def test_a_client_over_loopback_http(emulator: Emulator) -> None:
    """An `AsyncRefold` pointed at `server.url` talks HTTP/1.1 to the emulator."""
    async with emulator.server() as server:
        assert server.url.startswith("http://127.0.0.1:")
        async with AsyncRefold(
            api_key=TEST_KEY, base_url=server.url, rate_limit=None, retry=NO_BACKOFF
        ) as client:
            await client.linked_accounts.upsert(linked_account_id="a/b c", name="Odd")
            account = await client.linked_accounts.retrieve(linked_account_id="a/b c")
            assert account.account_id == "a/b c"
            page = await client.linked_accounts.list(limit=1)
            assert page.total_docs == 1


async def test_server_faults_drop_and_answer(emulator: Emulator) -> None:
    """Over sockets, a dropped connection is retried for a GET and an HTML 502 too."""
    emulator.faults.add(drop="disconnect")
    emulator.faults.add(status=502, body="html")
    async with (
        emulator.server() as server,
        AsyncRefold(
            api_key=TEST_KEY, base_url=server.url, rate_limit=None, retry=NO_BACKOFF
        ) as client,
    ):
        with anyio.fail_after(10):
            assert await client.webhooks.list() == []
    assert emulator.stats.requests == 3


async def test_server_timeout_fault_holds_then_the_client_times_out(emulator: Emulator) -> None:
    """A `timeout` fault keeps the socket silent: the client's own read timeout fires."""
    emulator.faults.add(drop="timeout", count=None)
    async with emulator.server() as server:
        server.hold_seconds = 5.0
        once = RetryPolicy(max_attempts=1)
        client = AsyncRefold(
            api_key=TEST_KEY, base_url=server.url, rate_limit=None, retry=once, timeout=0.2
        )
        async with client:
            with anyio.fail_after(10), pytest.raises(APIConnectionError):
                await client.webhooks.list()


async def test_raw_http_gets_the_error_envelope(emulator: Emulator) -> None:
    """Unknown routes answer 404 and wrong methods 405, in the envelope."""
    async with emulator.server() as server, httpx.AsyncClient(base_url=server.url) as http:
        missing = await http.get("/api/v2/public/nothing", headers={"x-api-key": TEST_KEY})
        wrong = await http.patch("/api/v2/public/webhook", headers={"x-api-key": TEST_KEY})
    assert missing.status_code == 404
    assert missing.json()["error"] == "ROUTE_NOT_FOUND"
    assert wrong.status_code == 405


def test_the_sync_client_in_process(emulator: Emulator) -> None:
    """The blocking client runs in-process on `emulator.http_client()`."""
    http = emulator.http_client()
    with Refold(api_key=TEST_KEY, base_url=BASE_URL, rate_limit=None, http_client=http) as client:
        client.linked_accounts.upsert(linked_account_id=ACCOUNT)
        assert [a.account_id for a in client.linked_accounts.list()] == [ACCOUNT]
        assert (
            client.for_linked_account(ACCOUNT).linked_accounts.retrieve_current().account_id
            == ACCOUNT
        )
