"""The emulator answers with a request id, as the API does, so SDK metadata shows one."""

from __future__ import annotations

import pytest

from refold_async import NotFoundError
from refold_async.testing import Emulator

pytestmark = pytest.mark.anyio  # the backend matrix: asyncio and trio (tests/conftest.py)


async def test_every_answer_carries_a_distinct_request_id() -> None:
    """Successes and errors alike carry `x-request-id`; the SDK surfaces it."""
    emulator = Emulator(rate_limit=None)
    async with emulator.client() as client:
        first = await client.linked_accounts.with_raw_response.upsert(
            linked_account_id="acme", name="Acme"
        )
        second = await client.linked_accounts.with_raw_response.retrieve("acme")
        with pytest.raises(NotFoundError) as info:
            await client.linked_accounts.retrieve("nobody")
    ids = [first.request_id, second.request_id, info.value.request_id]
    assert all(ids)
    assert len(set(ids)) == 3
    assert first.headers["x-request-id"] == first.request_id


async def test_served_answers_carry_it_too() -> None:
    """Over the loopback server, the header is there as well."""
    emulator = Emulator(rate_limit=None)
    async with emulator.server() as server, emulator.client(base_url=server.url) as client:
        response = await client.linked_accounts.with_raw_response.upsert(
            linked_account_id="acme", name="Acme"
        )
    assert response.request_id is not None
    assert response.request_id.startswith("req_")
